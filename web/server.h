/* The HTTP/1.1 server of `sluice serve`: connections on a libuv loop parsed with http-parser,
 * keep-alive, bounded requests (header bytes, body bytes, header and request time, open
 * connections), a route table, the security checks of web/security.h applied before any
 * handler runs, and Server-Sent-Event streams. Handlers are plain functions of a request and a
 * response, so that they can be tested without sockets (http_server_dispatch). */
#ifndef SLUICE_WEB_SERVER_H
#define SLUICE_WEB_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/strbuf.h"

/* Defaults of struct http_server_config; 0 in a field means its default. */
#define HTTP_MAX_HEADER_BYTES (16 * 1024)     /* request line + headers */
#define HTTP_MAX_BODY_BYTES (1024 * 1024)
#define HTTP_HEADER_TIMEOUT_MS 10000          /* env SLUICE_HTTP_HEADER_TIMEOUT_MS overrides */
#define HTTP_REQUEST_TIMEOUT_MS 30000         /* env SLUICE_HTTP_REQUEST_TIMEOUT_MS overrides */
#define HTTP_IDLE_TIMEOUT_MS 60000            /* keep-alive idle; env SLUICE_HTTP_IDLE_TIMEOUT_MS */
#define HTTP_MAX_CONNS 256                    /* env SLUICE_HTTP_MAX_CONNS overrides */
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_PARAMS 4

struct http_server;
struct http_conn;
struct http_stream;

enum http_verb {
    HTTP_VERB_GET,
    HTTP_VERB_HEAD, /* routed as GET; the server drops the body */
    HTTP_VERB_POST,
    HTTP_VERB_OTHER,
};

struct http_header {
    const char *name;  /* lowercased */
    const char *value; /* leading and trailing blanks trimmed */
};

/* A parsed request. Every pointer stays valid until the handler returns; all strings are
 * NUL-terminated. */
struct http_req {
    enum http_verb verb;
    const char *method;       /* as sent, e.g. "GET" */
    const char *target;       /* the raw request target, e.g. "/api/runs?limit=5" */
    const char *path;         /* the target's path, percent-decoded once. The server has
                               * already answered 404 to any target whose decoded path is not
                               * absolute or contains a NUL, a backslash, an empty, "." or ".."
                               * segment — handlers never see those */
    const char *query;        /* raw text after '?', "" when none (see http_req_query) */
    const struct http_header *headers;
    size_t nheaders;
    const char *body;         /* "" when none; at most the body cap */
    size_t body_len;
    const char *params[HTTP_MAX_PARAMS]; /* the route's ':name' captures, in order */
    size_t nparams;
    bool authed;              /* carries the serve token (bearer or session cookie) */
    struct http_server *srv;
    void *app;                /* the app pointer given to http_server_new */
    struct http_conn *conn;   /* NULL in http_server_dispatch tests; for http_stream_start */
};

/* A response being built by a handler. The server adds Content-Length, Date, Connection and
 * the security headers (Content-Security-Policy, X-Content-Type-Options: nosniff,
 * Referrer-Policy: no-referrer, X-Frame-Options: DENY) itself. */
struct http_resp {
    int status;               /* 200 unless set */
    const char *content_type; /* a static string; NULL = "application/json" */
    struct strbuf headers;    /* extra header lines, each "Name: value\r\n" (http_resp_header) */
    struct strbuf body;       /* the body, owned */
    const void *body_ref;     /* instead of body: bytes that outlive the response (an embedded
                               * asset); used when non-NULL */
    size_t body_ref_len;
    struct http_stream *stream; /* set by http_stream_start */
};

/* A handler fills resp (any status) and returns 0; a negative return makes the server answer
 * 500 with the error's text in JSON. */
typedef int (*http_handler_cb)(struct http_req *req, struct http_resp *resp);

enum http_route_flags {
    HTTP_ROUTE_MUTATION = 1 << 0, /* needs the token (401) and a same-origin Origin (403) */
    HTTP_ROUTE_PREFIX = 1 << 1,   /* pattern matches as a prefix ("/static/") */
};

/* A route: method "GET" (also serves HEAD) or "POST", a pattern of '/'-separated segments
 * where ":name" captures one non-empty segment into req->params ("/api/runs/:id"). The first
 * matching route wins; a path that matches with another method gets 405. */
struct http_route {
    const char *method;
    const char *pattern;
    http_handler_cb handler;
    unsigned flags;
};

struct http_server_config {
    const char *host;          /* address to bind, e.g. "127.0.0.1" */
    int port;                  /* 0 = any free port (see http_server_port) */
    const char *token;         /* the secret mutations need; NULL = no mutation is allowed */
    size_t max_header_bytes;   /* 0 = defaults above (after the environment overrides) */
    size_t max_body_bytes;
    int64_t header_timeout_ms;
    int64_t request_timeout_ms;
    int64_t idle_timeout_ms;
    int max_conns;
};

/* Bind and listen on loop (a uv_loop_t *). routes is borrowed and must outlive the server.
 * Returns NULL with e set ("cannot listen on '127.0.0.1:8080': address already in use"). */
struct http_server *http_server_new(void *loop, const struct http_server_config *cfg,
                                    const struct http_route *routes, size_t nroutes, void *app,
                                    struct err *e);
int http_server_port(const struct http_server *srv); /* the bound port */
const char *http_server_host(const struct http_server *srv);
/* Close the listener and every connection; the server frees itself once every handle has
 * closed, then calls done(data) (may be NULL). */
void http_server_close(struct http_server *srv, void (*done)(void *data), void *data);

/* Route and check one request as if it had arrived on a socket: the traversal check, the
 * Host check, token and Origin of mutations, then the handler. Fills resp (initialise it with
 * http_resp_init); for unit tests and for the connection code itself. */
void http_server_dispatch(struct http_server *srv, struct http_req *req, struct http_resp *resp);

/* A header's value by case-insensitive name, NULL when absent. */
const char *http_req_header(const struct http_req *req, const char *name);
/* A query parameter, percent-decoded ('+' is a space); NULL when absent. Caller frees. */
char *http_req_query(const struct http_req *req, const char *name);

void http_resp_init(struct http_resp *resp);
void http_resp_release(struct http_resp *resp);
/* Append a header line. The value must not contain CR or LF (BUG otherwise). */
void http_resp_header(struct http_resp *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Replace the body with text, set status and content type. */
void http_resp_text(struct http_resp *resp, int status, const char *content_type,
                    const char *text);
/* {"error": msg} with status. */
void http_resp_error(struct http_resp *resp, int status, const char *msg);

/* Server-Sent Events. From a GET handler: turn the connection into an event stream; the
 * server answers 200 text/event-stream at once and keeps the connection open, resp's body is
 * ignored. user is the handler's per-stream state, passed to free_user when the stream closes
 * (client gone, server closing, or the client reading too slowly: a stream whose unsent data
 * passes 1 MiB is closed). Returns NULL when req has no connection (dispatch tests). */
struct http_stream *http_stream_start(struct http_req *req, struct http_resp *resp, void *user,
                                      void (*free_user)(void *user));
/* Send one event: "id: ID\n" when id > 0, "event: EVENT\n" when event is non-NULL, then data
 * split into "data: " lines, then a blank line. */
void http_stream_send(struct http_stream *s, const char *event, const char *data, int64_t id);
void *http_stream_user(const struct http_stream *s);
/* Call cb for every open stream (it may send on it, not close it). */
void http_server_each_stream(struct http_server *srv,
                             void (*cb)(void *data, struct http_stream *s), void *data);

#endif
