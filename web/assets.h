/* The page's static files, embedded in the binary at build time: web/embed.sh turns
 * the files of web/static/ (and Debian's Chart.js, when installed) into build/gen/web/assets.c. */
#ifndef SLUICE_WEB_ASSETS_H
#define SLUICE_WEB_ASSETS_H

#include <stddef.h>

struct asset {
    const char *path;          /* the URL path, "/static/app.js" */
    const unsigned char *data; /* the file's bytes, followed by a NUL not counted in len */
    size_t len;
    const char *etag;          /* a quoted strong validator, "\"<16 hex of sha256>\"" */
};

/* assets_count entries, then one entry of zeroes. */
extern const struct asset assets[];
extern const size_t assets_count;

#endif
