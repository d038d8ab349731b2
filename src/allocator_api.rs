//! `Allocator` for `&Heap`: collections that live in a heap instance.
//! Two traits, one implementation: `allocator_api2::alloc::Allocator` on
//! stable Rust (cargo feature `allocator-api2`), and the standard library's
//! `core::alloc::Allocator` on nightly (feature `nightly`, which turns on
//! `#![feature(allocator_api)]`; nightlies from 1.100 on have stabilized
//! the trait and only warn that the gate is redundant, which memalloc
//! allows).
//!
//! ```text
//!   Vec<T, &Heap> / hashbrown::HashMap<.., &Heap>   std Vec<T, &Heap> / Box<T, &Heap>
//!          │ allocator_api2::alloc::Allocator          │ core::alloc::Allocator (nightly)
//!          └───────────── allocator_impl! ─────────────┘   (allocator_impl.rs)
//!                              │  BlockHeap for Heap: alloc_block / resize_block / ...
//!                              ▼
//!   Heap's GlobalAlloc methods ─▶ front::* ─▶ thread cache / central heap
//! ```
//!
//! Both traits have the same methods and the same contract, so the logic
//! lives once, in trait-independent methods that return an `Option`:
//! those of `BlockHeap` (`src/allocator_impl.rs`, shared with the area
//! heap), which handle zero sizes and zero-filling and call this file's
//! `BlockHeap for Heap` for the rest; `allocator_impl!` writes each
//! trait's impl as thin calls to them. (If another
//! crate in the build turns on `allocator-api2`'s own `nightly` feature,
//! its trait *is* the standard one, and the two impls would collide:
//! enable only memalloc's `nightly` then.)
//!
//! ```
//! use allocator_api2::vec::Vec;
//! use memalloc::Heap;
//!
//! let heap = Heap::new();
//! {
//!     let mut v = Vec::new_in(&heap);
//!     v.extend(0..10_000u32);
//!     assert_eq!(v.iter().map(|&x| x as u64).sum::<u64>(), 49_995_000);
//! } // the Vec goes back to `heap` here, before the heap itself is dropped
//! heap.flush_thread_cache();
//! assert_eq!(heap.stats().bytes_in_use, 0);
//! ```
//!
//! The borrow ties every collection to the heap: a `Heap` cannot be dropped
//! while a collection still holds `&Heap`.
//!
//! What the trait adds over `GlobalAlloc`, and how this file meets it:
//! - **Zero-size requests** never reach the heap: they get a dangling,
//!   aligned pointer, and freeing a zero-size layout does nothing.
//! - **Real lengths**: `allocate` and the resizes return the whole block.
//!   For a small block that is its class's block size (known from the
//!   layout, no lookup); for a page run or a dedicated mapping it is what
//!   [`Heap::usable_size`] reads from the page map. A caller may then free
//!   or resize with any size between its request and that length; every
//!   such size maps to the same class (`class_for` is monotone in the size
//!   and the block size of class `c` maps back to `c`), so the heap frees
//!   the right class.
//! - **Alignment changes** on `grow`/`shrink`: the heap's own realloc keeps
//!   the old alignment and picks the class from it, so it serves only
//!   resizes that keep the alignment, or lower it between blocks too big
//!   for any class. Otherwise a block stays put only if the new layout maps
//!   to its class and it already has the new alignment; else the contents
//!   move to a fresh block.
//!
//! Invariant kept by every method: a live block handed out for layout `l`
//! is a block that `alloc(l)` could have returned: of class
//! `class_for(l.size(), l.align())` when that is `Some`, a page run or a
//! mapping (freed by lookup, whatever the layout) when it is `None`, and
//! aligned to `l.align()`.

use crate::Heap;
use crate::allocator_impl::{BlockHeap, allocator_impl};
use crate::central::LARGE_MAX;
use crate::size_class::{block_size, class_for};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

/// What `alloc(layout)` would do with a request: a size class, or a page
/// run / mapping (`None`).
fn class_of_layout(layout: Layout) -> Option<usize> {
    class_for(layout.size(), layout.align())
}

