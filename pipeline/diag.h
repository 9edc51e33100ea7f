/* Diagnostics for pipeline files: collected in one pass, printed compiler-style:
 *
 *   dags/tumour.yaml:14:11: error: step 'train' needs unknown step 'trasnform'
 *      14 |     needs: [trasnform]
 *         |             ^
 */
#ifndef SLUICE_DIAG_H
#define SLUICE_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct diag {
    int line, col; /* 1-based; line 0 = the message is about the whole file (no position) */
    char *msg;
};

struct diag_list {
    struct diag *items;
    size_t n, alloc;
};

#define DIAG_LIST_INIT {NULL, 0, 0}

void diag_add(struct diag_list *dl, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void diag_list_release(struct diag_list *dl);
/* Sort by position (stable; whole-file messages last) and print each as
 * "FILE:LINE:COL: error: MSG" plus the source line and a caret under COL, or "FILE: error: MSG"
 * when it has no position. text may be NULL (then no source line is shown). */
void diag_print(const struct diag_list *dl, const char *file, const char *text, size_t text_len,
                FILE *out);

/* How much of an offending token a message quotes, and the buffer diag_excerpt needs for it:
 * every byte may become "\xNN", then "..." and a NUL. */
#define DIAG_QUOTE_MAX 40
#define DIAG_QUOTE_SIZE (DIAG_QUOTE_MAX * 4 + 4)

/* Copy at most DIAG_QUOTE_MAX bytes of s[0..n) into out, escaping anything that is not
 * printable ASCII, so that a message never carries raw control bytes from a hostile file to a
 * terminal. Returns out. */
const char *diag_excerpt(char out[static DIAG_QUOTE_SIZE], const char *s, size_t n);

#endif
