/* The JSON documents the CLI's --json options print and the web API answers, built from the
 * store in one place: a run, the runs list, a comparison, the model registry, the catalog. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/crawl.h"
#include "store/doc.h"
#include "store/query.h"
#include "store/registry.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

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

/* Lineage is a DAG that grows with every run. The walk goes by attempts: from an artifact to
 * the attempts that made (up) or read (down) it, to their inputs (outputs), and so on. At the
 * root, the runs that did the same work are one entry (the others folded into "other_runs");
 * below it an attempt's artifacts lead only to attempts of the same run, that run's own
 * history. An artifact already on the path (a copy step: the same bytes in and out) is listed
 * but not followed, so that nothing is its own ancestor. Each attempt is expanded once; the
 * depth, the attempts per artifact and the attempts in all are capped. */
struct walk {
    struct store *st;
    int64_t prefer_run; /* the root's run of choice (a model version's run), else 0 */
    struct strmap seen; /* attempt ids already expanded in this direction */
    int64_t *path;      /* the artifact ids from the root to here */
    size_t npath, apath;
    size_t nodes;       /* attempts listed so far */
    bool truncated;     /* a cap was hit somewhere */
    struct err e;
    bool failed;
};

/* A source (an ingest's origin) is a name, not stored bytes: it has no size. */
static json_t *lineage_artifact(const struct artifact_row *a)
{
    bool source = a->kind && !strcmp(a->kind, "source");
    return json_pack("{s:s, s:o, s:s, s:s?}", "sha256", a->digest, "size",
                     source ? json_null() : json_integer((json_int_t)a->size), "kind",
                     a->kind ? a->kind : "", "uri", a->uri);
}

/* The attempt behind an edge: run, step, attempt number, status, cache origin, the other runs
 * that did the same. *origin_run: the run of the attempt whose work a cache hit reused. */
static json_t *lineage_attempt(struct walk *w, const struct lineage_group *g, int64_t *origin_run)
{
    const struct lineage_edge *ed = &g->edge;
    json_t *o = json_object();
    json_object_set_new(o, "run", json_integer(ed->run_id));
    json_object_set_new(o, "step", json_string(ed->step ? ed->step : ""));
    json_object_set_new(o, "attempt", json_integer(ed->attempt_n));
    json_object_set_new(o, "attempt_id", json_integer(ed->attempt_id));
    json_object_set_new(o, "status", json_string(ed->status ? ed->status : ""));
    json_object_set_new(o, "cached_from",
                        ed->cached_from ? json_integer(ed->cached_from) : json_null());
    json_object_set_new(o, "as", json_string(ed->name ? ed->name : ""));
    *origin_run = 0;
    if (ed->cached_from) {
        /* A cache record: say which run's attempt did the work, in terms people know. */
        struct attempt_row orig;
        char *orig_step = NULL;
        if (store_attempt_get(w->st, ed->cached_from, &orig, &w->e) < 0) {
            w->failed = true;
        } else {
            if (store_attempt_origin(w->st, ed->cached_from, origin_run, &orig_step, &w->e) == 0)
                json_object_set_new(o, "reused",
                                    json_pack("{s:I, s:s, s:i}", "run", (json_int_t)*origin_run,
                                              "step", orig_step, "attempt", orig.n));
            else
                w->failed = true;
            free(orig_step);
            attempt_row_release(&orig);
        }
    }
    if (g->nother) {
        json_t *runs = json_array();
        for (size_t i = 0; i < g->nother; i++)
            json_array_append_new(runs, json_integer(g->other_runs[i]));
        json_object_set_new(o, "other_runs", runs);
    }
    return o;
}

/* Mark an attempt expanded; false when it already was. */
static bool first_visit(struct walk *w, int64_t attempt_id)
{
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, attempt_id);
    return strmap_add(&w->seen, key, 0, NULL);
}

static bool on_path(const struct walk *w, int64_t artifact_id)
{
    for (size_t i = 0; i < w->npath; i++)
        if (w->path[i] == artifact_id)
            return true;
    return false;
}

