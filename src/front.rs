//! The operations every public API shares, generic over the thread binding.
//!
//! ```text
//!   Memalloc / malloc-style fns ─┐             ┌─ ProcessBinding (thread_local slot)
//!   Heap (GlobalAlloc + methods) ┼─ front::* ──┤
//!   C ABI (ma_*)                 ┘             └─ Heap's per-thread cache list
//!
//!   fast:  b.pop_fast / b.push_fast           (no call, no lock)
//!   slow:  b.slow(with, without) ─▶ bind if FRESH, mark BUSY, refill /
//!          overflow on the cache, back to ACTIVE; or `without`: straight
//!          to the central heap (BINDING, BUSY, DEAD: a re-entrant call, an
//!          exited thread, or one whose exit hook could not be armed)
//! ```
//!
//! A [`Binding`] says which central heap to use and how this thread finds
//! its cache. Everything is monomorphised per binding: no dynamic dispatch
//! on the fast path.

use crate::cache::ThreadCache;
use crate::central::{CentralHeap, Kind, LARGE_MAX};
use crate::region::Block;
use crate::size_class::{ListOffset, SMALL_MAX, block_size, class_for, list_offset_for};
use core::ptr;

/// Which central heap a thread uses, and how it finds its cache.
///
/// Contract: [`Binding::pop_fast`] and [`Binding::push_fast`] touch the
/// thread's cache only while the binding is ACTIVE, with one pop or push
/// and no call, and otherwise fail having written nothing;
/// [`Binding::slow`] marks the binding BUSY for the whole of `with`, so a
/// call that re-enters memalloc from inside `with` fails its fast path and
/// gets `without` from `slow`: the outer `&mut ThreadCache` stays unique.
pub(crate) trait Binding {
    /// The central heap behind this binding.
    fn central(&self) -> &CentralHeap;

    /// Pops a block of `list`'s class from this thread's cache
    /// ([`ThreadCache::pop`]) if it is bound and no slow path is running on
    /// it; null otherwise, or on an empty list. Makes no call.
    fn pop_fast(&self, list: ListOffset) -> *mut u8;

    /// Pushes `ptr` on this thread's cache ([`ThreadCache::push_if_room`])
    /// if it is bound, no slow path is running on it, the list has room
    /// and, with `check_head`, `ptr` is not the list's head; false, having
    /// written nothing, otherwise. Makes no call.
    ///
    /// # Safety
    /// `ptr` is a live block of `list`'s class of this binding's heap, not
    /// used afterwards.
    unsafe fn push_fast(&self, ptr: *mut u8, list: ListOffset, check_head: bool) -> bool;

    /// The slow path: binds the thread on first use, then runs `with` on
    /// its cache with the binding marked BUSY, or `without` if the thread
    /// has no usable cache (binding, busy, exited, or unarmed).
    fn slow<R>(
        &self,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        without: impl FnOnce(&CentralHeap) -> R,
    ) -> R;

    /// The class of `ptr` if a lock-free lookup can tell that it is the
    /// start of a small block of this binding's heap; `None` means "ask
    /// [`CentralHeap::classify`]", which knows every block and diagnoses
    /// every bad pointer. Only the process-wide heap has such a lookup.
    #[inline(always)]
    fn small_class(&self, _ptr: *const u8) -> Option<ListOffset> {
        None
    }
}

/// A thread's binding state (per binding kind, per thread):
/// FRESH → BINDING (first use; re-entrant calls bypass the cache) → ACTIVE
/// ⇄ BUSY (a slow path runs on the cache; re-entrant calls bypass it) →
/// DEAD (exit flush done, or no exit hook could be armed: calls go straight
/// to the central heap and nothing of the thread stays on any list).
pub(crate) mod state {
    pub(crate) const FRESH: u8 = 0;
    pub(crate) const ACTIVE: u8 = 1;
    pub(crate) const BINDING: u8 = 2;
    pub(crate) const DEAD: u8 = 3;
    pub(crate) const BUSY: u8 = 4;
}

