/* mixed: one thread, a malloc/free loop over mixed sizes.
 *
 * 64 slots; step i frees the block in slot i % 64 (allocated 64 steps
 * earlier) and puts a new one of a size from a fixed table there, writing
 * its first and last byte. Sizes are log-uniform in 8 B–16 KiB, so most
 * requests are small and every size class up to 16 KiB is used. One
 * operation is one free+malloc pair.
 *
 *     mixed OPS REPEAT */
#include "common.h"

#define SLOTS 64
#define SIZES 4096

struct mixed {
    long ops;
    size_t sizes[SIZES];
};

static double run(void *arg) {
    struct mixed *m = arg;
    char *slot[SLOTS];
    size_t sum = 0;
    for (int i = 0; i < SLOTS; i++) slot[i] = xmalloc(m->sizes[i]);
    double start = now_sec();
    for (long i = 0; i < m->ops; i++) {
        size_t size = m->sizes[i & (SIZES - 1)];
        int k = (int)(i & (SLOTS - 1));
        sum += (unsigned char)slot[k][0];
        free(slot[k]);
        char *p = xmalloc(size);
        p[0] = (char)i;
        p[size - 1] = (char)i;
        slot[k] = p;
    }
    double secs = now_sec() - start;
    for (int i = 0; i < SLOTS; i++) free(slot[i]);
    if (sum == 1) fputc('\n', stderr); /* keep the reads */
    return secs;
}

int main(int argc, char **argv) {
    const char *usage = "OPS REPEAT";
    struct mixed m;
    m.ops = arg_long(argc, argv, 1, usage);
    long repeat = arg_long(argc, argv, 2, usage);
    rng_t r = rng_new(0x313);
    for (int i = 0; i < SIZES; i++) m.sizes[i] = rng_log_range(&r, 8, 16 << 10);
    report_median(run, &m, m.ops, repeat);
    return 0;
}
