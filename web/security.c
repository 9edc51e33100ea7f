/* The server's guards: the token (its file, bearer header, session cookie), the Host and
 * Origin checks, request path sanity and the workspace fence of the file routes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/sha256.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "web/security.h"
#include "web/server.h"

#define TOKEN_BYTES 32

static int token_create(const char *path, struct err *e)
{
    unsigned char raw[TOKEN_BYTES];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, "cannot open '/dev/urandom': %s", strerror(errno));
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t r = read(fd, raw + got, sizeof(raw) - got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            close(fd);
            return err_set(e, "cannot read '/dev/urandom': %s", r < 0 ? strerror(errno) : "eof");
        }
        got += (size_t)r;
    }
    close(fd);
    char hex[TOKEN_BYTES * 2 + 2];
    hex_encode(raw, sizeof(raw), hex);
    hex[TOKEN_BYTES * 2] = '\n';
    hex[TOKEN_BYTES * 2 + 1] = '\0';
    /* O_EXCL: two servers starting at once must not overwrite each other's token */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : err_set(e, "cannot create '%s': %s", path, strerror(errno));
    size_t len = strlen(hex);
    if (write(fd, hex, len) != (ssize_t)len || fsync(fd) < 0) {
        int saved = errno;
        close(fd);
        unlink(path);
        return err_set(e, "cannot write '%s': %s", path, strerror(saved));
    }
    close(fd);
    return 0;
}

int security_token_load(const char *home, char **token, struct err *e)
{
    *token = NULL;
    if (mkdir(home, 0700) < 0 && errno != EEXIST)
        return err_set(e, "cannot create '%s': %s", home, strerror(errno));
    char *path = xasprintf("%s/token", home);
    int rc = -1;
    struct strbuf sb = STRBUF_INIT;
    if (access(path, F_OK) < 0 && token_create(path, e) < 0)
        goto out;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        err_set(e, "cannot open '%s': %s", path, strerror(errno));
        goto out;
    }
    struct stat stt;
    if (fstat(fd, &stt) < 0 || !S_ISREG(stt.st_mode)) {
        close(fd);
        err_set(e, "'%s' is not a regular file", path);
        goto out;
    }
    if (stt.st_mode & 077) {
        close(fd);
        err_set(e, "'%s' is readable by others (mode %03o); chmod 600 it", path,
                (unsigned)(stt.st_mode & 0777));
        goto out;
    }
    close(fd);
    if (strbuf_read_file(&sb, path, 4096) != 0) {
        err_set(e, "cannot read '%s'", path);
        goto out;
    }
    while (sb.len && (sb.buf[sb.len - 1] == '\n' || sb.buf[sb.len - 1] == '\r' ||
                      sb.buf[sb.len - 1] == ' '))
        sb.buf[--sb.len] = '\0';
    if (sb.len < 16) {
        err_set(e, "the token in '%s' is too short (less than 16 characters)", path);
        goto out;
    }
    for (size_t i = 0; i < sb.len; i++)
        if ((unsigned char)sb.buf[i] <= ' ' || sb.buf[i] == ';' || sb.buf[i] == ',' ||
            (unsigned char)sb.buf[i] >= 0x7f) {
            err_set(e, "the token in '%s' has a character that is not allowed", path);
            goto out;
        }
    *token = strbuf_detach(&sb, NULL);
    rc = 0;
out:
    strbuf_release(&sb);
    free(path);
    return rc;
}

bool security_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return false; /* the length is no secret: every token has 64 digits */
    unsigned char diff = 0;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
    return diff == 0;
}

/* "HOST:PORT" against the names this server answers to. */
static bool hostport_ok(const char *s, size_t len, const char *bound, int port)
{
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    if (!colon || colon == s)
        return false;
    size_t hlen = (size_t)(colon - s);
    const char *p = colon + 1;
    size_t plen = len - hlen - 1;
    if (!plen || plen > 5)
        return false;
    long v = 0;
    for (size_t i = 0; i < plen; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    if (v != port)
        return false;
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == hlen && !strncasecmp(s, names[i], hlen))
            return true;
    if (bound && *bound && strcmp(bound, "0.0.0.0") && strcmp(bound, "::")) {
        if (strlen(bound) == hlen && !strncasecmp(s, bound, hlen))
            return true;
        /* an IPv6 address is written in brackets in a Host header */
        if (hlen == strlen(bound) + 2 && s[0] == '[' && s[hlen - 1] == ']' &&
            !strncasecmp(s + 1, bound, hlen - 2))
            return true;
    }
    return false;
}

bool security_host_ok(const char *host, const char *bound, int port)
{
    return host && hostport_ok(host, strlen(host), bound, port);
}

bool security_origin_ok(const char *origin, const char *bound, int port)
{
    if (!origin)
        return true;
    static const char scheme[] = "http://";
    size_t n = strlen(origin);
    if (n <= sizeof(scheme) - 1 || strncasecmp(origin, scheme, sizeof(scheme) - 1))
        return false;
    return hostport_ok(origin + sizeof(scheme) - 1, n - (sizeof(scheme) - 1), bound, port);
}

/* The value of cookie name in a Cookie header, into out (NULL when absent). */
static char *cookie_value(const char *header, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nlen && !strncmp(p, name, nlen) && p[nlen] == '=')
            return xstrndup(p + nlen + 1, len - nlen - 1);
        p = end;
    }
    return NULL;
}

bool security_token_ok(const struct http_req *req, const char *token)
{
    if (!token || !*token)
        return false;
    const char *auth = http_req_header(req, "authorization");
    if (auth && !strncasecmp(auth, "Bearer ", 7)) {
        const char *t = auth + 7;
        while (*t == ' ')
            t++;
        if (security_equal(t, token))
            return true;
    }
    bool ok = false;
    for (size_t i = 0; i < req->nheaders && !ok; i++) {
        if (strcmp(req->headers[i].name, "cookie"))
            continue;
        char *v = cookie_value(req->headers[i].value, SECURITY_COOKIE);
        ok = v && security_equal(v, token);
        free(v);
    }
    return ok;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *security_url_decode(const char *src, size_t len, bool plus_space)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            int hi = i + 1 < len ? hexval((unsigned char)src[i + 1]) : -1;
            int lo = i + 2 < len ? hexval((unsigned char)src[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            out[o++] = ' ';
        } else if (c == '\0') {
            free(out);
            return NULL;
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return out;
}

bool security_path_ok(const char *path)
{
    if (path[0] != '/')
        return false;
    const char *seg = path + 1;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 && end)
            return false; /* "//" */
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)seg[i] < 0x20 || seg[i] == 0x7f || seg[i] == '\\')
                return false;
        if (!end)
            return true;
        seg = end + 1;
    }
}

char *security_path_under(const char *root, const char *path)
{
    char r[PATH_MAX], p[PATH_MAX];
    if (!realpath(root, r) || !realpath(path, p))
        return NULL;
    size_t n = strlen(r);
    if (strncmp(p, r, n) || (p[n] != '/' && !(n == 1 && r[0] == '/')))
        return NULL;
    return xstrdup(p);
}