/// Alignment of every block `malloc` returns.
pub(crate) const MALLOC_ALIGN: usize = 16;

/// One block of `class` straight from the central heap (a thread with no
/// usable cache).
#[cold]
pub(crate) fn alloc_uncached(central: &CentralHeap, class: usize) -> *mut u8 {
    central.alloc_batch(class, 1, 0).0.cast()
}

/// One block of `class` straight back to the central heap.
///
/// # Safety
/// `ptr` is a live block of `class` of `central`, not used afterwards.
#[cold]
pub(crate) unsafe fn free_uncached(central: &CentralHeap, class: usize, ptr: *mut u8) {
    let b = ptr as *mut Block;
    // SAFETY: the block is free and ours; a one-block list is terminated.
    unsafe {
        (*b).next = ptr::null_mut();
        central.free_batch(class, b, 1, 0);
    }
}

/// Allocates `size` bytes aligned to `align` (a power of two). Null on
/// failure.
#[inline(always)]
pub(crate) fn alloc<B: Binding>(b: &B, size: usize, align: usize) -> *mut u8 {
    match list_offset_for(size, align) {
        Some(list) => {
            let p = b.pop_fast(list);
            if p.is_null() {
                alloc_slow(list, b)
            } else {
                p
            }
        }
        None => alloc_big(size, align, b),
    }
}

/// Allocates a block too big for a size class (or too aligned). A call of
/// its own that takes the size and alignment first, in the registers the
/// fast path received them in, so that path moves no register to prepare
/// for it.
#[cold]
#[inline(never)]
fn alloc_big<B: Binding>(size: usize, align: usize, b: &B) -> *mut u8 {
    b.central().alloc_large(size, align)
}

/// A block of `size` bytes aligned to `align` popped from the thread's
/// cache, or null if that would take a call (a miss, a block that is not
/// small, a thread without an ACTIVE cache); the caller then runs
/// [`alloc`].
#[inline(always)]
pub(crate) fn alloc_without_call<B: Binding>(b: &B, size: usize, align: usize) -> *mut u8 {
    match list_offset_for(size, align) {
        Some(list) => b.pop_fast(list),
        None => ptr::null_mut(),
    }
}

/// The allocation fast path's miss. Takes the list first, in the register
/// the fast path computed it in (the request's size), so that the fast path
/// moves no register to prepare for the call.
#[cold]
#[inline(never)]
fn alloc_slow<B: Binding>(list: ListOffset, b: &B) -> *mut u8 {
    let class = list.class();
    b.slow(
        // SAFETY: a valid class; the binding pairs this cache with this
        // central heap.
        |cache, central| unsafe { cache.alloc(central, class) },
        |central| alloc_uncached(central, class),
    )
}

/// Frees a small block of `list`'s class; `check_head` as
/// [`ThreadCache::push_raw`]'s (true unless the caller gave the size).
///
/// # Safety
/// `ptr` is a live block of `list`'s class of this binding's heap, not
/// used afterwards.
#[inline(always)]
unsafe fn free_small<B: Binding>(b: &B, ptr: *mut u8, list: ListOffset, check_head: bool) {
    // SAFETY: the block is ours to push, of the list's class (caller).
    if !unsafe { b.push_fast(ptr, list, check_head) } {
        // SAFETY: forwarded precondition; the fast path wrote nothing.
        unsafe { free_slow(ptr, list, b) }
    }
}

/// The free fast path's miss. Takes the pointer and the list first, in
/// the registers `dealloc` has them in (the list is computed in the size's
/// register), so that the fast path moves no register to prepare for it.
///
/// # Safety
/// As [`free_small`].
#[cold]
#[inline(never)]
unsafe fn free_slow<B: Binding>(ptr: *mut u8, list: ListOffset, b: &B) {
    let class = list.class();
    b.slow(
        // SAFETY: forwarded precondition.
        |cache, central| unsafe { cache.free(central, ptr, class) },
        // SAFETY: forwarded precondition.
        |central| unsafe { free_uncached(central, class, ptr) },
    )
}

