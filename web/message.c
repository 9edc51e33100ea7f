/* Requests and responses as handlers see them: a request's headers and query parameters, and
 * a response's status, headers and body (web/server.h). No sockets and no routing here. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"
#include "web/security.h"
#include "web/server.h"

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
