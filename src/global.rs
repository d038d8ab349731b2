//! The process-wide heap: `Memalloc`, the malloc-style functions, `stats`.
//!
//! ```text
//!  thread A: word (active_slot) ──▶ SLOT while ACTIVE, CLOSED_SLOT otherwise
//!            SLOT (#[thread_local] via const thread_local!, no destructor)
//!            ├─ state: FRESH → BINDING → ACTIVE ⇄ BUSY → DEAD
//!            └─ cache: ThreadCache ─────┐
//!  thread B: SLOT ... cache ────────────┼──▶ GLOBAL_CENTRAL (a static, const-built)
//!                                       │
//!  thread exit: pthread key destructor ─┘ flushes the cache, state = DEAD
//! ```
//!
//! Binding mechanism, and why: the cache lives in a `const`-initialised
//! `thread_local!` whose type has no destructor, which compiles to a plain
//! TLS access (no lazy-init check, no destructor registration, nothing
//! allocated). The exit flush is a `pthread_key_create` destructor: glibc
//! runs those after the C++/Rust TLS destructors (which may still free into
//! the cache), and registering one allocates nothing for the first 32 keys.
//! After the flush the state is DEAD and the thread's calls go straight to
//! the central heap; so are those of a thread whose hook cannot be armed
//! (keys exhausted, `pthread_setspecific` failing), which never gets a
//! cache it could not flush. Slow paths run with the state BUSY: a call
//! that re-enters memalloc meanwhile is served by the central heap and
//! never touches the cache in use (`front::Binding`). The fast path
//! reaches the cache through the thread's active-slot word, which names the
//! slot only while it is ACTIVE and otherwise a shared closed slot whose
//! lists are all empty and full (`active_slot`: one load and no test, and
//! in the `override` library an initial-exec access instead of a call to
//! `__tls_get_addr`). This measured faster than a `ThreadLocal` lookup (no
//! thread-id fetch and bucket index on every call) and is sound because the
//! slot is only ever touched by its own thread.
//!
//! `fork`: `pthread_atfork` handlers take every heap lock before the fork and
//! release them in both parent and child, so the child never inherits a
//! lock held by a thread that does not exist there.

use crate::active_slot;
use crate::cache::ThreadCache;
use crate::central::{BIN_COUNT, CentralHeap};
use crate::front::{self, Binding, MALLOC_ALIGN};
use crate::size_class::ListOffset;
use crate::slot::{ActiveWord, CacheSlot};
use crate::stats::{BinLine, Stats};
use crate::thread_exit::ExitHook;
use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::mem::ManuallyDrop;
use core::ptr;

/// The process-wide central heap.
pub(crate) static GLOBAL_CENTRAL: CentralHeap = CentralHeap::new_process();

thread_local! {
    /// This thread's binding to the process-wide heap (see `slot`): only
    /// this thread touches it, its exit hook included. `ManuallyDrop` keeps
    /// it free of a TLS destructor in every build (under `--cfg loom` the
    /// shim's cell type has drop glue): the slot must stay usable until the
    /// pthread-key exit hook, which runs after every TLS destructor.
    static SLOT: ManuallyDrop<CacheSlot> = const { ManuallyDrop::new(CacheSlot::new()) };
}

/// The process-wide binding.
pub(crate) struct ProcessBinding;

impl Binding for ProcessBinding {
    #[inline(always)]
    fn central(&self) -> &CentralHeap {
        &GLOBAL_CENTRAL
    }

    #[inline(always)]
    fn pop_fast(&self, list: ListOffset) -> *mut u8 {
        CacheSlot::pop_through(&ThreadWord, list)
    }

    #[inline(always)]
    unsafe fn push_fast(&self, ptr: *mut u8, list: ListOffset, check_head: bool) -> bool {
        // SAFETY: forwarded precondition; the slot is only ever used with
        // GLOBAL_CENTRAL.
        unsafe { CacheSlot::push_through(&ThreadWord, ptr, list, check_head) }
    }

    #[inline(always)]
    fn slow<R>(
        &self,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        without: impl FnOnce(&CentralHeap) -> R,
    ) -> R {
        SLOT.with(|slot| {
            slot.slow_through(
                &ThreadWord,
                &GLOBAL_CENTRAL,
                || EXIT_HOOK.arm(&**slot as *const CacheSlot as *mut c_void),
                with,
                without,
            )
        })
    }

