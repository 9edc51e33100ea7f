/* GET /api/runs/ID — `sluice show --json` plus what only the page shows: each step's direct
 * upstream steps (for the DAG and the Gantt chart), its cache use and why it missed, the
 * approvals waiting; GET /api/runs/ID/events — the run's audit trail; GET /api/session. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/graph.h"
#include "pipeline/load.h"
#include "store/doc.h"
#include "util/version.h"
#include "util/xalloc.h"
#include "web/api.h"

#define SPEC_CACHE_MAX 64
#define RUN_EVENTS_MAX 1000

int api_session(struct http_req *req, struct http_resp *resp)
{
    return api_json(resp, 200,
                    json_pack("{s:b, s:s}", "authed", req->authed, "version", SLUICE_VERSION));
}

/* {"needs": {STEP: [names]}, "cache": {STEP: bool}} of a pipeline text, or NULL when it no
 * longer loads. Kept per pipeline version: a run's snapshot never changes. */
static json_t *spec_facts(struct web_app *app, const struct run_row *r)
{
    if (!r->version || !r->yaml)
        return NULL;
    json_t *hit = json_object_get(app->spec_cache, r->version);
    if (hit)
        return hit;
    struct diag_list diags = DIAG_LIST_INIT;
    struct pipeline *p =
        pipeline_load_text(r->path ? r->path : "pipeline.yaml", r->yaml, strlen(r->yaml), &diags);
    diag_list_release(&diags);
    if (!p)
        return NULL;
    struct graph g;
    struct diag_list gd = DIAG_LIST_INIT;
    json_t *facts = NULL;
    if (graph_build(&g, p, &gd) == 0) {
        json_t *needs = json_object(), *cache = json_object();
        for (size_t i = 0; i < p->nsteps; i++) {
            json_t *a = json_array();
            for (size_t k = 0; k < g.nodes[i].ndeps; k++)
                json_array_append_new(a, json_string(p->steps[g.nodes[i].deps[k]].name));
            json_object_set_new(needs, p->steps[i].name, a);
            json_object_set_new(cache, p->steps[i].name, json_boolean(p->steps[i].cache));
        }
        facts = json_pack("{s:o, s:o}", "needs", needs, "cache", cache);
        graph_release(&g);
    }
    diag_list_release(&gd);
    pipeline_free(p);
    if (!facts)
        return NULL;
    if (json_object_size(app->spec_cache) >= SPEC_CACHE_MAX)
        json_object_clear(app->spec_cache);
    json_object_set_new(app->spec_cache, r->version, facts);
    return facts;
}

/* The run a cache record's attempt reused, 0 when unknown. */
static int64_t hit_run(struct store *st, const struct doc_step_view *s)
{
    for (size_t i = 0; i < s->natt; i++) {
        if (s->att[i].n != 0 || !s->att[i].cached_from)
            continue;
        int64_t run = 0;
        char *step = NULL;
        struct err e = ERR_INIT;
        if (store_attempt_origin(st, s->att[i].cached_from, &run, &step, &e) == 0) {
            free(step);
            return run;
        }
    }
    return 0;
}

/* The last "cache miss: …" event of each step. */
static json_t *miss_reasons(struct store *st, int64_t run_id)
{
    json_t *m = json_object();
    struct event_row *ev = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_events_load(st, run_id, 0, 0, &ev, &n, &e) < 0)
        return m;
    static const char prefix[] = "cache miss: ";
    for (size_t i = 0; i < n; i++) {
        if (!ev[i].step || strcmp(ev[i].what, "cache") || !ev[i].detail)
            continue;
        const char *d = ev[i].detail;
        bool miss = !strncmp(d, prefix, sizeof(prefix) - 1);
        json_object_set_new(m, ev[i].step, miss ? json_string(d + sizeof(prefix) - 1)
                                                : json_string(d));
    }
    event_rows_free(ev, n);
    return m;
}

int api_run(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    int64_t id = api_parse_id(req->params[0]);
    if (id < 0) {
        http_resp_error(resp, 404, "not found");
        return 0;
    }
    struct doc_run_view v;
    struct err e = ERR_INIT;
    if (doc_run_view_load(app->st, id, &v, &e) < 0)
        return api_store_error(resp, &e);
    json_t *doc = doc_run_json(&v);
    json_t *facts = spec_facts(app, &v.run);
    json_t *needs = json_object_get(facts, "needs"), *cache_on = json_object_get(facts, "cache");
    json_t *misses = miss_reasons(app->st, id);
    json_t *steps = json_object_get(doc, "steps");
    json_t *waiting = json_array();
    for (size_t i = 0; i < v.nsteps; i++) {
        const struct doc_step_view *s = &v.sv[i];
        json_t *o = json_array_get(steps, i);
        const char *name = s->row->name;
        json_t *nd = json_object_get(needs, name);
        json_object_set_new(o, "needs", nd ? json_incref(nd) : json_array());
        bool enabled = json_is_true(json_object_get(cache_on, name));
        int64_t from = s->row->cached ? hit_run(app->st, s) : 0;
        json_t *miss = json_object_get(misses, name);
        bool missed = enabled && !s->row->cached && miss && s->row->status != STEP_PENDING;
        json_object_set_new(o, "cache",
                            json_pack("{s:b, s:o, s:o, s:o}", "enabled", enabled, "key",
                                      doc_str_or_null(s->row->cache_key), "hit_from_run",
                                      from ? json_integer(from) : json_null(), "miss",
                                      missed ? json_incref(miss) : json_null()));
        if (s->row->status == STEP_WAITING)
            json_array_append_new(waiting, json_string(name));
    }
    json_object_set_new(doc, "pending_approvals", waiting);
    json_object_set_new(doc, "cancel_requested", json_boolean(v.run.cancel_requested));
    json_decref(misses);
    doc_run_view_release(&v);
    return api_json(resp, 200, doc);
}

int api_run_events(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    int64_t id = api_parse_id(req->params[0]), after;
    if (id < 0) {
        http_resp_error(resp, 404, "not found");
        return 0;
    }
    if (api_query_int(req, resp, "after", 0, INT64_MAX, 0, &after) < 0)
        return 0;
    struct run_row r;
    struct err e = ERR_INIT;
    if (store_run_get(app->st, id, &r, &e) < 0)
        return api_store_error(resp, &e);
    run_row_release(&r);
    struct event_row *ev = NULL;
    size_t n = 0;
    if (store_events_load(app->st, id, after, RUN_EVENTS_MAX, &ev, &n, &e) < 0)
        return api_store_error(resp, &e);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:I, s:o, s:o, s:o, s:o}", "id",
                                           (json_int_t)ev[i].id, "step",
                                           doc_str_or_null(ev[i].step), "what",
                                           doc_str_or_null(ev[i].what),
                                           "detail", doc_str_or_null(ev[i].detail), "at",
                                           doc_time(ev[i].at)));
    event_rows_free(ev, n);
    return api_json(resp, 200, json_pack("{s:o}", "events", a));
}
