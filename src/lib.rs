//! memalloc: a pure-Rust, thread-safe, general-purpose memory allocator.
//!
//! There are three ways to use it.
//!
//! **1. As the global allocator** of a Rust program ([`Memalloc`]):
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: memalloc::Memalloc = memalloc::Memalloc;
//!
//! fn main() {
//!     let words: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
//!     assert_eq!(words.len(), 1000);
//! }
//! ```
//!
//! **2. As a heap instance** ([`Heap`]) that a program creates, uses through
//! `Layout`s or malloc-style calls, and drops, which releases every mapping
//! it made. With the `allocator-api2` feature, collections live in it
//! (`allocator_api2::vec::Vec::new_in(&heap)`, hashbrown's maps).
//!
//! ```
//! use memalloc::Heap;
//! use std::alloc::{GlobalAlloc, Layout};
//!
//! let heap = Heap::new();
//! unsafe {
//!     let layout = Layout::from_size_align(256, 64).unwrap();
//!     let p = heap.alloc(layout);
//!     assert_eq!(p as usize % 64, 0);
//!     heap.dealloc(p, layout);
//!
//!     let q = heap.malloc(10_000); // 16-byte aligned, freed without a size
//!     heap.free(q);
//! }
//! heap.check().unwrap();
//! drop(heap);
//! ```
//!
//! The process-wide heap behind [`Memalloc`] has the same malloc-style
//! calls as free functions:
//!
//! ```
//! unsafe {
//!     let p = memalloc::malloc(64);
//!     assert!(!p.is_null() && p as usize % 16 == 0);
//!     let p = memalloc::realloc(p, 4096);
//!     assert!(memalloc::usable_size(p) >= 4096);
//!     memalloc::free(p);
//! }
//! ```
//!
//! **3. From C**: `include/memalloc.h` with `libmemalloc.a` or
//! `libmemalloc.so` (`ma_malloc`, `ma_free`, ...), or, built with the
//! `override` feature, as an `LD_PRELOAD` replacement for `malloc` and
//! friends in any dynamically linked program. `examples/c/hello.c` is a
//! complete program; `tests/c_abi.rs` builds and runs it against both
//! libraries:
//!
//! ```c
//! #include "memalloc.h"
//! char *buf = ma_malloc(4096);    /* 16-byte aligned */
//! buf = ma_realloc(buf, 1 << 20); /* contents kept */
//! ma_free(buf);
//! ```
//!
//! ```sh
//! cargo c-lib --release --features override   # cargo rustc --lib --crate-type cdylib,staticlib
//! LD_PRELOAD="$PWD/target/release/libmemalloc.so" python3 script.py
//! ```
//!
//! **Without `std`** (`default-features = false`) the crate is `no_std`,
//! needs only `core`, and offers [`AreaHeap`]: a heap over a memory area
//! the program gives it, with best fit, split and coalesce in 16-byte
//! units and a spin lock, for kernels, embedded targets and WASM. It is a
//! `GlobalAlloc` with `const` constructors, so it can be a
//! `#[global_allocator]` static (see [`area`] for the design and the
//! overhead per allocation):
//!
//! ```
//! use memalloc::AreaHeap;
//!
//! static mut AREA: [u8; 64 * 1024] = [0; 64 * 1024];
//! // #[global_allocator] in a no_std program
//! static HEAP: AreaHeap =
//!     // SAFETY: AREA is used by nothing but this heap.
//!     unsafe { AreaHeap::from_raw_parts((&raw mut AREA).cast(), 64 * 1024) };
//!
//! let layout = core::alloc::Layout::from_size_align(24, 8).unwrap();
//! let p = unsafe { core::alloc::GlobalAlloc::alloc(&HEAP, layout) };
//! assert!(!p.is_null());
//! assert_eq!(HEAP.stats().live_blocks, 1);
//! ```
//!
//! memalloc creates no thread of its own; [`start_background_purger`] opts
//! in to one that returns idle memory on a timer. Its settings (purge
//! delay, dirty-page bound, a report at exit, verbose lines) come from
//! `MEMALLOC_*` environment variables or from [`Options`]; see [`options`].
//!
//! # How it is built
//!
//! ```text
//!   Memalloc (GlobalAlloc)   malloc-style fns   Heap (instance API)
//!            \                     |                /
//!             +----------- thread binding ---------+   slot.rs / global.rs / heap/
//!                                  |
//!                            ThreadCache               cache/     (no locks)
//!                                  |  batches
//!                     CentralHeap: a lock per class,   central/ (supply.rs,
//!                     a page-heap lock, a huge lock      page_heap.rs, huge.rs, purge.rs)
//!                                  |
//!                     regions + page map               region.rs
//!                                  |
//!                                  os                  os.rs
//! ```
//!
//! Glossary: a **page** is 8 KiB; a **span** (run) is consecutive pages of
//! one region with one use (free, blocks of one size class, one large
//! block); a **region** is a 1–64 MiB mapping aligned to 64 MiB whose header
//! and page map are found from any interior pointer by masking; a **block**
//! is what a caller gets; a **batch** is the group of blocks moved between a
//! thread cache and the central heap at once. The area heap has its own
//! vocabulary: a **chunk** is a 16-byte-multiple piece of its area with a
//! one-word header, in use or free.

