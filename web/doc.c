/* The JSON documents the CLI's --json options print and the web API answers, built from the
 * store in one place: a run, the runs list, a comparison, the model registry, the catalog. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/crawl.h"
#include "store/query.h"
#include "store/registry.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "web/doc.h"

/* ---- values ---- */

json_t *doc_time(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[32];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

json_t *doc_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *doc_number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Does s read fully as a JSON number (no leading zeros, hex, inf or nan)? */
static bool is_json_number(const char *s, bool *integral)
{
    const char *p = s;
    *integral = true;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (*p == '.') {
        *integral = false;
        if (!(*++p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        *integral = false;
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

json_t *doc_param(const char *text)
{
    bool integral;
    if (!strcmp(text, "true") || !strcmp(text, "false"))
        return json_boolean(text[0] == 't');
    if (is_json_number(text, &integral)) {
        char *end;
        if (integral) {
            errno = 0;
            long long v = strtoll(text, &end, 10);
            if (!errno)
                return json_integer(v);
        }
        double d = strtod(text, &end);
        if (isfinite(d))
            return json_real(d);
    }
    return json_string(text);
}

/* The fewest digits (15 to 17) that print v so that it reads back exactly. */
static int real_digits(double v)
{
    char buf[40];
    for (int p = 15; p < 17; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return p;
    }
    return 17;
}

int doc_real_precision(json_t *j)
{
    int p = 15;
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_real(j))
        return real_digits(json_real_value(j));
    if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            int q = doc_real_precision(v);
            p = q > p ? q : p;
        }
    } else if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            int q = doc_real_precision(v);
            p = q > p ? q : p;
        }
    }
    return p;
}

int doc_dump(json_t *doc, FILE *out)
{
    size_t flags =
        JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(doc_real_precision(doc));
    int rc = json_dumpf(doc, out, flags);
    fputc('\n', out);
    return rc < 0 || ferror(out) ? -1 : 0;
}

char *doc_dumps(json_t *doc, bool indent)
{
    size_t flags = (indent ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER |
                   JSON_REAL_PRECISION(doc_real_precision(doc));
    char *s = json_dumps(doc, flags);
    if (!s)
        BUG("cannot serialise a JSON document");
    return s;
}

/* ---- one run ---- */

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
 * cached_from = the attempt whose outputs were reused), which is what lineage follows. */
static json_t *json_attempt(const struct attempt_row *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer(a->n));
    json_object_set_new(o, "status", json_string(a->status ? a->status : ""));
    json_object_set_new(o, "exit", a->exit_code >= 0 ? json_integer(a->exit_code) : json_null());
    json_object_set_new(o, "signal", json_integer(a->signal));
    json_object_set_new(o, "started_at", doc_time(a->started_at));
    json_object_set_new(o, "ended_at", doc_time(a->ended_at));
    /* rusage has microseconds; rounding keeps the printed value short */
    json_object_set_new(o, "cpu_s", json_real(round(a->cpu_s * 1e6) / 1e6));
    json_object_set_new(o, "max_rss_kb", json_integer(a->max_rss_kb));
    json_object_set_new(o, "cached_from",
                        a->cached_from ? json_integer(a->cached_from) : json_null());
    json_t *log = a->dir && *a->dir ? json_sprintf("%s/log", a->dir) : json_null();
    json_object_set_new(o, "log", log);
    return o;
}

static json_t *json_step(const struct doc_step_view *s)
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
        json_array_append_new(att, json_attempt(&s->att[i]));
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
    for (size_t i = 0; i < v->nsteps; i++)
        json_array_append_new(steps, json_step(&v->sv[i]));
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

/* ---- compare ---- */

static struct doc_cell *cell_for(struct doc_compare *c, enum doc_row_type type, const char *key,
                                 size_t run)
{
    size_t i;
    if (!strmap_get(&c->index[type], key, &i)) {
        XGROW(c->rows, c->alloc, c->nrows + 1);
        i = c->nrows++;
        c->rows[i].key = xstrdup(key);
        c->rows[i].type = type;
        c->rows[i].cells = xcalloc(c->nruns, sizeof(struct doc_cell));
        strmap_put(&c->index[type], key, i);
    }
    return &c->rows[i].cells[run];
}

