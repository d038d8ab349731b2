/* Loading memalloc with dlopen, and dlopen under the override library.
 *
 * `dlopen <path of libmemalloc.so>`: the program opens the library, uses
 * ma_* from the main thread and from a thread that is still running when
 * the library is closed, then lets that thread exit (its cache flush must
 * still find the library's code mapped).
 * `dlopen -`: only opens, uses and closes an unrelated library (libm), as a
 * program running under LD_PRELOAD of the override library would. */
#include "check.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

static void *(*ma_malloc_p)(size_t);
static void (*ma_free_p)(void *);
static size_t (*ma_usable_size_p)(const void *);
static atomic_int closed;

static void *user(void *arg) {
    (void)arg;
    void *keep[100];
    for (int i = 0; i < 100; i++) {
        keep[i] = ma_malloc_p(16 + (size_t)i * 100);
        if (keep[i] == NULL) return NULL;
        fill(keep[i], 16 + (size_t)i * 100, (unsigned)i);
    }
    for (int i = 0; i < 100; i++) {
        if (!verify(keep[i], 16 + (size_t)i * 100, (unsigned)i)) return NULL;
        ma_free_p(keep[i]);
    }
    while (!atomic_load(&closed)) usleep(1000);
    return (void *)1;
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    if (strcmp(argv[1], "-") != 0) {
        void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h) fprintf(stderr, "dlopen: %s\n", dlerror());
        CHECK(h != NULL);
        ma_malloc_p = (void *(*)(size_t))dlsym(h, "ma_malloc");
        ma_free_p = (void (*)(void *))dlsym(h, "ma_free");
        ma_usable_size_p = (size_t (*)(const void *))dlsym(h, "ma_usable_size");
        CHECK(ma_malloc_p && ma_free_p && ma_usable_size_p);
        void *p = ma_malloc_p(1000);
        CHECK_ALIGNED(p, 16);
        CHECK(ma_usable_size_p(p) >= 1000);
        ma_free_p(p);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, user, NULL) == 0);
        usleep(20000);
        CHECK(dlclose(h) == 0);
        atomic_store(&closed, 1);
        void *res = NULL;
        CHECK(pthread_join(t, &res) == 0);
        CHECK(res == (void *)1);
    }
    void *m = dlopen("libm.so.6", RTLD_NOW);
    CHECK(m != NULL);
    double (*cosine)(double) = (double (*)(double))dlsym(m, "cos");
    CHECK(cosine != NULL);
    CHECK(cosine(0.0) == 1.0);
    CHECK(dlclose(m) == 0);
    char *s = strdup("after dlclose");
    CHECK(s != NULL);
    free(s);
    printf("ok %lu\n", checks_passed);
    return 0;
}
