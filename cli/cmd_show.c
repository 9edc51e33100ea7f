/* `sluice show RUN`: one run in full — header, step table (attempts, duration, cpu, memory,
 * cache), then per step its message, attempts and batch jobs, metrics and outputs; or the same
 * as one JSON document (cli_show_json, also `sluice run --json`). And cli_print_summary, the
 * table `sluice run` prints when a run ends. */
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
#include "store/doc.h"
#include "store/store.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice show RUN [--json]\n"
    "\n"
    "Show RUN (a number, or 'last'): its parameters, and for each step the status, attempts,\n"
    "duration, cpu time, peak memory, cache use, message, metrics and outputs; for an attempt\n"
    "run as a Slurm job, the job's id, node, state, time in the queue and why it waits.\n"
    "\n"
    "      --json  print one JSON document: {\"id\", \"pipeline\", \"status\", \"params\",\n"
    "              \"steps\": [{\"name\", \"kind\", \"status\", \"cached\", \"message\",\n"
    "              \"attempts\", \"metrics\", \"outputs\"}], ...}; parameter values that read\n"
    "              as JSON numbers or true/false are typed, the others are strings; attempt 0\n"
    "              of a step is the record of a cache hit (status cached); an attempt has\n"
    "              \"executor\", \"job_id\", \"node\", \"queued_at\", \"queue_s\", \"job_state\",\n"
    "              \"job_reason\" (null for a local one); \"started_at\" is null while its job\n"
    "              waits in the queue\n";

/* Series longer than this are shown as their first and last few values. */
#define SERIES_SHOWN 8

int cli_show_json(struct store *st, long long run_id, FILE *out)
{
    struct err e = ERR_INIT;
    json_t *doc = doc_run(st, run_id, &e);
    if (!doc) {
        cli_error("%s", e.msg);
        return -1;
    }
    int rc = doc_dump(doc, out);
    json_decref(doc);
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

static struct step_totals step_totals(const struct doc_step_view *s)
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
static char *step_duration(const struct doc_step_view *s, int64_t now)
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
static void add_cost_cells(struct cli_table *t, const struct doc_step_view *s, int64_t now)
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

/* What a batch executor's attempt is in its queue: "slurm job 8123 on n1 · RUNNING · queued
 * 400ms", "slurm job 8123 · PENDING (Resources) · waiting 12s". */
static void print_job(FILE *out, const struct attempt_row *a, const struct doc_queue *q)
{
    char d[32];
    if (a->job_id)
        fprintf(out, "%s job %s", a->executor, a->job_id);
    else
        fprintf(out, "%s, %s", a->executor, a->ended_at ? "no job" : "not submitted yet");
    if (a->node)
        fprintf(out, " on %s", a->node);
    if (a->job_state)
        fprintf(out, " · %s", a->job_state);
    if (a->job_reason)
        fprintf(out, " (%s)", a->job_reason);
    if (q->queued) {
        duration_format(q->ms, d, sizeof(d));
        fprintf(out, " · %s %s%s", q->waiting ? "waiting" : "queued", d,
                q->started || q->waiting ? "" : ", never started");
    }
    fputc('\n', out);
}

/* The block under the table for one step; nothing when there is nothing to say. */
static void print_step_detail(FILE *out, const struct doc_run_view *v,
                              const struct doc_step_view *s, int64_t now)
{
    const struct step_row *r = s->row;
    bool failed_attempt = false, batch = false;
    int runs = 0;
    for (size_t i = 0; i < s->natt; i++) {
        if (s->att[i].n < 1)
            continue;
        runs++;
        batch |= doc_attempt_queue(&s->att[i], now).batch;
        if (!doc_attempt_ok(&s->att[i]) && strcmp(s->att[i].status, "running"))
            failed_attempt = true;
    }
    bool show_attempts = runs > 1 || failed_attempt;
    if (!r->message && !s->nmet && !s->nout && !show_attempts && !batch)
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
            struct doc_queue q = doc_attempt_queue(a, now);
            char d[32] = "";
            if (q.started && a->started_at && a->ended_at)
                duration_format(a->ended_at - a->started_at, d, sizeof(d));
            fprintf(out, "  %-9s %d %s", label, a->n, a->status);
            if (a->signal)
                fprintf(out, ", signal %d", a->signal);
            else if (a->exit_code > 0)
                fprintf(out, ", exit %d", a->exit_code);
            if (*d)
                fprintf(out, ", %s", d);
            fputc('\n', out);
            if (q.batch) {
                fprintf(out, "  %-9s   ", "");
                print_job(out, a, &q);
            }
            label = "";
        }
        if (failed_attempt)
            fprintf(out, "  %-9s sluice logs %lld %s --attempt N\n", "logs", (long long)v->run.id,
                    r->name);
    }
    for (size_t i = 0; i < s->natt && !show_attempts; i++) {
        struct doc_queue q = doc_attempt_queue(&s->att[i], now);
        if (s->att[i].n < 1 || !q.batch)
            continue;
        fprintf(out, "  %-9s ", "job");
        print_job(out, &s->att[i], &q);
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

static void print_show(const struct doc_run_view *v, FILE *out)
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
    cli_local_time(r->created_at, t, sizeof(t));
    fprintf(out, "  %-9s %s\n", "created", t);
    if (r->started_at) {
        cli_local_time(r->started_at, t, sizeof(t));
        fprintf(out, "  %-9s %s\n", "started", t);
    }
    run_wall(r, now, d, sizeof(d));
    if (r->ended_at) {
        cli_local_time(r->ended_at, t, sizeof(t));
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
        const struct doc_step_view *s = &v->sv[i];
        cli_table_addf(&tab, "%s", s->row->name);
        cli_table_addf(&tab, "%s", s->row->kind ? s->row->kind : "");
        cli_table_addf(&tab, "%s", step_status_name(s->row->status));
        cli_table_addf(&tab, "%d", step_totals(s).runs);
        add_cost_cells(&tab, s, now);
    }
    cli_table_print(&tab, out, "");
    for (size_t i = 0; i < v->nsteps; i++)
        print_step_detail(out, v, &v->sv[i], now);
}

int cli_print_summary(struct store *st, long long run_id, FILE *out)
{
    struct doc_run_view v;
    struct err e = ERR_INIT;
    if (doc_run_view_load(st, run_id, &v, &e) < 0) {
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
    doc_run_view_release(&v);
    return fflush(out) == 0 ? 0 : -1;
}

int cmd_show(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    bool json;
    const char *arg;
    int bad = cli_one_arg(argc, argv, usage, "RUN", &arg, &json);
    if (bad)
        return bad;
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
        struct doc_run_view v;
        struct err e = ERR_INIT;
        if (doc_run_view_load(st, id, &v, &e) < 0) {
            cli_error("%s", e.msg);
            goto out;
        }
        print_show(&v, stdout);
        doc_run_view_release(&v);
        if (fflush(stdout) != 0)
            goto out;
    }
    rc = EXIT_OK;
out:
    store_close(st);
    return rc;
}
