/* `sluice serve`: the route table, the server on the engine's loop, one timer that feeds the
 * SSE streams and fires the pipelines' cron schedules (no catch-up of fires missed while the
 * server was down: the next fire is always computed from now). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "pipeline/load.h"
#include "scheduler/trigger.h"
#include "util/xalloc.h"
#include "web/api.h"
#include "web/app.h"
#include "web/static.h"

#define TICK_MS 500
#define SCHED_EVERY 2   /* ticks between schedule checks (1 s) */
#define SCHED_RELOAD 10 /* schedule checks between re-reads of the pipelines (10 s) */

const struct http_route web_routes[] = {
    {"GET", "/api/session", api_session, 0},
    {"GET", "/api/runs", api_runs, 0},
    {"GET", "/api/runs/:id", api_run, 0},
    {"GET", "/api/runs/:id/dag.svg", api_run_dag, 0},
    {"GET", "/api/runs/:id/events", api_run_events, 0},
    {"GET", "/api/runs/:id/steps/:step/log", api_log, 0},
    {"POST", "/api/runs/:id/approve", api_approve, HTTP_ROUTE_MUTATION},
    {"POST", "/api/runs/:id/reject", api_reject, HTTP_ROUTE_MUTATION},
    {"POST", "/api/runs/:id/cancel", api_cancel, HTTP_ROUTE_MUTATION},
    {"POST", "/api/runs/:id/retry", api_retry, HTTP_ROUTE_MUTATION},
    {"GET", "/api/compare", api_compare, 0},
    {"GET", "/api/models", api_models, 0},
    {"GET", "/api/models/:name", api_model, 0},
    {"POST", "/api/models/:name/rollback", api_rollback, HTTP_ROUTE_MUTATION},
    {"GET", "/api/catalog", api_catalog, 0},
    {"GET", "/api/catalog/:table", api_catalog_table, 0},
    {"GET", "/api/lineage/:ref", api_lineage, 0},
    {"GET", "/api/lineage/:ref/graph.svg", api_lineage_svg, 0},
    {"GET", "/api/pipelines", api_pipelines, 0},
    {"GET", "/api/pipelines/:name", api_pipeline, 0},
    {"GET", "/api/pipelines/:name/graph.svg", api_pipeline_svg, 0},
    {"POST", "/api/pipelines/:name/runs", api_trigger, HTTP_ROUTE_MUTATION},
    {"GET", "/api/artifacts/:sha", api_artifact, 0},
    {"GET", "/api/events", api_events, 0},
    STATIC_ROUTES,
};
const size_t web_nroutes = sizeof(web_routes) / sizeof(web_routes[0]);

/* ---- schedules ---- */

struct sched_entry {
    char *name;
    char *expr;      /* the schedule as written, to notice a change */
    struct cron cron;
    time_t next;     /* the next fire; (time_t)-1 = never */
};

struct web_sched {
    struct sched_entry *e;
    size_t n, alloc;
    unsigned ticks;  /* timer ticks */
    unsigned checks; /* schedule checks */
};

static void sched_free(struct web_sched *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->e[i].name);
        free(s->e[i].expr);
    }
    free(s->e);
    free(s);
}

static struct sched_entry *sched_find(struct web_sched *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].name, name))
            return &s->e[i];
    return NULL;
}

/* Re-read which pipelines have a schedule; a fire already computed is kept while the
 * schedule stays the same. */
