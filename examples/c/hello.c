/* Using memalloc from C.
 *
 *   cargo c-lib --release      (cargo rustc --lib --crate-type cdylib,staticlib)
 *   cc -O2 -Iinclude examples/c/hello.c target/release/libmemalloc.a \
 *      -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o hello          # static
 *   cc -O2 -Iinclude examples/c/hello.c -Ltarget/release -lmemalloc \
 *      -Wl,-rpath,"$PWD/target/release" -o hello                     # shared
 *   ./hello
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "memalloc.h"

int main(void) {
    /* malloc-style allocation: 16-byte aligned, freed with ma_free. */
    char *greeting = ma_malloc(64);
    if (greeting == NULL) return 1;
    snprintf(greeting, 64, "hello from memalloc");

    /* Growing keeps the contents. */
    greeting = ma_realloc(greeting, 4096);
    if (greeting == NULL) return 1;
    printf("%s (%zu usable bytes)\n", greeting, ma_usable_size(greeting));

    /* Zeroed arrays, with the n * size overflow checked. */
    double *xs = ma_calloc(1000, sizeof *xs);
    if (xs == NULL) return 1;
    if (ma_calloc(SIZE_MAX, 2) == NULL && errno == ENOMEM) printf("overflow refused with ENOMEM\n");

    /* Over-aligned memory, e.g. for SIMD or page-sized buffers. */
    void *page = NULL;
    if (ma_posix_memalign(&page, 4096, 10000) != 0) return 1;
    printf("page-aligned block at %p\n", page);

    ma_stats_t st;
    ma_stats(&st);
    printf("in use: %zu bytes, mapped: %zu bytes in %zu regions\n", st.bytes_in_use, st.bytes_mapped,
           st.regions);

    ma_free(page);
    ma_free(xs);
    ma_free(greeting);
    ma_print_stats(); /* the heap and its free runs, on stderr */
    return 0;
}
