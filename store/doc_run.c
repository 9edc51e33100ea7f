/* The documents of one run (`sluice show --json`, /api/runs/ID), loaded from the store in five
 * queries, and of the runs list (`sluice runs --json`, /api/runs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/doc.h"
#include "util/xalloc.h"

void doc_run_view_release(struct doc_run_view *v)
{
    run_row_release(&v->run);
    step_rows_free(v->steps, v->nsteps);
    attempt_rows_free(v->att, v->natt);
    metric_rows_free(v->met, v->nmet);
    artifact_rows_free(v->outs, v->nouts);
    free(v->sv);
    memset(v, 0, sizeof(*v));
}

bool doc_attempt_ok(const struct attempt_row *a)
{
    return a->status && (!strcmp(a->status, "succeeded") || !strcmp(a->status, "cached"));
}

struct doc_queue doc_attempt_queue(const struct attempt_row *a, int64_t now)
{
    struct doc_queue q = {0};
    q.batch = a->executor && strcmp(a->executor, "local") != 0;
    if (!q.batch) {
        q.started = true;
        return q;
    }
    q.queued = a->queued_at > 0;
    /* until the job starts, started_at is when the attempt was recorded, before sbatch */
    bool pending = a->job_state && !strcmp(a->job_state, "PENDING");
    q.started = q.queued && a->started_at >= a->queued_at && !pending;
    q.waiting = q.queued && !q.started && !a->ended_at;
    if (q.queued) {
        int64_t until = q.started ? a->started_at : a->ended_at ? a->ended_at : now;
        q.ms = until > a->queued_at ? until - a->queued_at : 0;
    }
    return q;
}

static void view_slice(struct doc_run_view *v, struct doc_step_view *s)
{
    size_t i = 0;
    while (i < v->natt && v->att[i].step_id != s->row->id)
        i++;
    s->att = v->att ? &v->att[i] : NULL;
    while (i + s->natt < v->natt && v->att[i + s->natt].step_id == s->row->id)
        s->natt++;
    for (size_t k = 0; k < s->natt; k++)
        if (doc_attempt_ok(&s->att[k]))
            s->final = &s->att[k];
    i = 0;
    while (i < v->nmet && strcmp(v->met[i].step, s->row->name))
        i++;
    s->met = v->met ? &v->met[i] : NULL;
    while (i + s->nmet < v->nmet && !strcmp(v->met[i + s->nmet].step, s->row->name))
        s->nmet++;
    if (!s->final)
        return;
    i = 0;
    while (i < v->nouts && v->outs[i].attempt_id != s->final->id)
        i++;
    s->out = v->outs ? &v->outs[i] : NULL;
    while (i + s->nout < v->nouts && v->outs[i + s->nout].attempt_id == s->final->id)
        s->nout++;
}

int doc_run_view_load(struct store *st, int64_t run_id, struct doc_run_view *v, struct err *e)
{
    memset(v, 0, sizeof(*v));
    if (store_run_get(st, run_id, &v->run, e) < 0)
        return -1;
    if (store_steps_load(st, run_id, &v->steps, &v->nsteps, e) < 0 ||
        store_run_attempts_load(st, run_id, &v->att, &v->natt, e) < 0 ||
        store_metrics_load(st, run_id, NULL, &v->met, &v->nmet, e) < 0 ||
        store_run_io_list(st, run_id, "out", &v->outs, &v->nouts, e) < 0) {
        doc_run_view_release(v);
        return -1;
    }
    v->sv = xcalloc(v->nsteps ? v->nsteps : 1, sizeof(*v->sv));
    for (size_t i = 0; i < v->nsteps; i++) {
        v->sv[i].row = &v->steps[i];
        view_slice(v, &v->sv[i]);
    }
    return 0;
}

/* A step's metrics: {name: number} for scalars (idx -1), {name: [numbers]} for series. */
static json_t *json_metrics(const struct metric_row *m, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && !strcmp(m[j].name, m[i].name))
            j++;
        if (j == i + 1 && m[i].idx < 0) {
            json_object_set_new(o, m[i].name, doc_number(m[i].value));
        } else {
            json_t *a = json_array();
            for (size_t k = i; k < j; k++)
                if (m[k].idx >= 0)
                    json_array_append_new(a, doc_number(m[k].value));
            json_object_set_new(o, m[i].name, a);
        }
        i = j;
    }
    return o;
}

/* Attempts with n = 0 are listed too: they are the records of cache hits (status "cached",
 * cached_from = the attempt whose outputs were reused), which is what lineage follows. A batch
 * job's started_at is null until it leaves its queue (the store holds the record time). */
