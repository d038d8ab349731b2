/* API semantics of the allocation functions: sizes, alignment of every
 * returned pointer, zeroing, realloc contents, errno, overflow, statistics.
 *
 * Built twice: against the ma_* names (default), and with -DUSE_LIBC against
 * the libc names, run with the override library preloaded or linked (then
 * the glibc-only functions are checked too, and the program verifies that
 * the libc names really reach memalloc). Prints "ok <checks>" on success. */
#include "memalloc.h"
#include "check.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>

#ifdef USE_LIBC
#include <malloc.h>
#define A_MALLOC malloc
#define A_CALLOC calloc
#define A_REALLOC realloc
#define A_FREE free
#define A_ALIGNED aligned_alloc
#define A_POSIX_MEMALIGN posix_memalign
#define A_USABLE malloc_usable_size
#else
#define A_MALLOC ma_malloc
#define A_CALLOC ma_calloc
#define A_REALLOC ma_realloc
#define A_FREE ma_free
#define A_ALIGNED ma_aligned_alloc
#define A_POSIX_MEMALIGN ma_posix_memalign
#define A_USABLE ma_usable_size
#endif

#define MIB ((size_t)1 << 20)

/* The statistics entry point: called directly when the program is linked
 * against memalloc, looked up with dlsym when it only runs under it. */
static void get_stats(ma_stats_t *s) {
#ifdef NO_MA_LINK
    void (*fn)(ma_stats_t *) = (void (*)(ma_stats_t *))dlsym(RTLD_DEFAULT, "ma_stats");
    CHECK(fn != NULL);
    fn(s);
#else
    ma_stats(s);
#endif
}

static void malloc_returns_distinct_aligned_blocks_of_every_small_size(void) {
    enum { LIVE = 257 };
    void *live[LIVE] = {0};
    size_t size[LIVE] = {0};
    for (size_t n = 0; n <= 20000; n += (n < 4096 ? 1 : 97)) {
        size_t slot = n % LIVE;
        if (live[slot]) {
            CHECK(verify(live[slot], size[slot], (unsigned)slot));
            A_FREE(live[slot]);
        }
        void *p = A_MALLOC(n);
        CHECK_ALIGNED(p, MA_MALLOC_ALIGN);
        CHECK(A_USABLE(p) >= n);
        fill(p, n, (unsigned)slot);
        live[slot] = p;
        size[slot] = n;
    }
    for (size_t i = 0; i < LIVE; i++) {
        if (live[i]) {
            CHECK(verify(live[i], size[i], (unsigned)i));
            A_FREE(live[i]);
        }
    }
}

static void malloc_zero_returns_unique_pointers(void) {
    void *a = A_MALLOC(0), *b = A_MALLOC(0);
    CHECK_ALIGNED(a, MA_MALLOC_ALIGN);
    CHECK_ALIGNED(b, MA_MALLOC_ALIGN);
    CHECK(a != b);
    A_FREE(a);
    A_FREE(b);
}

static void large_and_huge_blocks_are_aligned_and_usable(void) {
    static const size_t sizes[] = {256 * 1024 + 1, MIB, 3 * MIB + 5, 16 * MIB, 16 * MIB + 1, 100 * MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = A_MALLOC(sizes[i]);
        CHECK_ALIGNED(p, MA_MALLOC_ALIGN);
        CHECK(A_USABLE(p) >= sizes[i]);
        fill(p, sizes[i], 7);
        CHECK(verify(p, sizes[i], 7));
        A_FREE(p);
    }
}

static void calloc_returns_zeroed_memory_even_when_reused(void) {
    static const size_t sizes[] = {1, 24, 512, 4000, 70000, 300000, 2 * MIB, 20 * MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        for (int round = 0; round < 3; round++) {
            unsigned char *dirty = A_MALLOC(n);
            CHECK(dirty != NULL);
            memset(dirty, 0xA5, n);
            A_FREE(dirty);
            unsigned char *p = A_CALLOC(n, 1);
            CHECK_ALIGNED(p, MA_MALLOC_ALIGN);
            for (size_t j = 0; j < n; j += (j < 65536 ? 1 : 511)) CHECK(p[j] == 0);
            CHECK(p[n - 1] == 0);
            A_FREE(p);
        }
    }
    void *z = A_CALLOC(0, 8);
    CHECK_ALIGNED(z, MA_MALLOC_ALIGN);
    A_FREE(z);
    z = A_CALLOC(8, 0);
    CHECK_ALIGNED(z, MA_MALLOC_ALIGN);
    A_FREE(z);
}

