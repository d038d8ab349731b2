//! `Heap`: a heap instance that a program creates, uses and drops.
//!
//! ```text
//!  Heap ─▶ HeapInner (its own mapping)
//!            ├─ central: CentralHeap
//!            └─ attached: list of this heap's HeapCaches (one per thread
//!                         that used it; each lives in a block of this heap)
//!
//!  thread T: THREAD_HEAPS (const TLS, no destructor)
//!            ├─ state                FRESH → BINDING → ACTIVE ⇄ BUSY → DEAD
//!            ├─ last_heap/last_cache one-entry fast path
//!            └─ list                 T's HeapCaches, across all heaps
//!            exit hook (pthread key): flush and free every cache on `list`
//!
//!  registry lock (`Registry`; the process has one, `REGISTRY`; loom models
//!  make their own): guards both lists (attach, thread exit, Heap drop, fork)
//!  and the list of live heaps.
//! ```
//!
//! Binding mechanism, and why not `thread_local::ThreadLocal`: that crate
//! allocates its buckets and thread ids through the global allocator (which
//! breaks DESIGN.md promise 1, and re-enters this heap when it *is* the global
//! allocator), and its thread-id guard is a TLS destructor after which any
//! `ThreadLocal` access panics — so a `Heap` first used from a late TLS
//! destructor would panic inside the allocator. Here a thread finds its cache
//! for a heap through its own list (a pointer compare in the common case of
//! one heap per thread), the cache lives in a block of that heap, and the
//! exit hook is a pthread key like the process-wide heap's: nothing
//! allocates through the global allocator, nothing can panic.

use crate::cache::ThreadCache;
use crate::central::{BIN_COUNT, CentralHeap};
use crate::front::state::{ACTIVE, BUSY, DEAD, FRESH};
use crate::front::{self, Binding, MALLOC_ALIGN};
use crate::region::Block;
use crate::size_class::{ListOffset, block_size, class_of};
use crate::slot::enter_slow_path;
use crate::stats::{BinLine, Stats};
use crate::sync::atomic::{AtomicPtr, Ordering};
use crate::thread_exit::ExitHook;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr::{self, NonNull};

mod registry;
#[cfg(unix)]
pub(crate) use registry::{background_tick_all, lock_all_for_fork, unlock_all_after_fork};
pub(crate) use registry::Registry;
use registry::REGISTRY;

/// Per-thread state for `Heap` instances.
///
/// Invariants: `state` and `last_cache` are only touched by their thread;
/// `list` and the caches on it only under the registry lock; `last_heap` is written
/// by its thread, and cleared by `Heap::drop` (under the registry lock) when it names
/// the heap being dropped, so a non-null `last_heap` always names a live heap
/// whose cache for this thread is `last_cache`.
pub(crate) struct ThreadHeaps {
    state: Cell<u8>,
    last_heap: AtomicPtr<HeapInner>,
    last_cache: Cell<*mut HeapCache>,
    list: Cell<*mut HeapCache>,
}

impl ThreadHeaps {
    /// A thread that has used no heap instance yet.
    pub(crate) const fn new() -> Self {
        ThreadHeaps {
            state: Cell::new(FRESH),
            last_heap: AtomicPtr::new(ptr::null_mut()),
            last_cache: Cell::new(ptr::null_mut()),
            list: Cell::new(ptr::null_mut()),
        }
    }

    /// How many caches are on this thread's list (loom models).
    #[cfg(loom)]
    pub(crate) fn cache_count(&self, reg: &Registry) -> usize {
        let _r = reg.lock();
        let mut n = 0;
        let mut c = self.list.get();
        while !c.is_null() {
            n += 1;
            // SAFETY: registry held: the thread's list holds live caches.
            c = unsafe { (*c).thread_next };
        }
        n
    }
}

thread_local! {
    static THREAD_HEAPS: ThreadHeaps = const { ThreadHeaps::new() };
}

