//! A heap over a memory area the caller provides: `no_std`, no thread
//! caches, no OS calls, one spin lock. For kernels, embedded targets and
//! WASM, and anywhere a fixed budget of memory must serve `Layout`s.
//!
//! ```text
//!   AreaHeap (GlobalAlloc; Allocator for &AreaHeap)          mod.rs
//!        │  spin lock (one core atomic)                      lock.rs
//!        ▼
//!   AreaState: bins of free chunks, best fit,                state.rs
//!              split on allocate, coalesce both neighbours
//!        │                                                    check.rs (walker, stats)
//!        ▼
//!   the area: | chunk | chunk | free chunk | chunk | ... |   chunk.rs (boundary tags)
//! ```
//!
//! It is the page heap's discipline (free runs binned by size, best fit,
//! split on allocate, coalesce with both neighbours on free) at 16-byte
//! granularity instead of 8 KiB pages, with boundary tags in the area in
//! place of a page map, so a 64 KiB area is useful:
//!
//! - **Chunks.** The area is tiled by chunks whose sizes are multiples of
//!   16 bytes. Each starts with a one-word header (size and two flag
//!   bits); a free chunk also holds its two free-list links and ends with
//!   a footer (its size), which is how freeing finds its left neighbour.
//!   An in-use chunk has no footer: its next chunk's header says so.
//! - **Bins.** Free chunks of fewer than 64 units (1 KiB) have one exact
//!   bin per size; larger ones have four bins per power of two. A bitmap
//!   finds the lowest non-empty bin that may fit; the smallest fitting
//!   chunk is taken from it (true best fit; exact bins stop at the first).
//! - **Alignment.** Payloads are 16-aligned. A larger alignment (any
//!   power of two that fits in the area) places the payload at the first
//!   aligned address that leaves either nothing or a whole free chunk
//!   ([`MIN_CHUNK`] or more) before it; that leading piece stays free.
//!
//! # Overhead per allocation
//!
//! With W the word size (8 bytes on 64-bit targets, 4 on 32-bit ones), a
//! request of `n` bytes at alignment ≤ 16 takes a chunk of
//! `max(MIN_CHUNK, round_up(n + W, 16))` bytes: one header word
//! ([`OVERHEAD`]) plus rounding to 16. [`MIN_CHUNK`] is 32 bytes on 64-bit
//! targets and 16 on 32-bit ones. A remainder smaller than `MIN_CHUNK` is
//! not split off, so a block's chunk may be up to `MIN_CHUNK − 16` bytes
//! larger than that (the caller may use it: [`AreaHeap::usable_size`]).
//!
//! | request | chunk, 64-bit target | chunk, 32-bit target (Cortex-M) |
//! | ---: | ---: | ---: |
//! | 1–12 B | 32 B | 16 B |
//! | 13–24 B | 32 B | 32 B |
//! | 25–28 B | 48 B | 32 B |
//! | 29–40 B | 48 B | 48 B |
//! | 64 B | 80 B | 80 B |
//! | 100 B | 112 B | 112 B |
//! | 1000 B | 1008 B | 1008 B |
//!
//! Fixed costs: up to 15 bytes at the area's start and up to 15 at its
//! end (the 16-byte grid: 8 at each end of a 16-aligned area on a 64-bit
//! target), and the `AreaHeap` value itself (the bins and the
//! bitmap: about 2.3 KiB on 64-bit targets, 660 bytes on 32-bit ones),
//! which lives wherever the heap does (a `static`), not in the area. So a
//! 64 KiB area holds 2047 blocks of up to 24 bytes on a 64-bit target
//! (test `a_64_kib_area_holds_2047_small_blocks`), or 4095 of up to 12
//! bytes on a 32-bit one.
//!
//! # Bad frees
//!
//! `dealloc`, `realloc` and the `Allocator` methods check, cheaply, that
//! the pointer lies in the area on a 16-byte boundary, that the word
//! before it is an in-use chunk header that stays in the area, and that
//! the `Layout` passed back fits the block. A failure (a pointer from
//! elsewhere, a double free while the header is intact, an overwritten
//! header) calls the heap's [`BadFreeHandler`] with the lock released,
//! which must not return. The default one panics with a one-line message
//! naming the pointer and the fault. A `GlobalAlloc` must not unwind, so
//! a `no_std` binary using the heap as its global allocator should build
//! with `panic = "abort"` (the bare-metal targets' default) or install a
//! handler of its own ([`AreaHeap::with_bad_free_handler`]) that resets or
//! halts. What is not caught: a double free after the memory has been
//! handed out again, and a pointer into the middle of a live block whose
//! payload happens to look like a header.
//!
//! # Example
//!
//! ```
//! use core::alloc::{GlobalAlloc, Layout};
//! use memalloc::area::AreaHeap;
//!
//! // In a `no_std` binary: `#[global_allocator] static HEAP: AreaHeap = ...`
//! static mut AREA: [u8; 64 * 1024] = [0; 64 * 1024];
//! static HEAP: AreaHeap =
//!     // SAFETY: AREA is used by nothing else, for the whole program.
//!     unsafe { AreaHeap::from_raw_parts((&raw mut AREA).cast(), 64 * 1024) };
//!
//! let layout = Layout::from_size_align(100, 64).unwrap();
//! unsafe {
//!     let p = HEAP.alloc(layout);
//!     assert!(!p.is_null() && p as usize % 64 == 0);
//!     HEAP.dealloc(p, layout);
//! }
//! HEAP.check().unwrap();
//! assert_eq!(HEAP.stats().bytes_in_use, 0);
//! ```

