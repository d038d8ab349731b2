//! The C ABI: `ma_*` functions (declared in `include/memalloc.h`) and, with
//! feature `override`, the libc allocation functions themselves, so that
//! `libmemalloc.so` can replace the system allocator with `LD_PRELOAD`.
//!
//! ```text
//!   C caller ──▶ ma_malloc / malloc ... ──▶ crate::global (process-wide heap)
//!                 │ errno: ENOMEM / EINVAL on failure, free keeps errno
//!                 │ glibc argument rules (realloc(p, 0), memalign rounding)
//!   .init_array ──▶ fork::register()   (first pthread_atfork handler)
//!               ──▶ options::at_load(): MEMALLOC_* variables read;
//!                   SHOW_STATS=1 ? atexit(report); BACKGROUND_PURGE=1 ? purger::start()
//! ```
//!
//! Rules every function here keeps:
//! - nothing allocates through the global allocator (inside the override
//!   library, Rust's `System` allocator *is* our `malloc`);
//! - nothing panics: all arithmetic is checked or wrapping by construction,
//!   and an `extern "C"` function that did panic would abort, never unwind;
//! - on the allocation paths the only libc call is `__errno_location`,
//!   which does not allocate; `pthread_atfork` and the `dlopen` pin run
//!   once, at load time.
//!
//! The functions follow glibc's documented behaviour, which is what programs
//! run under `LD_PRELOAD` expect: `malloc(0)` returns a unique pointer,
//! `realloc(NULL, n)` is `malloc(n)`, `realloc(p, 0)` frees `p` and returns
//! NULL, `memalign` rounds a non-power-of-two alignment up, `aligned_alloc`
//! rejects one with `EINVAL` (as glibc 2.38 and later do), and
//! `posix_memalign` returns its error instead of setting `errno`.

use crate::global;
use crate::stats::Stats;
use core::ffi::{c_int, c_void};
use core::ptr;

/// `errno` of the calling thread.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd"
))]
mod errno {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    use libc::__errno_location as location;
    #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
    use libc::__error as location;

    #[inline]
    pub(super) fn get() -> i32 {
        // SAFETY: libc returns this thread's errno slot, valid for the
        // thread's lifetime; reading it allocates nothing.
        unsafe { *location() }
    }

    #[inline]
    pub(super) fn set(e: i32) {
        // SAFETY: as in `get`.
        unsafe { *location() = e };
    }
}

/// Platforms whose errno we cannot reach: the C ABI still works, it just
/// reports failures by the null return alone.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd"
)))]
mod errno {
    #[inline]
    pub(super) fn get() -> i32 {
        0
    }

    #[inline]
    pub(super) fn set(_e: i32) {}
}

#[cfg(unix)]
const ENOMEM: c_int = libc::ENOMEM;
#[cfg(unix)]
const EINVAL: c_int = libc::EINVAL;
#[cfg(not(unix))]
const ENOMEM: c_int = 12;
#[cfg(not(unix))]
const EINVAL: c_int = 22;

/// Returns `p`, setting `errno = ENOMEM` if it is null (the failure path of
/// every allocating function).
#[inline(always)]
fn enomem_if_null(p: *mut u8) -> *mut c_void {
    if p.is_null() {
        out_of_memory()
    } else {
        p.cast()
    }
}

#[cold]
#[inline(never)]
fn out_of_memory() -> *mut c_void {
    errno::set(ENOMEM);
    ptr::null_mut()
}

#[cold]
#[inline(never)]
fn invalid_argument() -> *mut c_void {
    errno::set(EINVAL);
    ptr::null_mut()
}

// ---------------------------------------------------------------------------
// Shared implementations (the `ma_*` and libc names both use these)
// ---------------------------------------------------------------------------

#[inline(always)]
fn do_malloc(size: usize) -> *mut c_void {
    let p = global::malloc_without_call(size);
    if !p.is_null() {
        return p.cast();
    }
    malloc_with_calls(size)
}

/// `malloc` past its call-free fast path (a tail call, so the fast path
/// needs no stack frame).
#[cold]
#[inline(never)]
extern "C" fn malloc_with_calls(size: usize) -> *mut c_void {
    // SAFETY: `malloc` is safe to call; the block is the C caller's to free.
    enomem_if_null(unsafe { global::malloc(size) })
}