void doc_compare_release(struct doc_compare *c)
{
    for (size_t i = 0; i < c->nrows; i++) {
        for (size_t r = 0; r < c->nruns; r++) {
            free(c->rows[i].cells[r].text);
            free(c->rows[i].cells[r].series);
        }
        free(c->rows[i].cells);
        free(c->rows[i].key);
    }
    free(c->rows);
    for (size_t r = 0; r < c->nruns && c->pipelines; r++)
        free(c->pipelines[r]);
    free(c->pipelines);
    free(c->ids);
    for (int t = 0; t < 3; t++)
        strmap_release(&c->index[t]);
    memset(c, 0, sizeof(*c));
}

static int compare_load_run(struct store *st, struct doc_compare *c, size_t run, struct err *e)
{
    struct run_row r;
    if (store_run_get(st, c->ids[run], &r, e) < 0)
        return -1;
    c->pipelines[run] = xstrdup(r.pipeline ? r.pipeline : "");
    for (size_t i = 0; i < r.nparams; i++) {
        struct doc_cell *cl = cell_for(c, DOC_ROW_PARAM, r.params[i].name, run);
        cl->has = true;
        cl->text = xstrdup(r.params[i].value);
    }
    run_row_release(&r);
    struct metric_row *m = NULL;
    size_t n = 0;
    if (store_metrics_load(st, c->ids[run], NULL, &m, &n, e) < 0)
        return -1;
    /* Rows come by step, name, idx: a scalar is one row with idx -1, a series a run of rows. */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && !strcmp(m[j].step, m[i].step) && !strcmp(m[j].name, m[i].name))
            j++;
        char *key = xasprintf("%s.%s", m[i].step, m[i].name);
        if (j == i + 1 && m[i].idx < 0) {
            struct doc_cell *cl = cell_for(c, DOC_ROW_METRIC, key, run);
            cl->has = true;
            cl->v = m[i].value;
        } else {
            struct doc_cell *cl = cell_for(c, DOC_ROW_SERIES, key, run);
            cl->has = true;
            cl->series = xcalloc(j - i, sizeof(double));
            for (size_t k = i; k < j; k++)
                if (m[k].idx >= 0)
                    cl->series[cl->len++] = m[k].value;
            cl->v = cl->len ? cl->series[cl->len - 1] : NAN;
        }
        free(key);
        i = j;
    }
    metric_rows_free(m, n);
    return 0;
}

/* Metrics by kind (scalars, then series), then by STEP.METRIC. */
static int row_cmp(const void *a, const void *b)
{
    const struct doc_row *x = a, *y = b;
    if (x->type != y->type)
        return (int)x->type - (int)y->type;
    return strcmp(x->key, y->key);
}

int doc_compare_load(struct store *st, const int64_t *ids, size_t n, struct doc_compare *c,
                     struct err *e)
{
    memset(c, 0, sizeof(*c));
    c->nruns = n;
    c->ids = xcalloc(n ? n : 1, sizeof(*c->ids));
    memcpy(c->ids, ids, n * sizeof(*ids));
    c->pipelines = xcalloc(n ? n : 1, sizeof(*c->pipelines));
    for (int t = 0; t < 3; t++)
        strmap_init(&c->index[t]);
    for (size_t r = 0; r < n; r++)
        if (compare_load_run(st, c, r, e) < 0)
            return -1;
    /* Parameters first, in their order of first appearance (the pipeline's); the metrics
     * after them, sorted. The index maps are stale from here on, and no longer used. */
    struct doc_row *sorted = xcalloc(c->nrows ? c->nrows : 1, sizeof(*sorted));
    size_t np = 0, k;
    for (size_t i = 0; i < c->nrows; i++)
        if (c->rows[i].type == DOC_ROW_PARAM)
            sorted[np++] = c->rows[i];
    k = np;
    for (size_t i = 0; i < c->nrows; i++)
        if (c->rows[i].type != DOC_ROW_PARAM)
            sorted[k++] = c->rows[i];
    if (c->nrows)
        memcpy(c->rows, sorted, c->nrows * sizeof(*sorted));
    free(sorted);
    qsort(c->rows + np, c->nrows - np, sizeof(*c->rows), row_cmp);
    return 0;
}