#[cfg(any(feature = "allocator-api2", feature = "nightly"))]
mod allocator;
mod check;
mod chunk;
mod lock;
mod state;

pub use check::AreaStats;
pub use chunk::{MIN_CHUNK, OVERHEAD, UNIT};
pub use state::BadFreeKind;

use crate::HeapError;
use chunk::{W, chunk_for};
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::fmt;
use core::ptr;
use lock::SpinLock;
use state::AreaState;

/// A bad free or resize the heap caught: what it was and the pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadFree {
    /// What was wrong.
    pub kind: BadFreeKind,
    /// The pointer passed in.
    pub ptr: *mut u8,
}

impl fmt::Display for BadFree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            BadFreeKind::OutsideArea => "pointer outside the area (or not 16-aligned)",
            BadFreeKind::DoubleFree => "double free",
            BadFreeKind::NotABlock => "not a block of this heap (bad header)",
            BadFreeKind::LayoutTooLarge => "layout larger than the block",
        };
        write!(f, "memalloc area heap: {what}: {:p}", self.ptr)
    }
}

/// What the heap calls on a bad free; it must not return.
pub type BadFreeHandler = fn(BadFree) -> !;

/// The default [`BadFreeHandler`]: panics with the one-line message.
fn panic_on_bad_free(bad: BadFree) -> ! {
    panic!("{bad}")
}

/// A heap over one caller-provided memory area (see the [module
/// docs](self)): best fit, split and coalesce in 16-byte units, behind a
/// spin lock.
///
/// Build it with [`AreaHeap::from_slice`] or [`AreaHeap::from_raw_parts`]
/// (both `const`, so it can be a `static`), or empty with
/// [`AreaHeap::new`] and give it its area once with [`AreaHeap::claim`].
/// The area is formatted on the first operation. Use it through
/// `GlobalAlloc` (also as `#[global_allocator]`) or, with the
/// `allocator-api2` or `nightly` feature, as an `Allocator` (`&AreaHeap`).
///
/// Invariant: `state` is only accessed while `lock` is held, and the area
/// recorded in it is valid for reads and writes, used by nothing but this
/// heap, for the heap's whole life (the constructors' contract).
pub struct AreaHeap {
    lock: SpinLock,
    state: UnsafeCell<AreaState>,
    on_bad_free: BadFreeHandler,
}

// SAFETY: the state (raw pointers into the area, which the heap owns for
// its life) is only touched with the spin lock held, which serialises all
// threads; the handler is a plain fn pointer.
unsafe impl Sync for AreaHeap {}
// SAFETY: as for `Sync`: the area is owned by the heap, not by a thread.
unsafe impl Send for AreaHeap {}

