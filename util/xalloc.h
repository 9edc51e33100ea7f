/* Allocation that never returns NULL, and the BUG() macro for impossible states. */
#ifndef SLUICE_XALLOC_H
#define SLUICE_XALLOC_H

#include <stddef.h>

/* Each aborts the process with a message when memory is exhausted. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A formatted string, allocated; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *arr (of *alloc elements of size elem) so that it can hold at least n elements. */
void xgrow(void **arr, size_t *alloc, size_t n, size_t elem);
#define XGROW(arr, alloc, n) xgrow((void **)&(arr), &(alloc), (n), sizeof(*(arr)))

_Noreturn void bug_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An impossible state: abort with "BUG: file:line: message". */
#define BUG(...) bug_at(__FILE__, __LINE__, __VA_ARGS__)

#endif