json_t *doc_compare_json(const struct doc_compare *c)
{
    json_t *doc = json_object(), *ids = json_array(), *pipes = json_array();
    json_t *sect[3] = {json_object(), json_object(), json_object()};
    for (size_t r = 0; r < c->nruns; r++) {
        json_array_append_new(ids, json_integer(c->ids[r]));
        json_array_append_new(pipes, json_string(c->pipelines[r]));
    }
    for (size_t i = 0; i < c->nrows; i++) {
        const struct doc_row *row = &c->rows[i];
        json_t *vals = json_array();
        for (size_t r = 0; r < c->nruns; r++) {
            const struct doc_cell *cl = &row->cells[r];
            json_t *v;
            if (!cl->has) {
                v = json_null();
            } else if (row->type == DOC_ROW_PARAM) {
                v = doc_param(cl->text);
            } else if (row->type == DOC_ROW_METRIC) {
                v = doc_number(cl->v);
            } else {
                v = json_array();
                for (size_t k = 0; k < cl->len; k++)
                    json_array_append_new(v, doc_number(cl->series[k]));
            }
            json_array_append_new(vals, v);
        }
        json_object_set_new(sect[row->type], row->key, vals);
    }
    json_object_set_new(doc, "runs", ids);
    json_object_set_new(doc, "pipelines", pipes);
    json_object_set_new(doc, "params", sect[DOC_ROW_PARAM]);
    json_object_set_new(doc, "metrics", sect[DOC_ROW_METRIC]);
    json_object_set_new(doc, "series", sect[DOC_ROW_SERIES]);
    return doc;
}

/* ---- models ---- */

json_t *doc_model_metrics(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    return j;
}

struct approval_row *doc_model_approvals(struct store *st, const struct model_row *m,
                                         size_t *all, size_t *mine)
{
    struct approval_row *rows = NULL;
    struct err e = ERR_INIT;
    *all = *mine = 0;
    if (!m->run_id || !m->step || store_approvals_list(st, m->run_id, &rows, all, &e) < 0)
        return NULL;
    for (size_t i = 0; i < *all; i++) {
        if (strcmp(rows[i].step, m->step))
            continue;
        struct approval_row tmp = rows[*mine];
        rows[*mine] = rows[i];
        rows[i] = tmp;
        (*mine)++;
    }
    return rows;
}

static json_t *json_approvals(struct store *st, const struct model_row *m)
{
    json_t *a = json_array();
    size_t all, mine;
    struct approval_row *rows = doc_model_approvals(st, m, &all, &mine);
    for (size_t i = 0; i < mine; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "decision", json_string(rows[i].decision));
        json_object_set_new(o, "by", rows[i].by ? json_string(rows[i].by) : json_null());
        json_object_set_new(o, "comment",
                            rows[i].comment ? json_string(rows[i].comment) : json_null());
        json_object_set_new(o, "at", doc_time(rows[i].at));
        json_array_append_new(a, o);
    }
    approval_rows_free(rows, all);
    return a;
}

static json_t *json_deployment(const struct deployment_row *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer(d->version));
    json_object_set_new(o, "target", json_string(d->target));
    json_object_set_new(o, "slot", d->slot ? json_string(d->slot) : json_null());
    json_object_set_new(o, "status", json_string(d->status));
    json_object_set_new(o, "run", d->run_id ? json_integer(d->run_id) : json_null());
    json_object_set_new(o, "at", doc_time(d->at));
    return o;
}

