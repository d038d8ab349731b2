//! `Heap`: a heap instance that a program creates, uses and drops.
//!
//! ```text
//!  Heap ─▶ HeapInner (its own mapping)
//!            ├─ central: CentralHeap
//!            ├─ caches: ThreadLocal<HeapCache>   one per thread that used it
//!            └─ attached: list of HeapCache currently bound to a live thread
//!
//!  thread T: THREAD_HEAPS (const TLS, no destructor): state + list of the
//!            HeapCaches attached to T, across all heaps
//!            EXIT_GUARD (TLS with destructor): at T's exit flushes and
//!            detaches every cache on that list
//!
//!  REGISTRY lock: guards both lists (attach, exit, Heap drop) and the list
//!  of live heaps (for fork handlers).
//! ```
//!
//! The traps this design steers around (see issue text for the details):
//! - `ThreadLocal` allocates its buckets (and thread ids) through the global
//!   allocator, which may be this very heap: first use marks the thread
//!   BINDING, and re-entrant calls go to the central heap directly.
//! - `ThreadLocal` does not drop values at thread exit and recycles thread
//!   ids, so a new thread can be handed a dead thread's cache: each cache
//!   records its `owner` thread, a thread only uses a cache it owns, and
//!   claiming a detached cache happens under the registry lock.
//! - `thread_local`'s id guard is itself a TLS destructor; after it ran,
//!   calling into `ThreadLocal` panics. `EXIT_GUARD` is registered right
//!   after the first `ThreadLocal` access on a thread, so (TLS destructors
//!   run in reverse order of registration) it runs first and marks the
//!   thread DEAD; later calls never touch `ThreadLocal`.

use crate::cache::ThreadCache;
use crate::central::{BIN_COUNT, CentralHeap};
use crate::front::state::{ACTIVE, BINDING, DEAD, FRESH};
use crate::front::{self, Binding, MALLOC_ALIGN};
use crate::stats::{BinLine, Stats};
use crate::sync::RawLock;
use crate::sync::atomic::{AtomicPtr, Ordering};
use core::alloc::{GlobalAlloc, Layout};
use core::cell::{Cell, UnsafeCell};
use core::ptr::{self, NonNull};
use thread_local::ThreadLocal;

/// Per-thread state for `Heap` instances.
///
/// Invariant: `state` is only touched by its thread; `list` (the caches
/// attached to this thread) only under `REGISTRY`.
struct ThreadHeaps {
    state: Cell<u8>,
    list: Cell<*mut HeapCache>,
}

thread_local! {
    static THREAD_HEAPS: ThreadHeaps = const {
        ThreadHeaps { state: Cell::new(FRESH), list: Cell::new(ptr::null_mut()) }
    };
    static EXIT_GUARD: ExitGuard = const { ExitGuard };
}

struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let _ = THREAD_HEAPS.try_with(|t| {
            t.state.set(DEAD);
            let _r = Registry::lock();
            let mut c = t.list.get();
            // SAFETY: the registry lock is held; every cache on this
            // thread's list is alive (Heap drop unlinks caches first).
            unsafe {
                while !c.is_null() {
                    let next = (*c).thread_next.get();
                    let inner = &*(*c).heap;
                    (*(*c).cache.get()).flush(&inner.central);
                    (*c).owner.store(ptr::null_mut(), Ordering::Relaxed);
                    inner.unlink_attached(c);
                    (*c).thread_next.set(ptr::null_mut());
                    (*c).thread_prev.set(ptr::null_mut());
                    c = next;
                }
            }
            t.list.set(ptr::null_mut());
        });
    }
}

/// One thread's cache for one heap (lives in the heap's `ThreadLocal`).
///
/// Invariant: `cache` is used only by the thread `owner` points to, and
/// only while `owner` is that thread's `THREAD_HEAPS`; `owner` and the
/// list links change only under `REGISTRY`.
struct HeapCache {
    cache: UnsafeCell<ThreadCache>,
    owner: AtomicPtr<ThreadHeaps>,
    heap: *const HeapInner,
    thread_next: Cell<*mut HeapCache>,
    thread_prev: Cell<*mut HeapCache>,
    heap_next: Cell<*mut HeapCache>,
    heap_prev: Cell<*mut HeapCache>,
}

// SAFETY: a HeapCache is handed between threads only through ThreadLocal id
// recycling and the registry, both of which order the handover; its cells
// are only touched by the owner or under REGISTRY (see the invariant).
unsafe impl Send for HeapCache {}

/// The global registry of heap instances and thread attachments.
struct Registry;