impl Heap {
    /// The whole length of a live block that fits `layout` (see the module
    /// invariant): the class's block size, or the page map's answer.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap that fits `layout`, size > 0.
    unsafe fn block_len(&self, ptr: NonNull<u8>, layout: Layout) -> usize {
        match class_of_layout(layout) {
            Some(class) => block_size(class),
            // SAFETY: caller's precondition: a live block of this heap.
            None => unsafe { self.usable_size(ptr.as_ptr()) },
        }
    }

    /// `ptr` with its whole length as a slice.
    ///
    /// # Safety
    /// As [`Heap::block_len`].
    unsafe fn block_slice(&self, ptr: NonNull<u8>, layout: Layout) -> NonNull<[u8]> {
        // SAFETY: forwarded precondition.
        let len = unsafe { self.block_len(ptr, layout) };
        debug_assert!(len >= layout.size());
        NonNull::slice_from_raw_parts(ptr, len)
    }
}

impl BlockHeap for Heap {
    unsafe fn alloc_block(&self, layout: Layout) -> Option<NonNull<[u8]>> {
        // SAFETY: the layout's size is non-zero (caller).
        let p = NonNull::new(unsafe { GlobalAlloc::alloc(self, layout) })?;
        // SAFETY: a fresh block for `layout`.
        Some(unsafe { self.block_slice(p, layout) })
    }

    unsafe fn free_block(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: a live block of this heap with a non-zero layout that
        // fits it (caller), which is what `alloc(layout)` could have
        // returned (module invariant).
        unsafe { GlobalAlloc::dealloc(self, ptr.as_ptr(), layout) }
    }

    /// A block above LARGE_MAX is a fresh mapping, zero from the OS (as in
    /// `front::alloc_zeroed`).
    fn fresh_block_is_zero(&self, layout: Layout) -> bool {
        layout.size() > LARGE_MAX
    }

    unsafe fn resize_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<[u8]>> {
        let (old_class, new_class) = (class_of_layout(old), class_of_layout(new));
        // Same class, already aligned for the new layout: the block serves
        // `new` as it is (what the heap's realloc does for one alignment).
        if let (Some(a), Some(b)) = (old_class, new_class)
            && a == b
            && ptr.as_ptr() as usize & (new.align() - 1) == 0
        {
            return Some(NonNull::slice_from_raw_parts(ptr, block_size(a)));
        }
        // The heap's realloc keeps `old.align()` and takes the class from
        // it. Right when the alignment is unchanged; when it drops, right
        // only if the new size needs no class under either alignment (the
        // result is then a page run or mapping, freed by lookup, aligned to
        // more than `new` asks).
        let heap_realloc = old.align() == new.align()
            || (new.align() < old.align()
                && old_class.is_none()
                && new_class.is_none()
                && class_for(new.size(), old.align()).is_none()
                && Layout::from_size_align(new.size(), old.align()).is_ok());
        if heap_realloc {
            // SAFETY: `ptr` is a live block of this heap for `old` (caller);
            // `new.size()` is non-zero and rounds up to `old.align()`
            // without overflowing `isize` (a valid layout either way).
            let p = unsafe { GlobalAlloc::realloc(self, ptr.as_ptr(), old, new.size()) };
            let p = NonNull::new(p)?;
            // SAFETY: the heap's realloc returned a live block for
            // (`new.size()`, `old.align()`), which fits `new` (see above).
            return Some(unsafe { self.block_slice(p, new) });
        }
        // SAFETY: a live block of this heap for `old` (caller), both sizes
        // non-zero.
        unsafe { self.move_block(ptr, old, new) }
    }
}

allocator_impl!(
    Heap,
    /// Collections in this heap on stable Rust: `Vec::new_in(&heap)` from
    /// `allocator_api2`, hashbrown's `HashMap::new_in(&heap)` (feature
    /// `allocator-api2`; see the module docs in `src/allocator_api.rs`).
    #[cfg(feature = "allocator-api2")]
    allocator_api2::alloc::Allocator,
    allocator_api2::alloc::AllocError
);

allocator_impl!(
    Heap,
    /// Collections in this heap on nightly Rust: the standard library's
    /// `Vec::new_in(&heap)`, `Box::new_in(x, &heap)` and every other
    /// `*_in` constructor (feature `nightly`; see the module docs in
    /// `src/allocator_api.rs`).
    #[cfg(feature = "nightly")]
    core::alloc::Allocator,
    core::alloc::AllocError
);
