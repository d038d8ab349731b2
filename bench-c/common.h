/* Shared helpers of the C benchmarks: a clock, a fixed-seed generator, the
 * result line, and a median over repeated runs.
 *
 * Every program takes its sizes on the command line (see each file's
 * usage) and prints one result line of key=value fields:
 *
 *     ops=20000000 secs=0.412 ops_per_sec=48543689
 *
 * run.sh puts the allocator and program names in front. The programs call
 * only malloc and free (and pthreads, which allocate through malloc too), so
 * under LD_PRELOAD every allocation goes to the preloaded allocator. */
#ifndef BENCH_C_COMMON_H
#define BENCH_C_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

static inline double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64, seeded through splitmix64 so small seeds give unrelated
 * streams; the same generator as bench-compare/src/raw.rs. */
typedef struct { uint64_t s; } rng_t;

static inline rng_t rng_new(uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    rng_t r = { (z ^ (z >> 31)) | 1 };
    return r;
}

static inline uint64_t rng_next(rng_t *r) {
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->s = x;
    return x;
}

/* Uniform in lo..=hi. */
static inline size_t rng_range(rng_t *r, size_t lo, size_t hi) {
    return lo + (size_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Log-uniform in lo..=hi: every power-of-two band equally likely. */
static inline size_t rng_log_range(rng_t *r, size_t lo, size_t hi) {
    double l = log((double)lo), h = log((double)hi);
    double u = (double)(rng_next(r) >> 11) / 9007199254740992.0;
    size_t v = (size_t)exp(l + (h - l) * u);
    return v < lo ? lo : v > hi ? hi : v;
}

static inline void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "out of memory allocating %zu B\n", n);
        exit(1);
    }
    return p;
}

static inline long arg_long(int argc, char **argv, int i, const char *usage) {
    char *end;
    long v = i < argc ? strtol(argv[i], &end, 10) : -1;
    if (i >= argc || *end != '\0' || v < 0) {
        fprintf(stderr, "usage: %s %s\n", argv[0], usage);
        exit(2);
    }
    return v;
}

/* Runs `run(arg)` `repeat` times (each returns its seconds) and prints the
 * run with the median rate for `ops` operations per run. */
static inline void report_median(double (*run)(void *), void *arg, long ops, long repeat) {
    double secs[64];
    if (repeat < 1) repeat = 1;
    if (repeat > 64) repeat = 64;
    for (long i = 0; i < repeat; i++) secs[i] = run(arg);
    /* Insertion sort by time: the median time is the median rate. */
    for (long i = 1; i < repeat; i++)
        for (long j = i; j > 0 && secs[j] < secs[j - 1]; j--) {
            double t = secs[j];
            secs[j] = secs[j - 1];
            secs[j - 1] = t;
        }
    double s = secs[repeat / 2];
    printf("ops=%ld secs=%.4f ops_per_sec=%.0f\n", ops, s, (double)ops / s);
}

#endif
