/* `sluice show RUN`: one run in full — header, step table (attempts, duration, cpu, memory,
 * cache), then per step its message, metrics and outputs; or the same as one JSON document
 * (cli_show_json, also `sluice run --json`). And cli_print_summary, the table `sluice run`
 * prints when a run ends. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "pipeline/duration.h"
#include "store/store.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice show RUN [--json]\n"
    "\n"
    "Show RUN (a number, or 'last'): its parameters, and for each step the status, attempts,\n"
    "duration, cpu time, peak memory, cache use, message, metrics and outputs.\n"
    "\n"
    "      --json  print one JSON document: {\"id\", \"pipeline\", \"status\", \"params\",\n"
    "              \"steps\": [{\"name\", \"kind\", \"status\", \"cached\", \"message\",\n"
    "              \"attempts\", \"metrics\", \"outputs\"}], ...}; parameter values that read\n"
    "              as JSON numbers or true/false are typed, the others are strings; attempt 0\n"
    "              of a step is the record of a cache hit (status cached)\n";

/* Series longer than this are shown as their first and last few values. */
#define SERIES_SHOWN 8

/* ---- loading a run ---- */

/* Everything shown about a run, loaded in five queries. The per-step slices point into the
 * run-wide arrays (attempts and outputs come ordered by step, metrics by step name). */
struct step_view {
    struct step_row *row;
    struct attempt_row *att; /* this step's attempts, by n (n = 0: a cache record) */
    size_t natt;
    const struct attempt_row *final; /* the succeeded or cached attempt whose outputs count */
    struct metric_row *met;          /* this step's metrics, by name then idx */
    size_t nmet;
    struct artifact_row *out; /* outputs of `final` */
    size_t nout;
};

struct run_view {
    struct run_row run;
    struct step_row *steps;
    size_t nsteps;
    struct attempt_row *att;
    size_t natt;
    struct metric_row *met;
    size_t nmet;
    struct artifact_row *outs;
    size_t nouts;
    struct step_view *sv; /* nsteps */
};

static void view_release(struct run_view *v)
{
    run_row_release(&v->run);
    step_rows_free(v->steps, v->nsteps);
    attempt_rows_free(v->att, v->natt);
    metric_rows_free(v->met, v->nmet);
    artifact_rows_free(v->outs, v->nouts);
    free(v->sv);
    memset(v, 0, sizeof(*v));
}

static bool attempt_ok(const struct attempt_row *a)
{
    return a->status && (!strcmp(a->status, "succeeded") || !strcmp(a->status, "cached"));
}

