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
#include "store/store.h"
#include "util/strmap.h"
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

/* One value of one row for one run. */
struct cell {
    bool has;
    char *text;     /* a parameter's value */
    double v;       /* a scalar metric; a series' last value */
    double *series; /* a series' values */
    size_t len;
};

enum row_type { ROW_PARAM, ROW_METRIC, ROW_SERIES };

struct row {
    char *key; /* parameter name, or STEP.METRIC */
    enum row_type type;
    struct cell *cells; /* one per run */
};

struct compare {
    size_t nruns;
    long long *ids;
    char **pipelines;
    struct row *rows;
    size_t nrows, alloc;
    struct strmap index[3]; /* by row type: key -> row index */
};

static struct cell *cell_for(struct compare *c, enum row_type type, const char *key, size_t run)
{
    size_t i;
    if (!strmap_get(&c->index[type], key, &i)) {
        XGROW(c->rows, c->alloc, c->nrows + 1);
        i = c->nrows++;
        c->rows[i].key = xstrdup(key);
        c->rows[i].type = type;
        c->rows[i].cells = xcalloc(c->nruns, sizeof(struct cell));
        strmap_put(&c->index[type], key, i);
    }
    return &c->rows[i].cells[run];
}

static void compare_release(struct compare *c)
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
    for (size_t r = 0; r < c->nruns; r++)
        free(c->pipelines[r]);
    free(c->pipelines);
    for (int t = 0; t < 3; t++)
        strmap_release(&c->index[t]);
}

static int load_run(struct store *st, struct compare *c, size_t run, struct err *e)
{
    struct run_row r;
    if (store_run_get(st, c->ids[run], &r, e) < 0)
        return -1;
    c->pipelines[run] = xstrdup(r.pipeline ? r.pipeline : "");
    for (size_t i = 0; i < r.nparams; i++) {
        struct cell *cl = cell_for(c, ROW_PARAM, r.params[i].name, run);
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
            struct cell *cl = cell_for(c, ROW_METRIC, key, run);
            cl->has = true;
            cl->v = m[i].value;
        } else {
            struct cell *cl = cell_for(c, ROW_SERIES, key, run);
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
    const struct row *x = a, *y = b;
    if (x->type != y->type)
        return (int)x->type - (int)y->type;
    return strcmp(x->key, y->key);
}

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

static bool cell_number(const struct row *r, const struct cell *c, double *v)
{
    if (!c->has)
        return false;
    if (r->type == ROW_PARAM)
        return text_number(c->text, v);
    *v = c->v;
    return !isnan(c->v);
}

static bool cells_equal(const struct row *r, const struct cell *a, const struct cell *b)
{
    if (a->has != b->has)
        return false;
    if (!a->has)
        return true;
    switch (r->type) {
    case ROW_PARAM:
        return !strcmp(a->text, b->text);
    case ROW_METRIC:
        return a->v == b->v || (isnan(a->v) && isnan(b->v));
    case ROW_SERIES:
        if (a->len != b->len)
            return false;
        for (size_t i = 0; i < a->len; i++)
            if (a->series[i] != b->series[i] && !(isnan(a->series[i]) && isnan(b->series[i])))
                return false;
        return true;
    }
    return false;
}

static bool row_differs(const struct compare *c, const struct row *r)
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

static char *cell_text(const struct row *r, const struct cell *c)
{
    char num[40];
    if (!c->has)
        return xstrdup("-");
    if (r->type == ROW_PARAM)
        return xstrdup(c->text);
    format_number(c->v, num, sizeof(num));
    if (r->type == ROW_SERIES)
        return xasprintf("%s (n=%zu)", c->len ? num : "-", c->len);
    return xstrdup(num);
}

/* "+0.012": the change against the first run; empty when there is none to speak of. */
static char *delta_text(const struct row *r, const struct cell *first, const struct cell *c)
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

static void print_table(const struct compare *c)
{
    /* mark, name, one column per run, one delta column per run after the first */
    struct cli_table t;
    size_t ncols = 2 + c->nruns + (c->nruns - 1);
    cli_table_init(&t, ncols);
    cli_table_addf(&t, "%s", "");
    cli_table_addf(&t, "RUN");
    for (size_t r = 0; r < c->nruns; r++)
        cli_table_addf(&t, "%lld", c->ids[r]);
    for (size_t r = 1; r < c->nruns; r++)
        cli_table_addf(&t, "Δ%lld", c->ids[r]);
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
        const struct row *row = &c->rows[i];
        /* scalar metrics and series share one section */
        int sec = row->type == ROW_PARAM ? 0 : 1;
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

/* Typed as in `sluice show --json`: a number, true/false, else the text. */
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

static json_t *json_number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
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

/* jansson prints all reals of a document with one precision (17 digits by default, so 0.93
 * reads 0.93000000000000005): the fewest that keep every value of j exact. */
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
            p = q > p ? q : p;
        }
    } else if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            int q = json_precision(v);
            p = q > p ? q : p;
        }
    }
    return p;
}

