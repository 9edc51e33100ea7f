/* GET /api/compare?runs=1,2,3: parameters and metrics of runs side by side, exactly
 * `sluice compare --json`. */
#include <stdlib.h>
#include <string.h>

#include "store/doc.h"
#include "util/xalloc.h"
#include "web/api.h"

#define COMPARE_MAX_RUNS 20

int api_compare(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    char *list = http_req_query(req, "runs");
    int64_t ids[COMPARE_MAX_RUNS];
    size_t n = 0;
    bool bad = !list;
    for (char *p = list, *save = NULL, *tok; !bad && (tok = strtok_r(p, ",", &save)); p = NULL) {
        int64_t id = api_parse_id(tok);
        if (id < 0 || n == COMPARE_MAX_RUNS)
            bad = true;
        else
            ids[n++] = id;
    }
    free(list);
    if (bad || n < 2) {
        http_resp_error(resp, 400, "'runs' must list 2 to 20 run ids, e.g. runs=3,4");
        return 0;
    }
    struct doc_compare c;
    struct err e = ERR_INIT;
    if (doc_compare_load(app->st, ids, n, &c, &e) < 0) {
        doc_compare_release(&c);
        return api_store_error(resp, &e);
    }
    json_t *doc = doc_compare_json(&c);
    doc_compare_release(&c);
    return api_json(resp, 200, doc);
}