json_t *doc_models_json(struct store *st, const struct model_row *rows, size_t n,
                        const struct deployment_row *deps, size_t ndeps, bool detail)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct model_row *m = &rows[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(m->name));
        json_object_set_new(o, "version", json_integer(m->version));
        json_object_set_new(o, "status", json_string(m->status));
        json_object_set_new(o, "run", m->run_id ? json_integer(m->run_id) : json_null());
        json_object_set_new(o, "sha256", json_string(m->digest ? m->digest : ""));
        json_object_set_new(o, "created_at", doc_time(m->created_at));
        json_object_set_new(o, "metrics", doc_model_metrics(m->metrics));
        json_object_set_new(o, "step", m->step ? json_string(m->step) : json_null());
        json_object_set_new(o, "size", json_integer(m->size));
        if (detail) {
            json_object_set_new(o, "approvals", json_approvals(st, m));
            json_t *d = json_array();
            for (size_t k = 0; k < ndeps; k++)
                if (deps[k].model_id == m->id)
                    json_array_append_new(d, json_deployment(&deps[k]));
            json_object_set_new(o, "deployments", d);
        }
        json_array_append_new(a, o);
    }
    return a;
}

/* ---- catalog ---- */

/* The columns array of a version's schema.json; an empty array when it has none. */
static json_t *schema_columns(const struct catalog_row *c)
{
    json_t *j = c->schema ? json_loads(c->schema, 0, NULL) : NULL;
    json_t *cols = json_object_get(j, "columns");
    cols = json_is_array(cols) ? json_incref(cols) : json_array();
    json_decref(j);
    return cols;
}

json_t *doc_catalog_columns(const struct catalog_row *c)
{
    json_t *cols = schema_columns(c), *out = json_array();
    size_t i;
    json_t *col;
    json_array_foreach(cols, i, col) {
        json_t *o = json_object();
        json_t *name = json_object_get(col, "name"), *type = json_object_get(col, "type");
        json_t *nulls = json_object_get(col, "nulls");
        json_object_set(o, "name", json_is_string(name) ? name : json_null());
        json_object_set(o, "type", json_is_string(type) ? type : json_null());
        json_object_set(o, "nulls", json_is_integer(nulls) ? nulls : json_null());
        json_array_append_new(out, o);
    }
    json_decref(cols);
    return out;
}

json_t *doc_catalog_changes(const struct catalog_row *older, const struct catalog_row *newer,
                            char **why)
{
    struct strbuf report = STRBUF_INIT;
    struct err e = ERR_INIT;
    bool changed = false;
    *why = NULL;
    if (crawl_schema_diff(older->schema, newer->schema, &report, &changed, &e) < 0) {
        strbuf_release(&report);
        *why = xstrdup(e.msg);
        return NULL;
    }
    json_t *lines = json_array();
    for (char *line = report.buf; *line;) {
        size_t len = strcspn(line, "\n");
        if (len)
            json_array_append_new(lines, json_stringn(line, len));
        line += len + (line[len] == '\n');
    }
    strbuf_release(&report);
    return lines;
}

json_t *doc_catalog_version(const struct catalog_row *c, bool with_name)
{
    json_t *o = json_object();
    if (with_name)
        json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "version", json_integer(c->version));
    json_object_set_new(o, "run", c->run_id ? json_integer(c->run_id) : json_null());
    json_object_set_new(o, "rows", json_integer(c->rows));
    json_object_set_new(o, "columns", doc_catalog_columns(c));
    json_object_set_new(o, "created_at", doc_time(c->created_at));
    return o;
}

json_t *doc_catalog_table_json(const char *table, const struct catalog_row *rows, size_t n,
                               bool with_schema)
{
    json_t *versions = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct catalog_row *c = &rows[i];
        json_t *o = doc_catalog_version(c, false);
        if (i + 1 < n) {
            char *why = NULL;
            json_t *changes = doc_catalog_changes(&rows[i + 1], c, &why);
            json_object_set_new(o, "changes", changes ? changes : json_null());
            free(why);
        }
        if (with_schema) {
            json_t *schema = c->schema ? json_loads(c->schema, 0, NULL) : NULL;
            json_object_set_new(o, "schema", schema ? schema : json_null());
        }
        json_array_append_new(versions, o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(table));
    json_object_set_new(o, "versions", versions);
    return o;
}