#[inline(always)]
fn do_calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: as `do_malloc`; `calloc` checks `n * size` for overflow.
    enomem_if_null(unsafe { global::calloc(n, size) })
}

/// # Safety
/// `ptr` is null or a live block of the process-wide heap.
#[inline(always)]
unsafe fn do_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if !ptr.is_null() && size == 0 {
        // glibc frees and returns NULL; that is not a failure, errno stays.
        // SAFETY: caller's precondition.
        unsafe { do_free(ptr) };
        return ptr::null_mut();
    }
    // SAFETY: caller's precondition; `global::realloc` handles a null `ptr`
    // and leaves the old block intact when it returns null.
    enomem_if_null(unsafe { global::realloc(ptr.cast(), size) })
}

/// # Safety
/// `ptr` is null or a live block of the process-wide heap, not used
/// afterwards.
#[inline(always)]
unsafe fn do_free(ptr: *mut c_void) {
    // SAFETY: caller's precondition.
    if !unsafe { global::free_without_call(ptr.cast()) } {
        // SAFETY: caller's precondition.
        unsafe { free_keeping_errno(ptr) }
    }
}

/// `free` past its call-free fast path.
///
/// # Safety
/// As [`do_free`].
#[cold]
#[inline(never)]
unsafe extern "C" fn free_keeping_errno(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // Returning pages to the OS or waking a lock waiter makes system calls
    // that may set errno; callers of free may rely on it being unchanged.
    let saved = errno::get();
    // SAFETY: caller's precondition.
    unsafe { global::free(ptr.cast()) };
    errno::set(saved);
}

/// # Safety
/// `ptr` is null or a live block of the process-wide heap.
#[inline(always)]
unsafe fn do_usable_size(ptr: *const c_void) -> usize {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: caller's precondition.
    unsafe { global::usable_size(ptr.cast()) }
}

/// Allocates with `align` already known to be a power of two.
#[inline(always)]
fn alloc_aligned(align: usize, size: usize) -> *mut c_void {
    // No object may exceed isize::MAX bytes. Checked here as well because
    // rounding such a size up to the alignment would wrap around.
    if size > isize::MAX as usize {
        return out_of_memory();
    }
    // SAFETY: `align` is a power of two; the block is the caller's.
    enomem_if_null(unsafe { global::aligned_alloc(align, size) })
}

/// C11 `aligned_alloc`: `EINVAL` unless `align` is a power of two.
fn do_aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        return invalid_argument();
    }
    alloc_aligned(align, size)
}

/// POSIX `posix_memalign`: the error is returned, `errno` is left alone.
///
/// # Safety
/// `out` is valid for a pointer-sized write.
unsafe fn do_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || align < size_of::<*mut c_void>() {
        return EINVAL;
    }
    if out.is_null() {
        return EINVAL;
    }
    if size > isize::MAX as usize {
        return ENOMEM;
    }
    let saved = errno::get();
    // SAFETY: `align` is a power of two.
    let p = unsafe { global::aligned_alloc(align, size) };
    errno::set(saved);
    if p.is_null() {
        return ENOMEM;
    }
    // SAFETY: caller's precondition; `out` is non-null.
    unsafe { *out = p.cast() };
    0
}

/// `ma_stats_t` in `include/memalloc.h`: [`Stats`] field by field, in order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MaStats {
    bytes_in_use: usize,
    bytes_in_thread_caches: usize,
    bytes_in_central_batches: usize,
    bytes_mapped: usize,
    bytes_free_runs: usize,
    bytes_purged: usize,
    regions: usize,
    huge_allocations: usize,
    free_runs: usize,
    largest_free_run: usize,
    large_allocs: u64,
    huge_allocs: u64,
    small_blocks_refilled: u64,
    small_blocks_flushed: u64,
    maps: u64,
    unmaps: u64,
    purges: u64,
    class_lock_acquisitions: u64,
    class_lock_contended: u64,
    class_lock_hold_ns: u64,
    page_lock_acquisitions: u64,
    page_lock_contended: u64,
    page_lock_hold_ns: u64,
    huge_lock_acquisitions: u64,
    huge_lock_contended: u64,
}

