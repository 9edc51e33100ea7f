/* The HTTP/1.1 server: one struct http_conn per TCP connection on the libuv loop, requests
 * parsed by http-parser and answered in order (keep-alive, pipelining), every request bounded
 * in bytes and time, the route table, and Server-Sent-Event streams. The only file that
 * includes <http_parser.h>. */
#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "util/xalloc.h"
#include "web/security.h"
#include "web/server.h"

#define READ_BUF 16384
#define STREAM_MAX_PENDING (1024 * 1024) /* unsent SSE bytes before a slow client is cut */
#define KEEPALIVE_MS 15000               /* SSE comment lines, so proxies keep the stream */

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

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t keepalive;     /* SSE keep-alive comments */
    struct http_server_config cfg;
    char *host;
    char *token;
    int port;
    const struct http_route *routes;
    size_t nroutes;
    void *app;
    struct http_conn *conns;  /* every open connection */
    int nconns;
    int handles;              /* the server's own open handles */
    bool closing;
    void (*done)(void *data);
    void *done_data;
};

struct write_req {
    uv_write_t req;
    struct http_conn *conn;
    char *buf;                /* owned copy, freed in the callback */
    size_t len;
};

static http_parser_settings settings;

static int64_t now_ms(const struct http_server *srv)
{
    return (int64_t)uv_now(srv->loop);
}

/* ---- requests and responses for handlers ---- */

