/* threads: many short-lived threads, a few alive at a time.
 *
 * TOTAL threads in all, at most ALIVE at once: before starting the next one
 * the oldest is joined. Each allocates OPS blocks of 16–256 B, keeping up to
 * 64 alive (before each allocation the oldest is freed when 64 are alive,
 * otherwise with probability 1/3), frees what is left and exits. This
 * measures a thread's first allocations and its exit (an allocator's
 * thread-cache set-up and flush) together with pthread_create and
 * pthread_join, which allocate through malloc as well. One operation is one
 * thread; the clock covers the whole run.
 *
 *     threads TOTAL ALIVE OPS REPEAT */
#include "common.h"
#include <pthread.h>

#define LIVE 64

struct churn {
    long total, alive, ops;
};

struct task {
    long ops;
    uint64_t seed;
};

static void *task(void *arg) {
    struct task *t = arg;
    rng_t r = rng_new(t->seed);
    char *live[LIVE];
    int head = 0, len = 0;
    for (long i = 0; i < t->ops; i++) {
        if (len == LIVE || (len > 0 && rng_next(&r) % 3 == 0)) {
            free(live[head]);
            head = (head + 1) % LIVE;
            len--;
        }
        char *p = xmalloc(rng_range(&r, 16, 256));
        p[0] = (char)i;
        live[(head + len) % LIVE] = p;
        len++;
    }
    for (int k = 0; k < len; k++) free(live[(head + k) % LIVE]);
    return NULL;
}

static double run(void *arg) {
    struct churn *c = arg;
    pthread_t tid[64];
    struct task tasks[64];
    long started = 0, joined = 0;
    double start = now_sec();
    while (started < c->total) {
        if (started - joined == c->alive) {
            pthread_join(tid[joined % c->alive], NULL);
            joined++;
        }
        long k = started % c->alive;
        tasks[k].ops = c->ops;
        tasks[k].seed = 0xc4 + (uint64_t)started;
        if (pthread_create(&tid[k], NULL, task, &tasks[k]) != 0) {
            perror("pthread_create");
            exit(1);
        }
        started++;
    }
    while (joined < started) {
        pthread_join(tid[joined % c->alive], NULL);
        joined++;
    }
    return now_sec() - start;
}

int main(int argc, char **argv) {
    const char *usage = "TOTAL ALIVE OPS REPEAT";
    struct churn c;
    c.total = arg_long(argc, argv, 1, usage);
    c.alive = arg_long(argc, argv, 2, usage);
    c.ops = arg_long(argc, argv, 3, usage);
    long repeat = arg_long(argc, argv, 4, usage);
    if (c.alive < 1 || c.alive > 64) {
        fprintf(stderr, "ALIVE must be 1..64\n");
        return 2;
    }
    report_median(run, &c, c.total, repeat);
    return 0;
}
