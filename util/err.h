/* Recoverable errors: library code fills a struct err and returns a negative int; only cli/ prints. */
#ifndef SLUICE_ERR_H
#define SLUICE_ERR_H

struct err {
    int code;      /* 0 = no error; otherwise a module-specific nonzero code, or -1 */
    char msg[1024]; /* lowercase, no full stop, the offending value in quotes */
};

#define ERR_INIT {0, {0}}

/* Set the error and return -1, so callers can write `return err_set(e, ...)`. e may be NULL. */
int err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix an existing message: "prefix: old message". */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(struct err *e);

#endif