#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// The gate the `nightly` feature needs; nightlies from 1.100 on have
// stabilized the parts used here and only warn that it is redundant.
#![cfg_attr(feature = "nightly", allow(stable_features))]
#![cfg_attr(feature = "nightly", feature(allocator_api))]

/// Declares the modules of the page heap and its bindings: everything but
/// the area heap, and all of it needs `std`.
macro_rules! std_modules {
    ($($(#[$attr:meta])* $vis:vis mod $name:ident;)*) => {
        $(#[cfg(feature = "std")] $(#[$attr])* $vis mod $name;)*
    };
}

std_modules! {
    mod active_slot;
    #[cfg(any(feature = "allocator-api2", feature = "nightly"))]
    mod allocator_api;
    #[cfg(test)]
    mod binding_tests;
    mod cache;
    mod central;
    #[doc(hidden)]
    pub mod fault;
    mod ffi;
    mod fork;
    mod front;
    mod global;
    #[doc(hidden)]
    pub mod harness;
    mod heap;
    pub mod options;
    mod os;
    #[cfg(unix)]
    mod purger;
    mod reentry;
    mod region;
    pub mod size_class;
    mod slot;
    mod stats;
    mod sync;
    mod thread_exit;
}

#[cfg(any(feature = "allocator-api2", feature = "nightly"))]
mod allocator_impl;
#[cfg(target_has_atomic = "8")]
pub mod area;

#[cfg(target_has_atomic = "8")]
pub use area::AreaHeap;
#[cfg(feature = "std")]
pub use global::{
    Memalloc, aligned_alloc, calloc, check, flush_thread_cache, free, malloc, print_stats, realloc,
    start_background_purger, stats, trim, usable_size,
};
#[cfg(feature = "std")]
pub use heap::Heap;
#[cfg(feature = "std")]
pub use options::{Options, OptionsError};
#[cfg(feature = "std")]
pub use stats::Stats;

/// A broken heap invariant found by [`Heap::check`] or [`check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapError(pub &'static str);

impl core::fmt::Display for HeapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "heap invariant violated: {}", self.0)
    }
}

impl core::error::Error for HeapError {}

/// Page size, region alignment and size limits, for tests and tools.
#[cfg(feature = "std")]
pub mod limits {
    pub use crate::central::{DIRTY_FRACTION, DIRTY_MIN_BYTES, LARGE_MAX, PURGE_DELAY_MS};
    pub use crate::region::{MIN_REGION_SIZE, PAGE_SIZE, REGION_ALIGN};
    pub use crate::size_class::SMALL_MAX;
}