// The header static-asserts the same size: 10 size_t followed by 15 uint64_t.
const _: () = assert!(size_of::<MaStats>() == 10 * size_of::<usize>() + 15 * size_of::<u64>());

impl From<Stats> for MaStats {
    fn from(s: Stats) -> Self {
        // No `..`: a field added to `Stats` fails to compile here until the
        // C struct (and the header) gain it too.
        let Stats {
            bytes_in_use,
            bytes_in_thread_caches,
            bytes_in_central_batches,
            bytes_mapped,
            bytes_free_runs,
            bytes_purged,
            regions,
            huge_allocations,
            free_runs,
            largest_free_run,
            large_allocs,
            huge_allocs,
            small_blocks_refilled,
            small_blocks_flushed,
            maps,
            unmaps,
            purges,
            class_lock_acquisitions,
            class_lock_contended,
            class_lock_hold_ns,
            page_lock_acquisitions,
            page_lock_contended,
            page_lock_hold_ns,
            huge_lock_acquisitions,
            huge_lock_contended,
        } = s;
        MaStats {
            bytes_in_use,
            bytes_in_thread_caches,
            bytes_in_central_batches,
            bytes_mapped,
            bytes_free_runs,
            bytes_purged,
            regions,
            huge_allocations,
            free_runs,
            largest_free_run,
            large_allocs,
            huge_allocs,
            small_blocks_refilled,
            small_blocks_flushed,
            maps,
            unmaps,
            purges,
            class_lock_acquisitions,
            class_lock_contended,
            class_lock_hold_ns,
            page_lock_acquisitions,
            page_lock_contended,
            page_lock_hold_ns,
            huge_lock_acquisitions,
            huge_lock_contended,
        }
    }
}

// ---------------------------------------------------------------------------
// ma_* (always exported)
// ---------------------------------------------------------------------------

/// `malloc` of the process-wide heap. See `include/memalloc.h`.
///
/// # Safety
/// Always safe to call; the block must be freed exactly once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ma_malloc(size: usize) -> *mut c_void {
    do_malloc(size)
}

/// `calloc` of the process-wide heap. See `include/memalloc.h`.
///
/// # Safety
/// As [`ma_malloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ma_calloc(n: usize, size: usize) -> *mut c_void {
    do_calloc(n, size)
}

/// `realloc` of the process-wide heap. See `include/memalloc.h`.
///
/// # Safety
/// `ptr` is null or a live block from `ma_*`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ma_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: caller's precondition.
    unsafe { do_realloc(ptr, size) }
}

/// `free` of the process-wide heap. See `include/memalloc.h`.
///
/// # Safety
/// `ptr` is null or a live block from `ma_*`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ma_free(ptr: *mut c_void) {
    // SAFETY: caller's precondition.
    unsafe { do_free(ptr) }
}

/// Usable size of a block (0 for NULL). See `include/memalloc.h`.
///
/// # Safety
/// `ptr` is null or a live block from `ma_*`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ma_usable_size(ptr: *const c_void) -> usize {
    // SAFETY: caller's precondition.
    unsafe { do_usable_size(ptr) }
}

/// C11 `aligned_alloc`. See `include/memalloc.h`.
///
/// # Safety
/// As [`ma_malloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ma_aligned_alloc(align: usize, size: usize) -> *mut c_void {
    do_aligned_alloc(align, size)
}

/// POSIX `posix_memalign`. See `include/memalloc.h`.
///
/// # Safety
/// `out` is valid for a pointer-sized write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ma_posix_memalign(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
) -> c_int {
    // SAFETY: caller's precondition.
    unsafe { do_posix_memalign(out, align, size) }
}

/// Fills `*out` with the process-wide heap's statistics (nothing for NULL).
///
/// # Safety
/// `out` is null or valid for writing one `ma_stats_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ma_stats(out: *mut MaStats) {
    if out.is_null() {
        return;
    }
    let s = MaStats::from(global::stats());
    // SAFETY: caller's precondition; `out` is non-null. `write_unaligned`
    // tolerates a caller's packed buffer.
    unsafe { out.write_unaligned(s) };
}

/// Prints heap usage and free runs to stderr, without allocating.
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ma_print_stats() {
    global::print_stats();
}

