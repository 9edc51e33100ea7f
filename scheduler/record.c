/* What a run leaves in the registry and the catalog: model versions at approve steps,
 * deployments after deploy steps, table versions after crawls; and what a step left in
 * $SLUICE_OUT that is not recorded. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "executor/artifact.h"
#include "executor/crawl.h"
#include "executor/deploy.h"
#include "scheduler/engine_int.h"
#include "store/registry.h"
#include "util/xalloc.h"

/* The model version an approve step of this run registered for the artifact r names. */
int find_run_model(struct run_ctx *run, const struct ref *r, struct model_row *out,
                          struct err *e)
{
    for (size_t i = 0; i < run->pipe->nsteps; i++) {
        const struct step *sp = &run->pipe->steps[i];
        if (sp->kind != KIND_APPROVE || !sp->model.step || strcmp(sp->model.step, r->step) ||
            strcmp(sp->model.output, r->output))
            continue;
        if (store_model_for_step(run->eng->st, run->id, sp->name, out, e) == 0)
            return 0;
    }
    e->code = STORE_NOT_FOUND;
    return err_set(e, "no model version registered for '%s/%s'", r->step, r->output);
}

static json_t *run_metrics_json(struct run_ctx *run)
{
    json_t *o = json_object();
    struct metric_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_metrics_load(run->eng->st, run->id, NULL, &rows, &n, &e) < 0)
        return o;
    for (size_t i = 0; i < n; i++) {
        char *key = xasprintf("%s.%s", rows[i].step, rows[i].name);
        if (rows[i].idx < 0) {
            json_object_set_new(o, key, json_real(rows[i].value));
        } else {
            json_t *arr = json_object_get(o, key);
            if (!json_is_array(arr)) {
                arr = json_array();
                json_object_set_new(o, key, arr);
            }
            json_array_append_new(arr, json_real(rows[i].value));
        }
        free(key);
    }
    metric_rows_free(rows, n);
    return o;
}

int step_register_model(struct run_ctx *run, struct step_rt *s, const char *name,
                        struct model_row *out, struct err *e)
{
    const struct step *sp = s->spec;
    struct output_rec *o = find_output(run, sp->model.step, sp->model.output);
    if (!o)
        return err_set(e, "model '%s/%s' is not available", sp->model.step, sp->model.output);
    json_t *m = run_metrics_json(run);
    char *text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    int rc = store_model_register(run->eng->st, name, o->artifact_id, run->id, sp->name, text,
                                  out, e);
    free(text);
    return rc;
}

char *step_challenger_summary(struct run_ctx *run, const struct model_row *m)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "%s v%d waits for approval", m->name, m->version);
    struct model_row champ = {0};
    struct err e = ERR_INIT;
    bool has_champ = store_model_deployed(run->eng->st, m->name, &champ, &e) == 0;
    json_t *cm = m->metrics ? json_loads(m->metrics, 0, NULL) : NULL;
    json_t *om = has_champ && champ.metrics ? json_loads(champ.metrics, 0, NULL) : NULL;
    const char *k;
    json_t *v;
    int shown = 0;
    json_object_foreach(cm, k, v) {
        if (!json_is_number(v) || shown == 4)
            continue;
        strbuf_addf(&sb, "%s %s %.4g", shown++ ? "," : ":", k, json_number_value(v));
        json_t *ov = json_object_get(om, k);
        if (json_is_number(ov))
            strbuf_addf(&sb, " (deployed v%d: %.4g, %+.4g)", champ.version, json_number_value(ov),
                        json_number_value(v) - json_number_value(ov));
    }
    if (!has_champ)
        strbuf_addstr(&sb, " (no version deployed yet)");
    json_decref(cm);
    json_decref(om);
    model_row_release(&champ);
    return strbuf_detach(&sb, NULL);
}

/* The drift report, a line per change, as one line: "column 'a' removed; column 'b' added". */
static char *report_line(const char *report)
{
    struct strbuf sb = STRBUF_INIT;
    for (const char *l = report; *l;) {
        size_t n = strcspn(l, "\n");
        if (n)
            strbuf_addf(&sb, "%s%.*s", sb.len ? "; " : "", (int)n, l);
        l += n + (l[n] == '\n');
    }
    return strbuf_detach(&sb, NULL);
}