    #[inline(always)]
    fn small_class(&self, ptr: *const u8) -> Option<ListOffset> {
        crate::region::process_small_class(ptr)
    }
}

/// The calling thread's active-slot word for the process-wide heap (see
/// `active_slot`); only the slot's `*_through` methods set it.
struct ThreadWord;

impl ActiveWord for ThreadWord {
    #[inline(always)]
    fn get(&self) -> *const CacheSlot {
        active_slot::get()
    }

    #[inline(always)]
    fn set(&self, slot: *const CacheSlot) {
        active_slot::set(slot)
    }
}

/// This thread's binding state for the process-wide heap.
#[cfg(test)]
pub(crate) fn thread_state_for_tests() -> u8 {
    SLOT.with(|slot| slot.state())
}

crate::thread_exit::exit_fn! {
    /// The process-wide heap's thread-exit hook.
    fn on_thread_exit(slot) {
        // SAFETY: the hook's value is only ever the exiting thread's SLOT,
        // which outlives its key destructors and was only used with
        // GLOBAL_CENTRAL.
        unsafe { (*(slot as *const CacheSlot)).exit_flush_through(&ThreadWord, &GLOBAL_CENTRAL) };
    }
}

static EXIT_HOOK: ExitHook = ExitHook::new(on_thread_exit);

/// memalloc as the process's global allocator:
///
/// ```
/// #[global_allocator]
/// static GLOBAL: memalloc::Memalloc = memalloc::Memalloc;
///
/// let v: Vec<u64> = (0..1000).collect();
/// assert_eq!(v.iter().sum::<u64>(), 499_500);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Memalloc;

// SAFETY: every method upholds the GlobalAlloc contract: blocks are at least
// `layout.size()` bytes aligned to `layout.align()` (see `size_class` for the
// alignment argument and `central` for large blocks), failures return null,
// and `dealloc`/`realloc` use the same class mapping as `alloc`.
unsafe impl GlobalAlloc for Memalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        front::alloc(&ProcessBinding, layout.size(), layout.align())
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block from `alloc` with its layout.
        unsafe { front::dealloc_sized(&ProcessBinding, ptr, layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        front::alloc_zeroed(&ProcessBinding, layout.size(), layout.align())
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a live block with its layout.
        unsafe {
            front::realloc_sized(
                &ProcessBinding,
                ptr,
                layout.size(),
                layout.align(),
                new_size,
            )
        }
    }
}

/// Allocates `size` bytes aligned to 16 from the process-wide heap.
/// Returns null if out of memory or `size > isize::MAX`. `malloc(0)` returns
/// a unique pointer that must be freed.
///
/// # Safety
/// Always safe to call; `unsafe` because the result is raw memory that must
/// be freed exactly once with [`free`] (or [`realloc`]).
pub unsafe fn malloc(size: usize) -> *mut u8 {
    front::alloc(&ProcessBinding, size, MALLOC_ALIGN)
}

/// A 16-byte aligned block of `size` bytes from this thread's cache if
/// that takes no call (see `front::alloc_without_call`); null otherwise,
/// and then the caller runs [`malloc`].
#[inline(always)]
pub(crate) fn malloc_without_call(size: usize) -> *mut u8 {
    front::alloc_without_call(&ProcessBinding, size, MALLOC_ALIGN)
}

/// Allocates zeroed memory for `n` objects of `size` bytes; null if
/// `n * size` overflows or memory is exhausted.
///
/// # Safety
/// As [`malloc`].
pub unsafe fn calloc(n: usize, size: usize) -> *mut u8 {
    front::calloc(&ProcessBinding, n, size)
}

/// Resizes a block, keeping its contents up to the smaller size. Same class
/// → same pointer; large blocks grow or shrink in place where possible.
/// `realloc(null, n)` is `malloc(n)`; `realloc(p, 0)` frees `p` and returns
/// null. On failure returns null and `ptr` stays valid.
///
/// # Safety
/// `ptr` is null or a live block from this process-wide heap.
pub unsafe fn realloc(ptr: *mut u8, size: usize) -> *mut u8 {
    if ptr.is_null() {
        return front::alloc(&ProcessBinding, size, MALLOC_ALIGN);
    }
    if size == 0 {
        // SAFETY: caller's precondition.
        unsafe { front::free(&ProcessBinding, ptr) };
        return ptr::null_mut();
    }
    // SAFETY: caller's precondition.
    unsafe { front::realloc(&ProcessBinding, ptr, size) }
}