// ---------------------------------------------------------------------------
// Load-time registration of the fork handlers
// ---------------------------------------------------------------------------

/// Registers the fork handlers when the library is loaded, before any
/// other library or the program can register its own.
///
/// glibc runs `prepare` handlers in reverse registration order and `child`
/// handlers in registration order. Registered first, ours take the heap
/// lock last before `fork` and release it first in the child, so handlers
/// registered later may allocate in any of their phases. (Registering
/// lazily on first use could also call `pthread_atfork` from inside another
/// handler, while glibc holds its handler-list lock: a self-deadlock.)
#[cfg(all(unix, not(target_vendor = "apple")))]
extern "C" fn register_fork_handlers_at_load() {
    crate::fork::register();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pin_shared_library();
    // The environment's options: the one place a program under `LD_PRELOAD`
    // can ask for the exit report or the purger thread, and outside every
    // `malloc`/`free` (DESIGN.md promise 8).
    crate::options::at_load();
}

/// Keeps `libmemalloc.so` mapped for the life of the process once it is
/// loaded, even if a program `dlopen`s and then `dlclose`s it: each thread
/// that used the heap holds a pthread-key destructor pointing into this
/// library, and would jump into unmapped code at its exit. (Linking with
/// `-z nodelete` would do the same.) Does nothing when the library is
/// linked into the executable.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pin_shared_library() {
    // SAFETY: `Dl_info` is plain data; all-zero is a valid value.
    let mut me: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: an address inside this object and a valid out-pointer;
    // dladdr only reads the loader's tables.
    let found = unsafe { libc::dladdr(register_fork_handlers_at_load as *const c_void, &mut me) };
    if found == 0 || me.dli_fname.is_null() {
        return;
    }
    // SAFETY: getauxval only reads the auxiliary vector.
    let phdr = unsafe { libc::getauxval(libc::AT_PHDR) } as *const c_void;
    // SAFETY: `Dl_info` is plain data; all-zero is a valid value.
    let mut exe: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: as above; AT_PHDR points into the executable's image.
    if !phdr.is_null()
        && unsafe { libc::dladdr(phdr, &mut exe) } != 0
        && exe.dli_fbase == me.dli_fbase
    {
        return;
    }
    // RTLD_NOLOAD: never loads anything, only finds this (already loaded)
    // object and marks it never-unload. The handle is kept forever on
    // purpose. dlopen from a constructor is allowed (the loader lock is
    // recursive); what it allocates goes to whichever malloc is in use,
    // ours included (first use from here is served by the central heap).
    // SAFETY: `dli_fname` is the NUL-terminated name of a loaded object.
    unsafe {
        libc::dlopen(
            me.dli_fname,
            libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
        )
    };
}

// Not under Miri: it cannot run `dladdr`/`dlopen` (no dynamic loader).
#[cfg(all(unix, not(target_vendor = "apple"), not(miri)))]
#[used]
#[unsafe(link_section = ".init_array")]
static REGISTER_FORK_HANDLERS_AT_LOAD: extern "C" fn() = register_fork_handlers_at_load;

// ---------------------------------------------------------------------------
// The libc names (feature `override`)
// ---------------------------------------------------------------------------

/// The system allocator's entry points, replaced. Each is the glibc
/// function of the same name, backed by the process-wide heap.
#[cfg(feature = "override")]
pub mod replace {
    use super::*;

