/* GET /api/pipelines — the pipelines of the --dags folder with their parameters, schedule
 * and last run; GET /api/pipelines/NAME — one of them with its YAML text. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/load.h"
#include "scheduler/trigger.h"
#include "store/doc.h"
#include "util/xalloc.h"
#include "web/api.h"

static json_t *last_run(struct store *st, const char *name)
{
    struct run_filter f = {.pipeline = name, .status = -1, .limit = 1};
    struct run_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_run_list(st, &f, &rows, &n, &e) < 0 || !n) {
        run_rows_free(rows, n);
        return json_null();
    }
    json_t *o = json_pack("{s:I, s:s, s:o}", "id", (json_int_t)rows[0].id, "status",
                          run_status_name(rows[0].status), "created_at",
                          doc_time(rows[0].created_at));
    run_rows_free(rows, n);
    return o;
}

/* One file: its pipeline's facts, or its first error. with_text adds the YAML. */
static json_t *describe(struct web_app *app, const char *path, bool with_text,
                        const char *only_name)
{
    struct diag_list diags = DIAG_LIST_INIT;
    char *text = NULL;
    size_t len = 0;
    struct pipeline *p = pipeline_load(path, &diags, &text, &len);
    json_t *o = NULL;
    if (!p) {
        if (!only_name) {
            const char *base = strrchr(path, '/');
            char *msg = diags.n ? xasprintf("%d:%d: %s", diags.items[0].line,
                                            diags.items[0].col, diags.items[0].msg)
                                : xstrdup("cannot be read");
            o = json_object();
            json_object_set_new(o, "name", api_utf8_string(base ? base + 1 : path,
                                                           strlen(base ? base + 1 : path)));
            json_object_set_new(o, "file", api_utf8_string(path, strlen(path)));
            json_object_set_new(o, "error", api_utf8_string(msg, strlen(msg)));
            free(msg);
        }
        diag_list_release(&diags);
        free(text);
        return o;
    }
    diag_list_release(&diags);
    free(text);
    if (only_name && strcmp(p->name, only_name)) {
        pipeline_free(p);
        return NULL;
    }
    o = json_object();
    json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "file", api_utf8_string(path, strlen(path)));
    json_object_set_new(o, "description",
                        p->description ? api_utf8_string(p->description, strlen(p->description))
                                       : json_null());
    json_object_set_new(o, "schedule", p->schedule ? json_string(p->schedule) : json_null());
    time_t next = p->schedule ? cron_next(&p->cron, time(NULL)) : (time_t)-1;
    json_object_set_new(o, "next_fire", next == (time_t)-1 ? json_null()
                                                           : doc_time((int64_t)next * 1000));
    json_t *params = json_object(), *steps = json_array();
    for (size_t i = 0; i < p->nparams; i++)
        json_object_set_new(params, p->params[i].name, doc_param(p->params[i].value));
    for (size_t i = 0; i < p->nsteps; i++)
        json_array_append_new(steps, json_string(p->steps[i].name));
    json_object_set_new(o, "params", params);
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "last_run", last_run(app->st, p->name));
    json_object_set_new(o, "error", json_null());
    if (with_text)
        json_object_set_new(o, "yaml", api_utf8_string(p->text, p->text_len));
    pipeline_free(p);
    return o;
}

int api_pipelines(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    char **paths;
    struct err e = ERR_INIT;
    if (trigger_list_files(app->dags, &paths, &e) < 0)
        return api_json(resp, 200, json_array()); /* no folder: no pipelines */
    json_t *a = json_array();
    for (char **p = paths; *p; p++) {
        json_t *o = describe(app, *p, false, NULL);
        if (o)
            json_array_append_new(a, o);
    }
    trigger_paths_free(paths);
    return api_json(resp, 200, a);
}

int api_pipeline(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    char **paths;
    struct err e = ERR_INIT;
    if (trigger_list_files(app->dags, &paths, &e) < 0) {
        http_resp_error(resp, 404, "no such pipeline");
        return 0;
    }
    json_t *found = NULL;
    for (char **p = paths; *p && !found; p++)
        found = describe(app, *p, true, req->params[0]);
    trigger_paths_free(paths);
    if (!found) {
        http_resp_error(resp, 404, "no such pipeline");
        return 0;
    }
    return api_json(resp, 200, found);
}
