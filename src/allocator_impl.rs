//! One macro that writes an `Allocator` impl for `&H` as thin calls to
//! trait-independent methods of `H`: the same body serves
//! `allocator_api2::alloc::Allocator` (stable, feature `allocator-api2`)
//! and `core::alloc::Allocator` (nightly, feature `nightly`), for both
//! heaps that offer it.
//!
//! ```text
//!   &Heap      (src/allocator_api.rs)  ┐                      ┌ allocator_api2 Allocator
//!   &AreaHeap  (src/area/allocator.rs) ┴── allocator_impl! ───┴ core::alloc::Allocator
//! ```
//!
//! A heap type passed in provides, as inherent methods with the trait
//! methods' preconditions: `allocate_layout`, `allocate_zeroed_layout`
//! (both `Layout -> Option<NonNull<[u8]>>`), `deallocate_layout`, and the
//! unsafe `grow_layout`, `grow_zeroed_layout` and `shrink_layout`
//! (`(NonNull<u8>, Layout, Layout) -> Option<NonNull<[u8]>>`).

use core::alloc::Layout;
use core::ptr::{self, NonNull};

/// The pointer handed out for a zero-size layout: non-null, aligned, never
/// dereferenced and never passed to the heap.
pub(crate) fn dangling(layout: Layout) -> NonNull<[u8]> {
    let p = ptr::without_provenance_mut::<u8>(layout.align());
    // SAFETY: an alignment is a power of two, hence non-zero.
    let p = unsafe { NonNull::new_unchecked(p) };
    NonNull::slice_from_raw_parts(p, 0)
}

/// Zeroes `block[from..]`.
///
/// # Safety
/// `block` is a live, writable block; `from` ≤ its length.
pub(crate) unsafe fn zero_from(block: NonNull<[u8]>, from: usize) {
    let len = block.len();
    // SAFETY: caller's precondition: `[from, len)` lies inside the block.
    unsafe {
        block
            .cast::<u8>()
            .as_ptr()
            .add(from)
            .write_bytes(0, len - from)
    };
}

/// `unsafe impl $trait for &$heap`, each method a call to the `$heap`
/// method that does the work, with `None` turned into `$error`.
///
/// The one safety argument, for both traits and both heaps: blocks come
/// from this heap and stay valid until deallocated or the heap is dropped,
/// which the `&$heap` borrow forbids while they live; copies of `&$heap`
/// are the same heap. Each returned block holds at least the requested
/// size at the requested alignment, and fits that layout (each heap's
/// module invariant), so any layout the caller may pass back (same
/// alignment, size between the request and the returned length) frees it.
macro_rules! allocator_impl {
    ($heap:ty, $(#[$doc:meta])* $trait:path, $error:path) => {
        $(#[$doc])*
        // SAFETY: see the macro's docs: blocks live until deallocated or
        // the borrowed heap drops, and fit the layouts they were made for.
        unsafe impl $trait for &$heap {
            fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, $error> {
                self.allocate_layout(layout).ok_or($error)
            }

            fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, $error> {
                self.allocate_zeroed_layout(layout).ok_or($error)
            }

            unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
                // SAFETY: the trait's precondition is the method's.
                unsafe { self.deallocate_layout(ptr, layout) }
            }

            unsafe fn grow(
                &self,
                ptr: NonNull<u8>,
                old_layout: Layout,
                new_layout: Layout,
            ) -> Result<NonNull<[u8]>, $error> {
                // SAFETY: the trait's precondition is the method's.
                unsafe { self.grow_layout(ptr, old_layout, new_layout) }.ok_or($error)
            }

            unsafe fn grow_zeroed(
                &self,
                ptr: NonNull<u8>,
                old_layout: Layout,
                new_layout: Layout,
            ) -> Result<NonNull<[u8]>, $error> {
                // SAFETY: the trait's precondition is the method's.
                unsafe { self.grow_zeroed_layout(ptr, old_layout, new_layout) }.ok_or($error)
            }

            unsafe fn shrink(
                &self,
                ptr: NonNull<u8>,
                old_layout: Layout,
                new_layout: Layout,
            ) -> Result<NonNull<[u8]>, $error> {
                // SAFETY: the trait's precondition is the method's.
                unsafe { self.shrink_layout(ptr, old_layout, new_layout) }.ok_or($error)
            }
        }
    };
}

pub(crate) use allocator_impl;
