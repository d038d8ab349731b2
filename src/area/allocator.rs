//! `Allocator` for `&AreaHeap`: collections in a fixed memory area, with
//! `allocator_api2`'s trait on stable (feature `allocator-api2`) and the
//! standard `core::alloc::Allocator` on nightly (feature `nightly`), both
//! written by the shared `allocator_impl!` (`src/allocator_impl.rs`).
//!
//! ```text
//!   Vec<T, &AreaHeap> ─▶ allocator_impl! ─▶ BlockHeap (allocator_impl.rs)
//!                                               │ BlockHeap for AreaHeap (this file)
//!                                               │ alloc_raw / realloc_raw / free_raw
//!                                               ▼
//!                                          AreaState (best fit, in-place resize)
//! ```
//!
//! How the trait's contract is met:
//! - **Zero-size requests** never reach the heap: they get a dangling,
//!   aligned pointer, and freeing a zero-size layout does nothing.
//! - **Real lengths**: every method returns the whole usable block
//!   (chunk minus header), so the caller may pass back any size between
//!   its request and that length; the heap frees by its own header, and
//!   checks only that the size passed back fits.
//! - **Alignment changes**: a block resizes in place when it already has
//!   the new alignment; otherwise its contents move to a fresh block
//!   aligned as asked.

use super::AreaHeap;
use crate::allocator_impl::{BlockHeap, allocator_impl};
use core::alloc::Layout;
use core::ptr::NonNull;

impl AreaHeap {
    /// `p` (a live block or null) with its whole usable length.
    fn whole(&self, p: *mut u8) -> Option<NonNull<[u8]>> {
        let p = NonNull::new(p)?;
        // SAFETY: a live block of this heap, just handed out.
        let len = unsafe { self.usable_size(p.as_ptr()) };
        Some(NonNull::slice_from_raw_parts(p, len))
    }
}

impl BlockHeap for AreaHeap {
    unsafe fn alloc_block(&self, layout: Layout) -> Option<NonNull<[u8]>> {
        self.whole(self.alloc_raw(layout.size(), layout.align()))
    }

    unsafe fn free_block(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: a live block of this heap that fits `layout` (caller).
        unsafe { self.free_raw(ptr.as_ptr(), layout.size()) }
    }

    unsafe fn resize_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<[u8]>> {
        let p = ptr.as_ptr();
        if (p as usize).is_multiple_of(new.align()) {
            // SAFETY: a live block of at least `old.size()` bytes (caller);
            // it already has the new alignment, and a move keeps it.
            let q = unsafe { self.realloc_raw(p, old.size(), new.size(), new.align()) };
            return self.whole(q);
        }
        // SAFETY: a live block of this heap for `old` (caller), both sizes
        // non-zero.
        unsafe { self.move_block(ptr, old, new) }
    }
}

allocator_impl!(
    AreaHeap,
    /// Collections in an area heap on stable Rust (feature
    /// `allocator-api2`): `allocator_api2::vec::Vec::new_in(&heap)`,
    /// hashbrown's maps.
    #[cfg(feature = "allocator-api2")]
    allocator_api2::alloc::Allocator,
    allocator_api2::alloc::AllocError
);

allocator_impl!(
    AreaHeap,
    /// Collections in an area heap on nightly Rust (feature `nightly`):
    /// the standard `Vec::new_in(&heap)`, `Box::new_in(x, &heap)`.
    #[cfg(feature = "nightly")]
    core::alloc::Allocator,
    core::alloc::AllocError
);