/* ---- lineage ---- */

/* Lineage is a DAG that can grow with every run: the walk expands each attempt once, stops at
 * a depth, lists at most so many attempts per artifact and so many in all. */
struct walk {
    struct store *st;
    struct strmap seen; /* attempt ids already expanded in this direction */
    size_t nodes;       /* attempts listed so far */
    bool truncated;     /* a cap was hit somewhere */
    struct err e;
    bool failed;
};

static json_t *lineage_artifact(const struct artifact_row *a)
{
    return json_pack("{s:s, s:I, s:s, s:s?}", "sha256", a->digest, "size", (json_int_t)a->size,
                     "kind", a->kind ? a->kind : "", "uri", a->uri);
}

/* The attempt behind an edge: run, step, attempt number, status, cache origin. */
static json_t *lineage_attempt(struct walk *w, const struct lineage_edge *ed)
{
    struct attempt_row a;
    json_t *o = json_object();
    json_object_set_new(o, "run", json_integer(ed->run_id));
    json_object_set_new(o, "step", json_string(ed->step ? ed->step : ""));
    if (store_attempt_get(w->st, ed->attempt_id, &a, &w->e) < 0) {
        w->failed = true;
        return o;
    }
    json_object_set_new(o, "attempt", json_integer(a.n));
    json_object_set_new(o, "attempt_id", json_integer(a.id));
    json_object_set_new(o, "status", json_string(a.status ? a.status : ""));
    json_object_set_new(o, "cached_from",
                        a.cached_from ? json_integer(a.cached_from) : json_null());
    json_object_set_new(o, "as", json_string(ed->name ? ed->name : ""));
    /* A cache record: say which run's attempt did the work, in terms people know. */
    struct attempt_row orig;
    int64_t orig_run = 0;
    char *orig_step = NULL;
    if (a.cached_from && store_attempt_get(w->st, a.cached_from, &orig, &w->e) == 0) {
        if (store_attempt_origin(w->st, a.cached_from, &orig_run, &orig_step, &w->e) == 0)
            json_object_set_new(o, "reused",
                                json_pack("{s:I, s:s, s:i}", "run", (json_int_t)orig_run, "step",
                                          orig_step, "attempt", orig.n));
        else
            w->failed = true;
        free(orig_step);
        attempt_row_release(&orig);
    } else if (a.cached_from) {
        w->failed = true;
    }
    attempt_row_release(&a);
    return o;
}

/* Mark an attempt expanded; false when it already was. */
static bool first_visit(struct walk *w, int64_t attempt_id)
{
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, attempt_id);
    return strmap_add(&w->seen, key, 0, NULL);
}

static json_t *walk_artifact(struct walk *w, int64_t artifact_id, bool up, int depth,
                             size_t *more);

/* The attempt's other side: its inputs (going up) or its outputs (going down), each with the
 * attempts beyond it. */
static json_t *walk_attempt(struct walk *w, int64_t attempt_id, bool up, int depth)
{
    struct artifact_row *rows = NULL;
    size_t n = 0;
    json_t *list = json_array();
    if (store_io_list(w->st, attempt_id, up ? "in" : "out", &rows, &n, &w->e) < 0) {
        w->failed = true;
        return list;
    }
    for (size_t i = 0; i < n && !w->failed; i++) {
        json_t *o = json_object();
        size_t more = 0;
        json_object_set_new(o, "name", json_string(rows[i].name ? rows[i].name : ""));
        json_object_set_new(o, "artifact", lineage_artifact(&rows[i]));
        json_object_set_new(o, up ? "producers" : "consumers",
                            walk_artifact(w, rows[i].id, up, depth + 1, &more));
        if (more)
            json_object_set_new(o, "more", json_integer((json_int_t)more));
        json_array_append_new(list, o);
    }
    artifact_rows_free(rows, n);
    return list;
}

/* The attempts that produced (up) or consumed (down) an artifact, each expanded once.
 * *more counts those left out by the caps. */
