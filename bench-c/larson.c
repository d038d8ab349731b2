/* larson: threads replace random slots of one shared array, so most blocks
 * are freed by a thread other than the one that allocated them.
 *
 * The array has 2000 slots per thread, filled before the clock starts with
 * blocks of 16–1024 B. Each replacement picks a random slot, allocates a
 * new block (writing its first byte), swaps it into the slot with an atomic
 * exchange and frees the block it took out; with T threads that block came
 * from another thread with probability about (T-1)/T. One operation is one
 * replacement; OPS are split evenly over the threads. The time runs from
 * the first thread's start (after a barrier) to the last one's end.
 *
 *     larson THREADS OPS REPEAT */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>

#define SIZES 4096

struct larson {
    long threads, ops, nslots;
    size_t sizes[SIZES];
    _Atomic(char *) *slots;
    pthread_barrier_t barrier;
    double start[64], end[64];
};

struct worker {
    struct larson *l;
    long id;
};

static void *worker(void *arg) {
    struct worker *w = arg;
    struct larson *l = w->l;
    rng_t r = rng_new(0x1a75 + (uint64_t)w->id);
    long n = (l->ops + l->threads - 1) / l->threads;
    size_t sum = 0;
    pthread_barrier_wait(&l->barrier);
    l->start[w->id] = now_sec();
    for (long i = 0; i < n; i++) {
        uint64_t x = rng_next(&r);
        long k = (long)(x % (uint64_t)l->nslots);
        size_t size = l->sizes[(x >> 32) & (SIZES - 1)];
        char *p = xmalloc(size);
        p[0] = (char)x;
        char *old = atomic_exchange_explicit(&l->slots[k], p, memory_order_acq_rel);
        sum += (unsigned char)old[0];
        free(old);
    }
    l->end[w->id] = now_sec();
    if (sum == 1) fputc('\n', stderr);
    return NULL;
}

static double run(void *arg) {
    struct larson *l = arg;
    for (long k = 0; k < l->nslots; k++) {
        char *p = xmalloc(l->sizes[(k * 7) & (SIZES - 1)]);
        p[0] = (char)k;
        atomic_init(&l->slots[k], p);
    }
    pthread_t tid[64];
    struct worker w[64];
    pthread_barrier_init(&l->barrier, NULL, (unsigned)l->threads);
    for (long t = 0; t < l->threads; t++) {
        w[t].l = l;
        w[t].id = t;
        if (pthread_create(&tid[t], NULL, worker, &w[t]) != 0) {
            perror("pthread_create");
            exit(1);
        }
    }
    for (long t = 0; t < l->threads; t++) pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&l->barrier);
    double first = l->start[0], last = l->end[0];
    for (long t = 1; t < l->threads; t++) {
        if (l->start[t] < first) first = l->start[t];
        if (l->end[t] > last) last = l->end[t];
    }
    for (long k = 0; k < l->nslots; k++) free(atomic_load(&l->slots[k]));
    return last - first;
}

int main(int argc, char **argv) {
    const char *usage = "THREADS OPS REPEAT";
    static struct larson l;
    l.threads = arg_long(argc, argv, 1, usage);
    l.ops = arg_long(argc, argv, 2, usage);
    long repeat = arg_long(argc, argv, 3, usage);
    if (l.threads < 1 || l.threads > 64) {
        fprintf(stderr, "THREADS must be 1..64\n");
        return 2;
    }
    l.nslots = 2000 * l.threads;
    l.slots = xmalloc(sizeof(*l.slots) * (size_t)l.nslots);
    rng_t r = rng_new(0x1a750000 + (uint64_t)l.threads);
    for (int i = 0; i < SIZES; i++) l.sizes[i] = rng_range(&r, 16, 1024);
    long per_thread = (l.ops + l.threads - 1) / l.threads;
    report_median(run, &l, per_thread * l.threads, repeat);
    free(l.slots);
    return 0;
}