/// Frees a block whose size and alignment are known (the `GlobalAlloc`
/// path: no region lookup for small blocks).
///
/// # Safety
/// `ptr` came from `alloc(b, size, align)` (or a realloc to `size`) on this
/// binding and is not used afterwards.
#[inline(always)]
pub(crate) unsafe fn dealloc_sized<B: Binding>(b: &B, ptr: *mut u8, size: usize, align: usize) {
    match list_offset_for(size, align) {
        // SAFETY: forwarded precondition.
        Some(list) => unsafe { free_small(b, ptr, list, false) },
        // SAFETY: forwarded precondition.
        None => unsafe { free_big(b, ptr) },
    }
}

/// Frees a block too big for a size class (a tail call out of the fast
/// path, which so needs no stack frame).
///
/// # Safety
/// `ptr` is a live large or huge block of this binding's heap.
#[cold]
#[inline(never)]
unsafe fn free_big<B: Binding>(b: &B, ptr: *mut u8) {
    let kind = b.central().classify(ptr);
    // SAFETY: forwarded precondition; `kind` describes `ptr`.
    unsafe { free_kind(b, ptr, kind) }
}

/// Frees a block classified by the page map.
unsafe fn free_kind<B: Binding>(b: &B, ptr: *mut u8, kind: Kind) {
    match kind {
        // SAFETY: `classify` found a live block of `class` at `ptr`.
        Kind::Small(class) => unsafe { free_small(b, ptr, ListOffset::of_class(class), true) },
        // SAFETY: `kind` came from `classify(ptr)` of a live block.
        _ => unsafe { b.central().free_big(kind) },
    }
}

/// Frees any block of this binding's heap (or nothing, for null).
///
/// # Safety
/// `ptr` is null or a live block of this heap not used afterwards.
#[inline]
pub(crate) unsafe fn free<B: Binding>(b: &B, ptr: *mut u8) {
    if let Some(list) = b.small_class(ptr) {
        // SAFETY: forwarded precondition; the lookup found a block of the
        // list's class.
        return unsafe { free_small(b, ptr, list, true) };
    }
    if ptr.is_null() {
        return;
    }
    let kind = b.central().classify(ptr);
    // SAFETY: forwarded precondition.
    unsafe { free_kind(b, ptr, kind) }
}

/// Frees `ptr` if that takes no call at all: a small block that the
/// binding's lock-free lookup recognises, pushed on an ACTIVE cache with
/// room. Returns false, having changed nothing, otherwise; the caller then
/// runs [`free`] (which may make system calls: the C ABI saves `errno`
/// only around that).
///
/// # Safety
/// As [`free`].
#[inline(always)]
pub(crate) unsafe fn free_without_call<B: Binding>(b: &B, ptr: *mut u8) -> bool {
    match b.small_class(ptr) {
        // SAFETY: forwarded precondition; the lookup found a block of the
        // list's class.
        Some(list) => unsafe { b.push_fast(ptr, list, true) },
        None => false,
    }
}

/// Resizes a block whose old size and alignment are known. On failure
/// returns null and leaves the old block untouched.
///
/// # Safety
/// As `dealloc_sized` for `(ptr, old_size, align)`.
pub(crate) unsafe fn realloc_sized<B: Binding>(
    b: &B,
    ptr: *mut u8,
    old_size: usize,
    align: usize,
    new_size: usize,
) -> *mut u8 {
    if new_size > isize::MAX as usize - (align - 1) {
        return ptr::null_mut();
    }
    let old_class = class_for(old_size, align);
    let new_class = class_for(new_size, align);
    match (old_class, new_class) {
        (Some(a), Some(c)) if a == c => return ptr,
        (None, None) => {
            let kind = b.central().classify(ptr);
            // SAFETY: `kind` describes the live block `ptr`.
            let p = unsafe { b.central().realloc_big(ptr, kind, new_size) };
            if !p.is_null() {
                return p;
            }
        }
        _ => {}
    }
    let new = alloc(b, new_size, align);
    if !new.is_null() {
        // SAFETY: both blocks are live and distinct; each holds at least the
        // bytes copied.
        unsafe {
            ptr::copy_nonoverlapping(ptr, new, old_size.min(new_size));
            dealloc_sized(b, ptr, old_size, align);
        }
    }
    new
}

