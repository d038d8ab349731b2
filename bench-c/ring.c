/* ring: 1000 live blocks of 16–256 B; each step frees the oldest and
 * allocates a new one in its place (writing its first byte). Meant to run
 * under `valgrind --tool=callgrind`, which counts the instructions the
 * process executes exactly: run.sh runs it with STEPS = N and 2N and divides
 * the difference by N, so start-up, the initial fill and exit cancel and
 * what is left is the cost of one step.
 *
 * With `null` as the second argument the step calls stand-ins instead of
 * malloc and free (taking blocks round-robin from a pool allocated at
 * start, and doing nothing), through the same function pointers: run.sh
 * subtracts that loop's instructions per step, so the figure is what one
 * free+malloc pair costs inside the allocator.
 *
 *     ring STEPS [null] */
#include "common.h"

#define LIVE 1000
#define SIZES (4 * LIVE + 1)
#define POOL (2 * LIVE)

static char *pool[POOL];
static long pool_next;

static void *null_malloc(size_t size) {
    (void)size;
    char *p = pool[pool_next];
    pool_next = pool_next + 1 == POOL ? 0 : pool_next + 1;
    return p;
}

static void null_free(void *p) { (void)p; }

/* volatile: the compiler must call through them, in both modes alike. */
static void *(*volatile alloc_fn)(size_t) = malloc;
static void (*volatile free_fn)(void *) = free;

int main(int argc, char **argv) {
    long steps = arg_long(argc, argv, 1, "STEPS [null]");
    if (argc > 2 && strcmp(argv[2], "null") == 0) {
        for (int i = 0; i < POOL; i++) pool[i] = xmalloc(256);
        alloc_fn = null_malloc;
        free_fn = null_free;
    }
    static size_t sizes[SIZES];
    rng_t r = rng_new(0xb);
    for (int i = 0; i < SIZES; i++) sizes[i] = rng_range(&r, 16, 256);
    static char *ring[LIVE];
    long s = 0;
    for (int i = 0; i < LIVE; i++) {
        ring[i] = alloc_fn(sizes[s++]);
        ring[i][0] = (char)i;
    }
    int next = 0;
    for (long i = 0; i < steps; i++) {
        free_fn(ring[next]);
        char *p = alloc_fn(sizes[s]);
        s = s + 1 == SIZES ? 0 : s + 1;
        p[0] = (char)i;
        ring[next] = p;
        next = next + 1 == LIVE ? 0 : next + 1;
    }
    for (int i = 0; i < LIVE; i++) free_fn(ring[i]);
    return 0;
}
