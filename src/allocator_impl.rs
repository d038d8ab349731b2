//! One macro that writes an `Allocator` impl for `&H` as thin calls to
//! trait-independent methods of `H`: the same body serves
//! `allocator_api2::alloc::Allocator` (stable, feature `allocator-api2`)
//! and `core::alloc::Allocator` (nightly, feature `nightly`), for both
//! heaps that offer it.
//!
//! ```text
//!   &Heap      (src/allocator_api.rs)  ┐                      ┌ allocator_api2 Allocator
//!   &AreaHeap  (src/area/allocator.rs) ┴── allocator_impl! ───┴ core::alloc::Allocator
//!                                             │ BlockHeap's provided methods (this file):
//!                                             │ zero sizes, zero-filling, allocate–copy–free
//!                                             ▼
//!                   each heap's alloc_block / free_block / resize_block
//! ```
//!
//! A heap type passed in implements [`BlockHeap`]: the few operations on
//! non-zero sizes that really differ between the heaps. The trait's
//! provided methods, with the `Allocator` methods' preconditions, hold
//! everything the heaps do alike: zero-size layouts never reach the heap,
//! zeroed blocks are cleared over their whole length, and a block that
//! cannot be resized where it is moves to a fresh one.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

/// The pointer handed out for a zero-size layout: non-null, aligned, never
/// dereferenced and never passed to the heap.
fn dangling(layout: Layout) -> NonNull<[u8]> {
    let p = ptr::without_provenance_mut::<u8>(layout.align());
    // SAFETY: an alignment is a power of two, hence non-zero.
    let p = unsafe { NonNull::new_unchecked(p) };
    NonNull::slice_from_raw_parts(p, 0)
}

