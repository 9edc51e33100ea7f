/* The page: the embedded static files (web/assets.h) under /static/, and the one HTML shell
 * that every page address answers with — the page's script renders from location. */
#ifndef SLUICE_WEB_STATIC_H
#define SLUICE_WEB_STATIC_H

#include <stdbool.h>

#include "web/server.h"

/* GET handler for /static/NAME and for every page address (static_is_page). Answers 200 with
 * the file, its Content-Type, an ETag and "Cache-Control: no-cache" (so that a new binary's
 * page is picked up at once, while an unchanged file costs a 304); 304 when If-None-Match
 * names the current ETag; 404 for an unknown file or address. The body is the embedded bytes
 * themselves (resp->body_ref), never a copy. Always returns 0. */
int static_handle(struct http_req *req, struct http_resp *resp);

/* Whether path is one of the page's addresses: "/", "/runs", "/runs/ID", "/compare",
 * "/models", "/models/NAME", "/catalog", "/catalog/TABLE", "/lineage/SHA256",
 * "/pipelines", "/pipelines/NAME" (NAME one non-empty segment). */
bool static_is_page(const char *path);

/* The Content-Type of a file by its name's extension; a static string. */
const char *static_content_type(const char *path);

/* The routes to put in the server's table (after the /api/ routes): a list of initialisers
 * for struct http_route, as in
 *     static const struct http_route routes[] = { ..., STATIC_ROUTES };
 * Every pattern is a page address of static_is_page, or the /static/ prefix. */
#define STATIC_ROUTES                                                                        \
    {"GET", "/static/", static_handle, HTTP_ROUTE_PREFIX}, {"GET", "/", static_handle, 0},  \
        {"GET", "/runs", static_handle, 0}, {"GET", "/runs/:id", static_handle, 0},          \
        {"GET", "/compare", static_handle, 0}, {"GET", "/models", static_handle, 0},         \
        {"GET", "/models/:name", static_handle, 0}, {"GET", "/catalog", static_handle, 0},   \
        {"GET", "/catalog/:table", static_handle, 0},                                        \
        {"GET", "/lineage/:sha", static_handle, 0}, {"GET", "/pipelines", static_handle, 0}, \
        {"GET", "/pipelines/:name", static_handle, 0}

#endif