crate::thread_exit::exit_fn! {
    /// Flushes and frees every cache of the exiting thread.
    fn on_thread_exit(me) {
        // SAFETY: the hook's value is only ever the exiting thread's
        // THREAD_HEAPS, which outlives its key destructors.
        unsafe { detach_all(&*(me as *const ThreadHeaps), &REGISTRY) };
    }
}

static EXIT_HOOK: ExitHook = ExitHook::new(on_thread_exit);

/// Thread exit: every cache of this thread goes back to its heap, under
/// `reg` (the registry of every heap the thread used).
pub(crate) fn detach_all(me: &ThreadHeaps, reg: &Registry) {
    // DEAD first: a call from inside the flushes below (or from a later TLS
    // destructor) goes straight to a central heap, never to a cache.
    me.state.set(DEAD);
    me.last_heap.store(ptr::null_mut(), Ordering::Relaxed);
    crate::reentry::point(crate::reentry::Site::Exit);
    let _r = reg.lock();
    let mut c = me.list.get();
    // SAFETY: the registry lock is held; caches on this thread's list are
    // live blocks of live heaps (Heap::drop unlinks its caches first).
    unsafe {
        while !c.is_null() {
            let next = (*c).thread_next;
            let inner = &*(*c).heap;
            (*c).cache.flush(&inner.central);
            inner.unlink_attached(c);
            free_cache_block(&inner.central, c);
            c = next;
        }
    }
    me.list.set(ptr::null_mut());
}

/// This thread's binding state for heap instances.
#[cfg(test)]
pub(crate) fn thread_state_for_tests() -> u8 {
    THREAD_HEAPS.with(|me| me.state.get())
}

/// One thread's cache for one heap, in a block of that heap.
///
/// Invariant: `cache` is used only by the thread `owner` points to; the
/// links and `owner` change only under the registry lock.
struct HeapCache {
    cache: ThreadCache,
    heap: *const HeapInner,
    owner: *const ThreadHeaps,
    thread_next: *mut HeapCache,
    thread_prev: *mut HeapCache,
    heap_next: *mut HeapCache,
    heap_prev: *mut HeapCache,
}

/// The size class of the blocks `HeapCache`s live in.
fn cache_class() -> usize {
    class_of(core::mem::size_of::<HeapCache>())
}

/// Returns a `HeapCache`'s block to its heap.
///
/// # Safety
/// `c` is a cache of `central`'s heap that nothing references any more.
unsafe fn free_cache_block(central: &CentralHeap, c: *mut HeapCache) {
    let b = c as *mut Block;
    // SAFETY: the block is ours again; a one-block list is terminated.
    unsafe {
        (*b).next = ptr::null_mut();
        central.free_batch(cache_class(), b, 1, 0);
    }
}

/// Takes `c` off its owner thread's list.
///
/// # Safety
/// The registry lock is held and `c` is on `owner`'s list.
unsafe fn unlink_from_thread(owner: &ThreadHeaps, c: *mut HeapCache) {
    // SAFETY: caller's precondition.
    unsafe {
        let (prev, next) = ((*c).thread_prev, (*c).thread_next);
        if prev.is_null() {
            owner.list.set(next);
        } else {
            (*prev).thread_next = next;
        }
        if !next.is_null() {
            (*next).thread_prev = prev;
        }
    }
}

/// The shared part of a `Heap`, in a mapping of its own.
///
/// Invariant: lives at `[self, self + MAP_LEN)` until `Heap::drop`; the
/// `attached` and `reg_*` links change only under the registry lock.
struct HeapInner {
    central: CentralHeap,
    /// The registry this heap is listed in; outlives the heap.
    registry: *const Registry,
    attached: Cell<*mut HeapCache>,
    reg_next: Cell<*mut HeapInner>,
    reg_prev: Cell<*mut HeapInner>,
}

