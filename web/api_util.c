/* What the API handlers share: JSON answers, store errors as statuses, numbers from paths and
 * queries, request bodies, text made valid UTF-8. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/doc.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "web/api.h"

int api_json(struct http_resp *resp, int status, json_t *doc)
{
    char *text = doc_dumps(doc, false);
    json_decref(doc);
    resp->status = status;
    resp->content_type = "application/json";
    resp->body_ref = NULL;
    strbuf_reset(&resp->body);
    strbuf_addstr(&resp->body, text);
    strbuf_addch(&resp->body, '\n');
    free(text);
    http_resp_header(resp, "Cache-Control", "no-store");
    return 0;
}

int api_store_error(struct http_resp *resp, const struct err *e)
{
    http_resp_error(resp, e->code == STORE_NOT_FOUND ? 404 : 500, e->msg);
    return 0;
}

int64_t api_parse_id(const char *s)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v <= 0)
        return -1;
    return v;
}

int api_query_int(struct http_req *req, struct http_resp *resp, const char *name, int64_t min,
                  int64_t max, int64_t dflt, int64_t *out)
{
    char *v = http_req_query(req, name);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    bool ok = *v && !*end && !errno && n >= min && n <= max;
    if (!ok) {
        char *msg = xasprintf("'%s' must be a number from %lld to %lld, got '%.64s'", name,
                              (long long)min, (long long)max, v);
        http_resp_error(resp, 400, msg);
        free(msg);
        free(v);
        return -1;
    }
    free(v);
    *out = n;
    return 0;
}

json_t *api_body_object(struct http_req *req, struct http_resp *resp)
{
    size_t n = req->body_len;
    const char *b = req->body;
    while (n && (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t')) {
        b++;
        n--;
    }
    if (!n)
        return json_object();
    json_error_t je;
    json_t *j = json_loadb(b, n, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        char *msg = j ? xstrdup("the request body must be a JSON object")
                      : xasprintf("the request body is not JSON: %s", je.text);
        json_decref(j);
        http_resp_error(resp, 400, msg);
        free(msg);
        return NULL;
    }
    return j;
}

/* Length of the valid UTF-8 sequence at s (0 when invalid): no overlongs, no surrogates, at
 * most U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    unsigned cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

json_t *api_utf8_string(const char *s, size_t len)
{
    struct strbuf sb = STRBUF_INIT;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t k = p[i] ? utf8_seq(p + i, len - i) : 0;
        if (k) {
            strbuf_add(&sb, p + i, k);
            i += k;
        } else {
            strbuf_addstr(&sb, "\xef\xbf\xbd"); /* U+FFFD, for a NUL too */
            i++;
        }
    }
    json_t *j = json_stringn(sb.buf, sb.len);
    strbuf_release(&sb);
    return j ? j : json_string("");
}