static int print_json(const struct compare *c)
{
    json_t *doc = json_object(), *ids = json_array(), *pipes = json_array();
    json_t *sect[3] = {json_object(), json_object(), json_object()};
    for (size_t r = 0; r < c->nruns; r++) {
        json_array_append_new(ids, json_integer(c->ids[r]));
        json_array_append_new(pipes, json_string(c->pipelines[r]));
    }
    for (size_t i = 0; i < c->nrows; i++) {
        const struct row *row = &c->rows[i];
        json_t *vals = json_array();
        for (size_t r = 0; r < c->nruns; r++) {
            const struct cell *cl = &row->cells[r];
            json_t *v;
            if (!cl->has) {
                v = json_null();
            } else if (row->type == ROW_PARAM) {
                v = json_param(cl->text);
            } else if (row->type == ROW_METRIC) {
                v = json_number(cl->v);
            } else {
                v = json_array();
                for (size_t k = 0; k < cl->len; k++)
                    json_array_append_new(v, json_number(cl->series[k]));
            }
            json_array_append_new(vals, v);
        }
        json_object_set_new(sect[row->type], row->key, vals);
    }
    json_object_set_new(doc, "runs", ids);
    json_object_set_new(doc, "pipelines", pipes);
    json_object_set_new(doc, "params", sect[ROW_PARAM]);
    json_object_set_new(doc, "metrics", sect[ROW_METRIC]);
    json_object_set_new(doc, "series", sect[ROW_SERIES]);
    size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(json_precision(doc));
    int rc = json_dumpf(doc, stdout, flags);
    json_decref(doc);
    fputc('\n', stdout);
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
    struct compare c = {.nruns = nargs};
    c.ids = xcalloc(nargs, sizeof(*c.ids));
    c.pipelines = xcalloc(nargs, sizeof(*c.pipelines));
    for (int t = 0; t < 3; t++)
        strmap_init(&c.index[t]);
    struct err e = ERR_INIT;
    for (size_t r = 0; r < nargs; r++)
        if (cli_resolve_run(st, args[r], &c.ids[r]) < 0)
            goto out;
    for (size_t r = 0; r < nargs; r++) {
        if (load_run(st, &c, r, &e) < 0) {
            cli_error("%s", e.msg);
            goto out;
        }
    }
    /* Parameters first, in their order of first appearance (the pipeline's); the metrics
     * after them, sorted. The index maps are stale from here on, and no longer used. */
    struct row *sorted = xcalloc(c.nrows ? c.nrows : 1, sizeof(*sorted));
    size_t np = 0, k;
    for (size_t i = 0; i < c.nrows; i++)
        if (c.rows[i].type == ROW_PARAM)
            sorted[np++] = c.rows[i];
    k = np;
    for (size_t i = 0; i < c.nrows; i++)
        if (c.rows[i].type != ROW_PARAM)
            sorted[k++] = c.rows[i];
    if (c.nrows)
        memcpy(c.rows, sorted, c.nrows * sizeof(*sorted));
    free(sorted);
    qsort(c.rows + np, c.nrows - np, sizeof(*c.rows), row_cmp);
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
    compare_release(&c);
    free(c.ids);
    free(args);
    store_close(st);
    return rc;
}
