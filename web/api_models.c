/* GET /api/models — the registry, exactly `sluice models --json`; GET /api/models/NAME — one
 * model's versions with approvals and deployments, and which version is the champion. */
#include <stdlib.h>
#include <string.h>

#include "store/doc.h"
#include "store/registry.h"
#include "util/xalloc.h"
#include "web/api.h"

int api_models(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    struct model_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_model_list(app->st, NULL, &rows, &n, &e) < 0)
        return api_store_error(resp, &e);
    json_t *doc = doc_models_json(app->st, rows, n, NULL, 0, false);
    model_rows_free(rows, n);
    return api_json(resp, 200, doc);
}

int api_model(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    const char *name = req->params[0];
    struct model_row *rows = NULL;
    struct deployment_row *deps = NULL;
    size_t n = 0, ndeps = 0;
    struct err e = ERR_INIT;
    if (store_model_list(app->st, name, &rows, &n, &e) < 0 ||
        store_deployments_list(app->st, name, &deps, &ndeps, &e) < 0) {
        model_rows_free(rows, n);
        return api_store_error(resp, &e);
    }
    if (!n) {
        deployment_rows_free(deps, ndeps);
        http_resp_error(resp, 404, "no such model");
        return 0;
    }
    json_t *champion = json_null();
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].status, "deployed")) {
            json_decref(champion);
            champion = json_integer(rows[i].version);
            break;
        }
    json_t *doc = json_object();
    json_object_set_new(doc, "name", api_utf8_string(name, strlen(name)));
    json_object_set_new(doc, "champion", champion);
    json_object_set_new(doc, "versions", doc_models_json(app->st, rows, n, deps, ndeps, true));
    model_rows_free(rows, n);
    deployment_rows_free(deps, ndeps);
    return api_json(resp, 200, doc);
}