impl Default for AreaHeap {
    fn default() -> Self {
        Self::new()
    }
}

/// Why [`AreaHeap::claim`] refused an area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyClaimed;

impl fmt::Display for AlreadyClaimed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("memalloc area heap: this heap already has an area")
    }
}

impl core::error::Error for AlreadyClaimed {}

impl AreaHeap {
    /// A heap with no area yet: every allocation returns null until
    /// [`AreaHeap::claim`] gives it one.
    pub const fn new() -> Self {
        AreaHeap {
            lock: SpinLock::new(),
            state: UnsafeCell::new(AreaState::new(ptr::null_mut(), 0)),
            on_bad_free: panic_on_bad_free,
        }
    }

    /// A heap over `area`, which it keeps for good.
    pub const fn from_slice(area: &'static mut [u8]) -> Self {
        let len = area.len();
        // SAFETY: a `&'static mut` slice is valid, unaliased memory for
        // the rest of the program.
        unsafe { Self::from_raw_parts(area.as_mut_ptr(), len) }
    }

    /// A heap over the `len` bytes at `ptr`. Any alignment and length
    /// work: the heap trims the ends to its 16-byte grid, and an area too
    /// small for one chunk gives a heap that returns null.
    ///
    /// # Safety
    /// `ptr` is valid for reads and writes of `len` bytes for as long as
    /// the heap or any block from it is used, and nothing else accesses
    /// those bytes except through blocks the heap hands out.
    pub const unsafe fn from_raw_parts(ptr: *mut u8, len: usize) -> Self {
        AreaHeap {
            lock: SpinLock::new(),
            state: UnsafeCell::new(AreaState::new(ptr, len)),
            on_bad_free: panic_on_bad_free,
        }
    }

    /// This heap, calling `handler` instead of panicking on a bad free.
    pub const fn with_bad_free_handler(mut self, handler: BadFreeHandler) -> Self {
        self.on_bad_free = handler;
        self
    }

    /// Gives a heap made by [`AreaHeap::new`] its area.
    pub fn claim(&self, area: &'static mut [u8]) -> Result<(), AlreadyClaimed> {
        let len = area.len();
        // SAFETY: a `&'static mut` slice is valid, unaliased memory for
        // the rest of the program.
        unsafe { self.claim_raw(area.as_mut_ptr(), len) }
    }

    /// Gives a heap made by [`AreaHeap::new`] the `len` bytes at `ptr`.
    ///
    /// # Safety
    /// As [`AreaHeap::from_raw_parts`].
    pub unsafe fn claim_raw(&self, ptr: *mut u8, len: usize) -> Result<(), AlreadyClaimed> {
        self.locked(|s| {
            if s.has_area() {
                return Err(AlreadyClaimed);
            }
            *s = AreaState::new(ptr, len);
            Ok(())
        })
    }

    /// Runs `f` on the formatted state with the lock held.
    #[inline]
    fn locked<R>(&self, f: impl FnOnce(&mut AreaState) -> R) -> R {
        let _guard = self.lock.lock();
        // SAFETY: the lock is held until `_guard` drops, after `f`: this is
        // the only reference to the state.
        let s = unsafe { &mut *self.state.get() };
        // SAFETY: the pending area is the constructor's or `claim_raw`'s,
        // valid and ours for the heap's life (their contract).
        unsafe { s.format() };
        f(s)
    }

    /// A block for `size` bytes at `align` (a power of two), or null.
    fn alloc_raw(&self, size: usize, align: usize) -> *mut u8 {
        let Some(need) = chunk_for(size) else {
            return ptr::null_mut();
        };
        // SAFETY: lock held, area formatted (`locked`).
        let c = self.locked(|s| unsafe { s.alloc(need, align) });
        if c.is_null() {
            c
        } else {
            // SAFETY: the payload starts one word into the chunk.
            unsafe { c.add(W) }
        }
    }

    /// The chunk of `ptr`, checked, or the handler's verdict.
    fn checked_chunk(
        &self,
        s: &AreaState,
        ptr: *mut u8,
        min_payload: usize,
    ) -> Result<*mut u8, BadFree> {
        // SAFETY: lock held (callers run inside `locked`), area formatted.
        unsafe { s.validate(ptr, min_payload) }.map_err(|kind| BadFree { kind, ptr })
    }

