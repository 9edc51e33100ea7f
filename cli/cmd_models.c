/* `sluice models [NAME]`: the model registry — every version with its status, run, digest and
 * metrics, newest first; with NAME also its deployment history and the approval decisions of
 * each version. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "store/doc.h"
#include "store/registry.h"
#include "store/store.h"
#include "util/strbuf.h"

static const char usage[] =
    "usage: sluice models [NAME] [--json]\n"
    "\n"
    "List the versions of every model in the registry (or of model NAME), newest first: status\n"
    "(pending, approved, rejected, deployed, retired), the run that made it, its digest and\n"
    "the run's main metrics. With NAME, also where it was deployed and who approved what.\n"
    "\n"
    "      --json  print a JSON array: [{\"name\", \"version\", \"status\", \"run\", \"sha256\",\n"
    "              \"created_at\", \"metrics\": {...}}, ...]; with NAME each version also has\n"
    "              \"approvals\" and \"deployments\"\n";

/* Metrics shown in the table's last column; the rest are in --json and `sluice show`. */
#define KEY_METRICS 3

/* ---- formatting ---- */

/* "evaluate.f1=0.9312 evaluate.acc=0.95": the first few scalar metrics. */
static char *key_metrics(const char *text)
{
    json_t *m = doc_model_metrics(text);
    struct strbuf sb = STRBUF_INIT;
    const char *k;
    json_t *v;
    int shown = 0, more = 0;
    json_object_foreach(m, k, v) {
        if (!json_is_number(v))
            continue;
        if (shown == KEY_METRICS) {
            more++;
            continue;
        }
        strbuf_addf(&sb, "%s%s=%.4g", shown++ ? " " : "", k, json_number_value(v));
    }
    if (more)
        strbuf_addf(&sb, " (+%d)", more);
    json_decref(m);
    return strbuf_detach(&sb, NULL);
}

/* ---- output ---- */

static int print_json(struct store *st, const struct model_row *rows, size_t n,
                      const struct deployment_row *deps, size_t ndeps, bool detail)
{
    json_t *a = doc_models_json(st, rows, n, deps, ndeps, detail);
    int rc = json_dumpf(a, stdout,
                        JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                            JSON_REAL_PRECISION(DOC_MODELS_PRECISION));
    json_decref(a);
    fputc('\n', stdout);
    return rc < 0 ? -1 : 0;
}

static void print_versions(const struct model_row *rows, size_t n, bool with_name)
{
    struct cli_table t;
    cli_table_init(&t, with_name ? 7 : 6);
    if (with_name)
        cli_table_addf(&t, "NAME");
    cli_table_addf(&t, "VERSION");
    cli_table_addf(&t, "STATUS");
    cli_table_addf(&t, "RUN");
    cli_table_addf(&t, "CREATED");
    cli_table_addf(&t, "SHA256");
    cli_table_addf(&t, "METRICS");
    for (size_t i = 0; i < n; i++) {
        const struct model_row *m = &rows[i];
        char created[32];
        cli_local_time(m->created_at, created, sizeof(created));
        if (with_name)
            cli_table_addf(&t, "%s", m->name);
        cli_table_addf(&t, "%d", m->version);
        cli_table_addf(&t, "%s", m->status);
        if (m->run_id)
            cli_table_addf(&t, "%lld", (long long)m->run_id);
        else
            cli_table_addf(&t, "-");
        cli_table_addf(&t, "%s", created);
        cli_table_addf(&t, "%.12s", m->digest ? m->digest : "");
        char *km = key_metrics(m->metrics);
        cli_table_addf(&t, "%s", km);
        free(km);
    }
    cli_table_print(&t, stdout, "");
}

static void print_deployments(const struct deployment_row *d, size_t n)
{
    printf("\ndeployments:\n");
    if (!n) {
        printf("  never deployed\n");
        return;
    }
    struct cli_table t;
    cli_table_init(&t, 6);
    cli_table_addf(&t, "AT");
    cli_table_addf(&t, "VERSION");
    cli_table_addf(&t, "STATUS");
    cli_table_addf(&t, "SLOT");
    cli_table_addf(&t, "BY");
    cli_table_addf(&t, "TARGET");
    for (size_t i = 0; i < n; i++) {
        char at[32];
        cli_local_time(d[i].at, at, sizeof(at));
        cli_table_addf(&t, "%s", at);
        cli_table_addf(&t, "%d", d[i].version);
        cli_table_addf(&t, "%s", d[i].status);
        cli_table_addf(&t, "%s", d[i].slot ? d[i].slot : "-");
        if (d[i].run_id)
            cli_table_addf(&t, "run %lld", (long long)d[i].run_id);
        else
            cli_table_addf(&t, "rollback");
        cli_table_addf(&t, "%s", d[i].target);
    }
    cli_table_print(&t, stdout, "  ");
}

static void print_approvals(struct store *st, const struct model_row *rows, size_t n)
{
    struct cli_table t;
    cli_table_init(&t, 5);
    cli_table_addf(&t, "VERSION");
    cli_table_addf(&t, "DECISION");
    cli_table_addf(&t, "BY");
    cli_table_addf(&t, "AT");
    cli_table_addf(&t, "COMMENT");
    for (size_t i = 0; i < n; i++) {
        size_t all, mine;
        struct approval_row *a = doc_model_approvals(st, &rows[i], &all, &mine);
        for (size_t k = 0; k < mine; k++) {
            char at[32];
            cli_local_time(a[k].at, at, sizeof(at));
            cli_table_addf(&t, "%d", rows[i].version);
            cli_table_addf(&t, "%s", a[k].decision);
            cli_table_addf(&t, "%s", a[k].by ? a[k].by : "-");
            cli_table_addf(&t, "%s", at);
            cli_table_addf(&t, "%s", a[k].comment ? a[k].comment : "");
        }
        approval_rows_free(a, all);
    }
    printf("\napprovals:\n");
    if (t.n == t.ncols) {
        printf("  none yet\n");
        cli_table_release(&t);
        return;
    }
    cli_table_print(&t, stdout, "  ");
}

int cmd_models(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    const char *name;
    bool json;
    if (cli_optional_arg(argc, argv, usage, "NAME", &name, &json))
        return EXIT_USAGE;
    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    struct model_row *rows = NULL;
    struct deployment_row *deps = NULL;
    size_t n = 0, ndeps = 0;
    struct err e = ERR_INIT;
    int rc = EXIT_RUN_FAILED;
    if (store_model_list(st, name, &rows, &n, &e) < 0 ||
        (name && store_deployments_list(st, name, &deps, &ndeps, &e) < 0)) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (name && !n) {
        cli_error("no model '%s' in the registry", name);
        goto out;
    }
    rc = EXIT_OK;
    if (json) {
        if (print_json(st, rows, n, deps, ndeps, name != NULL) < 0) {
            cli_error("cannot write the JSON output");
            rc = EXIT_RUN_FAILED;
        }
    } else if (!n) {
        printf("no models in the registry yet: an approve step with model: registers one\n");
    } else if (!name) {
        print_versions(rows, n, true);
    } else {
        printf("model %s: %zu version%s\n\n", name, n, n == 1 ? "" : "s");
        print_versions(rows, n, false);
        print_deployments(deps, ndeps);
        print_approvals(st, rows, n);
    }
out:
    model_rows_free(rows, n);
    deployment_rows_free(deps, ndeps);
    store_close(st);
    return rc;
}
