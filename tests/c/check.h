/* Small assertion helpers shared by the C tests. A failed check prints the
 * line and the expression and exits with status 1. */
#ifndef MEMALLOC_TEST_CHECK_H
#define MEMALLOC_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned long checks_passed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            _exit(1);                                                          \
        }                                                                      \
        checks_passed++;                                                       \
    } while (0)

/* CHECK without the shared counter, for worker threads: a failure exits
 * the whole process at once. */
#define TCHECK(c)                                                              \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #c);                                                       \
            _exit(1);                                                          \
        }                                                                      \
    } while (0)

/* A returned pointer is non-NULL and aligned to `align`. */
#define CHECK_ALIGNED(p, align)                                                \
    do {                                                                       \
        CHECK((p) != NULL);                                                    \
        CHECK(((uintptr_t)(p) & ((uintptr_t)(align) - 1)) == 0);              \
    } while (0)

/* The byte expected at offset i of a block filled with `tag`. */
static inline unsigned char pattern(unsigned tag, size_t i) {
    return (unsigned char)(tag + i * 31u + (i >> 8));
}

/* Fills every byte up to 64 KiB, then one byte per 4 KiB and the last. */
static inline void fill(void *p, size_t n, unsigned tag) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i += (i < 65536 ? 1 : 4096)) b[i] = pattern(tag, i);
    if (n) b[n - 1] = pattern(tag, n - 1);
}

/* Checks the first `len` bytes of a block that fill(p, filled, tag) wrote. */
static inline int verify_prefix(const void *p, size_t len, size_t filled, unsigned tag) {
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i += (i < 65536 ? 1 : 4096))
        if (b[i] != pattern(tag, i)) return 0;
    return filled == 0 || filled > len || b[filled - 1] == pattern(tag, filled - 1);
}

static inline int verify(const void *p, size_t n, unsigned tag) {
    return verify_prefix(p, n, n, tag);
}

/* xorshift64*: deterministic sizes and choices. */
static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A size spread log-uniformly over [1, max]. */
static inline size_t rng_size(uint64_t *s, size_t max) {
    unsigned bits = 0;
    while ((max >> bits) > 1) bits++;
    size_t hi = (size_t)1 << (1 + rng_next(s) % (bits + 1));
    if (hi > max) hi = max;
    return 1 + (size_t)(rng_next(s) % hi);
}

#endif
