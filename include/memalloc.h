/*
 * memalloc.h - C interface of memalloc, a thread-safe general-purpose
 * memory allocator written in Rust.
 *
 * Link against libmemalloc.a (static) or libmemalloc.so (shared); see
 * README.md, "Using memalloc from C". All functions are thread-safe and use
 * one process-wide heap: every thread has a private cache of free blocks in
 * front of a shared central heap. Memory from ma_* must be released with
 * ma_free / ma_realloc, never with the system free (unless the library was
 * built with the `override` feature and replaces the system allocator, in
 * which case malloc and ma_malloc are the same heap).
 *
 * Failures return NULL and set errno (ENOMEM, or EINVAL for a bad
 * alignment); nothing here aborts on out-of-memory. Passing a pointer that
 * this heap did not hand out, or freeing a large block twice, aborts the
 * process with a one-line message on stderr.
 *
 * memalloc creates no thread of its own, and none from inside an
 * allocation or a free. Freed memory goes back to the OS on the freeing
 * thread once more than max(DIRTY_MIN_BYTES, DIRTY_FRACTION of the heap's
 * region bytes in use, twice the largest block freed in the last
 * PURGE_DELAY_MS; and, while blocks of 1 MiB or more keep being freed and
 * taken again, twice the most large blocks in use over PURGE_DELAY_MS) is
 * free but resident, and free pages under that bound go back once they have
 * been free for PURGE_DELAY_MS (checked on later heap activity).
 *
 * Environment, read once when the library is loaded (by its constructor,
 * before main; also in programs linking libmemalloc.a). A bad value prints
 * one line "memalloc: ignoring NAME="value" (expected ...)" on stderr and
 * the setting keeps its default; the program runs on. An empty value is
 * the same as unset. Booleans are 1/0, true/false, yes/no or on/off.
 *
 *   MEMALLOC_SHOW_STATS=1         print the ma_print_stats report to stderr
 *                                 when the process exits (exit() or return
 *                                 from main; not _exit or a signal).
 *   MEMALLOC_VERBOSE=1            print the settings in effect, then one
 *                                 line on stderr for every mapping made or
 *                                 released and every purge:
 *                                   memalloc: map 0x7f3a00000000 1048576 B
 *                                 (map, unmap, purge, remap to, shrink to).
 *   MEMALLOC_PURGE_DELAY_MS=N     how long free pages stay resident before
 *                                 they are purged; 0 to 86400000, default
 *                                 100. Longer keeps reused pages from being
 *                                 faulted in again; shorter returns idle
 *                                 memory sooner.
 *   MEMALLOC_DIRTY_MIN_BYTES=N    DIRTY_MIN_BYTES above: bytes, optionally
 *                                 with K, M or G (x1024^n); default 8M.
 *   MEMALLOC_DIRTY_FRACTION=1/N   DIRTY_FRACTION above, written 1/N with
 *                                 N >= 1; default 1/8.
 *   MEMALLOC_BACKGROUND_PURGE=1   start one background thread (at load)
 *                                 that also returns what stays under the
 *                                 bound once it has been free for
 *                                 PURGE_DELAY_MS (for programs that free a
 *                                 burst and then go idle). =0 forbids it,
 *                                 even if the program asks for one.
 *
 * Rust programs get the same settings from memalloc::Options; a variable
 * that is set wins over the program's own setting.
 */
#ifndef MEMALLOC_H
#define MEMALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Alignment of every pointer returned by ma_malloc, ma_calloc and
 * ma_realloc. */
#define MA_MALLOC_ALIGN 16

/*
 * Allocates `size` bytes aligned to MA_MALLOC_ALIGN. ma_malloc(0) returns a
 * unique pointer that must be freed. Returns NULL and sets errno = ENOMEM
 * if memory is exhausted or size > PTRDIFF_MAX.
 */
void *ma_malloc(size_t size);

/*
 * Allocates zeroed memory for `n` objects of `size` bytes. Returns NULL and
 * sets errno = ENOMEM if n * size overflows or memory is exhausted.
 */
void *ma_calloc(size_t n, size_t size);

/*
 * Resizes the block `ptr` to `size` bytes, keeping its contents up to the
 * smaller of the old and new sizes; the result may move.
 *   ma_realloc(NULL, n) is ma_malloc(n);
 *   ma_realloc(p, 0) frees p and returns NULL (as glibc's realloc does);
 *   on failure returns NULL, sets errno = ENOMEM, and `ptr` stays valid.
 */
void *ma_realloc(void *ptr, size_t size);

/*
 * Frees a block from this heap; ma_free(NULL) does nothing. Never changes
 * errno.
 */
void ma_free(void *ptr);

/*
 * Number of usable bytes in the live block `ptr` (at least the size that
 * was requested; all of them may be used). Returns 0 for NULL.
 */
size_t ma_usable_size(const void *ptr);

/*
 * C11 aligned_alloc: `size` bytes aligned to `alignment`, which must be a
 * power of two (any size, not only multiples of the alignment, is
 * accepted). Returns NULL with errno = EINVAL for a bad alignment, errno =
 * ENOMEM if out of memory. Alignments up to at least 2 MiB are supported
 * efficiently; larger ones get a dedicated mapping.
 */
void *ma_aligned_alloc(size_t alignment, size_t size);

