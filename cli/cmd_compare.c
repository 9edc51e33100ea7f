/* `sluice compare RUN RUN...`: parameters and metrics of several runs side by side, with the
 * change against the first run; or the same as JSON (the web page's compare view reads the
 * same shape from /api/compare). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/doc.h"
#include "store/store.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice compare RUN RUN... [--json]\n"
    "\n"
    "Show the parameters and metrics of the RUNs (numbers, or 'last') side by side: one row per\n"
    "parameter, then one per metric (STEP.METRIC; a series shows its last value and length),\n"
    "a column per run, and the change of each number against the first run. Rows whose values\n"
    "differ are marked with '*'.\n"
    "\n"
    "      --json  print {\"runs\": [ids], \"params\": {NAME: [value per run]},\n"
    "              \"metrics\": {\"STEP.METRIC\": [value per run or null]},\n"
    "              \"series\": {\"STEP.METRIC\": [[values] per run or null]}}\n";

/* ---- values ---- */

/* A number, when the whole text is one. */
static bool text_number(const char *s, double *v)
{
    char *end;
    if (!s || !*s)
        return false;
    errno = 0;
    *v = strtod(s, &end);
    return !*end && !errno && isfinite(*v);
}

static bool cell_number(const struct doc_row *r, const struct doc_cell *c, double *v)
{
    if (!c->has)
        return false;
    if (r->type == DOC_ROW_PARAM)
        return text_number(c->text, v);
    *v = c->v;
    return !isnan(c->v);
}

static bool cells_equal(const struct doc_row *r, const struct doc_cell *a, const struct doc_cell *b)
{
    if (a->has != b->has)
        return false;
    if (!a->has)
        return true;
    switch (r->type) {
    case DOC_ROW_PARAM:
        return !strcmp(a->text, b->text);
    case DOC_ROW_METRIC:
        return a->v == b->v || (isnan(a->v) && isnan(b->v));
    case DOC_ROW_SERIES:
        if (a->len != b->len)
            return false;
        for (size_t i = 0; i < a->len; i++)
            if (a->series[i] != b->series[i] && !(isnan(a->series[i]) && isnan(b->series[i])))
                return false;
        return true;
    }
    return false;
}

static bool row_differs(const struct doc_compare *c, const struct doc_row *r)
{
    for (size_t i = 1; i < c->nruns; i++)
        if (!cells_equal(r, &r->cells[0], &r->cells[i]))
            return true;
    return false;
}

static void format_number(double v, char *buf, size_t n)
{
    if (isnan(v))
        snprintf(buf, n, "nan");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%.6g", v);
}

static char *cell_text(const struct doc_row *r, const struct doc_cell *c)
{
    char num[40];
    if (!c->has)
        return xstrdup("-");
    if (r->type == DOC_ROW_PARAM)
        return xstrdup(c->text);
    format_number(c->v, num, sizeof(num));
    if (r->type == DOC_ROW_SERIES)
        return xasprintf("%s (n=%zu)", c->len ? num : "-", c->len);
    return xstrdup(num);
}

/* "+0.012": the change against the first run; empty when there is none to speak of. */
static char *delta_text(const struct doc_row *r, const struct doc_cell *first,
                        const struct doc_cell *c)
{
    double a, b;
    if (!cell_number(r, first, &a) || !cell_number(r, c, &b) || a == b)
        return xstrdup("");
    char buf[40];
    snprintf(buf, sizeof(buf), "%+.4g", b - a);
    return xstrdup(buf);
}

/* ---- output ---- */

/* Add a cell the caller allocated (and give it up). */
static void table_take(struct cli_table *t, char *cell)
{
    cli_table_addf(t, "%s", cell);
    free(cell);
}

static void print_table(const struct doc_compare *c)
{
    /* mark, name, one column per run, one delta column per run after the first */
    struct cli_table t;
    size_t ncols = 2 + c->nruns + (c->nruns - 1);
    cli_table_init(&t, ncols);
    cli_table_addf(&t, "%s", "");
    cli_table_addf(&t, "RUN");
    for (size_t r = 0; r < c->nruns; r++)
        cli_table_addf(&t, "%lld", (long long)c->ids[r]);
    for (size_t r = 1; r < c->nruns; r++)
        cli_table_addf(&t, "Δ%lld", (long long)c->ids[r]);
    bool mixed = false;
    for (size_t r = 1; r < c->nruns; r++)
        mixed |= strcmp(c->pipelines[r], c->pipelines[0]) != 0;
    if (mixed) {
        cli_table_addf(&t, "*");
        cli_table_addf(&t, "pipeline");
        for (size_t r = 0; r < c->nruns; r++)
            cli_table_addf(&t, "%s", c->pipelines[r]);
        for (size_t r = 1; r < c->nruns; r++)
            cli_table_addf(&t, "%s", "");
    }
    static const char *const section[] = {"params", "metrics", "series"};
    int last = -1;
    for (size_t i = 0; i < c->nrows; i++) {
        const struct doc_row *row = &c->rows[i];
        /* scalar metrics and series share one section */
        int sec = row->type == DOC_ROW_PARAM ? 0 : 1;
        if (sec != last) {
            cli_table_addf(&t, "%s", "");
            cli_table_addf(&t, "%s", section[sec]);
            for (size_t k = 2; k < ncols; k++)
                cli_table_addf(&t, "%s", "");
            last = sec;
        }
        cli_table_addf(&t, "%s", row_differs(c, row) ? "*" : "");
        cli_table_addf(&t, "  %s", row->key);
        for (size_t r = 0; r < c->nruns; r++)
            table_take(&t, cell_text(row, &row->cells[r]));
        for (size_t r = 1; r < c->nruns; r++)
            table_take(&t, delta_text(row, &row->cells[0], &row->cells[r]));
    }
    cli_table_print(&t, stdout, "");
}

static int print_json(const struct doc_compare *c)
{
    json_t *doc = doc_compare_json(c);
    int rc = doc_dump(doc, stdout);
    json_decref(doc);
    return rc;
}

int cmd_compare(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    bool json = false;
    const char **args = xcalloc((size_t)argc, sizeof(*args));
    size_t nargs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            free(args);
            return cli_usage_error(usage, "unknown option '%s'", argv[i]);
        } else {
            args[nargs++] = argv[i];
        }
    }
    if (nargs < 2) {
        free(args);
        return cli_usage_error(usage, "compare needs at least two runs");
    }
    struct store *st = cli_open_store();
    if (!st) {
        free(args);
        return EXIT_RUN_FAILED;
    }
    int rc = EXIT_RUN_FAILED;
    struct doc_compare c = {0};
    long long *ids = xcalloc(nargs, sizeof(*ids));
    int64_t *ids64 = xcalloc(nargs, sizeof(*ids64));
    struct err e = ERR_INIT;
    for (size_t r = 0; r < nargs; r++) {
        if (cli_resolve_run(st, args[r], &ids[r]) < 0)
            goto out;
        ids64[r] = ids[r];
    }
    if (doc_compare_load(st, ids64, nargs, &c, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (json) {
        if (print_json(&c) < 0) {
            cli_error("cannot write the JSON output");
            goto out;
        }
    } else {
        print_table(&c);
    }
    rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUN_FAILED;
out:
    doc_compare_release(&c);
    free(ids);
    free(ids64);
    free(args);
    store_close(st);
    return rc;
}