    /// C `malloc`.
    ///
    /// # Safety
    /// As [`ma_malloc`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
        do_malloc(size)
    }

    /// C `calloc`.
    ///
    /// # Safety
    /// As [`ma_malloc`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
        do_calloc(n, size)
    }

    /// C `realloc`; `realloc(p, 0)` frees `p` and returns NULL (glibc).
    ///
    /// # Safety
    /// `ptr` is null or a live block of this allocator.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: caller's precondition.
        unsafe { do_realloc(ptr, size) }
    }

    /// glibc/BSD `reallocarray`: `realloc(ptr, n * size)` with an overflow
    /// check (`ENOMEM`, `ptr` untouched).
    ///
    /// # Safety
    /// As [`realloc`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, n: usize, size: usize) -> *mut c_void {
        match n.checked_mul(size) {
            // SAFETY: caller's precondition.
            Some(total) => unsafe { do_realloc(ptr, total) },
            None => out_of_memory(),
        }
    }

    /// C `free`; keeps `errno`.
    ///
    /// # Safety
    /// `ptr` is null or a live block of this allocator, not used afterwards.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn free(ptr: *mut c_void) {
        // SAFETY: caller's precondition.
        unsafe { do_free(ptr) }
    }

    /// POSIX `posix_memalign`.
    ///
    /// # Safety
    /// As [`ma_posix_memalign`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn posix_memalign(
        out: *mut *mut c_void,
        align: usize,
        size: usize,
    ) -> c_int {
        // SAFETY: caller's precondition.
        unsafe { do_posix_memalign(out, align, size) }
    }

    /// C11 `aligned_alloc`: `EINVAL` unless `align` is a power of two.
    ///
    /// # Safety
    /// As [`ma_malloc`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
        do_aligned_alloc(align, size)
    }

    /// glibc `memalign`: an alignment that is not a power of two is rounded
    /// up to one; `EINVAL` if that is impossible.
    ///
    /// # Safety
    /// As [`ma_malloc`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
        match align.checked_next_power_of_two() {
            Some(a) if a <= isize::MAX as usize / 2 + 1 => alloc_aligned(a.max(1), size),
            _ => invalid_argument(),
        }
    }

    /// `valloc`: `memalign(page size, size)`.
    ///
    /// # Safety
    /// As [`ma_malloc`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
        alloc_aligned(crate::os::page_size(), size)
    }

    /// glibc `pvalloc`: `valloc` of `size` rounded up to whole pages (one
    /// page for 0).
    ///
    /// # Safety
    /// As [`ma_malloc`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
        let page = crate::os::page_size();
        match size.max(1).checked_add(page - 1) {
            Some(n) => alloc_aligned(page, n & !(page - 1)),
            None => out_of_memory(),
        }
    }

    /// glibc `malloc_usable_size` (0 for NULL).
    ///
    /// # Safety
    /// `ptr` is null or a live block of this allocator.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> usize {
        // SAFETY: caller's precondition.
        unsafe { do_usable_size(ptr) }
    }

    // -----------------------------------------------------------------------
    // glibc's heap tuning and inspection functions
    // -----------------------------------------------------------------------
    //
    // Left to glibc, these would trim and report glibc's own heap, which is
    // empty while memalloc serves every allocation.

    /// glibc `malloc_trim`: flushes this thread's cache and gives every free
    /// page of the process-wide heap back to the OS ([`global::trim`]).
    /// Returns 1 if that released memory (a free run was purged or a mapping
    /// unmapped), else 0. Another thread purging at the same moment can make
    /// it report 1 for memory it did not release itself.
    ///
    /// `pad` is ignored: in glibc it is how much free space to keep at the
    /// top of the `sbrk` heap, and memalloc has no such top. Its heap is
    /// regions of page runs, and `trim` returns every free page; pages are
    /// faulted back in on demand, so keeping some would only keep them
    /// resident.
    ///
    /// # Safety
    /// Always safe to call.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn malloc_trim(pad: usize) -> c_int {
        let _ = pad;
        // Purging and unmapping are system calls; like `free`, leave errno
        // as the caller had it.
        let saved = errno::get();
        let before = global::stats();
        global::trim();
        let after = global::stats();
        errno::set(saved);
        let released = after.purges > before.purges
            || after.unmaps > before.unmaps
            || after.bytes_mapped < before.bytes_mapped;
        c_int::from(released)
    }

    /// The figures of [`mallinfo2`], from one snapshot of the statistics.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn mallinfo_figures() -> libc::mallinfo2 {
        let (s, huge_mapped) = global::stats_and_huge_mapped();
        let small_free = s
            .bytes_in_thread_caches
            .saturating_add(s.bytes_in_central_batches);
        libc::mallinfo2 {
            arena: s.bytes_mapped.saturating_sub(huge_mapped),
            ordblks: s.free_runs,
            smblks: 0,
            hblks: s.huge_allocations,
            hblkhd: huge_mapped,
            usmblks: 0,
            fsmblks: small_free,
            uordblks: s.bytes_in_use,
            fordblks: s.bytes_free_runs.saturating_add(small_free),
            keepcost: s.bytes_free_runs.saturating_sub(s.bytes_purged),
        }
    }

    /// glibc `mallinfo2`: the process-wide heap's figures in glibc's fields
    /// (one snapshot of its statistics). The mapping, also in
    /// `include/memalloc.h`:
    ///
    /// | field      | memalloc figure                                         |
    /// |------------|---------------------------------------------------------|
    /// | `arena`    | bytes mapped in regions                                 |
    /// | `ordblks`  | number of free page runs                                |
    /// | `smblks`   | 0 (free small blocks are not counted one by one)        |
    /// | `hblks`    | live huge allocations (one dedicated mapping each)      |
    /// | `hblkhd`   | bytes in those dedicated mappings                       |
    /// | `usmblks`  | 0 (as in glibc, which no longer fills it)               |
    /// | `fsmblks`  | free small blocks: thread caches + central batches      |
    /// | `uordblks` | bytes in use (block sizes, huge allocations included)   |
    /// | `fordblks` | free bytes: free runs + central batches + thread caches |
    /// | `keepcost` | resident bytes of free runs (`malloc_trim` purges them) |
    ///
    /// Thread caches count as of each thread's last exchange with the
    /// central heap (see [`crate::Stats`]): blocks freed since then still
    /// count in `uordblks`.
    ///
    /// # Safety
    /// Always safe to call.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn mallinfo2() -> libc::mallinfo2 {
        mallinfo_figures()
    }

    /// glibc `mallinfo`: [`mallinfo2`] with every field clamped to
    /// `INT_MAX` (glibc's own wraps around instead).
    ///
    /// # Safety
    /// Always safe to call.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn mallinfo() -> libc::mallinfo {
        let m = mallinfo_figures();
        let clamp = |v: usize| c_int::try_from(v).unwrap_or(c_int::MAX);
        libc::mallinfo {
            arena: clamp(m.arena),
            ordblks: clamp(m.ordblks),
            smblks: clamp(m.smblks),
            hblks: clamp(m.hblks),
            hblkhd: clamp(m.hblkhd),
            usmblks: clamp(m.usmblks),
            fsmblks: clamp(m.fsmblks),
            uordblks: clamp(m.uordblks),
            fordblks: clamp(m.fordblks),
            keepcost: clamp(m.keepcost),
        }
    }

    /// glibc `malloc_stats`: memalloc's report of the process-wide heap on
    /// stderr ([`global::print_stats`]), without allocating.
    ///
    /// # Safety
    /// Always safe to call.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn malloc_stats() {
        global::print_stats();
    }

    /// glibc `mallopt`: 1 if the option took effect, 0 otherwise.
    ///
    /// One option maps onto a memalloc setting: `M_TRIM_THRESHOLD` (how
    /// much free memory glibc keeps before giving it back) sets the floor
    /// of the dirty-page bound, the free but resident bytes memalloc keeps
    /// ([`crate::options::Options::dirty_min_bytes`]). It takes effect
    /// under the options' rules: before memalloc first gives memory back,
    /// and not over `MEMALLOC_DIRTY_MIN_BYTES` in the environment; 0
    /// otherwise. Every other option returns 0: the threshold for
    /// dedicated mappings (`M_MMAP_THRESHOLD`, memalloc's `LARGE_MAX`) is a
    /// constant, and memalloc has no arenas (`M_ARENA_MAX`,
    /// `M_ARENA_TEST`), no `sbrk` top (`M_TOP_PAD`), no fastbins
    /// (`M_MXFAST`), and neither perturbs nor checks freed memory on
    /// request (`M_PERTURB`, `M_CHECK_ACTION`). Returning 1 for those would
    /// claim a setting took effect when it was ignored.
    ///
    /// # Safety
    /// Always safe to call.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn mallopt(param: c_int, value: c_int) -> c_int {
        /// glibc's `M_TRIM_THRESHOLD` (`<malloc.h>`).
        const M_TRIM_THRESHOLD: c_int = -1;
        if param != M_TRIM_THRESHOLD || value < 0 {
            return 0;
        }
        let bytes = value as usize;
        let applied = crate::options::Options::new()
            .dirty_min_bytes(bytes)
            .apply()
            .is_ok();
        (applied && crate::options::Options::current().dirty_min_bytes == bytes) as c_int
    }
}
