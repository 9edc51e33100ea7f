/* One HTTP/1.1 connection on the libuv loop: requests parsed by http-parser and answered in
 * order (keep-alive, pipelining), every request bounded in bytes and time, each one routed by
 * web/route.c; and Server-Sent-Event streams, which are connections that stay open. The only
 * file that includes <http_parser.h>. */
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "util/xalloc.h"
#include "web/security.h"
#include "web/server_int.h"

#define READ_BUF 16384
#define STREAM_MAX_PENDING (1024 * 1024) /* unsent SSE bytes before a slow client is cut */

enum conn_phase {
    PHASE_IDLE,    /* between requests: idle timeout */
    PHASE_HEADERS, /* a request began: header timeout */
    PHASE_BODY,    /* headers complete: request timeout */
    PHASE_STREAM,  /* an SSE stream: no timeout */
    PHASE_CLOSING, /* the last answer is being written */
};

struct hdr {
    struct strbuf name, value;
};

struct http_stream {
    struct http_conn *conn;
    void *user;
    void (*free_user)(void *user);
};

struct http_conn {
    uv_tcp_t tcp;             /* tcp.data = this */
    uv_timer_t timer;         /* the current phase's deadline */
    struct http_server *srv;
    struct http_conn *prev, *next;
    http_parser parser;
    enum conn_phase phase;
    int handles;              /* open handles; freed when it reaches 0 */
    bool closing;
    int64_t began_ms;         /* when the current request's first byte arrived */
    /* the request being parsed */
    struct strbuf url;
    struct hdr hdrs[HTTP_MAX_HEADERS];
    size_t nhdrs;
    bool in_value;            /* the last header callback was for a value */
    size_t header_bytes;      /* request line + headers so far */
    struct strbuf body;
    int fail_status;          /* set by a callback that stopped the parser: 413, 431… */
    size_t pending_bytes;     /* written but not yet confirmed */
    int pending_writes;
    struct http_stream *stream;
    char rbuf[READ_BUF];
};

struct write_req {
    uv_write_t req;
    struct http_conn *conn;
    char *buf;                /* owned copy, freed in the callback */
    size_t len;
};

static int64_t now_ms(const struct http_server *srv)
{
    return (int64_t)uv_now(srv->loop);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}
/* ---- connections ---- */

static void conn_close(struct http_conn *c);

static void conn_free(struct http_conn *c)
{
    struct http_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    if (c->stream) {
        /* freed only now, so that a stream closed while a broadcast walks the streams stays
         * readable (as closed) until the walk is over */
        if (c->stream->free_user)
            c->stream->free_user(c->stream->user);
        free(c->stream);
    }
    strbuf_release(&c->url);
    strbuf_release(&c->body);
    for (size_t i = 0; i < HTTP_MAX_HEADERS; i++) {
        strbuf_release(&c->hdrs[i].name);
        strbuf_release(&c->hdrs[i].value);
    }
    free(c);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    if (--c->handles > 0)
        return;
    struct http_server *srv = c->srv;
    conn_free(c);
    server_maybe_done(srv);
}

static void conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

void conn_close_all(struct http_server *srv)
{
    for (struct http_conn *c = srv->conns; c; c = c->next)
        conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct http_conn *c = w->conn;
    c->pending_writes--;
    c->pending_bytes -= w->len;
    free(w->buf);
    free(w);
    if (c->closing)
        return;
    if (status < 0 || (c->phase == PHASE_CLOSING && c->pending_writes == 0))
        conn_close(c);
}

/* Queue len bytes (copied) for writing. */
static void conn_write(struct http_conn *c, const void *data, size_t len)
{
    if (c->closing || !len)
        return;
    struct write_req *w = xmalloc(sizeof(*w));
    w->conn = c;
    w->buf = xmalloc(len);
    memcpy(w->buf, data, len);
    w->len = len;
    uv_buf_t b = uv_buf_init(w->buf, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(w->buf);
        free(w);
        conn_close(c);
        return;
    }
    c->pending_writes++;
    c->pending_bytes += len;
}

static void on_timer(uv_timer_t *t);