const MAP_LEN: usize = core::mem::size_of::<HeapInner>().next_multiple_of(1 << 16);

impl HeapInner {
    fn registry(&self) -> &Registry {
        // SAFETY: a heap's registry outlives it (HeapInner invariant).
        unsafe { &*self.registry }
    }

    /// # Safety
    /// The registry lock is held and `c` is on this heap's attached list.
    unsafe fn unlink_attached(&self, c: *mut HeapCache) {
        // SAFETY: caller's precondition.
        unsafe {
            let (prev, next) = ((*c).heap_prev, (*c).heap_next);
            if prev.is_null() {
                self.attached.set(next);
            } else {
                (*prev).heap_next = next;
            }
            if !next.is_null() {
                (*next).heap_prev = prev;
            }
        }
    }

    /// Finds this thread's cache for this heap, creating and attaching one
    /// if there is none. Null if the heap is out of memory.
    ///
    /// # Safety
    /// The registry lock is held; `me` is the calling thread's THREAD_HEAPS.
    unsafe fn cache_for(&self, me: &ThreadHeaps) -> *mut HeapCache {
        let this = self as *const HeapInner;
        let mut c = me.list.get();
        // SAFETY: registry held: the thread's list holds live caches.
        unsafe {
            while !c.is_null() {
                if (*c).heap == this {
                    return c;
                }
                c = (*c).thread_next;
            }
            let block = self.central.alloc_batch(cache_class(), 1, 0).0 as *mut HeapCache;
            if block.is_null() {
                return block;
            }
            debug_assert!(block_size(cache_class()) >= core::mem::size_of::<HeapCache>());
            block.write(HeapCache {
                cache: ThreadCache::new(),
                heap: this,
                owner: me,
                thread_next: me.list.get(),
                thread_prev: ptr::null_mut(),
                heap_next: self.attached.get(),
                heap_prev: ptr::null_mut(),
            });
            if !me.list.get().is_null() {
                (*me.list.get()).thread_prev = block;
            }
            me.list.set(block);
            if !self.attached.get().is_null() {
                (*self.attached.get()).heap_prev = block;
            }
            self.attached.set(block);
            block
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

// SAFETY: HeapInner's central heap is Sync; each thread only uses its own
// HeapCache, and the registry lock serialises the shared lists.
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
    /// regions on demand. Allocates nothing through the global allocator.
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
        // SAFETY: the process-wide registry is a static.
        unsafe { Self::create_in(&REGISTRY, CentralHeap::new()) }
    }

    /// Creates an empty heap that maps, unmaps and purges through `os`
    /// instead of the operating system: the fault-injection tests and the
    /// Miri set use it. Not a stable API.
    #[doc(hidden)]
    pub fn with_fake_os(os: &'static crate::fault::FakeOs) -> Option<Heap> {
        let central = CentralHeap::with_os(crate::os::Os::Source(os));
        // SAFETY: the process-wide registry is a static.
        unsafe { Self::create_in(&REGISTRY, central) }
    }

    /// Creates an empty heap over `central`, listed in `reg`.
    ///
    /// # Safety
    /// `reg` outlives the heap.
    pub(crate) unsafe fn create_in(reg: &Registry, central: CentralHeap) -> Option<Heap> {
        let os = central.os();
        // SAFETY: a page-multiple length; the mapping is new and unshared.
        let p = unsafe { os.map(MAP_LEN, 1, 0) } as *mut HeapInner;
        let inner = NonNull::new(p)?;
        crate::fork::register();
        // SAFETY: the mapping is writable, large and aligned enough.
        unsafe {
            p.write(HeapInner {
                central,
                registry: reg,
                attached: Cell::new(ptr::null_mut()),
                reg_next: Cell::new(ptr::null_mut()),
                reg_prev: Cell::new(ptr::null_mut()),
            });
            let _r = reg.lock();
            let head = reg.heaps.load(Ordering::Relaxed);
            (*p).reg_next.set(head);
            if !head.is_null() {
                (*head).reg_prev.set(p);
            }
            reg.heaps.store(p, Ordering::Relaxed);
        }
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

    /// `realloc` on this heap, malloc-style: the old size is looked up,
    /// not passed (see [`crate::realloc`] for the rules). Named `resize` so
    /// that `heap.realloc(ptr, layout, new_size)` is `GlobalAlloc::realloc`,
    /// which an inherent `realloc` would shadow.
    ///
    /// ```
    /// use std::alloc::{GlobalAlloc, Layout};
    /// let heap = memalloc::Heap::new();
    /// unsafe {
    ///     let p = heap.malloc(100);
    ///     let p = heap.resize(p, 10_000); // malloc-style
    ///     heap.free(p);
    ///     let l = Layout::from_size_align(100, 8).unwrap();
    ///     let q = heap.alloc(l);
    ///     let q = heap.realloc(q, l, 10_000); // GlobalAlloc
    ///     heap.dealloc(q, Layout::from_size_align(10_000, 8).unwrap());
    /// }
    /// ```
    ///
    /// # Safety
    /// `ptr` is null or a live block of this heap.
    pub unsafe fn resize(&self, ptr: *mut u8, size: usize) -> *mut u8 {
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

    /// Returns this thread's cached blocks, and the cache itself, to the
    /// heap (the next call on this thread attaches a fresh cache).
    pub fn flush_thread_cache(&self) {
        let inner = self.inner();
        let _ = THREAD_HEAPS.try_with(|me| {
            // Only an ACTIVE thread has caches; BUSY while flushing, so a
            // call that re-enters goes to a central heap, not to the
            // registry lock held below.
            if me.state.get() != ACTIVE {
                return;
            }
            me.state.set(BUSY);
            let this = inner as *const HeapInner as *mut HeapInner;
            let _ = me.last_heap.compare_exchange(
                this,
                ptr::null_mut(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            let _r = inner.registry().lock();
            let mut c = me.list.get();
            // SAFETY: registry held; the thread's list holds live caches.
            unsafe {
                while !c.is_null() && !core::ptr::eq((*c).heap, this) {
                    c = (*c).thread_next;
                }
                if !c.is_null() {
                    (*c).cache.flush(&inner.central);
                    inner.unlink_attached(c);
                    unlink_from_thread(me, c);
                    free_cache_block(&inner.central, c);
                }
            }
            me.state.set(ACTIVE);
        });
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

    /// The fast path for the thread whose heap state is `me`: `f` on its
    /// cache for this heap if that is the last heap it used and it is
    /// ACTIVE (see `Binding::fast`).
    #[inline(always)]
    pub(crate) fn fast_in<R>(
        &self,
        me: &ThreadHeaps,
        f: impl FnOnce(&mut ThreadCache) -> R,
    ) -> Option<R> {
        // ACTIVE is implied: `last_heap` is only set while ACTIVE, and
        // cleared for slow paths and when the thread exits.
        if core::ptr::eq(me.last_heap.load(Ordering::Relaxed), self.inner.as_ptr()) {
            // SAFETY: a matching `last_heap` means `last_cache` is this
            // thread's live cache for this heap, referenced by nothing else
            // while ACTIVE (ThreadHeaps invariant); `f` makes no call.
            Some(f(unsafe { &mut (*me.last_cache.get()).cache }))
        } else {
            None
        }
    }

    /// The slow path for the thread whose heap state is `me` (see
    /// `Binding::slow`); `arm` registers the thread's exit hook.
    #[cold]
    #[inline(never)]
    pub(crate) fn slow_in<R>(
        &self,
        me: &ThreadHeaps,
        arm: impl FnOnce() -> bool,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        without: impl FnOnce(&CentralHeap) -> R,
    ) -> R {
        let inner = self.inner();
        // A thread whose exit hook cannot be armed never attaches a cache:
        // nothing of it could be detached at its exit, and a heap drop would
        // later write into its freed TLS. BUSY, and below no fast-path
        // hint: a call that re-enters during `with`, on any heap, bypasses
        // every cache of this thread.
        if !enter_slow_path(&me.state, arm) {
            return without(&inner.central);
        }
        me.last_heap.store(ptr::null_mut(), Ordering::Relaxed);
        let c = {
            let _r = inner.registry().lock();
            // SAFETY: registry held; `me` is this thread's state.
            unsafe { inner.cache_for(me) }
        };
        if c.is_null() {
            me.state.set(ACTIVE);
            return without(&inner.central);
        }
        // SAFETY: the cache is this thread's (HeapCache invariant); BUSY
        // keeps every other reference away until `with` returns.
        let r = with(unsafe { &mut (*c).cache }, &inner.central);
        me.last_cache.set(c);
        me.last_heap.store(
            inner as *const HeapInner as *mut HeapInner,
            Ordering::Relaxed,
        );
        me.state.set(ACTIVE);
        r
    }
}

#[cfg(test)]
impl Heap {
    /// How many thread caches are attached to this heap.
    pub(crate) fn attached_caches_for_tests(&self) -> usize {
        let _r = self.inner().registry().lock();
        let mut n = 0;
        let mut c = self.inner().attached.get();
        while !c.is_null() {
            n += 1;
            // SAFETY: registry held: attached caches are live.
            c = unsafe { (*c).heap_next };
        }
        n
    }
}

impl Binding for Heap {
    #[inline(always)]
    fn central(&self) -> &CentralHeap {
        &self.inner().central
    }

    #[inline(always)]
    fn pop_fast(&self, list: ListOffset) -> *mut u8 {
        THREAD_HEAPS
            .with(|me| self.fast_in(me, |c| c.pop(list)))
            .unwrap_or(core::ptr::null_mut())
    }

    #[inline(always)]
    unsafe fn push_fast(&self, ptr: *mut u8, list: ListOffset, check_head: bool) -> bool {
        // SAFETY: forwarded precondition.
        THREAD_HEAPS.with(|me| self.fast_in(me, |c| unsafe { c.push_if_room(ptr, list, check_head) }))
            == Some(true)
    }

    #[inline(always)]
    fn slow<R>(
        &self,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        without: impl FnOnce(&CentralHeap) -> R,
    ) -> R {
        THREAD_HEAPS.with(|me| {
            let arm = || EXIT_HOOK.arm(me as *const ThreadHeaps as *mut core::ffi::c_void);
            self.slow_in(me, arm, with, without)
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
            let reg = self.inner().registry();
            let _r = reg.lock();
            // SAFETY: the registry is held; `p` is live; every attached
            // cache's owner thread is alive (exiting threads detach under the
            // registry), so its list and `last_heap` can be edited here.
            unsafe {
                let inner = &*p;
                let mut c = inner.attached.get();
                while !c.is_null() {
                    let owner = &*(*c).owner;
                    unlink_from_thread(owner, c);
                    let _ = owner.last_heap.compare_exchange(
                        p,
                        ptr::null_mut(),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    c = (*c).heap_next;
                }
                inner.attached.set(ptr::null_mut());
                let (prev, next) = (inner.reg_prev.get(), inner.reg_next.get());
                if prev.is_null() {
                    reg.heaps.store(next, Ordering::Relaxed);
                } else {
                    (*prev).reg_next.set(next);
                }
                if !next.is_null() {
                    (*next).reg_prev.set(prev);
                }
            }
        }
        // SAFETY: `&mut self` means no thread uses the heap any more; its
        // blocks (caches included) die with its mappings; nothing references
        // `p` afterwards.
        unsafe {
            let os = (*p).central.os();
            (*p).central.release_all();
            ptr::drop_in_place(p);
            os.unmap(p as *mut u8, MAP_LEN);
        }
    }
}
