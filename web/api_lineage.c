/* GET /api/lineage/REF: where an artifact (or a model version's artifact) came from and where
 * it went, exactly `sluice lineage --json`, plus the deployments of the model versions that
 * are this artifact. */
#include <string.h>

#include "store/doc.h"
#include "store/registry.h"
#include "web/api.h"

/* The deployments of every model version whose artifact is digest. */
static json_t *deployments_of(struct store *st, const char *digest)
{
    json_t *out = json_array();
    struct model_row *models = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_model_list(st, NULL, &models, &n, &e) < 0)
        return out;
    for (size_t i = 0; i < n; i++) {
        if (!models[i].digest || !digest || strcmp(models[i].digest, digest))
            continue;
        struct deployment_row *d = NULL;
        size_t nd = 0;
        if (store_deployments_list(st, models[i].name, &d, &nd, &e) < 0)
            continue;
        for (size_t k = 0; k < nd; k++) {
            if (d[k].model_id != models[i].id)
                continue;
            json_array_append_new(
                out, json_pack("{s:s, s:i, s:s, s:o, s:s, s:o, s:o}", "name", d[k].name,
                               "version", d[k].version, "target", d[k].target, "slot",
                               doc_str_or_null(d[k].slot), "status", d[k].status, "run",
                               d[k].run_id ? json_integer(d[k].run_id) : json_null(), "at",
                               doc_time(d[k].at)));
        }
        deployment_rows_free(d, nd);
    }
    model_rows_free(models, n);
    return out;
}

json_t *api_lineage_doc(struct web_app *app, const char *ref, struct err *e)
{
    json_t *doc = doc_lineage(app->st, ref, e);
    if (doc) {
        json_t *art = json_object_get(doc, "artifact");
        const char *digest = json_string_value(json_object_get(art, "sha256"));
        json_object_set_new(doc, "deployments", deployments_of(app->st, digest));
    }
    return doc;
}

int api_lineage(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    struct err e = ERR_INIT;
    json_t *doc = api_lineage_doc(app, req->params[0], &e);
    if (!doc) {
        /* a malformed MODEL:VERSION is the client's mistake, not the store's */
        http_resp_error(resp, e.code == STORE_NOT_FOUND ? 404 : e.code == -1 ? 400 : 500,
                        e.msg);
        return 0;
    }
    return api_json(resp, 200, doc);
}