/* A crawl's schema becomes a new catalog version of its table when the columns changed. */
int record_catalog(struct run_ctx *run, struct step_rt *s, const struct output_rec *o,
                          struct err *e)
{
    const struct step *sp = s->spec;
    struct store *st = run->eng->st;
    char *path = xasprintf("%s/out/schema.json", s->attempt_dir);
    struct strbuf text = STRBUF_INIT;
    char *table = NULL;
    int rc = step_field(run, sp, "table", &table, e);
    if (rc < 0)
        goto out;
    int rd = strbuf_read_regular(&text, path, 64 * 1024 * 1024);
    if (rd != 0) {
        rc = rd == -1 ? err_set(e, "cannot read '%s': %s", path, strerror(errno))
                      : err_set(e, "'%s' is not a regular file of at most 64 MiB", path);
        goto out;
    }
    json_t *j = json_loads(text.buf, 0, NULL);
    int64_t rows = j ? (int64_t)json_integer_value(json_object_get(j, "rows")) : 0;
    json_decref(j);
    rc = store_metric_put(st, run->id, sp->name, "rows", -1, (double)rows, e);
    if (rc < 0)
        goto out;
    struct catalog_row last = {0};
    struct err le = ERR_INIT;
    bool have_last = store_catalog_latest(st, table, &last, &le) == 0;
    if (!have_last && le.code != STORE_NOT_FOUND) {
        *e = le;
        rc = -1;
        goto out;
    }
    bool changed = true;
    struct strbuf report = STRBUF_INIT;
    if (have_last && crawl_schema_diff(last.schema, text.buf, &report, &changed, e) < 0)
        rc = -1;
    char *drift = report_line(report.buf);
    if (rc == 0 && changed && have_last && sp->on_drift == DRIFT_FAIL) {
        rc = err_set(e, "schema drift in table '%s' (v%d): %s", table, last.version, drift);
    } else if (rc == 0 && changed) {
        int version = 0;
        rc = store_catalog_add(st, table, text.buf, rows, o->artifact_id, run->id, &version,
                               e);
        free(s->note);
        s->note = have_last ? xasprintf("schema drift: table '%s' v%d: %s", table, version, drift)
                            : xasprintf("new table '%s' v%d in the catalog", table, version);
    }
    free(drift);
    strbuf_release(&report);
    catalog_row_release(&last);
out:
    strbuf_release(&text);
    free(table);
    free(path);
    return rc;
}

/* A deploy switched the target's live slot: the registry follows. */
int record_deployment(struct run_ctx *run, struct step_rt *s, struct err *e)
{
    const struct step *sp = s->spec;
    char *target = NULL;
    struct deploy_state ds;
    struct model_row m = {0};
    int rc = step_field(run, sp, "target", &target, e);
    if (rc == 0)
        rc = deploy_current(target, &ds, e);
    if (rc == 0 && find_run_model(run, &sp->model, &m, e) < 0) {
        /* No approve step registered it: a deploy still makes it a version of the registry. */
        struct output_rec *o = find_output(run, sp->model.step, sp->model.output);
        json_t *mj = run_metrics_json(run);
        char *text = json_dumps(mj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(mj);
        rc = o ? store_model_register(run->eng->st, run->pipe->name, o->artifact_id, run->id,
                                      sp->name, text, &m, e)
               : err_set(e, "model '%s/%s' is not available", sp->model.step, sp->model.output);
        free(text);
    }
    if (rc == 0)
        rc = store_deployment_add(run->eng->st, m.id, run->id, target, ds.slot, "deployed", e);
    if (rc == 0) {
        free(s->note);
        s->note = xasprintf("deployed %s v%d to '%s' (slot %s)", m.name, m.version, target,
                            ds.slot);
    }
    model_row_release(&m);
    free(target);
    return rc;
}

/* Add a line to an attempt's log, which only the step's shim wrote so far. The step could have
 * left anything in its place: only a regular file is written to. */
static void log_append(const char *dir, const char *line)
{
    char *path = xasprintf("%s/log", dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        ssize_t w = write(fd, line, strlen(line)); /* best effort: the message says it too */
        (void)w;
    }
    if (fd >= 0)
        close(fd);
    free(path);
}

#define UNDECLARED_SHOWN 5 /* names in the message; the count says how many more */

int record_undeclared(struct step_rt *s, struct err *e)
{
    const struct step *sp = s->spec;
    const char **declared = xcalloc(sp->noutputs + 1, sizeof(*declared));
    for (size_t i = 0; i < sp->noutputs; i++)
        declared[i] = sp->outputs[i].s;
    char *names[UNDECLARED_SHOWN];
    char *out = xasprintf("%s/out", s->attempt_dir);
    long n = artifact_undeclared(out, declared, sp->noutputs, names, UNDECLARED_SHOWN, e);
    free(out);
    free(declared);
    if (n <= 0)
        return n < 0 ? -1 : 0;
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "not recorded: ");
    for (long i = 0; i < n && i < UNDECLARED_SHOWN; i++) {
        strbuf_addstr(&sb, i ? ", '" : "'");
        for (const char *c = names[i]; *c; c++)
            strbuf_addch(&sb, iscntrl((unsigned char)*c) ? '?' : *c);
        strbuf_addch(&sb, '\'');
        free(names[i]);
    }
    if (n > UNDECLARED_SHOWN)
        strbuf_addf(&sb, " and %ld more", n - UNDECLARED_SHOWN);
    strbuf_addstr(&sb, " (not declared in outputs:)");
    char *line = xasprintf("sluice: %s\n", sb.buf);
    log_append(s->attempt_dir, line);
    free(line);
    if (s->note) {
        char *both = xasprintf("%s; %s", s->note, sb.buf);
        free(s->note);
        s->note = both;
        strbuf_release(&sb);
    } else {
        s->note = strbuf_detach(&sb, NULL);
    }
    return 0;
}