static void sched_reload(struct web_app *app, time_t now)
{
    struct web_sched *s = app->sched;
    struct web_sched fresh = {0};
    char **paths;
    struct err e = ERR_INIT;
    if (trigger_list_files(app->dags, &paths, &e) < 0)
        return;
    for (char **p = paths; *p; p++) {
        struct diag_list diags = DIAG_LIST_INIT;
        struct pipeline *pl = pipeline_load(*p, &diags, NULL, NULL);
        diag_list_release(&diags);
        if (!pl || !pl->schedule || sched_find(&fresh, pl->name)) {
            pipeline_free(pl);
            continue;
        }
        XGROW(fresh.e, fresh.alloc, fresh.n + 1);
        struct sched_entry *en = &fresh.e[fresh.n++];
        en->name = xstrdup(pl->name);
        en->expr = xstrdup(pl->schedule);
        en->cron = pl->cron;
        struct sched_entry *old = sched_find(s, pl->name);
        en->next = old && !strcmp(old->expr, pl->schedule) ? old->next : cron_next(&pl->cron, now);
        pipeline_free(pl);
    }
    trigger_paths_free(paths);
    for (size_t i = 0; i < s->n; i++) {
        free(s->e[i].name);
        free(s->e[i].expr);
    }
    free(s->e);
    s->e = fresh.e;
    s->n = fresh.n;
    s->alloc = fresh.alloc;
}

static void sched_fire(struct web_app *app, const char *name, time_t at)
{
    struct err e = ERR_INIT;
    struct pipeline *p = trigger_find_pipeline(app->dags, name, &e);
    int64_t id = 0;
    /* Another server watching the same workspace may have fired it: then it is that one's. */
    if (p && trigger_scheduled(app->st, p, (int64_t)at, &app->run_opts, &id, &e) == 0 &&
        app->eng && !app->stopping)
        engine_add_run(app->eng, id, &app->run_opts, &e);
    pipeline_free(p);
}

static void sched_tick(struct web_app *app)
{
    struct web_sched *s = app->sched;
    time_t now = time(NULL);
    if (s->checks++ % SCHED_RELOAD == 0)
        sched_reload(app, now);
    for (size_t i = 0; i < s->n; i++) {
        struct sched_entry *en = &s->e[i];
        if (en->next == (time_t)-1 || now < en->next)
            continue;
        time_t at = en->next;
        en->next = cron_next(&en->cron, now);
        sched_fire(app, en->name, at);
    }
}

/* ---- the app ---- */

static void on_tick(uv_timer_t *t)
{
    struct web_app *app = t->data;
    if (app->stopping)
        return;
    web_events_tick(app->events);
    if (app->sched->ticks++ % SCHED_EVERY == 0)
        sched_tick(app);
}

static void on_engine_stop(void *data)
{
    web_app_stop(data);
}

struct web_app *web_app_start(struct store *st, struct engine *eng,
                              const struct web_app_config *cfg, struct err *e)
{
    struct web_app *app = xcalloc(1, sizeof(*app));
    app->st = st;
    app->eng = eng;
    app->home = xstrdup(store_home(st));
    app->dags = xstrdup(cfg->dags);
    app->spec_cache = json_object();
    app->run_opts.parallel = cfg->parallel;
    struct http_server_config hc = {.host = cfg->host, .port = cfg->port, .token = cfg->token};
    app->srv = http_server_new(engine_uv_loop(eng), &hc, web_routes, web_nroutes, app, e);
    if (!app->srv) {
        web_app_free(app);
        return NULL;
    }
    app->events = web_events_new(app);
    app->sched = xcalloc(1, sizeof(*app->sched));
    uv_timer_t *t = xcalloc(1, sizeof(*t));
    uv_timer_init(engine_uv_loop(eng), t);
    t->data = app;
    uv_timer_start(t, on_tick, TICK_MS, TICK_MS);
    app->timer = t;
    engine_set_serve(eng, on_engine_stop, app);
    engine_set_listener(eng, web_events_engine_cb, app);
    return app;
}

int web_app_port(const struct web_app *app)
{
    return http_server_port(app->srv);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

void web_app_stop(struct web_app *app)
{
    if (app->stopping)
        return;
    app->stopping = true;
    if (app->timer) {
        uv_close(app->timer, on_timer_closed);
        app->timer = NULL;
    }
    if (app->srv) {
        http_server_close(app->srv, NULL, NULL);
        app->srv = NULL;
    }
}

void web_app_free(struct web_app *app)
{
    if (!app)
        return;
    web_events_free(app->events);
    sched_free(app->sched);
    json_decref(app->spec_cache);
    free(app->home);
    free(app->dags);
    free(app);
}
