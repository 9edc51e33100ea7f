/* GET /api/runs/ID/steps/STEP/log?attempt=N&offset=O&limit=L: a slice of a step attempt's
 * log, read by offset so that a big or growing log is fetched piece by piece. Also the log
 * look-up the SSE log follower shares (api_log_locate). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/doc.h"
#include "util/xalloc.h"
#include "web/api.h"

#define LOG_DEFAULT_LIMIT (256 * 1024)
#define LOG_MAX_LIMIT (1024 * 1024)

int api_log_locate(struct store *st, int64_t run_id, const char *step, int attempt,
                   struct api_log *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    struct step_row *rows = NULL;
    size_t n = 0;
    if (store_steps_load(st, run_id, &rows, &n, e) < 0)
        return -1;
    int64_t step_id = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].name, step))
            step_id = rows[i].id;
    step_rows_free(rows, n);
    if (!step_id) {
        err_set(e, "run %lld has no step '%s'", (long long)run_id, step);
        e->code = STORE_NOT_FOUND;
        return -1;
    }
    struct attempt_row *att = NULL;
    size_t na = 0;
    if (store_attempts_load(st, step_id, &att, &na, e) < 0)
        return -1;
    const struct attempt_row *a = NULL;
    for (size_t i = 0; i < na; i++) {
        if (att[i].n < 1 || !att[i].dir)
            continue; /* a cache record has no log of its own */
        if (attempt ? att[i].n == attempt : (!a || att[i].n > a->n))
            a = &att[i];
    }
    if (!a) {
        attempt_rows_free(att, na);
        if (attempt) {
            err_set(e, "step '%s' of run %lld has no attempt %d", step, (long long)run_id,
                    attempt);
            e->code = STORE_NOT_FOUND;
            return -1;
        }
        return 0; /* no attempt yet: an empty log */
    }
    out->attempt = a->n;
    out->path = xasprintf("%s/log", a->dir);
    out->ended = strcmp(a->status, "running") != 0;
    attempt_rows_free(att, na);
    return 0;
}

/* Bytes at the end of s[0..n) that begin a UTF-8 sequence the text does not complete. */
static size_t partial_tail(const char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)s[n - k];
        if ((c & 0xc0) == 0x80)
            continue; /* a continuation byte: look further back */
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

int api_log_read(const char *path, int64_t offset, size_t limit, bool final,
                 struct strbuf *out, int64_t *size, int64_t *start)
{
    *size = 0;
    *start = 0;
    if (!path)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat stt;
    if (fstat(fd, &stt) < 0 || !S_ISREG(stt.st_mode)) {
        close(fd);
        return -1;
    }
    *size = stt.st_size;
    if (offset < 0)
        offset = stt.st_size + offset > 0 ? stt.st_size + offset : 0;
    if (offset > stt.st_size)
        offset = stt.st_size;
    *start = offset;
    size_t want = (size_t)(stt.st_size - offset) < limit ? (size_t)(stt.st_size - offset) : limit;
    strbuf_grow(out, want);
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, out->buf + out->len + got, want - got, offset + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    /* a character cut in two is sent whole with the next slice (unless nothing follows) */
    if (got && !(final && offset + (off_t)got == stt.st_size))
        got -= partial_tail(out->buf + out->len, got);
    out->len += got;
    out->buf[out->len] = '\0';
    close(fd);
    return 0;
}

int api_log(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    int64_t id = api_parse_id(req->params[0]);
    const char *step = req->params[1];
    int64_t attempt, offset, limit;
    if (id < 0) {
        http_resp_error(resp, 404, "not found");
        return 0;
    }
    if (api_query_int(req, resp, "attempt", 1, 1000000, 0, &attempt) < 0 ||
        api_query_int(req, resp, "offset", INT64_MIN / 2, INT64_MAX / 2, 0, &offset) < 0 ||
        api_query_int(req, resp, "limit", 1, LOG_MAX_LIMIT, LOG_DEFAULT_LIMIT, &limit) < 0)
        return 0;
    struct api_log lg;
    struct err e = ERR_INIT;
    if (api_log_locate(app->st, id, step, (int)attempt, &lg, &e) < 0)
        return api_store_error(resp, &e);
    struct strbuf text = STRBUF_INIT;
    int64_t size, start;
    if (api_log_read(lg.path, offset, (size_t)limit, lg.ended, &text, &size, &start) < 0) {
        free(lg.path);
        strbuf_release(&text);
        http_resp_error(resp, 500, "cannot read the log");
        return 0;
    }
    int64_t next = start + (int64_t)text.len;
    bool complete = lg.ended && next >= size;
    char *format = http_req_query(req, "format");
    if (format && !strcmp(format, "text")) {
        resp->status = 200;
        resp->content_type = "text/plain; charset=utf-8";
        strbuf_reset(&resp->body);
        strbuf_add(&resp->body, text.buf, text.len);
        http_resp_header(resp, "Cache-Control", "no-store");
        http_resp_header(resp, "X-Sluice-Next-Offset", "%lld", (long long)next);
        http_resp_header(resp, "X-Sluice-Size", "%lld", (long long)size);
        http_resp_header(resp, "X-Sluice-Complete", "%d", complete ? 1 : 0);
    } else {
        json_t *doc = json_object();
        json_object_set_new(doc, "run", json_integer(id));
        json_object_set_new(doc, "step", api_utf8_string(step, strlen(step)));
        json_object_set_new(doc, "attempt", lg.attempt ? json_integer(lg.attempt) : json_null());
        json_object_set_new(doc, "offset", json_integer(start));
        json_object_set_new(doc, "next_offset", json_integer(next));
        json_object_set_new(doc, "size", json_integer(size));
        json_object_set_new(doc, "complete", json_boolean(complete));
        json_object_set_new(doc, "text", api_utf8_string(text.buf, text.len));
        api_json(resp, 200, doc);
    }
    free(format);
    free(lg.path);
    strbuf_release(&text);
    return 0;
}