static void view_slice(struct run_view *v, struct step_view *s)
{
    size_t i = 0;
    while (i < v->natt && v->att[i].step_id != s->row->id)
        i++;
    s->att = v->att ? &v->att[i] : NULL;
    while (i + s->natt < v->natt && v->att[i + s->natt].step_id == s->row->id)
        s->natt++;
    for (size_t k = 0; k < s->natt; k++)
        if (attempt_ok(&s->att[k]))
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

static int view_load(struct store *st, long long run_id, struct run_view *v, struct err *e)
{
    memset(v, 0, sizeof(*v));
    if (store_run_get(st, run_id, &v->run, e) < 0)
        return -1;
    if (store_steps_load(st, run_id, &v->steps, &v->nsteps, e) < 0 ||
        store_run_attempts_load(st, run_id, &v->att, &v->natt, e) < 0 ||
        store_metrics_load(st, run_id, NULL, &v->met, &v->nmet, e) < 0 ||
        store_run_io_list(st, run_id, "out", &v->outs, &v->nouts, e) < 0) {
        view_release(v);
        return -1;
    }
    v->sv = xcalloc(v->nsteps ? v->nsteps : 1, sizeof(*v->sv));
    for (size_t i = 0; i < v->nsteps; i++) {
        v->sv[i].row = &v->steps[i];
        view_slice(v, &v->sv[i]);
    }
    return 0;
}

/* ---- JSON ---- */

static json_t *json_time(int64_t ms)
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

static json_t *json_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* JSON has no NaN or infinity. */
static json_t *json_number(double v)
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

/* Parameters are stored as text; JSON readers get them typed, as the pipeline file's YAML
 * would read: a number, true/false, else the string itself. */
static json_t *json_param(const char *text)
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

/* jansson prints every real of a document with one precision, 17 digits by default
 * (0.93 → 0.93000000000000005): use the fewest that keep every value of j exact. */
static int json_precision(json_t *j)
{
    int p = 15;
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_real(j))
        return real_digits(json_real_value(j));
    if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            int q = json_precision(v);
            if (q > p)
                p = q;
        }
    } else if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            int q = json_precision(v);
            if (q > p)
                p = q;
        }
    }
    return p;
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
            json_object_set_new(o, m[i].name, json_number(m[i].value));
        } else {
            json_t *a = json_array();
            for (size_t k = i; k < j; k++)
                if (m[k].idx >= 0)
                    json_array_append_new(a, json_number(m[k].value));
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
    json_object_set_new(o, "started_at", json_time(a->started_at));
    json_object_set_new(o, "ended_at", json_time(a->ended_at));
    /* rusage has microseconds; rounding keeps the printed value short */
    json_object_set_new(o, "cpu_s", json_real(round(a->cpu_s * 1e6) / 1e6));
    json_object_set_new(o, "max_rss_kb", json_integer(a->max_rss_kb));
    json_object_set_new(o, "cached_from",
                        a->cached_from ? json_integer(a->cached_from) : json_null());
    json_t *log = a->dir && *a->dir ? json_sprintf("%s/log", a->dir) : json_null();
    json_object_set_new(o, "log", log);
    return o;
}

static json_t *json_step(const struct step_view *s)
{
    const struct step_row *r = s->row;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "kind", json_string(r->kind ? r->kind : ""));
    json_object_set_new(o, "status", json_string(step_status_name(r->status)));
    json_object_set_new(o, "cached", json_boolean(r->cached));
    json_object_set_new(o, "message", json_str_or_null(r->message));
    json_object_set_new(o, "started_at", json_time(r->started_at));
    json_object_set_new(o, "ended_at", json_time(r->ended_at));
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

static json_t *json_run(const struct run_view *v)
{
    const struct run_row *r = &v->run;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "pipeline", json_string(r->pipeline ? r->pipeline : ""));
    json_object_set_new(o, "status", json_string(run_status_name(r->status)));
    json_object_set_new(o, "message", json_str_or_null(r->message));
    json_object_set_new(o, "trigger", json_string(r->trigger ? r->trigger : ""));
    json_object_set_new(o, "parent_run", r->parent_run ? json_integer(r->parent_run) : json_null());
    json_object_set_new(o, "version", json_string(r->version ? r->version : ""));
    json_object_set_new(o, "path", json_str_or_null(r->path));
    json_object_set_new(o, "created_at", json_time(r->created_at));
    json_object_set_new(o, "started_at", json_time(r->started_at));
    json_object_set_new(o, "ended_at", json_time(r->ended_at));
    json_t *params = json_object();
    for (size_t i = 0; i < r->nparams; i++)
        json_object_set_new(params, r->params[i].name, json_param(r->params[i].value));
    json_object_set_new(o, "params", params);
    json_t *steps = json_array();
    for (size_t i = 0; i < v->nsteps; i++)
        json_array_append_new(steps, json_step(&v->sv[i]));
    json_object_set_new(o, "steps", steps);
    return o;
}