struct RegistryGuard;

static REGISTRY_LOCK: RawLock = RawLock::new();
static HEAPS: AtomicPtr<HeapInner> = AtomicPtr::new(ptr::null_mut());

impl Registry {
    fn lock() -> RegistryGuard {
        REGISTRY_LOCK.lock();
        RegistryGuard
    }
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        REGISTRY_LOCK.unlock();
    }
}

/// The shared part of a `Heap`, in a mapping of its own.
///
/// Invariant: lives at `[self, self + MAP_LEN)` until `Heap::drop`; the
/// `attached` and `reg_*` links change only under `REGISTRY`.
struct HeapInner {
    central: CentralHeap,
    caches: ThreadLocal<HeapCache>,
    attached: Cell<*mut HeapCache>,
    reg_next: Cell<*mut HeapInner>,
    reg_prev: Cell<*mut HeapInner>,
}

const MAP_LEN: usize = core::mem::size_of::<HeapInner>().next_multiple_of(1 << 16);

impl HeapInner {
    /// # Safety
    /// `REGISTRY` is held and `c` is on this heap's attached list.
    unsafe fn unlink_attached(&self, c: *mut HeapCache) {
        // SAFETY: caller's precondition.
        unsafe {
            let (prev, next) = ((*c).heap_prev.get(), (*c).heap_next.get());
            if prev.is_null() {
                self.attached.set(next);
            } else {
                (*prev).heap_next.set(next);
            }
            if !next.is_null() {
                (*next).heap_prev.set(prev);
            }
            (*c).heap_next.set(ptr::null_mut());
            (*c).heap_prev.set(ptr::null_mut());
        }
    }
}

/// A heap instance: its own regions, central heap and thread caches.
/// Dropping it releases every mapping it made.
///
/// ```
/// use memalloc::Heap;
/// use std::alloc::{GlobalAlloc, Layout};
///
/// let heap = Heap::new();
/// let layout = Layout::from_size_align(100, 8).unwrap();
/// unsafe {
///     let p = heap.alloc(layout);
///     assert!(!p.is_null());
///     p.write_bytes(0x5a, 100);
///     heap.dealloc(p, layout);
///
///     let q = heap.malloc(1000);
///     assert!(heap.usable_size(q) >= 1000);
///     heap.free(q);
/// }
/// heap.check().unwrap();
/// drop(heap); // unmaps everything
/// ```
pub struct Heap {
    inner: NonNull<HeapInner>,
}

// SAFETY: HeapInner's central heap is Sync, its ThreadLocal gives each
// thread its own cache, and the registry serialises the shared lists.
unsafe impl Send for Heap {}
// SAFETY: as above.
unsafe impl Sync for Heap {}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

impl Heap {
    /// Creates an empty heap. Maps its bookkeeping (64 KiB) now and its
    /// regions on demand.
    ///
    /// # Panics
    /// If the OS refuses even that first mapping; see [`Heap::try_new`].
    pub fn new() -> Heap {
        match Self::try_new() {
            Some(h) => h,
            None => panic!("memalloc: cannot map a new heap (out of memory)"),
        }
    }

    /// Creates an empty heap, or `None` if the OS is out of memory.
    pub fn try_new() -> Option<Heap> {
        // SAFETY: a page-multiple length; the mapping is new and unshared.
        let p = unsafe { crate::os::map(MAP_LEN, 1, 0) } as *mut HeapInner;
        let inner = NonNull::new(p)?;
        // SAFETY: the mapping is writable, large and aligned enough.
        unsafe {
            p.write(HeapInner {
                central: CentralHeap::new(),
                caches: ThreadLocal::new(),
                attached: Cell::new(ptr::null_mut()),
                reg_next: Cell::new(ptr::null_mut()),
                reg_prev: Cell::new(ptr::null_mut()),
            });
            let _r = Registry::lock();
            let head = HEAPS.load(Ordering::Relaxed);
            (*p).reg_next.set(head);
            if !head.is_null() {
                (*head).reg_prev.set(p);
            }
            HEAPS.store(p, Ordering::Relaxed);
        }
        crate::fork::register();
        Some(Heap { inner })
    }

    fn inner(&self) -> &HeapInner {
        // SAFETY: the mapping lives until drop (HeapInner invariant).
        unsafe { self.inner.as_ref() }
    }

    /// `malloc` on this heap: 16-byte aligned, null on failure.
    ///
    /// # Safety
    /// The block must be freed on this heap, before the heap is dropped.
    pub unsafe fn malloc(&self, size: usize) -> *mut u8 {
        front::alloc(self, size, MALLOC_ALIGN)
    }

