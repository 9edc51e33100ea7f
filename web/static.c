/* Serve the page: embedded files under /static/ and the HTML shell at every page address,
 * with validators so that a reload costs a 304. */
#include "web/static.h"

#include <string.h>

#include "web/assets.h"

#define SHELL_PATH "/static/index.html"

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *static_content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++)
            if (!strcmp(dot, content_types[i].ext))
                return content_types[i].type;
    /* an unknown type must not be sniffed into something executable */
    return "application/octet-stream";
}

/* Whether path is "/PREFIX" (when bare is allowed) or "/PREFIX/SEGMENT" with one non-empty
 * segment. */
static bool page_match(const char *path, const char *prefix, bool bare)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n))
        return false;
    if (!path[n])
        return bare;
    return path[n] == '/' && path[n + 1] && !strchr(path + n + 1, '/');
}

bool static_is_page(const char *path)
{
    return !strcmp(path, "/") || page_match(path, "/runs", true) ||
           !strcmp(path, "/compare") || page_match(path, "/models", true) ||
           page_match(path, "/catalog", true) || page_match(path, "/lineage", false) ||
           page_match(path, "/pipelines", true);
}

static const struct asset *asset_find(const char *path)
{
    for (size_t i = 0; i < assets_count; i++)
        if (!strcmp(assets[i].path, path))
            return &assets[i];
    return NULL;
}

/* If-None-Match is a list of entity tags or "*"; a weak "W/" tag matches too (RFC 9110
 * 13.1.2 compares weakly for GET). */
static bool etag_matches(const char *inm, const char *etag)
{
    size_t n = strlen(etag);
    const char *p = inm;
    while (*p) {
        p += strspn(p, " \t,");
        if (*p == '*')
            return true;
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (!strncmp(p, etag, n) && (!p[n] || strchr(" \t,", p[n])))
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

int static_handle(struct http_req *req, struct http_resp *resp)
{
    const char *path = req->path;
    const struct asset *a;
    if (!strncmp(path, "/static/", 8))
        a = asset_find(path);
    else
        a = static_is_page(path) ? asset_find(SHELL_PATH) : NULL;
    if (!a) {
        http_resp_text(resp, 404, "text/plain; charset=utf-8", "not found\n");
        return 0;
    }
    http_resp_header(resp, "ETag", "%s", a->etag);
    http_resp_header(resp, "Cache-Control", "no-cache");
    resp->content_type = static_content_type(a->path);
    const char *inm = http_req_header(req, "if-none-match");
    if (inm && etag_matches(inm, a->etag)) {
        resp->status = 304;
        return 0;
    }
    resp->status = 200;
    resp->body_ref = a->data;
    resp->body_ref_len = a->len;
    return 0;
}