const char *http_req_header(const struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (!strcasecmp(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

char *http_req_query(const struct http_req *req, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = req->query ? req->query : "";
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        char *key = security_url_decode(p, klen, true);
        bool match = key && strlen(key) == nlen && !memcmp(key, name, nlen);
        free(key);
        if (match)
            return eq ? security_url_decode(eq + 1, len - klen - 1, true) : xstrdup("");
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

void http_resp_init(struct http_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = 200;
    strbuf_init(&resp->headers);
    strbuf_init(&resp->body);
}

void http_resp_release(struct http_resp *resp)
{
    strbuf_release(&resp->headers);
    strbuf_release(&resp->body);
}

void http_resp_header(struct http_resp *resp, const char *name, const char *fmt, ...)
{
    size_t start = resp->headers.len;
    strbuf_addf(&resp->headers, "%s: ", name);
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&resp->headers, fmt, ap);
    va_end(ap);
    for (size_t i = start; i < resp->headers.len; i++)
        if (resp->headers.buf[i] == '\r' || resp->headers.buf[i] == '\n')
            BUG("header '%s' with a line break", name);
    strbuf_addstr(&resp->headers, "\r\n");
}

void http_resp_text(struct http_resp *resp, int status, const char *content_type,
                    const char *text)
{
    resp->status = status;
    resp->content_type = content_type;
    resp->body_ref = NULL;
    strbuf_reset(&resp->body);
    strbuf_addstr(&resp->body, text);
}

/* JSON string escaping for error messages (the server itself has no JSON library). */
static void add_json_string(struct strbuf *sb, const char *s)
{
    strbuf_addch(sb, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            strbuf_addf(sb, "\\%c", c);
        else if (c < 0x20)
            strbuf_addf(sb, "\\u%04x", c);
        else
            strbuf_addch(sb, (char)c);
    }
    strbuf_addch(sb, '"');
}

void http_resp_error(struct http_resp *resp, int status, const char *msg)
{
    resp->status = status;
    resp->content_type = "application/json";
    resp->body_ref = NULL;
    strbuf_reset(&resp->body);
    strbuf_addstr(&resp->body, "{\"error\": ");
    add_json_string(&resp->body, msg);
    strbuf_addstr(&resp->body, "}\n");
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

/* ---- routing ---- */

/* Match the raw path against pattern; captures are decoded one segment at a time, so that an
 * encoded '/' stays inside its segment. */
static bool route_match(const struct http_route *r, const char *raw, struct http_req *req)
{
    const char *p = r->pattern, *s = raw;
    size_t nparams = 0;
    if (r->flags & HTTP_ROUTE_PREFIX)
        return !strncmp(req->path, r->pattern, strlen(r->pattern));
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pe = strchrnul(p, '/'), *se = strchrnul(s, '/');
        size_t plen = (size_t)(pe - p), slen = (size_t)(se - s);
        if (plen && *p == ':') {
            if (!slen || nparams == HTTP_MAX_PARAMS)
                return false;
            nparams++;
        } else {
            char *dec = security_url_decode(s, slen, false);
            bool same = dec && strlen(dec) == plen && !memcmp(dec, p, plen);
            free(dec);
            if (!same)
                return false;
        }
        p = pe;
        s = se;
    }
    return !*p && !*s;
}

/* Fill req->params for a route that matched (route_match said yes). */
static void route_capture(const struct http_route *r, const char *raw, struct http_req *req,
                          char **owned)
{
    const char *p = r->pattern, *s = raw;
    req->nparams = 0;
    if (r->flags & HTTP_ROUTE_PREFIX)
        return;
    while (*p && *s) {
        p++;
        s++;
        const char *pe = strchrnul(p, '/'), *se = strchrnul(s, '/');
        if (*p == ':') {
            char *dec = security_url_decode(s, (size_t)(se - s), false);
            owned[req->nparams] = dec;
            req->params[req->nparams++] = dec ? dec : "";
        }
        p = pe;
        s = se;
    }
}

static bool verb_matches(const char *method, enum http_verb v)
{
    if (!strcmp(method, "GET"))
        return v == HTTP_VERB_GET || v == HTTP_VERB_HEAD;
    if (!strcmp(method, "POST"))
        return v == HTTP_VERB_POST;
    return false;
}

/* The answer to opening a URL with ?token=: set the session cookie and send the browser to the
 * same address without the token, so that it stays out of history and bookmarks. */
static bool session_login(struct http_server *srv, struct http_req *req, struct http_resp *resp)
{
    char *tok = http_req_query(req, "token");
    if (!tok)
        return false;
    if (!srv->token || !security_equal(tok, srv->token)) {
        free(tok);
        http_resp_error(resp, 401, "wrong token; open the address that 'sluice serve' printed");
        return true;
    }
    free(tok);
    /* keep the other query parameters */
    struct strbuf loc = STRBUF_INIT;
    const char *q = req->target;
    const char *qm = strchr(q, '?');
    strbuf_add(&loc, q, qm ? (size_t)(qm - q) : strlen(q));
    if (qm) {
        const char *p = qm + 1;
        bool first = true;
        while (*p) {
            const char *end = strchrnul(p, '&');
            if (strncmp(p, "token=", 6) && end > p) {
                strbuf_addch(&loc, first ? '?' : '&');
                strbuf_add(&loc, p, (size_t)(end - p));
                first = false;
            }
            p = *end ? end + 1 : end;
        }
    }
    resp->status = 303;
    resp->content_type = "text/plain; charset=utf-8";
    for (size_t i = 0; i < loc.len; i++)
        if ((unsigned char)loc.buf[i] < 0x20)
            loc.buf[i] = '_';
    http_resp_header(resp, "Location", "%s", loc.buf);
    http_resp_header(resp, "Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Strict",
                     SECURITY_COOKIE, srv->token);
    strbuf_addstr(&resp->body, "signed in\n");
    strbuf_release(&loc);
    return true;
}

void http_server_dispatch(struct http_server *srv, struct http_req *req, struct http_resp *resp)
{
    req->srv = srv;
    req->app = srv->app;
    const char *target = req->target;
    const char *qm = strchr(target, '?');
    size_t rawlen = qm ? (size_t)(qm - target) : strlen(target);
    char *raw = xstrndup(target, rawlen);
    char *path = security_url_decode(raw, rawlen, false);
    char *owned[HTTP_MAX_PARAMS] = {0};
    req->query = qm ? qm + 1 : "";
    req->nparams = 0;
    if (!path || !security_path_ok(path)) {
        http_resp_error(resp, 404, "not found");
        goto out;
    }
    req->path = path;
    if (!security_host_ok(http_req_header(req, "host"), srv->host, srv->port)) {
        http_resp_error(resp, 421, "this server does not answer to that host name");
        goto out;
    }
    req->authed = security_token_ok(req, srv->token);
    if (req->verb == HTTP_VERB_GET && session_login(srv, req, resp))
        goto out;
    const struct http_route *found = NULL;
    bool other_method = false;
    for (size_t i = 0; i < srv->nroutes && !found; i++) {
        const struct http_route *r = &srv->routes[i];
        if (!route_match(r, raw, req))
            continue;
        if (verb_matches(r->method, req->verb))
            found = r;
        else
            other_method = true;
    }
    if (!found) {
        if (other_method) {
            http_resp_error(resp, 405, "method not allowed");
        } else {
            http_resp_error(resp, 404, "not found");
        }
        goto out;
    }
    if (found->flags & HTTP_ROUTE_MUTATION) {
        if (!security_origin_ok(http_req_header(req, "origin"), srv->host, srv->port)) {
            http_resp_error(resp, 403, "cross-site request refused");
            goto out;
        }
        if (!req->authed) {
            http_resp_error(resp, 401,
                            "this needs the token: open the address that 'sluice serve' "
                            "printed, or send 'Authorization: Bearer TOKEN'");
            goto out;
        }
    }
    route_capture(found, raw, req, owned);
    for (size_t i = 0; i < req->nparams; i++)
        if (!owned[i]) {
            http_resp_error(resp, 404, "not found");
            goto out;
        }
    if (found->handler(req, resp) < 0 && !resp->stream)
        http_resp_error(resp, 500, "internal error");
out:
    for (size_t i = 0; i < HTTP_MAX_PARAMS; i++)
        free(owned[i]);
    free(path);
    free(raw);
    req->path = NULL;
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

static void server_maybe_done(struct http_server *srv);

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

static void on_connection(uv_stream_t *ls, int status)
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

static void on_keepalive(uv_timer_t *t)
{
    http_server_each_stream(t->data, send_keepalive, NULL);
}

/* ---- the server ---- */

/* A client that goes away while its answer is written must not kill the server with SIGPIPE:
 * writes then fail with EPIPE instead. A handler rather than SIG_IGN, because a caught signal
 * goes back to its default across exec, so the steps the engine starts are not affected. */
static void on_sigpipe(int sig)
{
    (void)sig;
}

static int64_t env_ms(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    long long n = strtoll(v, &end, 10);
    return *end || n <= 0 ? dflt : (int64_t)n;
}

/* A listening socket bound to host:port (created here rather than by libuv, so that a bind
 * error leaves no handle to close on a loop that is not running yet). */
static int listen_socket(const char *host, int port, int *bound_port, struct err *e)
{
    struct sockaddr_storage addr;
    socklen_t alen;
    memset(&addr, 0, sizeof(addr));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        alen = sizeof(*a4);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        alen = sizeof(*a6);
    } else {
        return err_set(e, "'%s' is not an IP address", host);
    }
    if (port < 0 || port > 65535)
        return err_set(e, "'%d' is not a port number", port);
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return err_set(e, "cannot create a socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, alen) < 0 || listen(fd, 128) < 0) {
        int saved = errno;
        close(fd);
        return err_set(e, "cannot listen on '%s:%d': %s", host, port, strerror(saved));
    }
    socklen_t blen = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &blen);
    *bound_port = addr.ss_family == AF_INET6 ? ntohs(a6->sin6_port) : ntohs(a4->sin_port);
    return fd;
}

struct http_server *http_server_new(void *loop, const struct http_server_config *cfg,
                                    const struct http_route *routes, size_t nroutes, void *app,
                                    struct err *e)
{
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPIPE, &sa, NULL);

    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->host = xstrdup(cfg->host ? cfg->host : "127.0.0.1");
    srv->token = cfg->token ? xstrdup(cfg->token) : NULL;
    srv->cfg.host = srv->host;
    srv->cfg.token = srv->token;
    srv->routes = routes;
    srv->nroutes = nroutes;
    srv->app = app;
    struct http_server_config *c = &srv->cfg;
    if (!c->max_header_bytes)
        c->max_header_bytes = HTTP_MAX_HEADER_BYTES;
    if (!c->max_body_bytes)
        c->max_body_bytes = HTTP_MAX_BODY_BYTES;
    if (!c->header_timeout_ms)
        c->header_timeout_ms = env_ms("SLUICE_HTTP_HEADER_TIMEOUT_MS", HTTP_HEADER_TIMEOUT_MS);
    if (!c->request_timeout_ms)
        c->request_timeout_ms = env_ms("SLUICE_HTTP_REQUEST_TIMEOUT_MS", HTTP_REQUEST_TIMEOUT_MS);
    if (!c->idle_timeout_ms)
        c->idle_timeout_ms = env_ms("SLUICE_HTTP_IDLE_TIMEOUT_MS", HTTP_IDLE_TIMEOUT_MS);
    if (!c->max_conns)
        c->max_conns = (int)env_ms("SLUICE_HTTP_MAX_CONNS", HTTP_MAX_CONNS);

    int fd = listen_socket(srv->host, cfg->port, &srv->port, e);
    if (fd < 0)
        goto fail;
    uv_tcp_init(srv->loop, &srv->listener);
    srv->listener.data = srv;
    srv->handles = 1;
    int rc = uv_tcp_open(&srv->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
    if (rc < 0)
        BUG("cannot listen on a bound socket: %s", uv_strerror(rc));
    uv_timer_init(srv->loop, &srv->keepalive);
    srv->keepalive.data = srv;
    srv->handles++;
    uv_timer_start(&srv->keepalive, on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);
    return srv;
fail:
    free(srv->host);
    free(srv->token);
    free(srv);
    return NULL;
}

int http_server_port(const struct http_server *srv)
{
    return srv->port;
}

const char *http_server_host(const struct http_server *srv)
{
    return srv->host;
}

static void server_maybe_done(struct http_server *srv)
{
    if (!srv->closing || srv->handles > 0 || srv->conns)
        return;
    void (*done)(void *) = srv->done;
    void *data = srv->done_data;
    free(srv->host);
    free(srv->token);
    free(srv);
    if (done)
        done(data);
}

static void on_server_handle_closed(uv_handle_t *h)
{
    struct http_server *srv = h->data;
    srv->handles--;
    server_maybe_done(srv);
}

void http_server_close(struct http_server *srv, void (*done)(void *data), void *data)
{
    if (srv->closing)
        return;
    srv->closing = true;
    srv->done = done;
    srv->done_data = data;
    uv_close((uv_handle_t *)&srv->listener, on_server_handle_closed);
    uv_close((uv_handle_t *)&srv->keepalive, on_server_handle_closed);
    for (struct http_conn *c = srv->conns; c; c = c->next)
        conn_close(c);
}
