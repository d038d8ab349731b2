/* resize: 1000 live blocks of 16–256 B; each step reallocs the oldest to
 * the next size (most steps change its size class, some keep it) and asks
 * its usable size, as a growing string or vector does. Like ring.c, it is
 * meant for `valgrind --tool=callgrind`: run.sh runs it with STEPS = N and
 * 2N, and subtracts the `null` run's loop (stand-ins that keep each block
 * where it is and return the size asked), so the figure is what one
 * realloc + malloc_usable_size costs inside the allocator, the copy
 * included.
 *
 *     resize STEPS [null] */
#include "common.h"
#include <malloc.h>

#define LIVE 1000
#define SIZES (4 * LIVE + 1)

static void *null_realloc(void *p, size_t size) {
    (void)size;
    return p;
}

static size_t null_usable_size(void *p) {
    (void)p;
    return 256;
}

/* volatile: the compiler must call through them, in both modes alike. */
static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static size_t (*volatile usable_size_fn)(void *) = malloc_usable_size;

int main(int argc, char **argv) {
    long steps = arg_long(argc, argv, 1, "STEPS [null]");
    if (argc > 2 && strcmp(argv[2], "null") == 0) {
        realloc_fn = null_realloc;
        usable_size_fn = null_usable_size;
    }
    static size_t sizes[SIZES];
    rng_t r = rng_new(0xc);
    for (int i = 0; i < SIZES; i++) sizes[i] = rng_range(&r, 16, 256);
    static char *ring[LIVE];
    for (int i = 0; i < LIVE; i++) {
        ring[i] = xmalloc(256);
        ring[i][0] = (char)i;
    }
    long s = 0;
    int next = 0;
    size_t usable = 0;
    for (long i = 0; i < steps; i++) {
        char *p = realloc_fn(ring[next], sizes[s]);
        if (p == NULL) {
            fprintf(stderr, "resize: realloc failed\n");
            return 1;
        }
        s = s + 1 == SIZES ? 0 : s + 1;
        usable += usable_size_fn(p);
        p[0] = (char)i;
        ring[next] = p;
        next = next + 1 == LIVE ? 0 : next + 1;
    }
    for (int i = 0; i < LIVE; i++) free(ring[i]);
    /* Uses the sum, so the calls cannot be dropped. */
    return usable == 0;
}