static void overflowing_sizes_return_null_with_enomem(void) {
    errno = 0;
    CHECK(A_MALLOC(SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(A_MALLOC((size_t)PTRDIFF_MAX + 1) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(A_MALLOC(SIZE_MAX - 4095) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(A_CALLOC(SIZE_MAX / 2 + 1, 2) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(A_CALLOC((size_t)1 << 33, (size_t)1 << 33) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(A_CALLOC(SIZE_MAX, SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(A_ALIGNED(4096, SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(A_ALIGNED((size_t)1 << 62, 16) == NULL);
    CHECK(errno == ENOMEM);

    /* A failed realloc leaves the block as it was. */
    void *p = A_MALLOC(100);
    fill(p, 100, 3);
    errno = 0;
    CHECK(A_REALLOC(p, SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(A_REALLOC(p, (size_t)PTRDIFF_MAX + 1) == NULL);
    CHECK(errno == ENOMEM);
    CHECK(verify(p, 100, 3));
    void *big = A_MALLOC(20 * MIB);
    fill(big, 20 * MIB, 4);
    errno = 0;
    CHECK(A_REALLOC(big, SIZE_MAX - 8192) == NULL);
    CHECK(errno == ENOMEM);
    CHECK(verify(big, 20 * MIB, 4));
    A_FREE(big);
    A_FREE(p);
    /* ... and the heap is fine afterwards. */
    p = A_MALLOC(1000);
    CHECK_ALIGNED(p, MA_MALLOC_ALIGN);
    A_FREE(p);
}

static void realloc_keeps_contents_across_size_classes(void) {
    static const size_t chain[] = {1,       17,     100,     1000,     4096,     10000,   100000,
                                   262144, 262145, MIB + 3, 17 * MIB, 40 * MIB, 20 * MIB, MIB,
                                   300000, 5000,   33,      1};
    size_t old = 0;
    unsigned char *p = A_REALLOC(NULL, chain[0]);
    CHECK_ALIGNED(p, MA_MALLOC_ALIGN);
    fill(p, chain[0], 9);
    old = chain[0];
    for (size_t i = 1; i < sizeof chain / sizeof *chain; i++) {
        size_t n = chain[i];
        p = A_REALLOC(p, n);
        CHECK_ALIGNED(p, MA_MALLOC_ALIGN);
        CHECK(A_USABLE(p) >= n);
        CHECK(verify_prefix(p, old < n ? old : n, old, 9));
        fill(p, n, 9);
        old = n;
    }
    /* Growing within the usable size keeps the pointer. */
    size_t usable = A_USABLE(p);
    CHECK(A_REALLOC(p, usable) == p);
    /* realloc(p, 0) frees p and returns NULL, like glibc; errno untouched. */
    errno = 0;
    CHECK(A_REALLOC(p, 0) == NULL);
    CHECK(errno == 0);
    /* realloc(NULL, 0) is malloc(0). */
    p = A_REALLOC(NULL, 0);
    CHECK_ALIGNED(p, MA_MALLOC_ALIGN);
    A_FREE(p);
}

static void aligned_alloc_honours_every_power_of_two(void) {
    for (size_t align = 1; align <= 64 * MIB; align <<= 1) {
        size_t sizes[] = {1, align > 1 ? align - 1 : 1, align, align + 1, 3 * align};
        for (size_t i = 0; i < 5; i++) {
            size_t n = sizes[i] > 130 * MIB ? align : sizes[i];
            void *p = A_ALIGNED(align, n);
            CHECK_ALIGNED(p, align < MA_MALLOC_ALIGN ? MA_MALLOC_ALIGN : align);
            CHECK(A_USABLE(p) >= n);
            fill(p, n, (unsigned)i);
            void *q = NULL;
            CHECK(A_POSIX_MEMALIGN(&q, align < sizeof(void *) ? sizeof(void *) : align, n) == 0);
            CHECK_ALIGNED(q, align);
            fill(q, n, 77);
            CHECK(verify(p, n, (unsigned)i));
            A_FREE(p);
            CHECK(verify(q, n, 77));
            A_FREE(q);
        }
    }
}

static void bad_alignments_are_rejected_with_einval(void) {
    static const size_t bad[] = {0, 3, 24, 48, 1000, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 0;
        CHECK(A_ALIGNED(bad[i], 64) == NULL);
        CHECK(errno == EINVAL);
    }
    /* posix_memalign returns the code, leaves *memptr and errno alone. */
    static const size_t bad_posix[] = {0, 1, 2, 4, 3, 24, 3 * sizeof(void *), SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_posix / sizeof *bad_posix; i++) {
        void *q = (void *)&checks_passed;
        errno = 1234;
        CHECK(A_POSIX_MEMALIGN(&q, bad_posix[i], 64) == EINVAL);
        CHECK(q == (void *)&checks_passed);
        CHECK(errno == 1234);
    }
    void *q = (void *)&checks_passed;
    errno = 1234;
    CHECK(A_POSIX_MEMALIGN(&q, 64, SIZE_MAX) == ENOMEM);
    CHECK(q == (void *)&checks_passed);
    CHECK(errno == 1234);
    CHECK(A_POSIX_MEMALIGN(&q, sizeof(void *), 0) == 0);
    CHECK_ALIGNED(q, sizeof(void *));
    A_FREE(q);
}

static void free_preserves_errno(void) {
    static const size_t sizes[] = {8, 5000, 300000, 2 * MIB, 200 * MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = A_MALLOC(sizes[i]);
        CHECK(p != NULL);
        fill(p, sizes[i], 1);
        errno = 4321;
        A_FREE(p);
        CHECK(errno == 4321);
    }
    errno = 4321;
    A_FREE(NULL);
    CHECK(errno == 4321);
    /* Enough small frees that the thread's cache overflows into the
     * central heap (the path that may make system calls) many times. */
    enum { MANY = 20000 };
    static void *many[MANY];
    for (size_t i = 0; i < MANY; i++) {
        many[i] = A_MALLOC(16 + (i % 64) * 16);
        CHECK(many[i] != NULL);
    }
    for (size_t i = 0; i < MANY; i++) {
        errno = 4321;
        A_FREE(many[i]);
        CHECK(errno == 4321);
    }
}

static void usable_size_is_writable_and_zero_for_null(void) {
    CHECK(A_USABLE(NULL) == 0);
    for (size_t n = 1; n < 100000; n = n * 3 + 1) {
        unsigned char *p = A_MALLOC(n);
        size_t u = A_USABLE(p);
        CHECK(u >= n);
        memset(p, 0x5A, u);
        CHECK(p[u - 1] == 0x5A);
        A_FREE(p);
    }
}

static void stats_follow_allocations(void) {
    ma_stats_t before, during, after;
    get_stats(&before);
    void *big = A_MALLOC(4 * MIB);
    void *huge = A_MALLOC(64 * MIB);
    CHECK(big != NULL && huge != NULL);
    get_stats(&during);
    CHECK(during.bytes_in_use >= before.bytes_in_use + 68 * MIB);
    CHECK(during.bytes_mapped >= during.bytes_in_use);
    CHECK(during.large_allocs >= before.large_allocs + 1);
    CHECK(during.huge_allocs >= before.huge_allocs + 1);
    CHECK(during.huge_allocations >= 1);
    CHECK(during.regions >= 1);
    CHECK(during.maps >= during.unmaps);
    A_FREE(big);
    A_FREE(huge);
    get_stats(&after);
    CHECK(after.bytes_in_use + 68 * MIB <= during.bytes_in_use);
    CHECK(after.unmaps >= during.unmaps + 1);
#ifndef NO_MA_LINK
    ma_stats(NULL); /* does nothing */
    ma_print_stats();
#endif
}

#ifdef USE_LIBC
static void libc_names_reach_memalloc(void) {
    ma_stats_t a, b;
    get_stats(&a);
    void *p = malloc(MIB);
    get_stats(&b);
    CHECK(b.large_allocs == a.large_allocs + 1);
    free(p);
    /* libc's own allocations (strdup, stdio buffers) come from memalloc too:
     * ma_usable_size aborts on a pointer it does not know. */
#ifdef NO_MA_LINK
    size_t (*usable)(const void *) = (size_t (*)(const void *))dlsym(RTLD_DEFAULT, "ma_usable_size");
    CHECK(usable != NULL);
#else
    size_t (*usable)(const void *) = ma_usable_size;
#endif
    char *s = strdup("memalloc");
    CHECK(usable(s) >= 9);
    free(s);
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    char line[512];
    int seen = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "libmemalloc")) seen = 1;
    fclose(f);
#ifdef NO_MA_LINK
    CHECK(seen); /* run under LD_PRELOAD */
#else
    (void)seen;
#endif
}

static void glibc_extensions_follow_glibc(void) {
    long page = sysconf(_SC_PAGESIZE);
    /* reallocarray */
    unsigned char *p = reallocarray(NULL, 10, 10);
    CHECK_ALIGNED(p, MA_MALLOC_ALIGN);
    fill(p, 100, 5);
    errno = 0;
    CHECK(reallocarray(p, SIZE_MAX / 2, 3) == NULL);
    CHECK(errno == ENOMEM);
    CHECK(verify(p, 100, 5));
    p = reallocarray(p, 1000, 100);
    CHECK_ALIGNED(p, MA_MALLOC_ALIGN);
    CHECK(verify(p, 100, 5));
    CHECK(reallocarray(p, 0, 100) == NULL); /* frees, like realloc(p, 0) */
    /* memalign rounds a non-power-of-two alignment up. */
    static const size_t aligns[] = {0, 1, 8, 24, 100, 4096, 5000, 2 * MIB};
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        size_t want = 1;
        while (want < aligns[i]) want <<= 1;
        void *q = memalign(aligns[i], 333);
        CHECK_ALIGNED(q, want);
        fill(q, 333, 2);
        free(q);
    }
    errno = 0;
    CHECK(memalign(SIZE_MAX, 16) == NULL);
    CHECK(errno == EINVAL);
    errno = 0;
    CHECK(memalign(64, SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
    /* valloc / pvalloc: page aligned; pvalloc rounds the size to pages. */
    void *v = valloc(10);
    CHECK_ALIGNED(v, page);
    free(v);
    v = pvalloc(10);
    CHECK_ALIGNED(v, page);
    CHECK(malloc_usable_size(v) >= (size_t)page);
    memset(v, 1, page);
    free(v);
    v = pvalloc(0);
    CHECK_ALIGNED(v, page);
    free(v);
    errno = 0;
    CHECK(pvalloc(SIZE_MAX - 10) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(valloc(SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
}
#endif

int main(void) {
#ifdef USE_LIBC
    libc_names_reach_memalloc(); /* first: everything below depends on it */
#endif
    malloc_returns_distinct_aligned_blocks_of_every_small_size();
    malloc_zero_returns_unique_pointers();
    large_and_huge_blocks_are_aligned_and_usable();
    calloc_returns_zeroed_memory_even_when_reused();
    overflowing_sizes_return_null_with_enomem();
    realloc_keeps_contents_across_size_classes();
    aligned_alloc_honours_every_power_of_two();
    bad_alignments_are_rejected_with_einval();
    free_preserves_errno();
    usable_size_is_writable_and_zero_for_null();
    stats_follow_allocations();
#ifdef USE_LIBC
    glibc_extensions_follow_glibc();
#endif
    printf("ok %lu\n", checks_passed);
    return 0;
}
