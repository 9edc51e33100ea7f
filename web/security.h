/* What keeps `sluice serve` safe on a shared machine: the token of mutations (file, bearer,
 * session cookie), the Host check against DNS rebinding, the Origin check against cross-site
 * POSTs, request paths that cannot leave their tree, and the headers every answer carries. */
#ifndef SLUICE_WEB_SECURITY_H
#define SLUICE_WEB_SECURITY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct http_req;

/* Sent with every response. */
#define SECURITY_CSP                                                                          \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "        \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
#define SECURITY_HEADERS                                                                      \
    "Content-Security-Policy: " SECURITY_CSP "\r\n"                                           \
    "X-Content-Type-Options: nosniff\r\n"                                                     \
    "Referrer-Policy: no-referrer\r\n"                                                        \
    "X-Frame-Options: DENY\r\n"

#define SECURITY_COOKIE "sluice_session"

/* The serve token: HOME/token, created (64 hex digits from /dev/urandom, mode 0600,
 * O_EXCL) when missing. A token file readable by group or others is refused. *token is the
 * caller's to free. */
int security_token_load(const char *home, char **token, struct err *e);

/* Whether the Host header names this server: "127.0.0.1:PORT", "localhost:PORT",
 * "[::1]:PORT" or "BOUND:PORT" (case-insensitive host; the port must be there and equal). */
bool security_host_ok(const char *host, const char *bound, int port);
/* Whether an Origin header may send a POST: absent (NULL) or "http://H:PORT" with H as for
 * the Host check. "null" and every other origin are refused. */
bool security_origin_ok(const char *origin, const char *bound, int port);
/* Whether req carries token as "Authorization: Bearer TOKEN" or as the session cookie.
 * Compared in constant time. A NULL token accepts nothing. */
bool security_token_ok(const struct http_req *req, const char *token);
/* Compare two strings in time that depends only on their lengths (not on where they differ). */
bool security_equal(const char *a, const char *b);

/* Percent-decode src[0..len) into a new string (caller frees). plus_space turns '+' into a
 * space (query strings). Returns NULL for a malformed escape or an encoded NUL. */
char *security_url_decode(const char *src, size_t len, bool plus_space);
/* Whether a decoded request path is safe to route: it starts with '/' and has no backslash,
 * no control character, no "." or ".." segment and no empty segment (a trailing '/' is
 * allowed). */
bool security_path_ok(const char *path);
/* Resolve path (symlinks and all) and return it when it lies inside root (itself resolved):
 * the artifact route's guard. NULL when it does not exist or escapes root. Caller frees. */
char *security_path_under(const char *root, const char *path);

#endif