static json_t *json_attempt(const struct attempt_row *a, int64_t now)
{
    struct doc_queue q = doc_attempt_queue(a, now);
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer(a->n));
    json_object_set_new(o, "status", json_string(a->status ? a->status : ""));
    json_object_set_new(o, "exit", a->exit_code >= 0 ? json_integer(a->exit_code) : json_null());
    json_object_set_new(o, "signal", json_integer(a->signal));
    json_object_set_new(o, "started_at", q.started ? doc_time(a->started_at) : json_null());
    json_object_set_new(o, "ended_at", doc_time(a->ended_at));
    /* rusage has microseconds; rounding keeps the printed value short */
    json_object_set_new(o, "cpu_s", json_real(round(a->cpu_s * 1e6) / 1e6));
    json_object_set_new(o, "max_rss_kb", json_integer(a->max_rss_kb));
    json_object_set_new(o, "cached_from",
                        a->cached_from ? json_integer(a->cached_from) : json_null());
    json_t *log = a->dir && *a->dir ? json_sprintf("%s/log", a->dir) : json_null();
    json_object_set_new(o, "log", log);
    json_object_set_new(o, "executor", json_string(a->executor ? a->executor : "local"));
    json_object_set_new(o, "job_id", doc_str_or_null(a->job_id));
    json_object_set_new(o, "node", doc_str_or_null(a->node));
    json_object_set_new(o, "queued_at", doc_time(a->queued_at));
    /* milliseconds, as the ISO times have only seconds: a wait is often well under one */
    json_object_set_new(o, "queue_s", q.queued ? json_real((double)q.ms / 1000) : json_null());
    json_object_set_new(o, "job_state", doc_str_or_null(a->job_state));
    json_object_set_new(o, "job_reason", doc_str_or_null(a->job_reason));
    return o;
}

static json_t *json_step(const struct doc_step_view *s, int64_t now)
{
    const struct step_row *r = s->row;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "kind", json_string(r->kind ? r->kind : ""));
    json_object_set_new(o, "status", json_string(step_status_name(r->status)));
    json_object_set_new(o, "cached", json_boolean(r->cached));
    json_object_set_new(o, "message", doc_str_or_null(r->message));
    json_object_set_new(o, "started_at", doc_time(r->started_at));
    json_object_set_new(o, "ended_at", doc_time(r->ended_at));
    json_t *att = json_array();
    for (size_t i = 0; i < s->natt; i++)
        json_array_append_new(att, json_attempt(&s->att[i], now));
    json_object_set_new(o, "attempts", att);
    json_object_set_new(o, "metrics", json_metrics(s->met, s->nmet));
    json_t *outs = json_array();
    for (size_t i = 0; i < s->nout; i++) {
        const struct artifact_row *a = &s->out[i];
        json_array_append_new(outs, json_pack("{s:s, s:s, s:I, s:s}", "name",
                                              a->name ? a->name : "", "sha256", a->digest, "size",
                                              (json_int_t)a->size, "kind", a->kind ? a->kind : ""));
    }
    json_object_set_new(o, "outputs", outs);
    return o;
}

json_t *doc_run_json(const struct doc_run_view *v)
{
    const struct run_row *r = &v->run;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "pipeline", json_string(r->pipeline ? r->pipeline : ""));
    json_object_set_new(o, "status", json_string(run_status_name(r->status)));
    json_object_set_new(o, "message", doc_str_or_null(r->message));
    json_object_set_new(o, "trigger", json_string(r->trigger ? r->trigger : ""));
    json_object_set_new(o, "parent_run", r->parent_run ? json_integer(r->parent_run) : json_null());
    json_object_set_new(o, "version", json_string(r->version ? r->version : ""));
    json_object_set_new(o, "path", doc_str_or_null(r->path));
    json_object_set_new(o, "created_at", doc_time(r->created_at));
    json_object_set_new(o, "started_at", doc_time(r->started_at));
    json_object_set_new(o, "ended_at", doc_time(r->ended_at));
    json_t *params = json_object();
    for (size_t i = 0; i < r->nparams; i++)
        json_object_set_new(params, r->params[i].name, doc_param(r->params[i].value));
    json_object_set_new(o, "params", params);
    json_t *steps = json_array();
    int64_t now = store_now_ms();
    for (size_t i = 0; i < v->nsteps; i++)
        json_array_append_new(steps, json_step(&v->sv[i], now));
    json_object_set_new(o, "steps", steps);
    return o;
}

json_t *doc_run(struct store *st, int64_t run_id, struct err *e)
{
    struct doc_run_view v;
    if (doc_run_view_load(st, run_id, &v, e) < 0)
        return NULL;
    json_t *doc = doc_run_json(&v);
    doc_run_view_release(&v);
    return doc;
}

/* ---- runs ---- */

json_t *doc_run_summary(const struct run_row *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "pipeline", json_string(r->pipeline ? r->pipeline : ""));
    json_object_set_new(o, "status", json_string(run_status_name(r->status)));
    json_object_set_new(o, "trigger", json_string(r->trigger ? r->trigger : ""));
    json_object_set_new(o, "created_at", doc_time(r->created_at));
    json_object_set_new(o, "started_at", doc_time(r->started_at));
    json_object_set_new(o, "ended_at", doc_time(r->ended_at));
    json_object_set_new(o, "parent_run", r->parent_run ? json_integer(r->parent_run) : json_null());
    json_object_set_new(o, "version", json_string(r->version ? r->version : ""));
    json_object_set_new(o, "message", doc_str_or_null(r->message));
    return o;
}

json_t *doc_runs_json(const struct run_row *rows, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, doc_run_summary(&rows[i]));
    return a;
}
