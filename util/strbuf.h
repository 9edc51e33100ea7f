/* Growable strings, after git's strbuf: init / release / detach; buf is always NUL-terminated. */
#ifndef SLUICE_STRBUF_H
#define SLUICE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
    char *buf;    /* always NUL-terminated, never NULL after init */
    size_t len;   /* bytes used, excluding the NUL */
    size_t alloc; /* bytes allocated; 0 while buf points at the shared empty string */
};

#define STRBUF_INIT {strbuf_empty, 0, 0}
extern char strbuf_empty[];

void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
/* Hand the string to the caller (who frees it) and reinitialise sb. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_reset(struct strbuf *sb);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, int c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
/* Append s quoted for /bin/sh (single quotes; embedded ' as '\''). */
void strbuf_add_shell_quoted(struct strbuf *sb, const char *s);
/* Read a whole file, at most cap bytes. Returns 0, -1 with errno set on an I/O error, or
 * -2 when the file is larger than cap (sb then holds the first cap bytes). */
int strbuf_read_file(struct strbuf *sb, const char *path, size_t cap);
/* strbuf_read_file for a file a step made, which may be anything: a FIFO (that would block the
 * reader until someone writes) or a device (that never ends) is refused at once with -3, and
 * nothing is read. Symbolic links are followed to what they name. */
int strbuf_read_regular(struct strbuf *sb, const char *path, size_t cap);

#endif