/// Internals exposed to the loom models in `loom-tests/` (not a stable API).
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_api {
    mod binding;
    mod heaps;
    pub use crate::cache::ThreadCache;
    use crate::central::{CentralHeap, Limits};
    pub use binding::{ModelThread, reentered};
    pub use heaps::{ModelHeapThread, ModelRegistry};

    /// A loom-modelled central heap.
    pub struct ModelHeap(CentralHeap);

    impl Default for ModelHeap {
        fn default() -> Self {
            Self::new()
        }
    }

    impl ModelHeap {
        /// A fresh central heap whose lock and state loom checks, with the
        /// real allocator's batch sizes.
        pub fn new() -> Self {
            ModelHeap(CentralHeap::new_modelled(Limits::TABLE))
        }
        /// A fresh modelled heap whose batches hold at most `batch` blocks
        /// and which keeps at most `transfer_batches` whole batches per
        /// class, so batches move, stack up and overflow back to spans
        /// within a few operations.
        pub fn with_batch(batch: u32, transfer_batches: usize) -> Self {
            ModelHeap(CentralHeap::new_modelled(Limits::capped(
                batch,
                transfer_batches,
            )))
        }
        /// Blocks of `class` moved between a cache and this heap at once.
        pub fn batch(&self, class: usize) -> usize {
            self.0.batch(class) as usize
        }
        /// Pops a block of `class` through `cache`.
        ///
        /// # Safety
        /// `cache` is only used with this heap.
        pub unsafe fn alloc(&self, cache: &mut ThreadCache, class: usize) -> *mut u8 {
            // SAFETY: forwarded.
            unsafe { cache.alloc(&self.0, class) }
        }
        /// Pushes a block of `class` through `cache`.
        ///
        /// # Safety
        /// `ptr` is a live block of `class` of this heap.
        pub unsafe fn free(&self, cache: &mut ThreadCache, ptr: *mut u8, class: usize) {
            // SAFETY: forwarded.
            unsafe { cache.free(&self.0, ptr, class) }
        }
        /// Flushes `cache` (thread exit).
        ///
        /// # Safety
        /// `cache` is only used with this heap.
        pub unsafe fn flush(&self, cache: &mut ThreadCache) {
            // SAFETY: forwarded.
            unsafe { cache.flush(&self.0) }
        }
        /// One block of `class` straight from the central heap, without a
        /// cache (what a re-entrant call, or a thread after its exit flush,
        /// gets). Null if out of memory.
        pub fn alloc_uncached(&self, class: usize) -> *mut u8 {
            crate::front::alloc_uncached(&self.0, class)
        }
        /// Gives one block of `class` straight back to the central heap.
        ///
        /// # Safety
        /// `ptr` is a live block of `class` of this heap.
        pub unsafe fn free_uncached(&self, ptr: *mut u8, class: usize) {
            // SAFETY: forwarded precondition.
            unsafe { crate::front::free_uncached(&self.0, class, ptr) }
        }
        /// A large allocation (page runs, split/coalesce).
        pub fn alloc_large(&self, size: usize) -> *mut u8 {
            self.0.alloc_large(size, 16)
        }
        /// Frees a large allocation.
        ///
        /// # Safety
        /// `ptr` came from `alloc_large` and is not used afterwards.
        pub unsafe fn free_large(&self, ptr: *mut u8) {
            let k = self.0.classify(ptr);
            // SAFETY: forwarded.
            unsafe { self.0.free_big(k) }
        }
        /// Runs the invariant checker.
        pub fn check(&self) -> Result<(), &'static str> {
            self.0.check()
        }
        /// Statistics.
        pub fn stats(&self) -> crate::Stats {
            self.0.stats(None)
        }
        /// Returns all central batches to spans and unmaps free regions.
        pub fn trim(&self) {
            self.0.trim()
        }
    }

    impl Drop for ModelHeap {
        fn drop(&mut self) {
            // SAFETY: the model is over; nothing uses the heap.
            unsafe { self.0.release_all() }
        }
    }

    /// The once-publication used for process-wide hooks.
    pub fn init_once(
        cell: &loom::sync::atomic::AtomicUsize,
        create: impl FnOnce() -> usize,
        discard: impl FnOnce(usize),
    ) -> usize {
        crate::sync::init_once(cell, create, discard)
    }
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
