/* GET /api/runs: the runs list, newest first, filtered by pipeline and status and paginated
 * by keyset (?before=ID&limit=N): {"runs": [...as `sluice runs --json`], "next_before"}. */
#include <stdlib.h>
#include <string.h>

#include "store/doc.h"
#include "util/xalloc.h"
#include "web/api.h"

#define RUNS_DEFAULT_LIMIT 50
#define RUNS_MAX_LIMIT 500

int api_runs(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    struct run_filter f = {.status = -1};
    int64_t before, limit;
    if (api_query_int(req, resp, "before", 1, INT64_MAX, 0, &before) < 0 ||
        api_query_int(req, resp, "limit", 1, RUNS_MAX_LIMIT, RUNS_DEFAULT_LIMIT, &limit) < 0)
        return 0;
    f.before = before;
    /* one more than asked: whether there is a next page, without a second query */
    f.limit = (int)limit + 1;
    char *pipeline = http_req_query(req, "pipeline");
    char *status = http_req_query(req, "status");
    if (pipeline && *pipeline)
        f.pipeline = pipeline;
    if (status && *status) {
        enum run_status s;
        if (run_status_parse(status, &s) < 0) {
            char *msg = xasprintf("unknown status '%.64s'", status);
            http_resp_error(resp, 400, msg);
            free(msg);
            goto out;
        }
        f.status = (int)s;
    }
    struct run_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_run_list(app->st, &f, &rows, &n, &e) < 0) {
        api_store_error(resp, &e);
        goto out;
    }
    bool more = n > (size_t)limit;
    if (more)
        n = (size_t)limit;
    json_t *doc = json_object();
    json_object_set_new(doc, "runs", doc_runs_json(rows, n));
    json_object_set_new(doc, "next_before", more ? json_integer(rows[n - 1].id) : json_null());
    run_rows_free(rows, more ? n + 1 : n);
    api_json(resp, 200, doc);
out:
    free(pipeline);
    free(status);
    return 0;
}
