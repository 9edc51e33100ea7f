/* `sluice serve`: the route table, the server on the engine's loop, one timer that feeds the
 * SSE streams and checks the pipelines' cron schedules (scheduler/schedule.c). */
#include <stdlib.h>
#include <time.h>
#include <uv.h>

#include "scheduler/schedule.h"
#include "util/xalloc.h"
#include "web/api.h"
#include "web/app.h"
#include "web/static.h"

#define TICK_MS 500
#define SCHED_EVERY 2 /* ticks between schedule checks (1 s) */

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

/* ---- the app ---- */

static void on_tick(uv_timer_t *t)
{
    struct web_app *app = t->data;
    if (app->stopping)
        return;
    web_events_tick(app->events);
    if (app->ticks++ % SCHED_EVERY == 0)
        schedule_check(app->sched, app->st, app->eng, &app->run_opts, time(NULL));
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
    app->sched = schedule_new(app->dags);
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
    schedule_free(app->sched);
    json_decref(app->spec_cache);
    free(app->home);
    free(app->dags);
    free(app);
}
