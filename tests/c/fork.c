/* fork() in a multithreaded process: while worker threads allocate and free
 * as fast as they can, the main thread forks repeatedly; each child
 * allocates (small, large and huge blocks, and from a new thread), then
 * leaves by exit(), _exit() or exec(). Before any allocation the program
 * registers its own pthread_atfork handlers, which allocate in all three
 * phases: that only works if the allocator's handlers were registered
 * before them (run last in prepare, first in the child). A child that
 * deadlocks is killed by its alarm and the test fails. With -DUSE_LIBC the
 * libc names are used (run with the override library). */
#include "memalloc.h"
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#ifdef USE_LIBC
#define A_MALLOC malloc
#define A_FREE free
#else
#define A_MALLOC ma_malloc
#define A_FREE ma_free
#endif

#define MIB ((size_t)1 << 20)

static atomic_int stop;
static atomic_int prepare_runs, parent_runs;
static int child_handler_ok;

/* Allocates and frees one block of each kind: small (thread cache), large
 * (a page run under the central lock) and huge (its own mapping). */
static int churn(unsigned tag) {
    static const size_t sizes[] = {24, 4000, 300 * 1024, 3 * MIB, 20 * MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = A_MALLOC(sizes[i]);
        if (p == NULL || ((uintptr_t)p & (MA_MALLOC_ALIGN - 1)) != 0) return 0;
        fill(p, sizes[i], tag);
        if (!verify(p, sizes[i], tag)) return 0;
        A_FREE(p);
    }
    return 1;
}

static void other_prepare(void) {
    if (churn(1)) atomic_fetch_add(&prepare_runs, 1);
}

static void other_parent(void) {
    if (churn(2)) atomic_fetch_add(&parent_runs, 1);
}

static void other_child(void) {
    child_handler_ok = churn(3);
}

static void *busy(void *arg) {
    uint64_t rng = 0x12345 + (uintptr_t)arg;
    void *keep[32] = {0};
    while (!atomic_load(&stop)) {
        unsigned s = (unsigned)(rng_next(&rng) % 32);
        A_FREE(keep[s]);
        size_t n = rng_size(&rng, rng_next(&rng) % 32 == 0 ? 4 * MIB : 4096);
        keep[s] = A_MALLOC(n);
        if (keep[s] == NULL) {
            fprintf(stderr, "worker: allocation of %zu bytes failed\n", n);
            _exit(1);
        }
        fill(keep[s], n, 9);
        /* Leave the forking thread some of the two cores. */
        if (s == 0) sched_yield();
    }
    for (unsigned s = 0; s < 32; s++) A_FREE(keep[s]);
    return NULL;
}

static void *child_thread(void *arg) {
    (void)arg;
    return (void *)(uintptr_t)churn(4);
}

/* What a child does after fork. Never returns. */
static void child(unsigned round, const char *self) {
    alarm(20);
    CHECK(child_handler_ok);
    void *blocks[256];
    for (unsigned i = 0; i < 256; i++) {
        size_t n = (i % 16 == 0) ? (i % 32 == 0 ? 18 * MIB : 400 * 1024) : 16 + i * 40;
        blocks[i] = A_MALLOC(n);
        CHECK_ALIGNED(blocks[i], MA_MALLOC_ALIGN);
        fill(blocks[i], n, i);
    }
    pthread_t t;
    void *res = NULL;
    CHECK(pthread_create(&t, NULL, child_thread, NULL) == 0);
    CHECK(pthread_join(t, &res) == 0);
    CHECK(res == (void *)1);
    for (unsigned i = 0; i < 256; i++) A_FREE(blocks[i]);
    switch (round % 3) {
    case 0:
        exit(0);
    case 1:
        _exit(0);
    default: {
        char *argv[] = {(char *)self, (char *)"exec-child", NULL};
        execv(self, argv);
        _exit(2);
    }
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0) {
        /* A freshly exec'd image: the allocator starts from scratch. */
        return churn(5) ? 0 : 1;
    }
    /* Before anything allocates through memalloc. */
    CHECK(pthread_atfork(other_prepare, other_parent, other_child) == 0);

    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(len > 0);
    self[len] = 0;

    pthread_t workers[2];
    for (uintptr_t i = 0; i < 2; i++) CHECK(pthread_create(&workers[i], NULL, busy, (void *)i) == 0);

    enum { ROUNDS = 15 };
    for (unsigned round = 0; round < ROUNDS; round++) {
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) child(round, self);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "round %u: child %s %d\n", round, WIFSIGNALED(status) ? "killed by signal" : "exited with",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            return 1;
        }
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < 2; i++) CHECK(pthread_join(workers[i], NULL) == 0);
    CHECK(atomic_load(&prepare_runs) == ROUNDS);
    CHECK(atomic_load(&parent_runs) == ROUNDS);
    CHECK(churn(6));
    printf("ok %lu\n", checks_passed);
    return 0;
}
