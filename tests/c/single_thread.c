/* A single-threaded program stays single-threaded: after mallocs and frees
 * of every power of two from 1 KiB to 256 MiB (small blocks, page runs and
 * dedicated mappings), /proc/self/status still says "Threads: 1", and
 * unshare(CLONE_NEWUSER), which the kernel refuses to a multithreaded
 * process, still works. Run with the override library in LD_PRELOAD.
 *
 * Some sandboxes forbid unshare outright. Without arguments a failed
 * unshare prints "skip unshare: <error>"; with the argument
 * "require-unshare" (given once a run without the library has shown that
 * unshare works here) it is a failed check. Prints "threads <n>" and
 * "unshare <result>" before checking them, so a failure shows both, then
 * "ok <checks>". */
#include "check.h"

#include <errno.h>
#include <sched.h>

enum { MIN_SHIFT = 10, MAX_SHIFT = 28, COUNT = MAX_SHIFT - MIN_SHIFT + 1 };

/* Writes, then reads back, the first and last byte and one byte per MiB. */
static void touch(unsigned char *p, size_t n, unsigned tag) {
    for (size_t i = 0; i < n; i += 1 << 20) p[i] = pattern(tag, i);
    p[n - 1] = pattern(tag, n - 1);
}

static int touched(const unsigned char *p, size_t n, unsigned tag) {
    for (size_t i = 0; i < n; i += 1 << 20)
        if (p[i] != pattern(tag, i)) return 0;
    return p[n - 1] == pattern(tag, n - 1);
}

/* The "Threads:" line of /proc/self/status, or -1. */
static long thread_count(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long n = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) n = strtol(line + 8, NULL, 10);
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    int require_unshare = argc > 1 && strcmp(argv[1], "require-unshare") == 0;
    unsigned char *blocks[COUNT];
    /* All sizes live at once, then freed largest first; then each size
     * allocated and freed on its own, twice (reusing what was freed). */
    for (unsigned s = MIN_SHIFT; s <= MAX_SHIFT; s++) {
        size_t n = (size_t)1 << s;
        blocks[s - MIN_SHIFT] = malloc(n);
        CHECK(blocks[s - MIN_SHIFT] != NULL);
        touch(blocks[s - MIN_SHIFT], n, s);
    }
    for (unsigned s = MAX_SHIFT + 1; s-- > MIN_SHIFT;) {
        CHECK(touched(blocks[s - MIN_SHIFT], (size_t)1 << s, s));
        free(blocks[s - MIN_SHIFT]);
    }
    for (unsigned round = 0; round < 2; round++) {
        for (unsigned s = MIN_SHIFT; s <= MAX_SHIFT; s++) {
            size_t n = ((size_t)1 << s) - 24 * round;
            unsigned char *p = malloc(n);
            CHECK(p != NULL);
            touch(p, n, s + round);
            CHECK(touched(p, n, s + round));
            free(p);
        }
    }

    long threads = thread_count();
    printf("threads %ld\n", threads);
    int rc = unshare(CLONE_NEWUSER);
    int err = errno;
    if (rc == 0) {
        printf("unshare ok\n");
    } else {
        printf("%s unshare: %s (errno %d)\n", require_unshare ? "failed" : "skip", strerror(err),
               err);
    }
    fflush(stdout);
    CHECK(threads == 1);
    CHECK(rc == 0 || !require_unshare);
    printf("ok %lu\n", checks_passed);
    return 0;
}
