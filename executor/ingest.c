/* The ingest built-in's work: resolve the source, copy or download it to OUT.tmp while hashing
 * it, enforce the size cap and the expected digest, then rename OUT.tmp to OUT. */
#include "executor/ingest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "executor/http.h"
#include "util/sha256.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define COPY_CHUNK (128 * 1024)

enum source_kind { SRC_PATH, SRC_FILE_URL, SRC_HTTP };

/* Where the bytes go: the temporary file and the running digest. */
struct sink {
    int fd;
    struct sha256 *md;
};

static int hash_chunk(void *ctx, const void *data, size_t len, struct err *e)
{
    struct sink *s = ctx;
    (void)e;
    sha256_update(s->md, data, len);
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static bool valid_sha256(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]))
            return false;
    return n == 64;
}

/* The scheme of a URL-looking source ("ftp" for "ftp://..."), or NULL for a path. */
static char *source_scheme(const char *src)
{
    size_t n = 0;
    if (!isalpha((unsigned char)src[0]))
        return NULL;
    while (isalnum((unsigned char)src[n]) || src[n] == '+' || src[n] == '-' || src[n] == '.')
        n++;
    if (strncmp(src + n, "://", 3))
        return NULL;
    return xstrndup(src, n);
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The local path a file:// URL names: empty host or "localhost", an absolute path, %XX
 * escapes decoded (an escaped NUL is refused). */
static int file_url_path(const char *url, struct strbuf *path, struct err *e)
{
    const char *p = url + strlen("file://");
    if (!strncasecmp(p, "localhost/", 10))
        p += strlen("localhost");
    if (*p != '/')
        return err_set(e, "file url '%s' must name an absolute path (file:///path)", url);
    for (; *p; p++) {
        if (*p != '%') {
            strbuf_addch(path, *p);
            continue;
        }
        int hi = hex_value((unsigned char)p[1]);
        int lo = hi < 0 ? -1 : hex_value((unsigned char)p[2]);
        if (lo < 0 || (hi == 0 && lo == 0))
            return err_set(e, "bad escape in file url '%s'", url);
        strbuf_addch(path, hi * 16 + lo);
        p += 2;
    }
    return 0;
}

/* file://ABSPATH with bytes other than unreserved ones and '/' escaped. */
static char *path_to_url(const char *abs)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "file://");
    for (const unsigned char *p = (const unsigned char *)abs; *p; p++) {
        if (isalnum(*p) || strchr("/-._~", *p))
            strbuf_addch(&sb, *p);
        else
            strbuf_addf(&sb, "%%%02X", *p);
    }
    return strbuf_detach(&sb, NULL);
}

/* Decide what kind of source src is; for local ones fill path with the file to read. */
static int resolve_source(const struct ingest_options *opt, enum source_kind *kind,
                          struct strbuf *path, struct err *e)
{
    const char *src = opt->source;
    if (!src || !*src)
        return err_set(e, "empty source");
    char *scheme = source_scheme(src);
    int ret = 0;
    if (!scheme) {
        *kind = SRC_PATH;
        if (src[0] != '/' && opt->base && *opt->base) {
            strbuf_addstr(path, opt->base);
            if (path->buf[path->len - 1] != '/')
                strbuf_addch(path, '/');
        }
        strbuf_addstr(path, src);
    } else if (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https")) {
        *kind = SRC_HTTP;
    } else if (!strcasecmp(scheme, "file")) {
        *kind = SRC_FILE_URL;
        ret = file_url_path(src, path, e);
    } else {
        ret = err_set(e,
                      "unsupported source scheme '%s' in '%s' (use a path, file://, http:// or "
                      "https://)",
                      scheme, src);
    }
    free(scheme);
    return ret;
}

static void local_progress(const struct ingest_options *opt, const char *path, int64_t done,
                           int64_t total, double *last)
{
    if (!opt->progress || !http_progress_due(last))
        return;
    char have[32], all[32];
    http_format_bytes(done, have, sizeof(have));
    http_format_bytes(total, all, sizeof(all));
    fprintf(opt->progress, "copying '%s': %s of %s (%d%%)\n", path, have, all,
            total > 0 ? (int)(100 * done / total) : 100);
    fflush(opt->progress);
}

/* Copy the local file at path into s, at most cap bytes. */
static int copy_local(const struct ingest_options *opt, const char *path, int64_t cap,
                      struct sink *s, struct ingest_result *res, struct err *e)
{
    /* O_NONBLOCK: opening a FIFO must not hang the step; it is refused below anyway. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return err_set(e, "cannot open source '%s': %s", path, strerror(errno));
    int ret = -1;
    char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        err_set(e, "cannot stat source '%s': %s", path, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        err_set(e, "source '%s' is a directory, not a file", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(e, "source '%s' is not a regular file", path);
        goto out;
    }
    if (st.st_size > cap) {
        err_set(e, "source '%s' is larger than the size cap of %lld bytes (%lld bytes)", path,
                (long long)cap, (long long)st.st_size);
        goto out;
    }
    char real[PATH_MAX];
    res->url = path_to_url(realpath(path, real) ? real : path);

    buf = xmalloc(COPY_CHUNK);
    double last = http_clock_s();
    for (;;) {
        ssize_t n = read(fd, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err_set(e, "cannot read source '%s': %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        /* The file may have grown since fstat. */
        if (n > cap - res->size) {
            err_set(e, "source '%s' is larger than the size cap of %lld bytes", path,
                    (long long)cap);
            goto out;
        }
        if (write_all(s->fd, buf, (size_t)n) < 0) {
            err_set(e, "cannot write '%s.tmp': %s", opt->out, strerror(errno));
            goto out;
        }
        if (hash_chunk(s, buf, (size_t)n, e))
            goto out;
        res->size += n;
        local_progress(opt, path, res->size, st.st_size, &last);
    }
    ret = 0;
