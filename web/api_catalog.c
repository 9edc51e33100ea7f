/* GET /api/catalog — every table's newest version, exactly `sluice catalog --json`;
 * GET /api/catalog/TABLE — its versions with schema diffs and the full schema.json of each
 * (column statistics and quality-rule results). */
#include <string.h>

#include "executor/doc_catalog.h"
#include "store/doc.h"
#include "store/registry.h"
#include "web/api.h"

int api_catalog(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    struct catalog_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_catalog_list(app->st, NULL, &rows, &n, &e) < 0)
        return api_store_error(resp, &e);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, doc_catalog_version(&rows[i], true));
    catalog_rows_free(rows, n);
    return api_json(resp, 200, a);
}

int api_catalog_table(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    const char *table = req->params[0];
    struct catalog_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_catalog_list(app->st, table, &rows, &n, &e) < 0)
        return api_store_error(resp, &e);
    if (!n) {
        http_resp_error(resp, 404, "no such table");
        return 0;
    }
    json_t *doc = doc_catalog_table_json(rows[0].name, rows, n, true);
    catalog_rows_free(rows, n);
    return api_json(resp, 200, doc);
}
