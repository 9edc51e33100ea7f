/* The JSON API of `sluice serve` (web/API.md): the application state every handler reads
 * (struct web_app, the server's app pointer), the handlers (one file per resource,
 * web/api_*.c) and the helpers they share. */
#ifndef SLUICE_WEB_API_H
#define SLUICE_WEB_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "scheduler/engine.h"
#include "store/store.h"
#include "web/server.h"

struct web_events; /* web/api_events.c: SSE subscribers, audit poll, log tails */
struct schedule;   /* scheduler/schedule.c: the pipelines' cron schedules */

struct web_app {
    struct store *st;
    struct engine *eng;        /* NULL when nothing is driven here (handler tests) */
    struct engine_opts run_opts; /* options of the runs started here */
    char *home;                /* the workspace, absolute */
    char *dags;                /* --dags DIR, absolute */
    struct http_server *srv;
    struct web_events *events;
    struct schedule *sched;
    unsigned ticks;            /* of the timer */
    void *timer;               /* web/app.c's uv_timer_t: events and schedules */
    json_t *spec_cache;        /* pipeline version -> facts of its steps (web/api_run.c) */
    bool stopping;
};

/* The whole route table (API, then the page's static routes). */
extern const struct http_route web_routes[];
extern const size_t web_nroutes;

/* ---- helpers (web/api_util.c) ---- */

/* Answer doc (consumed) as JSON with status; reals printed exactly. Returns 0. */
int api_json(struct http_resp *resp, int status, json_t *doc);
/* Answer an error: 404 when e->code is STORE_NOT_FOUND, else 500 with e's message. Returns 0. */
int api_store_error(struct http_resp *resp, const struct err *e);
/* A positive id from a path parameter or query value; -1 when it is not one. */
int64_t api_parse_id(const char *s);
/* A query parameter as a number in [min, max]; dflt when absent; -1 (and a 400 answered in
 * resp) when malformed. */
int api_query_int(struct http_req *req, struct http_resp *resp, const char *name, int64_t min,
                  int64_t max, int64_t dflt, int64_t *out);
/* The request body as a JSON object ({} when empty); NULL with a 400 answered when it is not
 * one. */
json_t *api_body_object(struct http_req *req, struct http_resp *resp);
/* Text made valid UTF-8 (invalid bytes become U+FFFD), as a JSON string. */
json_t *api_utf8_string(const char *s, size_t len);

/* ---- logs (web/api_logs.c) ---- */

struct api_log {
    int attempt; /* 0: the step has no attempt yet */
    char *path;  /* its log file (NULL when no attempt); caller frees */
    bool ended;  /* the attempt has ended: the log grows no more */
};
/* Find the log of a step's attempt (attempt 0 = the newest). 0, or -1 with e set
 * (STORE_NOT_FOUND for an unknown step or attempt). */
int api_log_locate(struct store *st, int64_t run_id, const char *step, int attempt,
                   struct api_log *out, struct err *e);
/* Append at most limit bytes of path from offset (negative: from the end) to out; *size is
 * the file's size, *start the offset actually read from. A missing file reads as empty.
 * A UTF-8 character cut at the end is left for the next read, unless final (the file grows no
 * more) and the read reached its end. 0, or -1 when it cannot be read. */
int api_log_read(const char *path, int64_t offset, size_t limit, bool final,
                 struct strbuf *out, int64_t *size, int64_t *start);

/* The lineage document of REF (web/api_lineage.c); NULL with e set. */
json_t *api_lineage_doc(struct web_app *app, const char *ref, struct err *e);

/* ---- handlers ---- */

/* Each fills resp and returns 0 (web/API.md says what they answer). */
int api_runs(struct http_req *req, struct http_resp *resp);             /* api_runs.c */
int api_session(struct http_req *req, struct http_resp *resp);          /* api_run.c */
int api_run(struct http_req *req, struct http_resp *resp);
int api_run_events(struct http_req *req, struct http_resp *resp);
int api_run_dag(struct http_req *req, struct http_resp *resp);          /* dag.c */
int api_log(struct http_req *req, struct http_resp *resp);              /* api_logs.c */
int api_compare(struct http_req *req, struct http_resp *resp);          /* api_compare.c */
int api_models(struct http_req *req, struct http_resp *resp);           /* api_models.c */
int api_model(struct http_req *req, struct http_resp *resp);
int api_catalog(struct http_req *req, struct http_resp *resp);          /* api_catalog.c */
int api_catalog_table(struct http_req *req, struct http_resp *resp);
int api_lineage(struct http_req *req, struct http_resp *resp);          /* api_lineage.c */
int api_lineage_svg(struct http_req *req, struct http_resp *resp);      /* dag.c */
int api_pipelines(struct http_req *req, struct http_resp *resp);        /* api_pipelines.c */
int api_pipeline(struct http_req *req, struct http_resp *resp);
int api_pipeline_svg(struct http_req *req, struct http_resp *resp);     /* dag.c */
int api_artifact(struct http_req *req, struct http_resp *resp);         /* api_artifacts.c */
int api_events(struct http_req *req, struct http_resp *resp);           /* api_events.c */
int api_trigger(struct http_req *req, struct http_resp *resp);          /* api_mutations.c */
int api_approve(struct http_req *req, struct http_resp *resp);
int api_reject(struct http_req *req, struct http_resp *resp);
int api_cancel(struct http_req *req, struct http_resp *resp);
int api_retry(struct http_req *req, struct http_resp *resp);
int api_rollback(struct http_req *req, struct http_resp *resp);        /* api_mutations.c */

/* ---- events (web/api_events.c) ---- */

struct web_events *web_events_new(struct web_app *app);
void web_events_free(struct web_events *ev); /* NULL is fine */
/* Called every 500 ms: new log bytes to the streams that follow a log; every other call, new
 * rows of the audit trail to every stream. */
void web_events_tick(struct web_events *ev);
/* The engine's listener (data = the app): broadcast run and step changes. */
void web_events_engine_cb(void *data, const struct engine_event *ev);

#endif