/*
 * POSIX posix_memalign: stores in *memptr a block of `size` bytes aligned
 * to `alignment`, which must be a power of two and a multiple of
 * sizeof(void *). Returns 0 on success, EINVAL for a bad alignment, ENOMEM
 * if out of memory; on failure *memptr is unchanged. errno is not changed.
 */
int ma_posix_memalign(void **memptr, size_t alignment, size_t size);

/*
 * Statistics of the process-wide heap, field by field the Rust
 * `memalloc::Stats`. Figures are exact for the central heap; blocks held in
 * thread caches are counted as of each thread's last exchange with it.
 */
typedef struct ma_stats {
    size_t bytes_in_use;             /* bytes in blocks handed out (block sizes) */
    size_t bytes_in_thread_caches;   /* free bytes held by thread caches */
    size_t bytes_in_central_batches; /* free bytes in the central per-class batches */
    size_t bytes_mapped;             /* bytes mapped from the OS (regions + huge) */
    size_t bytes_free_runs;          /* bytes in free page runs (resident or purged) */
    size_t bytes_purged;             /* bytes of free runs returned with madvise */
    size_t regions;                  /* regions currently mapped */
    size_t huge_allocations;         /* live huge allocations (one mapping each) */
    size_t free_runs;                /* number of free page runs */
    size_t largest_free_run;         /* bytes in the largest free run */
    uint64_t large_allocs;           /* page-run allocations made, ever */
    uint64_t huge_allocs;            /* dedicated-mapping allocations made, ever */
    uint64_t small_blocks_refilled;  /* blocks handed to thread caches, ever */
    uint64_t small_blocks_flushed;   /* blocks returned by thread caches, ever */
    uint64_t maps;                   /* mappings created, ever */
    uint64_t unmaps;                 /* mappings released, ever */
    uint64_t purges;                 /* free runs purged with madvise, ever */
    /* Lock use, ever, counted exactly under each lock: */
    uint64_t class_lock_acquisitions; /* size classes' central locks, summed */
    uint64_t class_lock_contended;   /* ... of which found the lock held */
    uint64_t class_lock_hold_ns;     /* ns held, estimated from 1 in 64 timed */
    uint64_t page_lock_acquisitions; /* the page heap's lock */
    uint64_t page_lock_contended;    /* ... of which found it held */
    uint64_t page_lock_hold_ns;      /* nanoseconds the page-heap lock was held */
    uint64_t huge_lock_acquisitions; /* the huge-mapping list's lock */
    uint64_t huge_lock_contended;    /* ... of which found it held */
} ma_stats_t;

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(ma_stats_t) == 10 * sizeof(size_t) + 15 * sizeof(uint64_t),
               "ma_stats_t must match memalloc::Stats");
#elif defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(ma_stats_t) == 10 * sizeof(size_t) + 15 * sizeof(uint64_t),
              "ma_stats_t must match memalloc::Stats");
#endif

/*
 * Fills *out with a snapshot of the process-wide heap's statistics. Does
 * nothing if out is NULL. Does not allocate.
 */
void ma_stats(ma_stats_t *out);

/*
 * Writes a human-readable report to stderr: bytes in use and mapped, thread
 * cache and central batch totals, and the free page runs by size. Does not
 * allocate.
 */
void ma_print_stats(void);

/*
 * glibc's heap functions, replaced by the `override` build (Linux, glibc).
 * They are not ma_* functions: declare them with <malloc.h>. Under
 * LD_PRELOAD, or linked against the override library, they act on
 * memalloc's process-wide heap instead of glibc's (then empty) one.
 *
 *   int malloc_trim(size_t pad)
 *       Flushes the calling thread's cache and returns every free page to
 *       the OS (purges free page runs, unmaps wholly free regions). Returns
 *       1 if memory was released, else 0. pad is ignored: memalloc has no
 *       sbrk top to keep padding on.
 *
 *   struct mallinfo2 mallinfo2(void)
 *   struct mallinfo mallinfo(void)
 *       One snapshot of the statistics in glibc's fields; mallinfo clamps
 *       each field to INT_MAX (glibc's wraps around):
 *         arena     bytes mapped in regions
 *         ordblks   number of free page runs
 *         smblks    0
 *         hblks     live huge allocations (one dedicated mapping each)
 *         hblkhd    bytes in those dedicated mappings
 *         usmblks   0 (unused, as in glibc)
 *         fsmblks   free small blocks: thread caches + central batches
 *         uordblks  bytes in use (ma_stats_t.bytes_in_use)
 *         fordblks  free bytes: free runs + central batches + thread caches
 *         keepcost  resident bytes of free runs (what malloc_trim purges)
 *       Thread caches count as of each thread's last exchange with the
 *       central heap, as in ma_stats_t.
 *
 *   void malloc_stats(void)
 *       Writes the ma_print_stats report to stderr.
 *
 *   int mallopt(int param, int value)
 *       M_TRIM_THRESHOLD (value >= 0) sets the floor of the dirty-page
 *       bound (as MEMALLOC_DIRTY_MIN_BYTES does) and returns 1, if memalloc
 *       has not given memory back to the OS yet and the environment does
 *       not set MEMALLOC_DIRTY_MIN_BYTES (the environment wins); 0
 *       otherwise. Every other option returns 0 and changes nothing:
 *       memalloc's threshold for dedicated mappings is a constant, and it
 *       has no arenas, sbrk top, fastbins or perturbation to set.
 */

#ifdef __cplusplus
}
#endif

#endif /* MEMALLOC_H */