    /// Frees `ptr`, which must hold `min_payload` bytes.
    ///
    /// # Safety
    /// `ptr` is not used after this; if it is a block of this heap, nobody
    /// else frees it (bad pointers are reported, see the module docs).
    unsafe fn free_raw(&self, ptr: *mut u8, min_payload: usize) {
        let r = self.locked(|s| {
            let c = self.checked_chunk(s, ptr, min_payload)?;
            // SAFETY: `c` is an in-use chunk (validated); lock held.
            unsafe { s.free(c) };
            Ok(())
        });
        if let Err(bad) = r {
            (self.on_bad_free)(bad)
        }
    }

    /// Resizes the block at `ptr` (holding `old_size` bytes) to `new_size`
    /// bytes, in place when possible, else by moving to a block aligned to
    /// `align`. Null (the old block untouched) if there is no room.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap of at least `old_size` bytes
    /// (bad pointers are reported); on success the caller uses only the
    /// returned pointer.
    unsafe fn realloc_raw(
        &self,
        ptr: *mut u8,
        old_size: usize,
        new_size: usize,
        align: usize,
    ) -> *mut u8 {
        let Some(need) = chunk_for(new_size) else {
            return ptr::null_mut();
        };
        let r = self.locked(|s| {
            let c = self.checked_chunk(s, ptr, old_size)?;
            // SAFETY: an in-use chunk (validated); lock held.
            Ok(unsafe { s.resize_in_place(c, need) })
        });
        match r {
            Err(bad) => (self.on_bad_free)(bad),
            Ok(true) => ptr,
            Ok(false) => {
                let fresh = self.alloc_raw(new_size, align);
                if !fresh.is_null() {
                    // SAFETY: two distinct live blocks holding at least
                    // `min(old, new)` bytes; the old one is ours to free.
                    unsafe {
                        ptr::copy_nonoverlapping(ptr, fresh, old_size.min(new_size));
                        self.free_raw(ptr, old_size);
                    }
                }
                fresh
            }
        }
    }

    /// The bytes usable at `ptr`, a live block of this heap: its chunk
    /// minus the header, at least what was asked for.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap (bad pointers are reported to
    /// the handler).
    pub unsafe fn usable_size(&self, ptr: *mut u8) -> usize {
        let r = self.locked(|s| {
            let c = self.checked_chunk(s, ptr, 0)?;
            // SAFETY: an in-use chunk of the area (validated).
            Ok(unsafe { chunk::size(c) } - W)
        });
        match r {
            Ok(n) => n,
            Err(bad) => (self.on_bad_free)(bad),
        }
    }

    /// Accounting: bytes in use and free, the largest free chunk, blocks.
    pub fn stats(&self) -> AreaStats {
        self.locked(|s| s.stats())
    }

    /// Walks the whole area and the bins and verifies every invariant:
    /// the chunks tile the area, tags and footers agree, no two free
    /// chunks touch, each free chunk is in the right bin exactly once, and
    /// the counters match.
    pub fn check(&self) -> Result<(), HeapError> {
        // SAFETY: lock held, area formatted (`locked`).
        self.locked(|s| unsafe { s.check() })
    }
}

// SAFETY: blocks come from the caller's area, which the heap owns for its
// life; each holds at least `layout.size()` bytes at `layout.align()` and
// is handed out once until freed (the state's invariants). A zero-size
// layout (undefined for callers of `GlobalAlloc`) still gets a real block.
unsafe impl GlobalAlloc for AreaHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.alloc_raw(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract: `ptr` came from this allocator
        // for `layout`; bad pointers are caught and reported.
        unsafe { self.free_raw(ptr, layout.size()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if Layout::from_size_align(new_size, layout.align()).is_err() {
            return ptr::null_mut();
        }
        // SAFETY: the caller's contract: `ptr` is a live block for
        // `layout`; a move keeps the layout's alignment.
        unsafe { self.realloc_raw(ptr, layout.size(), new_size, layout.align()) }
    }
}
