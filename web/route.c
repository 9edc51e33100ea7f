/* Routing: one request through the checks (traversal, Host, session login by ?token=, token
 * and Origin of mutations) to the first matching route's handler (http_server_dispatch). */
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "web/security.h"
#include "web/server_int.h"

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