static json_t *walk_artifact(struct walk *w, int64_t artifact_id, bool up, int depth,
                             int64_t run, size_t *more);

/* The artifacts of one side of an attempt into list, each with the attempts beyond it, in run
 * (0: every run). skip: the names already listed. */
static void walk_io(struct walk *w, json_t *list, const struct artifact_row *rows, size_t n,
                    bool up, int depth, int64_t run, const json_t *skip)
{
    for (size_t i = 0; i < n && !w->failed; i++) {
        const char *name = rows[i].name ? rows[i].name : "";
        if (skip && json_object_get(skip, name))
            continue;
        json_t *o = json_object();
        size_t more = 0;
        json_object_set_new(o, "name", json_string(name));
        json_object_set_new(o, "artifact", lineage_artifact(&rows[i]));
        json_t *beyond;
        if (on_path(w, rows[i].id)) {
            json_object_set_new(o, "on_path", json_true()); /* the same bytes again: a copy */
            beyond = json_array();
        } else {
            XGROW(w->path, w->apath, w->npath + 1);
            w->path[w->npath++] = rows[i].id;
            beyond = walk_artifact(w, rows[i].id, up, depth + 1, run, &more);
            w->npath--;
        }
        json_object_set_new(o, up ? "producers" : "consumers", beyond);
        if (more)
            json_object_set_new(o, "more", json_integer((json_int_t)more));
        json_array_append_new(list, o);
    }
}

/* The attempt's other side: its inputs (going up) or its outputs (going down), each with the
 * attempts beyond it in the attempt's run. A cache hit read what its original read: inputs it
 * did not record itself (an ingest's source) are its original's, in the original's run. */
static json_t *walk_attempt(struct walk *w, const struct lineage_edge *ed, int64_t origin_run,
                            bool up, int depth)
{
    struct artifact_row *rows = NULL, *orig = NULL;
    size_t n = 0, norig = 0;
    json_t *list = json_array();
    if (store_io_list(w->st, ed->attempt_id, up ? "in" : "out", &rows, &n, &w->e) < 0 ||
        (up && ed->cached_from &&
         store_io_list(w->st, ed->cached_from, "in", &orig, &norig, &w->e) < 0)) {
        w->failed = true;
    } else {
        walk_io(w, list, rows, n, up, depth, ed->run_id, NULL);
        json_t *names = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(names, rows[i].name ? rows[i].name : "", json_true());
        walk_io(w, list, orig, norig, up, depth, origin_run, names);
        json_decref(names);
    }
    artifact_rows_free(rows, n);
    artifact_rows_free(orig, norig);
    return list;
}

/* The attempts that produced (up) or consumed (down) an artifact, each expanded once: those of
 * run, or every run's with the repeats folded when run is 0 (the root) — or when no attempt
 * of run made the artifact (an input from elsewhere: show where it was made). *more counts
 * those left out by the caps. */
static json_t *walk_artifact(struct walk *w, int64_t artifact_id, bool up, int depth,
                             int64_t run, size_t *more)
{
    struct lineage_group *g = NULL;
    size_t n = 0, listed = 0;
    const char *dir = up ? "out" : "in";
    json_t *list = json_array();
    *more = 0;
    int rc = store_lineage_side(w->st, artifact_id, dir, run ? run : w->prefer_run, run, &g, &n,
                                &w->e);
    if (rc == 0 && up && run && !n) {
        lineage_groups_free(g, n);
        rc = store_lineage_side(w->st, artifact_id, dir, run, 0, &g, &n, &w->e);
    }
    if (rc < 0) {
        w->failed = true;
        return list;
    }
    for (size_t i = 0; i < n && !w->failed; i++) {
        if (listed == DOC_LINEAGE_MAX_PER_ARTIFACT || w->nodes == DOC_LINEAGE_MAX_NODES ||
            depth >= DOC_LINEAGE_MAX_DEPTH) {
            (*more)++;
            w->truncated = true;
            continue;
        }
        listed++;
        w->nodes++;
        int64_t origin_run;
        json_t *node = lineage_attempt(w, &g[i], &origin_run);
        if (!first_visit(w, g[i].edge.attempt_id))
            json_object_set_new(node, "seen", json_true()); /* expanded elsewhere in the tree */
        else
            json_object_set_new(node, up ? "inputs" : "outputs",
                                walk_attempt(w, &g[i].edge, origin_run, up, depth));
        json_array_append_new(list, node);
    }
    lineage_groups_free(g, n);
    return list;
}

