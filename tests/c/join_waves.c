/* Threads created and joined in waves, as a thread pool that is torn down
 * and rebuilt does; run with the override library in LD_PRELOAD (the test
 * gives it a time limit). Prints "ok <checks>".
 *
 * glibc's pthread_join frees the joined thread's TLS (its dtv, a small
 * block the main thread allocated in pthread_create) while it holds the
 * lock of its stack cache, once more than its 40 MiB of stacks are cached,
 * which the first waves reach. A free that started a thread from there
 * would wait for that same lock for ever.
 *
 * 1. Quiet waves: the workers allocate nothing, so the only frees are
 *    glibc's own, made by the main thread inside pthread_join; with a few
 *    dozen joins per wave they overflow the main thread's cache, so the
 *    first free of the process that reaches the central heap is made under
 *    glibc's lock.
 * 2. Busy waves: every worker allocates a few thousand blocks of mixed
 *    sizes (16 B to 64 KiB, so its cache overflows to the central heap and
 *    some blocks are page runs), checks and frees them all, and exits while
 *    the main thread joins. */
#include "check.h"

#include <pthread.h>

enum { WAVES = 12, PER_WAVE = 32, SMALL = 3000, LARGE = 16 };

static void *quiet_worker(void *arg) { return arg; }


/* Fills and later verifies only the first and last 64 bytes of a block
 * (or all of it, below 128 bytes): the point is the traffic. */
static void mark(unsigned char *p, size_t n, unsigned tag) {
    if (n < 128) {
        fill(p, n, tag);
        return;
    }
    fill(p, 64, tag);
    fill(p + n - 64, 64, tag ^ 0xA5);
}

static int marked(const unsigned char *p, size_t n, unsigned tag) {
    if (n < 128) return verify(p, n, tag);
    return verify(p, 64, tag) && verify(p + n - 64, 64, tag ^ 0xA5);
}

struct block {
    unsigned char *p;
    size_t n;
};

static void *worker(void *arg) {
    uint64_t rng = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1);
    struct block blocks[SMALL + LARGE];
    for (unsigned i = 0; i < SMALL + LARGE; i++) {
        /* 16 B to 2 KiB mostly, then 32 KiB to 64 KiB page runs. */
        size_t n = i < SMALL ? 16 + rng_next(&rng) % 2033
                             : (32 << 10) + rng_next(&rng) % (32 << 10) + 1;
        unsigned char *p = malloc(n);
        TCHECK(p != NULL);
        mark(p, n, (unsigned)i);
        blocks[i].p = p;
        blocks[i].n = n;
    }
    for (unsigned i = 0; i < SMALL + LARGE; i++) {
        TCHECK(marked(blocks[i].p, blocks[i].n, i));
        free(blocks[i].p);
    }
    return NULL;
}

/* Runs WAVES waves of PER_WAVE threads of `fn`, joining each wave. */
static void waves(void *(*fn)(void *), unsigned first_id) {
    for (unsigned w = 0; w < WAVES; w++) {
        pthread_t t[PER_WAVE];
        for (unsigned i = 0; i < PER_WAVE; i++) {
            uintptr_t id = first_id + w * PER_WAVE + i;
            CHECK(pthread_create(&t[i], NULL, fn, (void *)id) == 0);
        }
        for (unsigned i = 0; i < PER_WAVE; i++) {
            void *ret;
            CHECK(pthread_join(t[i], &ret) == 0);
            CHECK(fn != quiet_worker || (uintptr_t)ret == first_id + w * PER_WAVE + i);
        }
    }
}

int main(void) {
    waves(quiet_worker, 0);
    waves(worker, WAVES * PER_WAVE);
    printf("ok %lu\n", checks_passed);
    return 0;
}