int cli_show_json(struct store *st, long long run_id, FILE *out)
{
    struct run_view v;
    struct err e = ERR_INIT;
    if (view_load(st, run_id, &v, &e) < 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    json_t *doc = json_run(&v);
    size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(json_precision(doc));
    int rc = json_dumpf(doc, out, flags);
    json_decref(doc);
    view_release(&v);
    fputc('\n', out);
    if (rc < 0 || fflush(out) != 0) {
        cli_error("cannot write the JSON output");
        return -1;
    }
    return 0;
}

/* ---- tables for people ---- */

/* Add a cell the caller allocated (and give it up). */
static void table_take(struct cli_table *t, char *cell)
{
    cli_table_addf(t, "%s", cell);
    free(cell);
}

static void local_time(int64_t ms, char *buf, size_t n)
{
    if (ms <= 0) {
        snprintf(buf, n, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

/* A number for people: integers without a fraction, others with 6 significant digits. */
static void format_number(double v, char *buf, size_t n)
{
    if (isnan(v))
        snprintf(buf, n, "nan");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%.6g", v);
}

static char *format_cpu(double cpu_s)
{
    if (cpu_s < 1)
        return xasprintf("%.0fms", cpu_s * 1000);
    if (cpu_s < 60)
        return xasprintf("%.2fs", cpu_s);
    char d[32];
    duration_format((int64_t)(cpu_s * 1000), d, sizeof(d));
    return xstrdup(d);
}

/* What the step table shows of a step's attempts (cache records, n = 0, are not runs). */
struct step_totals {
    int runs;        /* attempts with n >= 1 */
    double cpu_s;    /* their cpu time, summed: what the step cost */
    int64_t peak_kb; /* their largest max_rss_kb */
};

static struct step_totals step_totals(const struct step_view *s)
{
    struct step_totals t = {0};
    for (size_t i = 0; i < s->natt; i++) {
        if (s->att[i].n < 1)
            continue;
        t.runs++;
        t.cpu_s += s->att[i].cpu_s;
        if (s->att[i].max_rss_kb > t.peak_kb)
            t.peak_kb = s->att[i].max_rss_kb;
    }
    return t;
}

/* Wall time of a step: "-" when it never ran (pending, skipped, cached, not reached). An
 * approval has no attempts but its wait counts. */
static char *step_duration(const struct step_view *s, int64_t now)
{
    const struct step_row *r = s->row;
    char d[32];
    switch (r->status) {
    case STEP_PENDING:
    case STEP_SKIPPED:
    case STEP_CACHED:
    case STEP_UPSTREAM_FAILED:
        return xstrdup("-");
    case STEP_CANCELLED:
        if (!step_totals(s).runs)
            return xstrdup("-");
        break;
    default:
        break;
    }
    if (!r->started_at)
        return xstrdup("-");
    duration_format((r->ended_at ? r->ended_at : now) - r->started_at, d, sizeof(d));
    return xstrdup(d);
}

/* The cells shared by the show table and the summary: duration, cpu, peak memory, cached. */
static void add_cost_cells(struct cli_table *t, const struct step_view *s, int64_t now)
{
    struct step_totals tot = step_totals(s);
    table_take(t, step_duration(s, now));
    table_take(t, tot.runs ? format_cpu(tot.cpu_s) : xstrdup("-"));
    if (tot.peak_kb > 0) {
        char m[32];
        size_format(tot.peak_kb * 1024, m, sizeof(m));
        cli_table_addf(t, "%s", m);
    } else {
        cli_table_addf(t, "-");
    }
    cli_table_addf(t, "%s", s->row->cached ? "yes" : "");
}

static void run_wall(const struct run_row *r, int64_t now, char *buf, int n)
{
    if (!r->started_at)
        snprintf(buf, (size_t)n, "-");
    else
        duration_format((r->ended_at ? r->ended_at : now) - r->started_at, buf, n);
}

static void print_series(FILE *out, const struct metric_row *m, size_t n)
{
    char num[40];
    for (size_t k = 0; k < n; k++) {
        if (n > SERIES_SHOWN && k == SERIES_SHOWN / 2) {
            fputs(" …", out);
            k = n - SERIES_SHOWN / 2;
        }
        format_number(m[k].value, num, sizeof(num));
        fprintf(out, " %s", num);
    }
    fprintf(out, " (%zu value%s)", n, n == 1 ? "" : "s");
}

/* The block under the table for one step; nothing when there is nothing to say. */
static void print_step_detail(FILE *out, const struct run_view *v, const struct step_view *s)
{
    const struct step_row *r = s->row;
    bool failed_attempt = false;
    int runs = 0;
    for (size_t i = 0; i < s->natt; i++) {
        if (s->att[i].n < 1)
            continue;
        runs++;
        if (!attempt_ok(&s->att[i]) && strcmp(s->att[i].status, "running"))
            failed_attempt = true;
    }
    bool show_attempts = runs > 1 || failed_attempt;
    if (!r->message && !s->nmet && !s->nout && !show_attempts)
        return;
    fprintf(out, "\n%s", r->name);
    if (r->message)
        fprintf(out, ": %s", r->message);
    fputc('\n', out);
    if (show_attempts) {
        const char *label = "attempts";
        for (size_t i = 0; i < s->natt; i++) {
            const struct attempt_row *a = &s->att[i];
            if (a->n < 1)
                continue;
            char d[32] = "";
            if (a->started_at && a->ended_at)
                duration_format(a->ended_at - a->started_at, d, sizeof(d));
            fprintf(out, "  %-9s %d %s", label, a->n, a->status);
            if (a->signal)
                fprintf(out, ", signal %d", a->signal);
            else if (a->exit_code > 0)
                fprintf(out, ", exit %d", a->exit_code);
            if (*d)
                fprintf(out, ", %s", d);
            fputc('\n', out);
            label = "";
        }
        if (failed_attempt)
            fprintf(out, "  %-9s sluice logs %lld %s --attempt N\n", "logs", (long long)v->run.id,
                    r->name);
    }
    const char *label = "metrics";
    for (size_t i = 0; i < s->nmet;) {
        size_t j = i;
        while (j < s->nmet && !strcmp(s->met[j].name, s->met[i].name))
            j++;
        fprintf(out, "  %-9s %s:", label, s->met[i].name);
        if (j == i + 1 && s->met[i].idx < 0) {
            char num[40];
            format_number(s->met[i].value, num, sizeof(num));
            fprintf(out, " %s", num);
        } else {
            print_series(out, &s->met[i], j - i);
        }
        fputc('\n', out);
        label = "";
        i = j;
    }
    label = "outputs";
    for (size_t i = 0; i < s->nout; i++) {
        const struct artifact_row *a = &s->out[i];
        char size[32];
        size_format(a->size, size, sizeof(size));
        fprintf(out, "  %-9s %s  %.12s  %s%s\n", label, a->name ? a->name : "", a->digest, size,
                a->kind && !strcmp(a->kind, "dir") ? " (folder)" : "");
        label = "";
    }
}

static void print_show(const struct run_view *v, FILE *out)
{
    const struct run_row *r = &v->run;
    int64_t now = store_now_ms();
    char t[32], d[32];
    fprintf(out, "run %lld  %s  %s\n", (long long)r->id, r->pipeline, run_status_name(r->status));
    if (r->message)
        fprintf(out, "  %-9s %s\n", "message", r->message);
    if (r->parent_run)
        fprintf(out, "  %-9s %s (of run %lld)\n", "trigger", r->trigger, (long long)r->parent_run);
    else
        fprintf(out, "  %-9s %s\n", "trigger", r->trigger);
    fprintf(out, "  %-9s %.12s%s%s\n", "version", r->version ? r->version : "", r->path ? "  " : "",
            r->path ? r->path : "");
    if (r->nparams) {
        fprintf(out, "  %-9s", "params");
        for (size_t i = 0; i < r->nparams; i++)
            fprintf(out, " %s=%s", r->params[i].name, r->params[i].value);
        fputc('\n', out);
    }
    local_time(r->created_at, t, sizeof(t));
    fprintf(out, "  %-9s %s\n", "created", t);
    if (r->started_at) {
        local_time(r->started_at, t, sizeof(t));
        fprintf(out, "  %-9s %s\n", "started", t);
    }
    run_wall(r, now, d, sizeof(d));
    if (r->ended_at) {
        local_time(r->ended_at, t, sizeof(t));
        fprintf(out, "  %-9s %s (took %s)\n", "ended", t, d);
    } else if (r->started_at) {
        fprintf(out, "  %-9s %s so far\n", "running", d);
    }
    if (!v->nsteps)
        return;
    fputc('\n', out);
    static const char *const head[] = {"STEP",     "KIND", "STATUS",   "ATTEMPTS",
                                       "DURATION", "CPU",  "PEAK MEM", "CACHED"};
    const size_t ncols = sizeof(head) / sizeof(head[0]);
    struct cli_table tab;
    cli_table_init(&tab, ncols);
    for (size_t c = 0; c < ncols; c++)
        cli_table_addf(&tab, "%s", head[c]);
    for (size_t i = 0; i < v->nsteps; i++) {
        const struct step_view *s = &v->sv[i];
        cli_table_addf(&tab, "%s", s->row->name);
        cli_table_addf(&tab, "%s", s->row->kind ? s->row->kind : "");
        cli_table_addf(&tab, "%s", step_status_name(s->row->status));
        cli_table_addf(&tab, "%d", step_totals(s).runs);
        add_cost_cells(&tab, s, now);
    }
    cli_table_print(&tab, out, "");
    for (size_t i = 0; i < v->nsteps; i++)
        print_step_detail(out, v, &v->sv[i]);
}

int cli_print_summary(struct store *st, long long run_id, FILE *out)
{
    struct run_view v;
    struct err e = ERR_INIT;
    if (view_load(st, run_id, &v, &e) < 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    int64_t now = store_now_ms();
    static const char *const head[] = {"STEP", "STATUS", "DURATION", "CPU", "PEAK MEM", "CACHED"};
    const size_t ncols = sizeof(head) / sizeof(head[0]);
    struct cli_table tab;
    cli_table_init(&tab, ncols);
    for (size_t c = 0; c < ncols; c++)
        cli_table_addf(&tab, "%s", head[c]);
    for (size_t i = 0; i < v.nsteps; i++) {
        cli_table_addf(&tab, "%s", v.sv[i].row->name);
        cli_table_addf(&tab, "%s", step_status_name(v.sv[i].row->status));
        add_cost_cells(&tab, &v.sv[i], now);
    }
    cli_table_print(&tab, out, "");
    /* Why something failed, and where to look. */
    for (size_t i = 0; i < v.nsteps; i++) {
        const struct step_row *r = v.sv[i].row;
        if (r->status != STEP_FAILED && r->status != STEP_LOST)
            continue;
        fprintf(out, "%s %s%s%s", r->name, step_status_name(r->status), r->message ? ": " : "",
                r->message ? r->message : "");
        if (step_totals(&v.sv[i]).runs)
            fprintf(out, " (sluice logs %lld %s)", run_id, r->name);
        fputc('\n', out);
    }
    char d[32];
    run_wall(&v.run, now, d, sizeof(d));
    fprintf(out, "run %lld %s in %s%s%s\n", run_id, run_status_name(v.run.status), d,
            v.run.message ? ": " : "", v.run.message ? v.run.message : "");
    view_release(&v);
    return fflush(out) == 0 ? 0 : -1;
}

int cmd_show(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    bool json = false;
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--") && i + 1 < argc && !arg)
            arg = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(usage, "unknown option '%s'", argv[i]);
        else if (!arg)
            arg = argv[i];
        else
            return cli_usage_error(usage, "one RUN at a time");
    }
    if (!arg)
        return cli_usage_error(usage, "missing RUN");
    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    long long id;
    int rc = EXIT_RUN_FAILED;
    if (cli_resolve_run(st, arg, &id) < 0)
        goto out;
    if (json) {
        if (cli_show_json(st, id, stdout) < 0)
            goto out;
    } else {
        struct run_view v;
        struct err e = ERR_INIT;
        if (view_load(st, id, &v, &e) < 0) {
            cli_error("%s", e.msg);
            goto out;
        }
        print_show(&v, stdout);
        view_release(&v);
        if (fflush(stdout) != 0)
            goto out;
    }
    rc = EXIT_OK;
out:
    store_close(st);
    return rc;
}