    /// `calloc` on this heap: null on overflow or failure.
    ///
    /// # Safety
    /// As [`Heap::malloc`].
    pub unsafe fn calloc(&self, n: usize, size: usize) -> *mut u8 {
        front::calloc(self, n, size)
    }

    /// `realloc` on this heap (see [`crate::realloc`] for the rules).
    ///
    /// # Safety
    /// `ptr` is null or a live block of this heap.
    pub unsafe fn realloc(&self, ptr: *mut u8, size: usize) -> *mut u8 {
        if ptr.is_null() {
            return front::alloc(self, size, MALLOC_ALIGN);
        }
        if size == 0 {
            // SAFETY: caller's precondition.
            unsafe { front::free(self, ptr) };
            return ptr::null_mut();
        }
        // SAFETY: caller's precondition.
        unsafe { front::realloc(self, ptr, size) }
    }

    /// `free` on this heap; null is a no-op.
    ///
    /// # Safety
    /// `ptr` is null or a live block of this heap, not used afterwards.
    pub unsafe fn free(&self, ptr: *mut u8) {
        // SAFETY: caller's precondition.
        unsafe { front::free(self, ptr) }
    }

    /// Usable bytes of a live block.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap.
    pub unsafe fn usable_size(&self, ptr: *const u8) -> usize {
        // SAFETY: caller's precondition.
        unsafe { front::usable_size(self, ptr) }
    }

    /// `aligned_alloc` on this heap: null if `align` is not a power of two.
    ///
    /// # Safety
    /// As [`Heap::malloc`].
    pub unsafe fn aligned_alloc(&self, align: usize, size: usize) -> *mut u8 {
        if !align.is_power_of_two() {
            return ptr::null_mut();
        }
        front::alloc(self, size, align.max(MALLOC_ALIGN))
    }

    /// Returns this thread's cached blocks to the heap.
    pub fn flush_thread_cache(&self) {
        // SAFETY: the binding pairs the cache with this central heap.
        self.with_cache(|cache, central| unsafe { cache.flush(central) }, |_| {})
    }

    /// Flushes this thread's cache, then returns all free memory to the OS.
    pub fn trim(&self) {
        self.flush_thread_cache();
        self.inner().central.trim();
    }

    /// A snapshot of this heap's statistics.
    pub fn stats(&self) -> Stats {
        self.inner().central.stats(None)
    }

    /// Prints this heap's usage and free runs to stderr without allocating.
    pub fn print_stats(&self) {
        let mut bins = [BinLine::default(); BIN_COUNT];
        let s = self.inner().central.stats(Some(&mut bins));
        crate::stats::print_report("heap instance", &s, &bins);
    }

    /// Verifies the heap's invariants: spans tile every region exactly, no
    /// two free runs are adjacent, bins agree with the page map, span block
    /// counts add up, transfer batches are whole, counters match.
    pub fn check(&self) -> Result<(), crate::HeapError> {
        self.inner().central.check().map_err(crate::HeapError)
    }

    #[cold]
    #[inline(never)]
    fn with_cache_slow<R>(
        &self,
        me: &ThreadHeaps,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        without: impl FnOnce(&CentralHeap) -> R,
    ) -> R {
        let inner = self.inner();
        match me.state.get() {
            FRESH | ACTIVE => {}
            _ => return without(&inner.central),
        }
        let first = me.state.get() == FRESH;
        me.state.set(BINDING);
        let hc = inner.caches.get_or(|| HeapCache {
            cache: UnsafeCell::new(ThreadCache::new()),
            owner: AtomicPtr::new(ptr::null_mut()),
            heap: inner,
            thread_next: Cell::new(ptr::null_mut()),
            thread_prev: Cell::new(ptr::null_mut()),
            heap_next: Cell::new(ptr::null_mut()),
            heap_prev: Cell::new(ptr::null_mut()),
        });
        if first {
            // Registered after ThreadLocal's own guard: runs before it.
            EXIT_GUARD.with(|_| {});
        }
        me.state.set(ACTIVE);
        let me_ptr = me as *const ThreadHeaps as *mut ThreadHeaps;
        let owned = {
            let _r = Registry::lock();
            let owner = hc.owner.load(Ordering::Relaxed);
            if owner.is_null() {
                let c = hc as *const HeapCache as *mut HeapCache;
                hc.owner.store(me_ptr, Ordering::Relaxed);
                hc.thread_prev.set(ptr::null_mut());
                hc.thread_next.set(me.list.get());
                if !me.list.get().is_null() {
                    // SAFETY: registry held; list members are live caches.
                    unsafe { (*me.list.get()).thread_prev.set(c) };
                }
                me.list.set(c);
                hc.heap_prev.set(ptr::null_mut());
                hc.heap_next.set(inner.attached.get());
                if !inner.attached.get().is_null() {
                    // SAFETY: as above.
                    unsafe { (*inner.attached.get()).heap_prev.set(c) };
                }
                inner.attached.set(c);
                true
            } else {
                owner == me_ptr
            }
        };
        if owned {
            // SAFETY: this thread owns the cache now and borrows it once.
            with(unsafe { &mut *hc.cache.get() }, &inner.central)
        } else {
            // A dead thread's cache whose exit flush has not run yet.
            without(&inner.central)
        }
    }
}

