/* GET /api/artifacts/SHA256: an artifact's bytes, for a file artifact kept in the workspace's
 * artifact store. Its real path (symlinks resolved) must lie in the workspace, or the answer
 * is 404: a path recorded in the store is never trusted to stay inside. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/xalloc.h"
#include "web/api.h"
#include "web/security.h"

#define ARTIFACT_MAX_BYTES (64 * 1024 * 1024) /* larger files: use the workspace directly */

int api_artifact(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    const char *sha = req->params[0];
    if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64) {
        http_resp_error(resp, 404, "not found");
        return 0;
    }
    struct artifact_row a;
    struct err e = ERR_INIT;
    if (store_artifact_find(app->st, sha, &a, &e) < 0)
        return api_store_error(resp, &e);
    char *path = NULL;
    if (a.kind && !strcmp(a.kind, "file") && a.uri)
        path = security_path_under(app->home, a.uri);
    struct stat stt;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (a.kind && !strcmp(a.kind, "source")) {
        /* an ingest's origin is a name; the bytes it gave are the ingest's output */
        char *msg = xasprintf("source '%s' is not stored here: its ingest's output is",
                              a.uri ? a.uri : "");
        http_resp_error(resp, 404, msg);
        free(msg);
    } else if (fd < 0 || fstat(fd, &stt) < 0 || !S_ISREG(stt.st_mode)) {
        http_resp_error(resp, 404, "not found");
    } else if (stt.st_size > ARTIFACT_MAX_BYTES) {
        http_resp_error(resp, 413, "the artifact is too large to serve here");
    } else {
        strbuf_reset(&resp->body);
        strbuf_grow(&resp->body, (size_t)stt.st_size);
        ssize_t r;
        while ((r = read(fd, resp->body.buf + resp->body.len,
                         (size_t)stt.st_size - resp->body.len)) > 0)
            resp->body.len += (size_t)r;
        resp->body.buf[resp->body.len] = '\0';
        resp->status = 200;
        resp->content_type = "application/octet-stream";
        http_resp_header(resp, "Content-Disposition", "attachment; filename=\"%.12s\"", sha);
        http_resp_header(resp, "Cache-Control", "private, max-age=31536000, immutable");
    }
    if (fd >= 0)
        close(fd);
    free(path);
    artifact_row_release(&a);
    return 0;
}