static json_t *walk_artifact(struct walk *w, int64_t artifact_id, bool up, int depth,
                             size_t *more)
{
    struct lineage_edge *edges = NULL;
    size_t n = 0, listed = 0;
    json_t *list = json_array();
    *more = 0;
    if (store_lineage_edges(w->st, artifact_id, &edges, &n, &w->e) < 0) {
        w->failed = true;
        return list;
    }
    for (size_t i = 0; i < n && !w->failed; i++) {
        if (strcmp(edges[i].dir, up ? "out" : "in"))
            continue;
        if (listed == DOC_LINEAGE_MAX_PER_ARTIFACT || w->nodes == DOC_LINEAGE_MAX_NODES ||
            depth >= DOC_LINEAGE_MAX_DEPTH) {
            (*more)++;
            w->truncated = true;
            continue;
        }
        listed++;
        w->nodes++;
        json_t *node = lineage_attempt(w, &edges[i]);
        if (!first_visit(w, edges[i].attempt_id))
            json_object_set_new(node, "seen", json_true()); /* expanded elsewhere in the tree */
        else
            json_object_set_new(node, up ? "inputs" : "outputs",
                                walk_attempt(w, edges[i].attempt_id, up, depth));
        json_array_append_new(list, node);
    }
    lineage_edges_free(edges, n);
    return list;
}

/* MODEL or MODEL:VERSION (VERSION as 3 or v3): the model version's artifact. */
static int resolve_model(struct store *st, const char *spec, struct artifact_row *out,
                         struct err *e)
{
    char *name = xstrdup(spec);
    int version = 0;
    char *colon = strrchr(name, ':');
    if (colon) {
        *colon = '\0';
        const char *v = colon[1] == 'v' ? colon + 2 : colon + 1;
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n <= 0) {
            free(name);
            return err_set(e, "'%s' is not MODEL:VERSION (a version is a number, like 3 or v3)",
                           spec);
        }
        version = (int)n;
    }
    struct model_row m = {0};
    int rc = store_model_get(st, name, version, &m, e);
    if (rc < 0 && e->code == STORE_NOT_FOUND) {
        err_clear(e);
        e->code = STORE_NOT_FOUND;
        snprintf(e->msg, sizeof(e->msg), "no artifact or model '%s'", spec);
    } else if (rc == 0) {
        rc = store_artifact_find(st, m.digest, out, e);
    }
    model_row_release(&m);
    free(name);
    return rc;
}

static bool all_hex(const char *s)
{
    return *s && strspn(s, "0123456789abcdefABCDEF") == strlen(s);
}

/* ARTIFACT (a digest or a prefix of ≥ 6 digits), else MODEL[:VERSION]. */
int doc_lineage_resolve(struct store *st, const char *arg, struct artifact_row *out,
                        struct err *e)
{
    if (all_hex(arg) && strlen(arg) >= 6 && strlen(arg) <= 64) {
        if (store_artifact_find(st, arg, out, e) == 0)
            return 0;
        if (e->code != STORE_NOT_FOUND)
            return -1; /* ambiguous prefix, database error */
        /* not an artifact: perhaps a model whose name reads as hex */
    }
    err_clear(e);
    return resolve_model(st, arg, out, e);
}

json_t *doc_lineage_json(struct store *st, const struct artifact_row *a, struct err *e)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "artifact", lineage_artifact(a));
    static const char *const dirs[] = {"upstream", "downstream"};
    struct walk w = {.st = st, .e = ERR_INIT};
    for (int d = 0; d < 2 && !w.failed; d++) {
        size_t more = 0;
        strmap_init(&w.seen);
        json_object_set_new(doc, dirs[d], walk_artifact(&w, a->id, d == 0, 0, &more));
        strmap_release(&w.seen);
        if (more) {
            char key[32];
            snprintf(key, sizeof(key), "more_%s", dirs[d]);
            json_object_set_new(doc, key, json_integer((json_int_t)more));
        }
    }
    json_object_set_new(doc, "truncated", json_boolean(w.truncated));
    if (w.failed) {
        *e = w.e;
        json_decref(doc);
        return NULL;
    }
    return doc;
}