out:
    free(buf);
    close(fd);
    return ret;
}

static int download(const struct ingest_options *opt, int64_t cap, struct sink *s,
                    struct ingest_result *res, struct err *e)
{
    struct http_options hopt = HTTP_OPTIONS_INIT;
    hopt.connect_timeout_ms = opt->connect_timeout_ms;
    hopt.timeout_ms = opt->timeout_ms;
    hopt.max_size = cap;
    hopt.progress = opt->progress;
    hopt.on_data = hash_chunk;
    hopt.data_ctx = s;
    struct http_result hres;
    res->url = xstrdup(opt->source);
    int rc = http_fetch(opt->source, s->fd, &hopt, &hres, e);
    res->http_status = hres.status;
    res->size = hres.size;
    res->transient = rc < 0 && hres.transient;
    if (rc == 0)
        res->effective_url = xstrdup(hres.effective_url);
    return rc;
}

/* Create the missing folders above path (an output may be declared as "sub/raw.csv"). */
static int make_parents(const char *path, struct err *e)
{
    char *p = xstrdup(path);
    int ret = 0;
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            ret = err_set(e, "cannot create folder '%s': %s", p, strerror(errno));
        *s = '/';
        if (ret)
            break;
    }
    free(p);
    return ret;
}

/* fsync the folder holding path, so that a rename in it survives a crash. */
static void sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int ingest_run(const struct ingest_options *opt, struct ingest_result *res, struct err *e)
{
    memset(res, 0, sizeof(*res));
    int64_t cap = opt->max_size > 0 ? opt->max_size : INGEST_DEFAULT_MAX_SIZE;
    if (opt->sha256 && !valid_sha256(opt->sha256))
        return err_set(e, "invalid sha256 '%s': expected 64 hex digits", opt->sha256);
    if (!opt->out || !*opt->out)
        return err_set(e, "no output path");

    enum source_kind kind = SRC_PATH;
    struct strbuf path = STRBUF_INIT;
    char *tmp = xasprintf("%s.tmp", opt->out);
    struct sink s = {-1, NULL};
    int ret = -1;
    bool tmp_made = false;

    if (resolve_source(opt, &kind, &path, e) || make_parents(opt->out, e))
        goto out;
    /* Not O_EXCL: a temporary file left by a killed attempt is simply replaced. */
    s.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (s.fd < 0) {
        err_set(e, "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    tmp_made = true;
    s.md = sha256_new();

    if (kind == SRC_HTTP ? download(opt, cap, &s, res, e)
                         : copy_local(opt, path.buf, cap, &s, res, e))
        goto out;

    sha256_final(s.md, res->sha256);
    if (opt->sha256 && strcasecmp(opt->sha256, res->sha256)) {
        char want[65];
        for (size_t i = 0; i < sizeof(want); i++)
            want[i] = (char)tolower((unsigned char)opt->sha256[i]);
        err_set(e, "sha256 mismatch: expected '%s', got '%s'", want, res->sha256);
        goto out;
    }
    /* The data must be on disk before the name says it is complete. */
    int sync_errno = fsync(s.fd) < 0 ? errno : 0;
    if (close(s.fd) < 0 && !sync_errno)
        sync_errno = errno;
    s.fd = -1;
    if (sync_errno) {
        err_set(e, "cannot write '%s': %s", tmp, strerror(sync_errno));
        goto out;
    }
    if (rename(tmp, opt->out) < 0) {
        err_set(e, "cannot rename '%s' to '%s': %s", tmp, opt->out, strerror(errno));
        goto out;
    }
    tmp_made = false;
    sync_parent(opt->out);
    ret = 0;
out:
    if (s.fd >= 0)
        close(s.fd);
    if (tmp_made)
        unlink(tmp);
    sha256_free(s.md);
    free(tmp);
    strbuf_release(&path);
    return ret;
}

void ingest_result_release(struct ingest_result *res)
{
    free(res->url);
    free(res->effective_url);
    res->url = res->effective_url = NULL;
}

/* A JSON string for s; bytes that are not UTF-8 (a path may hold any) become '?'. */
static json_t *json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = xstrdup(s);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

int ingest_write_meta(const char *path, const char *source, const struct ingest_result *res,
                      struct err *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "source", json_text(source));
    json_object_set_new(o, "url", res->url ? json_text(res->url) : json_null());
    if (res->effective_url)
        json_object_set_new(o, "effective_url", json_text(res->effective_url));
    json_object_set_new(o, "size", json_integer(res->size));
    json_object_set_new(o, "sha256", json_string(res->sha256));
    json_object_set_new(o, "http_status",
                        res->http_status ? json_integer(res->http_status) : json_null());
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        return err_set(e, "cannot encode the metadata of '%s' as json", source);

    int ret = -1;
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        err_set(e, "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0 || fsync(fd) < 0) {
        err_set(e, "cannot write '%s': %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        err_set(e, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    ret = 0;
out:
    free(tmp);
    free(text);
    return ret;
}