/// Frees a block of the process-wide heap; `free(null)` does nothing. A
/// pointer this heap never handed out, or a double free where it is visible,
/// aborts with a one-line message on stderr.
///
/// # Safety
/// `ptr` is null or a live block from this heap, not used afterwards.
pub unsafe fn free(ptr: *mut u8) {
    // SAFETY: caller's precondition.
    unsafe { front::free(&ProcessBinding, ptr) }
}

/// Frees `ptr` if that takes no call (see `front::free_without_call`);
/// false, with nothing changed, if the caller must run [`free`].
///
/// # Safety
/// As [`free`].
#[inline(always)]
pub(crate) unsafe fn free_without_call(ptr: *mut u8) -> bool {
    // SAFETY: caller's precondition.
    unsafe { front::free_without_call(&ProcessBinding, ptr) }
}

/// Usable bytes of a live block (at least the size requested).
///
/// # Safety
/// `ptr` is a live block from this heap.
pub unsafe fn usable_size(ptr: *const u8) -> usize {
    // SAFETY: caller's precondition.
    unsafe { front::usable_size(&ProcessBinding, ptr) }
}

/// Allocates `size` bytes aligned to `align`. Null if `align` is not a power
/// of two, or out of memory.
///
/// # Safety
/// As [`malloc`].
pub unsafe fn aligned_alloc(align: usize, size: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        return ptr::null_mut();
    }
    front::alloc(&ProcessBinding, size, align.max(MALLOC_ALIGN))
}

/// Returns this thread's cached free blocks to the process-wide heap (useful
/// before [`stats`] or [`trim`], or when a thread goes idle).
pub fn flush_thread_cache() {
    ProcessBinding.slow(
        // SAFETY: the binding pairs this cache with GLOBAL_CENTRAL.
        |cache, central| unsafe { cache.flush(central) },
        |_| {},
    )
}

/// Flushes this thread's cache and gives every free page of the process-wide
/// heap back to the OS now, instead of after the purge delay.
pub fn trim() {
    flush_thread_cache();
    GLOBAL_CENTRAL.trim();
}

/// Starts memalloc's background purger, if it is not running yet, and
/// returns whether it runs. memalloc never starts a thread by itself; this
/// thread, which returns free pages to the OS after [`limits::PURGE_DELAY_MS`]
/// while the program is idle, exists only if a program asks for it (here,
/// or with `MEMALLOC_BACKGROUND_PURGE=1` in the environment of a program
/// that loads the C library). Without it, freed memory above the dirty-page
/// bound still goes back at once, on the freeing thread. Always false on
/// platforms without the purger (Windows), and when the environment says
/// `MEMALLOC_BACKGROUND_PURGE=0` (see [`crate::options`]).
///
/// ```
/// assert_eq!(memalloc::start_background_purger(), cfg!(unix));
/// ```
///
/// [`limits::PURGE_DELAY_MS`]: crate::limits::PURGE_DELAY_MS
pub fn start_background_purger() -> bool {
    #[cfg(unix)]
    return !crate::options::background_purge_forbidden() && crate::purger::start();
    #[cfg(not(unix))]
    false
}

/// A snapshot of the process-wide heap's statistics.
pub fn stats() -> Stats {
    GLOBAL_CENTRAL.stats(None)
}

/// A snapshot of the process-wide heap's statistics and, from the same
/// snapshot, the bytes mapped for huge allocations (the rest of
/// `bytes_mapped` is regions). For `mallinfo` in the C ABI.
#[cfg(all(feature = "override", target_os = "linux", target_env = "gnu"))]
pub(crate) fn stats_and_huge_mapped() -> (Stats, usize) {
    GLOBAL_CENTRAL.stats_and_huge_mapped()
}

/// Prints heap usage and the free runs of the process-wide heap to stderr,
/// without allocating.
pub fn print_stats() {
    let mut bins = [BinLine::default(); BIN_COUNT];
    let s = GLOBAL_CENTRAL.stats(Some(&mut bins));
    crate::stats::print_report("process-wide heap", &s, &bins);
}

/// Checks the process-wide heap's invariants (see [`crate::Heap::check`]).
pub fn check() -> Result<(), crate::HeapError> {
    GLOBAL_CENTRAL.check().map_err(crate::HeapError)
}