impl Binding for Heap {
    #[inline(always)]
    fn central(&self) -> &CentralHeap {
        &self.inner().central
    }

    #[inline(always)]
    fn with_cache<R>(
        &self,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        without: impl FnOnce(&CentralHeap) -> R,
    ) -> R {
        THREAD_HEAPS.with(|me| {
            if me.state.get() == ACTIVE {
                let inner = self.inner();
                if let Some(hc) = inner.caches.get()
                    && core::ptr::eq(hc.owner.load(Ordering::Relaxed), me)
                {
                    // SAFETY: this thread owns the cache (HeapCache
                    // invariant) and cache operations never re-enter.
                    return with(unsafe { &mut *hc.cache.get() }, &inner.central);
                }
            }
            self.with_cache_slow(me, with, without)
        })
    }
}

// SAFETY: as for `Memalloc`: same front-end, same class mapping for alloc,
// dealloc and realloc; failures return null.
unsafe impl GlobalAlloc for Heap {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        front::alloc(self, layout.size(), layout.align())
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block of this heap with its layout.
        unsafe { front::dealloc_sized(self, ptr, layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        front::alloc_zeroed(self, layout.size(), layout.align())
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a live block with its layout.
        unsafe { front::realloc_sized(self, ptr, layout.size(), layout.align(), new_size) }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        let p = self.inner.as_ptr();
        {
            let _r = Registry::lock();
            // SAFETY: the registry is held; `p` is live; attached caches'
            // owner threads are alive (exiting threads detach under the
            // registry), so their lists can be edited here.
            unsafe {
                let inner = &*p;
                let mut c = inner.attached.get();
                while !c.is_null() {
                    let owner = (*c).owner.load(Ordering::Relaxed);
                    let (prev, next) = ((*c).thread_prev.get(), (*c).thread_next.get());
                    if prev.is_null() {
                        (*owner).list.set(next);
                    } else {
                        (*prev).thread_next.set(next);
                    }
                    if !next.is_null() {
                        (*next).thread_prev.set(prev);
                    }
                    c = (*c).heap_next.get();
                }
                inner.attached.set(ptr::null_mut());
                let (prev, next) = (inner.reg_prev.get(), inner.reg_next.get());
                if prev.is_null() {
                    HEAPS.store(next, Ordering::Relaxed);
                } else {
                    (*prev).reg_next.set(next);
                }
                if !next.is_null() {
                    (*next).reg_prev.set(prev);
                }
            }
        }
        // SAFETY: `&mut self` means no thread uses the heap any more; its
        // blocks die with its mappings; nothing references `p` afterwards.
        unsafe {
            (*p).central.release_all();
            ptr::drop_in_place(p);
            crate::os::unmap(p as *mut u8, MAP_LEN);
        }
    }
}

/// Fork prepare: takes the registry and every heap instance's lock.
#[cfg(unix)]
pub(crate) fn lock_all_for_fork() {
    REGISTRY_LOCK.lock();
    let mut h = HEAPS.load(Ordering::Relaxed);
    while !h.is_null() {
        // SAFETY: registry held: every listed heap is alive.
        unsafe {
            if let Some(l) = (*h).central.raw_lock() {
                l.lock();
            }
            h = (*h).reg_next.get();
        }
    }
}

/// Fork parent/child: releases what `lock_all_for_fork` took.
#[cfg(unix)]
pub(crate) fn unlock_all_after_fork() {
    let mut h = HEAPS.load(Ordering::Relaxed);
    while !h.is_null() {
        // SAFETY: the registry is still held since prepare.
        unsafe {
            if let Some(l) = (*h).central.raw_lock() {
                l.unlock();
            }
            h = (*h).reg_next.get();
        }
    }
    REGISTRY_LOCK.unlock();
}