/// `realloc` without a known size: resizes in place where possible.
/// `ptr` must be non-null; the caller handles `realloc(NULL, n)` and
/// `realloc(p, 0)`.
///
/// # Safety
/// `ptr` is a live block of this heap.
pub(crate) unsafe fn realloc<B: Binding>(b: &B, ptr: *mut u8, new_size: usize) -> *mut u8 {
    let kind = kind_of(b, ptr);
    match kind {
        Kind::Small(class) => {
            // SAFETY: forwarded precondition; `kind` found a block of `class`.
            return unsafe { realloc_small(b, ptr, ListOffset::of_class(class), new_size) };
        }
        _ if new_size > SMALL_MAX => {
            // SAFETY: `kind` describes the live block `ptr`.
            let p = unsafe { b.central().realloc_big(ptr, kind, new_size) };
            if !p.is_null() {
                return p;
            }
        }
        _ => {}
    }
    let old = CentralHeap::usable_size(kind);
    let new = alloc(b, new_size, MALLOC_ALIGN);
    if !new.is_null() {
        // SAFETY: distinct live blocks, each at least the copied length.
        unsafe {
            ptr::copy_nonoverlapping(ptr, new, old.min(new_size));
            free_kind(b, ptr, kind);
        }
    }
    new
}

/// `realloc` of a small block: stays in place if `new_size` maps to the
/// same class, else moves (on failure returns null, the block untouched).
///
/// # Safety
/// `ptr` is a live block of `list`'s class of this heap.
unsafe fn realloc_small<B: Binding>(
    b: &B,
    ptr: *mut u8,
    list: ListOffset,
    new_size: usize,
) -> *mut u8 {
    let class = list.class();
    if class_for(new_size, MALLOC_ALIGN) == Some(class) {
        return ptr;
    }
    let new = alloc(b, new_size, MALLOC_ALIGN);
    if !new.is_null() {
        // SAFETY: distinct live blocks, each at least the copied length;
        // `ptr` is a block of `list`'s class (caller).
        unsafe {
            ptr::copy_nonoverlapping(ptr, new, block_size(class).min(new_size));
            free_small(b, ptr, list, true);
        }
    }
    new
}

/// Allocates `n * size` zeroed bytes; null on overflow or out of memory.
pub(crate) fn calloc<B: Binding>(b: &B, n: usize, size: usize) -> *mut u8 {
    let Some(total) = n.checked_mul(size) else {
        return ptr::null_mut();
    };
    alloc_zeroed(b, total, MALLOC_ALIGN)
}

/// Allocates zeroed memory. Dedicated mappings are fresh from the OS and
/// already zero, so only region memory is cleared.
pub(crate) fn alloc_zeroed<B: Binding>(b: &B, size: usize, align: usize) -> *mut u8 {
    let p = alloc(b, size, align);
    if !p.is_null() && size <= LARGE_MAX {
        // SAFETY: `p` is a fresh block of at least `size` bytes.
        unsafe { p.write_bytes(0, size) };
    }
    p
}

/// Usable bytes of a live block (≥ what was requested).
///
/// # Safety
/// `ptr` is a live block of this heap.
pub(crate) unsafe fn usable_size<B: Binding>(b: &B, ptr: *const u8) -> usize {
    CentralHeap::usable_size(kind_of(b, ptr))
}

/// What `ptr` is, for the calls that get no size: the binding's lock-free
/// lookup first (a small block of the process-wide heap), the page-map walk
/// (`classify`, with its diagnostics) for everything else.
#[inline(always)]
fn kind_of<B: Binding>(b: &B, ptr: *const u8) -> Kind {
    match b.small_class(ptr) {
        Some(list) => Kind::Small(list.class()),
        None => b.central().classify(ptr),
    }
}
