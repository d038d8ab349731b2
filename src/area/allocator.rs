//! `Allocator` for `&AreaHeap`: collections in a fixed memory area, with
//! `allocator_api2`'s trait on stable (feature `allocator-api2`) and the
//! standard `core::alloc::Allocator` on nightly (feature `nightly`), both
//! written by the shared `allocator_impl!` (`src/allocator_impl.rs`).
//!
//! ```text
//!   Vec<T, &AreaHeap> ─▶ allocator_impl! ─▶ *_layout methods (this file)
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
use crate::allocator_impl::{allocator_impl, dangling, zero_from};
use core::alloc::Layout;
use core::ptr::{self, NonNull};

impl AreaHeap {
    /// `p` (a live block or null) with its whole usable length.
    fn whole(&self, p: *mut u8) -> Option<NonNull<[u8]>> {
        let p = NonNull::new(p)?;
        // SAFETY: a live block of this heap, just handed out.
        let len = unsafe { self.usable_size(p.as_ptr()) };
        Some(NonNull::slice_from_raw_parts(p, len))
    }

    /// `Allocator::allocate`.
    fn allocate_layout(&self, layout: Layout) -> Option<NonNull<[u8]>> {
        if layout.size() == 0 {
            return Some(dangling(layout));
        }
        self.whole(self.alloc_raw(layout.size(), layout.align()))
    }

    /// `Allocator::allocate_zeroed`: the whole block is cleared, since the
    /// caller owns its whole length.
    fn allocate_zeroed_layout(&self, layout: Layout) -> Option<NonNull<[u8]>> {
        let block = self.allocate_layout(layout)?;
        // SAFETY: a fresh live block (or an empty slice), written from its
        // start.
        unsafe { zero_from(block, 0) };
        Some(block)
    }

    /// `Allocator::deallocate`.
    ///
    /// # Safety
    /// `ptr` came from this heap's `Allocator` for a layout that `layout`
    /// fits, and is not used afterwards.
    unsafe fn deallocate_layout(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: a live block of this heap (caller).
            unsafe { self.free_raw(ptr.as_ptr(), layout.size()) }
        }
    }

    /// Resizes a live block of `old` (size > 0) to `new` (size > 0).
    ///
    /// # Safety
    /// `ptr` is a live block of this heap that fits `old`.
    unsafe fn resize_layout(
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
        let fresh = self.allocate_layout(new)?;
        // SAFETY: distinct live blocks, each holding at least the bytes
        // copied; the old one is ours to free (caller).
        unsafe {
            ptr::copy_nonoverlapping(p, fresh.cast::<u8>().as_ptr(), old.size().min(new.size()));
            self.free_raw(p, old.size());
        }
        Some(fresh)
    }

    /// `Allocator::grow`.
    ///
    /// # Safety
    /// As the trait's: `ptr` is a live block for `old`, `new.size() ≥
    /// old.size()`.
    unsafe fn grow_layout(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<[u8]>> {
        if old.size() == 0 {
            return self.allocate_layout(new);
        }
        // SAFETY: forwarded; both sizes are non-zero.
        unsafe { self.resize_layout(ptr, old, new) }
    }

    /// `Allocator::grow_zeroed`.
    ///
    /// # Safety
    /// As [`AreaHeap::grow_layout`].
    unsafe fn grow_zeroed_layout(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<[u8]>> {
        if old.size() == 0 {
            return self.allocate_zeroed_layout(new);
        }
        // SAFETY: forwarded; both sizes are non-zero.
        let block = unsafe { self.resize_layout(ptr, old, new) }?;
        // SAFETY: a live block of at least `new.size()` ≥ `old.size()`
        // bytes.
        unsafe { zero_from(block, old.size()) };
        Some(block)
    }

    /// `Allocator::shrink`.
    ///
    /// # Safety
    /// As the trait's: `ptr` is a live block for `old`, `new.size() ≤
    /// old.size()`.
    unsafe fn shrink_layout(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<[u8]>> {
        if new.size() == 0 {
            // SAFETY: forwarded precondition.
            unsafe { self.deallocate_layout(ptr, old) };
            return Some(dangling(new));
        }
        // SAFETY: forwarded; `old.size() ≥ new.size() > 0`.
        unsafe { self.resize_layout(ptr, old, new) }
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
