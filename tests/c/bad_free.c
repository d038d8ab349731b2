/* Bad pointers given to free and realloc, run under LD_PRELOAD: each mode
 * must end in an abort with memalloc's one-line message, never in a
 * silently accepted block. `free` finds a small block's span with a lock-free
 * lookup; a pointer that lookup does not confirm as a block start falls
 * through to the careful classification, which names the fault.
 *
 *     bad_free MODE      MODE: interior | interior16 | stack | foreign | double-large
 *
 * Prints "accepted" (and exits 0) if memalloc let the bad call through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "interior") == 0) {
        char *p = malloc(64);
        free(p + 8);
    } else if (strcmp(mode, "interior16") == 0) {
        /* 16-byte aligned, but inside a 96-byte block */
        char *p = malloc(96);
        free(p + 48);
    } else if (strcmp(mode, "stack") == 0) {
        char local[64];
        free(local + 16);
    } else if (strcmp(mode, "foreign") == 0) {
        /* a page of memory that no allocator handed out */
        char *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return 2;
        free(m + 4096);
    } else if (strcmp(mode, "double-large") == 0) {
        char *p = malloc(100000);
        free(p);
        free(p);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    printf("accepted\n");
    return 0;
}
