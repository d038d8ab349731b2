/* glibc's heap inspection and tuning functions under the override library:
 * malloc_trim, mallinfo2, mallinfo, malloc_stats and mallopt must act on
 * memalloc's heap, not on glibc's (then empty) one. Run with the library in
 * LD_PRELOAD; prints "ok <checks>" on success. malloc_stats writes its
 * report to stderr, which the driver in tests/c_abi.rs checks. */
#include "check.h"

#include <limits.h>
#include <malloc.h>

#define MIB ((size_t)1 << 20)

/* Page-run blocks: well below memalloc's 32 MiB dedicated-mapping limit. */
#define RUN_BLOCKS 48
#define RUN_SIZE MIB

/* A block that gets a dedicated mapping. */
#define HUGE_SIZE (40 * MIB)

/* A block whose size does not fit in an int (mapped, never touched). */
#define OVER_INT_SIZE ((size_t)3 << 30)

static void trim_returns_one_after_freeing_tens_of_mib(void) {
    malloc_trim(0);
    struct mallinfo2 before = mallinfo2();

    void *blocks[RUN_BLOCKS];
    for (int i = 0; i < RUN_BLOCKS; i++) {
        blocks[i] = malloc(RUN_SIZE);
        CHECK(blocks[i] != NULL);
        fill(blocks[i], RUN_SIZE, (unsigned)i);
    }
    struct mallinfo2 live = mallinfo2();
    CHECK(live.uordblks >= before.uordblks + RUN_BLOCKS * RUN_SIZE);
    CHECK(live.arena >= RUN_BLOCKS * RUN_SIZE);

    for (int i = 0; i < RUN_BLOCKS; i++) {
        CHECK(verify(blocks[i], RUN_SIZE, (unsigned)i));
        free(blocks[i]);
    }
    CHECK(malloc_trim(0) == 1);
    struct mallinfo2 trimmed = mallinfo2();
    CHECK(trimmed.uordblks < live.uordblks);
    CHECK(trimmed.uordblks + RUN_BLOCKS * RUN_SIZE <= live.uordblks);
    /* Every free run was purged: nothing resident is left to trim. */
    CHECK(trimmed.keepcost == 0);
    /* Nothing was freed since: a second trim releases nothing. */
    CHECK(malloc_trim(0) == 0);
}

static void mallinfo2_counts_a_live_huge_allocation(void) {
    struct mallinfo2 before = mallinfo2();
    char *p = malloc(HUGE_SIZE);
    CHECK(p != NULL);
    fill(p, HUGE_SIZE, 7);
    struct mallinfo2 live = mallinfo2();
    CHECK(live.uordblks >= before.uordblks + HUGE_SIZE);
    CHECK(live.hblks == before.hblks + 1);
    CHECK(live.hblkhd >= before.hblkhd + HUGE_SIZE);
    /* A dedicated mapping is not counted as region space. */
    CHECK(live.arena == before.arena);
    CHECK(verify(p, HUGE_SIZE, 7));
    free(p);
    struct mallinfo2 after = mallinfo2();
    CHECK(after.hblks == before.hblks);
    CHECK(after.hblkhd == before.hblkhd);
    CHECK(after.uordblks + HUGE_SIZE <= live.uordblks);
}

/* mallinfo is deprecated in glibc's header, which is the point here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static struct mallinfo old_mallinfo(void) { return mallinfo(); }
#pragma GCC diagnostic pop

static void mallinfo_clamps_fields_to_int_max(void) {
    char *p = malloc(OVER_INT_SIZE);
    CHECK(p != NULL);
    p[0] = 1;
    struct mallinfo2 wide = mallinfo2();
    struct mallinfo narrow = old_mallinfo();
    CHECK(wide.hblkhd >= OVER_INT_SIZE);
    CHECK(wide.uordblks >= OVER_INT_SIZE);
    CHECK(narrow.hblkhd == INT_MAX);
    CHECK(narrow.uordblks == INT_MAX);
    /* Fields that fit are copied unchanged. */
    CHECK((size_t)narrow.hblks == wide.hblks);
    CHECK((size_t)narrow.arena == wide.arena);
    free(p);
    narrow = old_mallinfo();
    CHECK(narrow.hblkhd >= 0 && narrow.hblkhd < INT_MAX);
    CHECK(narrow.uordblks >= 0 && narrow.uordblks < INT_MAX);
}

/* Before memalloc gives any memory back, M_TRIM_THRESHOLD sets its
 * dirty-page floor: 1, unless MEMALLOC_DIRTY_MIN_BYTES in the environment
 * wins (the driver runs it both ways and passes EXPECT_TRIM_OPTION). */
static void mallopt_trim_threshold_sets_the_dirty_floor_before_memory_goes_back(void) {
    const char *expect = getenv("EXPECT_TRIM_OPTION");
    int want = expect && expect[0] == '1';
    CHECK(mallopt(M_TRIM_THRESHOLD, 8 << 20) == want);
    CHECK(mallopt(M_TRIM_THRESHOLD, -1) == 0);
}

static void mallopt_refuses_options_it_cannot_honour(void) {
    CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 0);
    /* after the trims above: memory went back, too late for settings */
    CHECK(mallopt(M_TRIM_THRESHOLD, 0) == 0);
    CHECK(mallopt(M_ARENA_MAX, 1) == 0);
    CHECK(mallopt(M_PERTURB, 0xa5) == 0);
    CHECK(mallopt(12345, 1) == 0);
}

int main(void) {
    mallopt_trim_threshold_sets_the_dirty_floor_before_memory_goes_back();
    trim_returns_one_after_freeing_tens_of_mib();
    mallinfo2_counts_a_live_huge_allocation();
    mallinfo_clamps_fields_to_int_max();
    mallopt_refuses_options_it_cannot_honour();
    malloc_stats();
    printf("ok %lu\n", checks_passed);
    return 0;
}
