/* Growable strings. */
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/xalloc.h"

char strbuf_empty[1];

void strbuf_init(struct strbuf *sb)
{
    sb->buf = strbuf_empty;
    sb->len = 0;
    sb->alloc = 0;
}

void strbuf_release(struct strbuf *sb)
{
    if (sb->alloc)
        free(sb->buf);
    strbuf_init(sb);
}

char *strbuf_detach(struct strbuf *sb, size_t *len)
{
    if (len)
        *len = sb->len;
    char *res = sb->alloc ? sb->buf : xstrdup("");
    strbuf_init(sb);
    return res;
}

void strbuf_reset(struct strbuf *sb)
{
    sb->len = 0;
    sb->buf[0] = '\0';
}

void strbuf_grow(struct strbuf *sb, size_t extra)
{
    size_t need = sb->len + extra + 1;
    if (need <= sb->alloc)
        return;
    size_t na = sb->alloc ? sb->alloc : 64;
    while (na < need)
        na *= 2;
    if (sb->alloc) {
        sb->buf = xrealloc(sb->buf, na);
    } else {
        sb->buf = xmalloc(na);
        sb->buf[0] = '\0';
    }
    sb->alloc = na;
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
    strbuf_grow(sb, len);
    memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

void strbuf_addstr(struct strbuf *sb, const char *s)
{
    strbuf_add(sb, s, strlen(s));
}

void strbuf_addch(struct strbuf *sb, int c)
{
    char ch = (char)c;
    strbuf_add(sb, &ch, 1);
}

void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        BUG("vsnprintf failed for '%s'", fmt);
    strbuf_grow(sb, (size_t)n);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
}

void strbuf_add_shell_quoted(struct strbuf *sb, const char *s)
{
    strbuf_addch(sb, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            strbuf_addstr(sb, "'\\''");
        else
            strbuf_addch(sb, *s);
    }
    strbuf_addch(sb, '\'');
}

/* Read fd to its end, at most cap bytes, and close it. */
static int read_fd(struct strbuf *sb, int fd, size_t cap)
{
    char chunk[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        if (sb->len + (size_t)n > cap) {
            strbuf_add(sb, chunk, cap - sb->len);
            rc = -2;
            break;
        }
        strbuf_add(sb, chunk, (size_t)n);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int strbuf_read_file(struct strbuf *sb, const char *path, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    return read_fd(sb, fd, cap);
}

int strbuf_read_regular(struct strbuf *sb, const char *path, size_t cap)
{
    int fd = fs_open_regular(path, NULL);
    if (fd < 0)
        return fd == -2 ? -3 : -1;
    return read_fd(sb, fd, cap);
}