static void conn_set_phase(struct http_conn *c, enum conn_phase phase)
{
    const struct http_server_config *cfg = &c->srv->cfg;
    c->phase = phase;
    uv_timer_stop(&c->timer);
    int64_t ms = 0;
    switch (phase) {
    case PHASE_IDLE:
        ms = cfg->idle_timeout_ms;
        break;
    case PHASE_HEADERS:
        ms = cfg->header_timeout_ms;
        break;
    case PHASE_BODY:
        ms = cfg->request_timeout_ms - (now_ms(c->srv) - c->began_ms);
        if (ms < 1)
            ms = 1;
        break;
    case PHASE_STREAM:
        return;
    case PHASE_CLOSING:
        /* a client that does not read its answer does not hold the connection forever */
        ms = cfg->request_timeout_ms;
        break;
    }
    uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0);
}

/* Serialise resp and queue it. close_after: send "Connection: close" and close once written. */
static void conn_respond(struct http_conn *c, enum http_verb verb, struct http_resp *resp,
                         bool close_after)
{
    struct strbuf out = STRBUF_INIT;
    const void *body = resp->body_ref ? resp->body_ref : resp->body.buf;
    size_t body_len = resp->body_ref ? resp->body_ref_len : resp->body.len;
    char date[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    strbuf_addf(&out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", resp->status, reason(resp->status), date);
    if (resp->status != 304 && resp->status != 204)
        strbuf_addf(&out, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                    resp->content_type ? resp->content_type : "application/json", body_len);
    strbuf_addstr(&out, SECURITY_HEADERS);
    if (resp->status == 405)
        strbuf_addstr(&out, "Allow: GET, HEAD, POST\r\n");
    strbuf_add(&out, resp->headers.buf, resp->headers.len);
    strbuf_addstr(&out, close_after ? "Connection: close\r\n\r\n"
                                    : "Connection: keep-alive\r\n\r\n");
    if (verb != HTTP_VERB_HEAD && resp->status != 304 && resp->status != 204)
        strbuf_add(&out, body, body_len);
    conn_write(c, out.buf, out.len);
    strbuf_release(&out);
    if (close_after) {
        conn_set_phase(c, PHASE_CLOSING);
        uv_read_stop((uv_stream_t *)&c->tcp);
        if (!c->pending_writes)
            conn_close(c);
    }
}

/* Answer an error found by the connection code itself (limits, parse errors) and close. */
static void conn_fail(struct http_conn *c, int status, const char *msg)
{
    if (c->closing || c->phase == PHASE_CLOSING)
        return;
    struct http_resp resp;
    http_resp_init(&resp);
    http_resp_error(&resp, status, msg);
    conn_respond(c, HTTP_VERB_GET, &resp, true);
    http_resp_release(&resp);
}

static void on_timer(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    switch (c->phase) {
    case PHASE_IDLE:
    case PHASE_CLOSING:
    case PHASE_STREAM:
        conn_close(c);
        break;
    case PHASE_HEADERS:
        conn_fail(c, 408, "the request headers took too long");
        break;
    case PHASE_BODY:
        conn_fail(c, 408, "the request took too long");
        break;
    }
}

static void request_reset(struct http_conn *c)
{
    strbuf_reset(&c->url);
    strbuf_reset(&c->body);
    for (size_t i = 0; i < c->nhdrs; i++) {
        strbuf_reset(&c->hdrs[i].name);
        strbuf_reset(&c->hdrs[i].value);
    }
    c->nhdrs = 0;
    c->in_value = false;
    c->header_bytes = 0;
    c->fail_status = 0;
}

static struct http_conn *parser_conn(http_parser *p)
{
    return p->data;
}

/* Count header bytes; stop the parser (431) past the cap. */
static int count_header(struct http_conn *c, size_t len)
{
    c->header_bytes += len;
    if (c->header_bytes > c->srv->cfg.max_header_bytes) {
        c->fail_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = parser_conn(p);
    request_reset(c);
    c->began_ms = now_ms(c->srv);
    conn_set_phase(c, PHASE_HEADERS);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = parser_conn(p);
    if (count_header(c, len) < 0)
        return -1;
    strbuf_add(&c->url, at, len);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = parser_conn(p);
    if (count_header(c, len + 4) < 0)
        return -1;
    if (c->in_value || c->nhdrs == 0) {
        if (c->nhdrs == HTTP_MAX_HEADERS) {
            c->fail_status = 431;
            return -1;
        }
        c->nhdrs++;
        c->in_value = false;
    }
    strbuf_add(&c->hdrs[c->nhdrs - 1].name, at, len);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = parser_conn(p);
    if (count_header(c, len) < 0)
        return -1;
    if (!c->nhdrs)
        return -1;
    c->in_value = true;
    strbuf_add(&c->hdrs[c->nhdrs - 1].value, at, len);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = parser_conn(p);
    if (p->content_length != ULLONG_MAX && p->content_length > 0 &&
        p->content_length > c->srv->cfg.max_body_bytes) {
        c->fail_status = 413;
        return -1;
    }
    for (size_t i = 0; i < c->nhdrs; i++)
        if (!strcasecmp(c->hdrs[i].name.buf, "expect") &&
            !strcasecmp(c->hdrs[i].value.buf, "100-continue")) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            conn_write(c, cont, sizeof(cont) - 1);
        }
    conn_set_phase(c, PHASE_BODY);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = parser_conn(p);
    if (c->body.len + len > c->srv->cfg.max_body_bytes) {
        c->fail_status = 413;
        return -1;
    }
    strbuf_add(&c->body, at, len);
    return 0;
}

static enum http_verb verb_of(unsigned method)
{
    switch (method) {
    case HTTP_GET:
        return HTTP_VERB_GET;
    case HTTP_HEAD:
        return HTTP_VERB_HEAD;
    case HTTP_POST:
        return HTTP_VERB_POST;
    default:
        return HTTP_VERB_OTHER;
    }
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = parser_conn(p);
    struct http_header headers[HTTP_MAX_HEADERS];
    for (size_t i = 0; i < c->nhdrs; i++) {
        struct strbuf *n = &c->hdrs[i].name, *v = &c->hdrs[i].value;
        for (size_t k = 0; k < n->len; k++)
            if (n->buf[k] >= 'A' && n->buf[k] <= 'Z')
                n->buf[k] = (char)(n->buf[k] - 'A' + 'a');
        size_t a = 0, b = v->len;
        while (a < b && (v->buf[a] == ' ' || v->buf[a] == '\t'))
            a++;
        while (b > a && (v->buf[b - 1] == ' ' || v->buf[b - 1] == '\t'))
            b--;
        v->buf[b] = '\0';
        headers[i].name = n->buf;
        headers[i].value = v->buf + a;
    }
    struct http_req req = {
        .verb = verb_of(p->method),
        .method = http_method_str((enum http_method)p->method),
        .target = c->url.buf,
        .headers = headers,
        .nheaders = c->nhdrs,
        .body = c->body.buf,
        .body_len = c->body.len,
        .conn = c,
    };
    bool keep = http_should_keep_alive(p) && !c->srv->closing;
    struct http_resp resp;
    http_resp_init(&resp);
    if (req.verb == HTTP_VERB_OTHER) {
        http_resp_error(&resp, 405, "method not allowed");
        conn_respond(c, req.verb, &resp, true);
        http_resp_release(&resp);
        return -1;
    }
    http_server_dispatch(c->srv, &req, &resp);
    if (!resp.stream) {
        conn_respond(c, req.verb, &resp, !keep);
        if (keep)
            conn_set_phase(c, PHASE_IDLE);
    }
    http_resp_release(&resp);
    request_reset(c);
    /* a stream or a closing connection reads no further requests */
    return c->phase == PHASE_STREAM || c->phase == PHASE_CLOSING || c->closing ? -1 : 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct http_conn *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = s->data;
    if (nread < 0) {
        /* a client that shut its side down after a request still gets the answer */
        if (nread == UV_EOF && c->pending_writes && c->phase != PHASE_STREAM && !c->closing) {
            uv_read_stop(s);
            conn_set_phase(c, PHASE_CLOSING);
            return;
        }
        conn_close(c);
        return;
    }
    if (nread == 0 || c->closing)
        return;
    if (c->phase == PHASE_STREAM || c->phase == PHASE_CLOSING)
        return; /* nothing more is read on a stream or from a connection being closed */
    size_t n = http_parser_execute(&c->parser, &settings, buf->base, (size_t)nread);
    if (c->closing || c->phase == PHASE_STREAM || c->phase == PHASE_CLOSING)
        return;
    if (c->parser.upgrade) {
        conn_fail(c, 400, "protocol upgrades are not supported");
        return;
    }
    if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || n != (size_t)nread) {
        if (c->fail_status == 413)
            conn_fail(c, 413, "the request body is over the limit");
        else if (c->fail_status == 431)
            conn_fail(c, 431, "the request headers are over the limit");
        else
            conn_fail(c, 400, http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
    }
}

void conn_on_connection(uv_stream_t *ls, int status)
{
    struct http_server *srv = ls->data;
    if (status < 0 || srv->closing)
        return;
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    strbuf_init(&c->url);
    strbuf_init(&c->body);
    for (size_t i = 0; i < HTTP_MAX_HEADERS; i++) {
        strbuf_init(&c->hdrs[i].name);
        strbuf_init(&c->hdrs[i].value);
    }
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->began_ms = now_ms(srv);
    /* over the cap: one short answer, then the connection is closed */
    if (srv->nconns > srv->cfg.max_conns) {
        c->phase = PHASE_HEADERS;
        conn_fail(c, 503, "too many connections");
        return;
    }
    conn_set_phase(c, PHASE_HEADERS);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- streams ---- */

struct http_stream *http_stream_start(struct http_req *req, struct http_resp *resp, void *user,
                                      void (*free_user)(void *user))
{
    struct http_conn *c = req->conn;
    if (!c)
        return NULL;
    struct http_stream *s = xcalloc(1, sizeof(*s));
    s->conn = c;
    s->user = user;
    s->free_user = free_user;
    c->stream = s;
    resp->stream = s;
    struct strbuf out = STRBUF_INIT;
    strbuf_addstr(&out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                        "Cache-Control: no-store\r\n");
    strbuf_addstr(&out, SECURITY_HEADERS);
    strbuf_add(&out, resp->headers.buf, resp->headers.len);
    strbuf_addstr(&out, "Connection: keep-alive\r\n\r\n: stream open\n\n");
    conn_write(c, out.buf, out.len);
    strbuf_release(&out);
    conn_set_phase(c, PHASE_STREAM);
    return s;
}

void *http_stream_user(const struct http_stream *s)
{
    return s->user;
}

static void stream_write(struct http_stream *s, const char *text, size_t len)
{
    struct http_conn *c = s->conn;
    if (c->closing)
        return;
    if (c->pending_bytes + len > STREAM_MAX_PENDING) {
        conn_close(c); /* a client that does not read is dropped, not buffered for */
        return;
    }
    conn_write(c, text, len);
}

void http_stream_send(struct http_stream *s, const char *event, const char *data, int64_t id)
{
    struct strbuf out = STRBUF_INIT;
    if (id > 0)
        strbuf_addf(&out, "id: %lld\n", (long long)id);
    if (event)
        strbuf_addf(&out, "event: %s\n", event);
    const char *p = data ? data : "";
    do {
        size_t len = strcspn(p, "\r\n");
        strbuf_addstr(&out, "data: ");
        strbuf_add(&out, p, len);
        strbuf_addch(&out, '\n');
        p += len;
        if (*p == '\r' && p[1] == '\n')
            p++;
        if (*p)
            p++;
    } while (*p);
    strbuf_addch(&out, '\n');
    stream_write(s, out.buf, out.len);
    strbuf_release(&out);
}

void http_server_each_stream(struct http_server *srv,
                             void (*cb)(void *data, struct http_stream *s), void *data)
{
    struct http_conn *c = srv->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (c->stream && !c->closing)
            cb(data, c->stream);
    }
}

static void send_keepalive(void *data, struct http_stream *s)
{
    (void)data;
    static const char ka[] = ": keepalive\n\n";
    stream_write(s, ka, sizeof(ka) - 1);
}

void conn_on_keepalive(uv_timer_t *t)
{
    http_server_each_stream(t->data, send_keepalive, NULL);
}
