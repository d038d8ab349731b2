/* pthread threads that hand blocks to each other: every block is freed by a
 * thread other than the one that allocated it, threads exit while blocks
 * they allocated are still live, and new threads take over. Every pointer
 * is checked for alignment and every block's contents are verified before
 * it is freed. With -DUSE_LIBC the libc names are used (run with the
 * override library). Prints "ok <checks>" on success. */
#include "memalloc.h"
#include "check.h"

#include <pthread.h>

#ifdef USE_LIBC
#define A_MALLOC malloc
#define A_REALLOC realloc
#define A_FREE free
#define A_ALIGNED aligned_alloc
#else
#define A_MALLOC ma_malloc
#define A_REALLOC ma_realloc
#define A_FREE ma_free
#define A_ALIGNED ma_aligned_alloc
#endif

enum { THREADS = 4, GENERATIONS = 3, PER_THREAD = 20000, BOX = 4096 };

/* Every block starts with its size and tag; the rest is the fill pattern. */
struct head {
    size_t size;
    unsigned tag;
};

/* A mailbox: blocks sent to one thread (bounded; a full box makes the
 * sender free the block itself). */
struct box {
    pthread_mutex_t lock;
    size_t n;
    void *items[BOX];
};

static struct box boxes[THREADS];

static void *make_block(uint64_t *rng, unsigned tag) {
    size_t n = sizeof(struct head) + rng_size(rng, rng_next(rng) % 64 == 0 ? 1 << 20 : 8192);
    void *p;
    size_t align = MA_MALLOC_ALIGN;
    if (rng_next(rng) % 16 == 0) {
        align = (size_t)64 << (rng_next(rng) % 8);
        p = A_ALIGNED(align, n);
    } else {
        p = A_MALLOC(n);
    }
    TCHECK(p != NULL);
    TCHECK(((uintptr_t)p & (align - 1)) == 0);
    struct head *h = p;
    h->size = n;
    h->tag = tag;
    fill((char *)p + sizeof *h, n - sizeof *h, tag);
    return p;
}

static void check_and_free(void *p) {
    struct head *h = p;
    TCHECK(verify((char *)p + sizeof *h, h->size - sizeof *h, h->tag));
    A_FREE(p);
}

static void send(unsigned to, void *p) {
    struct box *b = &boxes[to];
    pthread_mutex_lock(&b->lock);
    if (b->n < BOX) {
        b->items[b->n++] = p;
        p = NULL;
    }
    pthread_mutex_unlock(&b->lock);
    if (p) check_and_free(p);
}

static void *take(unsigned me) {
    struct box *b = &boxes[me];
    void *p = NULL;
    pthread_mutex_lock(&b->lock);
    if (b->n) p = b->items[--b->n];
    pthread_mutex_unlock(&b->lock);
    return p;
}

static void *worker(void *arg) {
    unsigned me = (unsigned)(uintptr_t)arg % THREADS;
    uint64_t rng = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1);
    void *local[64] = {0};
    for (unsigned i = 0; i < PER_THREAD; i++) {
        unsigned tag = (unsigned)rng_next(&rng);
        send((me + 1 + i % (THREADS - 1)) % THREADS, make_block(&rng, tag));
        void *p = take(me);
        if (p) check_and_free(p);
        /* Some blocks stay with this thread and are resized in place. */
        unsigned s = (unsigned)(rng_next(&rng) % 64);
        if (local[s]) {
            struct head *h = local[s];
            size_t old = h->size;
            size_t n = sizeof *h + rng_size(&rng, 20000);
            h = A_REALLOC(h, n);
            TCHECK(h != NULL);
            TCHECK(((uintptr_t)h & (MA_MALLOC_ALIGN - 1)) == 0);
            TCHECK(verify_prefix((char *)h + sizeof *h, (old < n ? old : n) - sizeof *h, old - sizeof *h,
                                 h->tag));
            h->size = n;
            fill((char *)h + sizeof *h, n - sizeof *h, h->tag);
            local[s] = h;
        } else {
            local[s] = make_block(&rng, tag ^ 0x55);
        }
    }
    /* Half of the local blocks outlive this thread: the next generation
     * frees them. */
    for (unsigned s = 0; s < 64; s++) {
        if (!local[s]) continue;
        if (s % 2) send(me, local[s]);
        else check_and_free(local[s]);
    }
    return NULL;
}

int main(void) {
    for (unsigned i = 0; i < THREADS; i++) pthread_mutex_init(&boxes[i].lock, NULL);
    for (unsigned g = 0; g < GENERATIONS; g++) {
        pthread_t t[THREADS];
        for (unsigned i = 0; i < THREADS; i++)
            CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(g * THREADS + i)) == 0);
        for (unsigned i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    }
    /* The main thread frees what the last generation left behind. */
    for (unsigned i = 0; i < THREADS; i++) {
        void *p;
        while ((p = take(i)) != NULL) check_and_free(p);
    }
#ifndef NO_MA_LINK
    ma_stats_t s;
    ma_stats(&s);
    /* Exited threads flushed their caches back to the central heap. */
    CHECK(s.small_blocks_flushed > 0);
    CHECK(s.bytes_mapped >= s.bytes_in_use);
#endif
    printf("ok %lu\n", checks_passed);
    return 0;
}