/* MODEL or MODEL:VERSION (VERSION as 3 or v3): the model version's artifact, and *model what
 * was picked — MODEL alone is its deployed version, else its newest. */
static int resolve_model(struct store *st, const char *spec, struct artifact_row *out,
                         json_t **model, struct err *e)
{
    char *name = xstrdup(spec);
    int version = 0;
    const char *picked = "version";
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
    int rc;
    if (version) {
        rc = store_model_get(st, name, version, &m, e);
    } else {
        picked = "deployed";
        rc = store_model_deployed(st, name, &m, e);
        if (rc < 0 && e->code == STORE_NOT_FOUND) {
            err_clear(e);
            model_row_release(&m);
            picked = "newest";
            rc = store_model_get(st, name, 0, &m, e);
        }
    }
    if (rc < 0 && e->code == STORE_NOT_FOUND) {
        err_clear(e);
        e->code = STORE_NOT_FOUND;
        snprintf(e->msg, sizeof(e->msg), "no artifact or model '%s'", spec);
    } else if (rc == 0) {
        rc = store_artifact_find(st, m.digest, out, e);
    }
    if (rc == 0)
        *model = json_pack("{s:s, s:i, s:s, s:I, s:s?, s:s}", "name", m.name, "version",
                           m.version, "status", m.status ? m.status : "", "run",
                           (json_int_t)m.run_id, "step", m.step, "picked", picked);
    model_row_release(&m);
    free(name);
    return rc;
}

static bool all_hex(const char *s)
{
    return *s && strspn(s, "0123456789abcdefABCDEF") == strlen(s);
}

/* ARTIFACT (a digest or a prefix of ≥ 6 digits), else MODEL[:VERSION]. */
static int lineage_resolve(struct store *st, const char *arg, struct artifact_row *out,
                           json_t **model, struct err *e)
{
    *model = NULL;
    if (all_hex(arg) && strlen(arg) >= 6 && strlen(arg) <= 64) {
        if (store_artifact_find(st, arg, out, e) == 0)
            return 0;
        if (e->code != STORE_NOT_FOUND)
            return -1; /* ambiguous prefix, database error */
        /* not an artifact: perhaps a model whose name reads as hex */
    }
    err_clear(e);
    return resolve_model(st, arg, out, model, e);
}

json_t *doc_lineage(struct store *st, const char *ref, struct err *e)
{
    struct artifact_row a;
    json_t *model;
    if (lineage_resolve(st, ref, &a, &model, e) < 0)
        return NULL;
    json_t *doc = json_object();
    json_object_set_new(doc, "artifact", lineage_artifact(&a));
    if (model)
        json_object_set_new(doc, "model", model);
    static const char *const dirs[] = {"upstream", "downstream"};
    struct walk w = {.st = st, .e = ERR_INIT};
    w.prefer_run = model ? (int64_t)json_integer_value(json_object_get(model, "run")) : 0;
    for (int d = 0; d < 2 && !w.failed; d++) {
        size_t more = 0;
        strmap_init(&w.seen);
        w.npath = 0;
        XGROW(w.path, w.apath, 1);
        w.path[w.npath++] = a.id;
        json_object_set_new(doc, dirs[d], walk_artifact(&w, a.id, d == 0, 0, 0, &more));
        strmap_release(&w.seen);
        if (more) {
            char key[32];
            snprintf(key, sizeof(key), "more_%s", dirs[d]);
            json_object_set_new(doc, key, json_integer((json_int_t)more));
        }
    }
    json_object_set_new(doc, "truncated", json_boolean(w.truncated));
    free(w.path);
    artifact_row_release(&a);
    if (w.failed) {
        *e = w.e;
        json_decref(doc);
        return NULL;
    }
    return doc;
}