/// Zeroes `block[from..]`.
///
/// # Safety
/// `block` is a live, writable block; `from` ≤ its length.
unsafe fn zero_from(block: NonNull<[u8]>, from: usize) {
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

/// What a heap provides to its `Allocator` impls: block operations on
/// non-zero sizes, each returning a block with its whole usable length.
/// The provided methods are the `Allocator` methods without the trait
/// (`None` for an error), shared by both heaps.
///
/// Invariant each implementation keeps: a block it hands out for layout
/// `l` is at least `l.size()` long, aligned to `l.align()`, and freed by
/// `free_block` with any layout of that alignment whose size lies between
/// `l.size()` and the returned length.
pub(crate) trait BlockHeap {
    /// A fresh block for `layout`, None if out of memory.
    ///
    /// # Safety
    /// `layout.size() > 0` (the `GlobalAlloc` rule).
    unsafe fn alloc_block(&self, layout: Layout) -> Option<NonNull<[u8]>>;

    /// Frees a block.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap that fits `layout` (size > 0),
    /// and is not used afterwards.
    unsafe fn free_block(&self, ptr: NonNull<u8>, layout: Layout);

    /// Resizes a live block of `old` (size > 0) to `new` (size > 0),
    /// keeping `min(old, new)` bytes; [`BlockHeap::move_block`] when it
    /// cannot stay where it is. On failure the old block is untouched.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap that fits `old`.
    unsafe fn resize_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<[u8]>>;

    /// Whether a fresh block for `layout` (size > 0) is already all zero
    /// (a fresh mapping from the OS), so `allocate_zeroed_layout` need not
    /// clear it.
    fn fresh_block_is_zero(&self, _layout: Layout) -> bool {
        false
    }

    /// `Allocator::allocate`: the whole block, or a dangling pointer for a
    /// zero-size layout. None if out of memory.
    fn allocate_layout(&self, layout: Layout) -> Option<NonNull<[u8]>> {
        if layout.size() == 0 {
            return Some(dangling(layout));
        }
        // SAFETY: the size is non-zero (checked above).
        unsafe { self.alloc_block(layout) }
    }

    /// `Allocator::allocate_zeroed`: the whole block is cleared, slack
    /// included, since the caller owns the returned length.
    fn allocate_zeroed_layout(&self, layout: Layout) -> Option<NonNull<[u8]>> {
        let block = self.allocate_layout(layout)?;
        if layout.size() != 0 && !self.fresh_block_is_zero(layout) {
            // SAFETY: a fresh live block, written from its start.
            unsafe { zero_from(block, 0) };
        }
        Some(block)
    }

    /// `Allocator::deallocate`.
    ///
    /// # Safety
    /// `ptr` came from this heap's `Allocator` for a layout that `layout`
    /// fits, and is not used afterwards.
    unsafe fn deallocate_layout(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: the caller passes a block of this allocator with a
            // layout that fits it, which is a live block of this heap.
            unsafe { self.free_block(ptr, layout) }
        }
    }

    /// Moves a live block of `old` (size > 0) to a fresh block for `new`
    /// (size > 0): allocate, copy `min(old, new)` bytes, free. On failure
    /// the old block is untouched.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap that fits `old`.
    unsafe fn move_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<[u8]>> {
        // SAFETY: `new.size()` is non-zero (caller).
        let fresh = unsafe { self.alloc_block(new) }?;
        // SAFETY: distinct live blocks, each holding at least the bytes
        // copied; the old block is ours to free (caller), with a non-zero
        // layout it fits.
        unsafe {
            ptr::copy_nonoverlapping(
                ptr.as_ptr(),
                fresh.cast::<u8>().as_ptr(),
                old.size().min(new.size()),
            );
            self.free_block(ptr, old);
        }
        Some(fresh)
    }

    /// `Allocator::grow`.
    ///
    /// # Safety
    /// As the trait's: `ptr` is a live block for `old`, and `new.size() ≥
    /// old.size()`.
    unsafe fn grow_layout(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<[u8]>> {
        debug_assert!(new.size() >= old.size());
        if old.size() == 0 {
            return self.allocate_layout(new);
        }
        // SAFETY: a live block of this heap for `old` (caller); the new
        // size is at least the old, so both are non-zero.
        unsafe { self.resize_block(ptr, old, new) }
    }

    /// `Allocator::grow_zeroed`.
    ///
    /// # Safety
    /// As [`BlockHeap::grow_layout`].
    unsafe fn grow_zeroed_layout(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<[u8]>> {
        debug_assert!(new.size() >= old.size());
        if old.size() == 0 {
            return self.allocate_zeroed_layout(new);
        }
        // SAFETY: as in `grow_layout`.
        let block = unsafe { self.resize_block(ptr, old, new) }?;
        // Everything past the caller's old bytes, up to the block's whole
        // length: in-place growth leaves old contents there, a moved block
        // whatever its previous owner wrote.
        // SAFETY: a live block of at least `new.size()` ≥ `old.size()`
        // bytes.
        unsafe { zero_from(block, old.size()) };
        Some(block)
    }

    /// `Allocator::shrink`.
    ///
    /// # Safety
    /// As the trait's: `ptr` is a live block for `old`, and `new.size() ≤
    /// old.size()`.
    unsafe fn shrink_layout(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<[u8]>> {
        debug_assert!(new.size() <= old.size());
        if new.size() == 0 {
            // SAFETY: forwarded precondition (nothing to free if the old
            // layout was zero-size too).
            unsafe { self.deallocate_layout(ptr, old) };
            return Some(dangling(new));
        }
        // SAFETY: a live block of this heap for `old` (caller), of non-zero
        // size since it is at least the new one.
        unsafe { self.resize_block(ptr, old, new) }
    }
}

/// `unsafe impl $trait for &$heap`, each method a call to the
/// [`BlockHeap`] method of `$heap` that does the work, with `None` turned
/// into `$error`.
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
                $crate::allocator_impl::BlockHeap::allocate_layout(*self, layout).ok_or($error)
            }

            fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, $error> {
                $crate::allocator_impl::BlockHeap::allocate_zeroed_layout(*self, layout)
                    .ok_or($error)
            }

            unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
                // SAFETY: the trait's precondition is the method's.
                unsafe { $crate::allocator_impl::BlockHeap::deallocate_layout(*self, ptr, layout) }
            }

            unsafe fn grow(
                &self,
                ptr: NonNull<u8>,
                old_layout: Layout,
                new_layout: Layout,
            ) -> Result<NonNull<[u8]>, $error> {
                // SAFETY: the trait's precondition is the method's.
                unsafe {
                    $crate::allocator_impl::BlockHeap::grow_layout(*self, ptr, old_layout, new_layout)
                }
                .ok_or($error)
            }

            unsafe fn grow_zeroed(
                &self,
                ptr: NonNull<u8>,
                old_layout: Layout,
                new_layout: Layout,
            ) -> Result<NonNull<[u8]>, $error> {
                // SAFETY: the trait's precondition is the method's.
                unsafe {
                    $crate::allocator_impl::BlockHeap::grow_zeroed_layout(
                        *self, ptr, old_layout, new_layout,
                    )
                }
                .ok_or($error)
            }

            unsafe fn shrink(
                &self,
                ptr: NonNull<u8>,
                old_layout: Layout,
                new_layout: Layout,
            ) -> Result<NonNull<[u8]>, $error> {
                // SAFETY: the trait's precondition is the method's.
                unsafe {
                    $crate::allocator_impl::BlockHeap::shrink_layout(*self, ptr, old_layout, new_layout)
                }
                .ok_or($error)
            }
        }
    };
}

pub(crate) use allocator_impl;
