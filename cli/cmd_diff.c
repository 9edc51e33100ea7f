/* `sluice diff RUN RUN`: what changed from one run to another — the pipeline text (a line
 * diff of the two stored YAML texts), parameters, code and data (per step: command, digests of
 * the files its cache key covers, each called code or data, input and output digests, the
 * sources an ingest read) and metrics. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "scheduler/cache.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice diff RUN RUN\n"
    "\n"
    "Show what changed from the first RUN to the second (numbers, or 'last'): the pipeline\n"
    "text, parameters, code and data digests per step (command, files, inputs, outputs) and\n"
    "metrics. Lines start with '~' (changed), '+' (only in the second run) or '-' (only in\n"
    "the first). The files a step's cache key covers are 'code' (scripts and source files)\n"
    "or 'data' (any other extension, and an ingest's source); a cached step's inputs are\n"
    "those of the attempt it reused.\n";

/* Line diffs are computed on at most this many lines (after the common head and tail) on
 * each side: the LCS table is quadratic. */
#define DIFF_MAX_LINES 2000
#define DIFF_CONTEXT 3

/* ---- a line diff of two texts ---- */

struct line {
    const char *s;
    size_t len; /* without the newline */
};

static struct line *split_lines(const char *text, size_t *n)
{
    struct line *v = NULL;
    size_t nv = 0, alloc = 0;
    const char *p = text ? text : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        XGROW(v, alloc, nv + 1);
        v[nv].s = p;
        v[nv++].len = len;
        p += len + (nl != NULL);
    }
    *n = nv;
    return v;
}

static bool line_eq(const struct line *a, const struct line *b)
{
    return a->len == b->len && !memcmp(a->s, b->s, a->len);
}

struct op {
    char t;        /* ' ' both, '-' only in a, '+' only in b */
    size_t ai, bi; /* the a and b lines at this point (0-based) */
};

/* The edit script of a -> b: common head and tail, and a longest common subsequence of the
 * middle. Returns NULL when the middle is too large to diff. */
static struct op *diff_lines(const struct line *a, size_t na, const struct line *b, size_t nb,
                             size_t *nops)
{
    size_t head = 0, tail = 0;
    while (head < na && head < nb && line_eq(&a[head], &b[head]))
        head++;
    while (tail < na - head && tail < nb - head && line_eq(&a[na - 1 - tail], &b[nb - 1 - tail]))
        tail++;
    size_t n = na - head - tail, m = nb - head - tail;
    if (n > DIFF_MAX_LINES || m > DIFF_MAX_LINES)
        return NULL;
    /* lcs[i][j]: length of an LCS of the middles' suffixes from i and j (≤ 2000: 16 bits) */
    uint16_t *lcs = xcalloc((n + 1) * (m + 1), sizeof(*lcs));
#define LCS(i, j) lcs[(i) * (m + 1) + (j)]
    for (size_t i = n; i-- > 0;)
        for (size_t j = m; j-- > 0;)
            LCS(i, j) = line_eq(&a[head + i], &b[head + j])
                            ? (uint16_t)(LCS(i + 1, j + 1) + 1)
                            : (LCS(i + 1, j) >= LCS(i, j + 1) ? LCS(i + 1, j) : LCS(i, j + 1));
    struct op *ops = xcalloc(na + nb + 1, sizeof(*ops));
    size_t k = 0, i = 0, j = 0;
    for (size_t h = 0; h < head; h++)
        ops[k++] = (struct op){' ', h, h};
    while (i < n || j < m) {
        if (i < n && j < m && line_eq(&a[head + i], &b[head + j])) {
            ops[k++] = (struct op){' ', head + i, head + j};
            i++;
            j++;
        } else if (j == m || (i < n && LCS(i + 1, j) >= LCS(i, j + 1))) {
            ops[k++] = (struct op){'-', head + i, head + j};
            i++;
        } else {
            ops[k++] = (struct op){'+', head + i, head + j};
            j++;
        }
    }
#undef LCS
    for (size_t t = 0; t < tail; t++)
        ops[k++] = (struct op){' ', head + n + t, head + m + t};
    free(lcs);
    *nops = k;
    return ops;
}

/* Print the changes as unified-diff hunks with DIFF_CONTEXT lines of context, each line
 * after indent spaces. */
static void print_hunks(const struct op *ops, size_t nops, const struct line *a,
                        const struct line *b, int indent)
{
    size_t k = 0;
    while (k < nops) {
        while (k < nops && ops[k].t == ' ')
            k++;
        if (k == nops)
            break;
        size_t start = k > DIFF_CONTEXT ? k - DIFF_CONTEXT : 0;
        size_t end = k;
        /* Grow the hunk over changes separated by at most 2 * context equal lines. */
        for (;;) {
            while (end < nops && ops[end].t != ' ')
                end++;
            size_t next = end;
            while (next < nops && ops[next].t == ' ')
                next++;
            if (next < nops && next - end <= 2 * DIFF_CONTEXT) {
                end = next;
                continue;
            }
            break;
        }
        size_t stop = end + DIFF_CONTEXT < nops ? end + DIFF_CONTEXT : nops;
        size_t alen = 0, blen = 0;
        for (size_t i = start; i < stop; i++) {
            alen += ops[i].t != '+';
            blen += ops[i].t != '-';
        }
        printf("%*s@@ -%zu,%zu +%zu,%zu @@\n", indent, "", ops[start].ai + (alen > 0), alen,
               ops[start].bi + (blen > 0), blen);
        for (size_t i = start; i < stop; i++) {
            const struct line *l = ops[i].t == '+' ? &b[ops[i].bi] : &a[ops[i].ai];
            printf("%*s%c%.*s\n", indent, "", ops[i].t, (int)l->len, l->s);
        }
        k = stop;
    }
}

/* A line diff of two texts; header names the two sides ("--- run 7", "+++ run 8"), if any. */
static void print_text_diff(const char *ta, const char *tb, const char *header_a,
                            const char *header_b, int indent)
{
    size_t na, nb, nops;
    struct line *a = split_lines(ta, &na), *b = split_lines(tb, &nb);
    struct op *ops = diff_lines(a, na, b, nb, &nops);
    if (!ops) {
        printf("%*s(too different to show line by line: %zu -> %zu lines)\n", indent, "", na, nb);
    } else {
        if (header_a)
            printf("%*s--- %s\n%*s+++ %s\n", indent, "", header_a, indent, "", header_b);
        print_hunks(ops, nops, a, b, indent);
    }
    free(ops);
    free(a);
    free(b);
}

/* ---- what is compared ---- */

/* A name and a value (a digest, a parameter, a source's path), for added / removed / changed. */
struct item {
    char *name;
    char *value;
    bool digest; /* shown by its first 12 digits; anything else is shown whole */
};

struct items {
    struct item *v;
    size_t n, alloc;
};

static void items_add(struct items *it, const char *name, const char *value, bool digest)
{
    XGROW(it->v, it->alloc, it->n + 1);
    it->v[it->n].name = xstrdup(name);
    it->v[it->n].digest = digest;
    it->v[it->n++].value = xstrdup(value ? value : "");
}

static void items_release(struct items *it)
{
    for (size_t i = 0; i < it->n; i++) {
        free(it->v[i].name);
        free(it->v[i].value);
    }
    free(it->v);
    memset(it, 0, sizeof(*it));
}

static const struct item *items_find(const struct items *it, const char *name)
{
    for (size_t i = 0; i < it->n; i++)
        if (!strcmp(it->v[i].name, name))
            return &it->v[i];
    return NULL;
}

static void print_value(const struct item *it)
{
    printf(it->digest ? "%.12s" : "%s", it->value);
}

/* Print "~ PREFIXname: a -> b", "+ PREFIXname: b", "- PREFIXname: a"; returns how many. */
static int compare_items(const struct items *a, const struct items *b, const char *prefix)
{
    int changes = 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct item *x = &a->v[i], *y = items_find(b, x->name);
        if (y && !strcmp(x->value, y->value))
            continue;
        printf("  %c %s%s: ", y ? '~' : '-', prefix, x->name);
        print_value(x);
        if (y) {
            printf(" -> ");
            print_value(y);
        }
        putchar('\n');
        changes++;
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct item *y = &b->v[i];
        if (items_find(a, y->name))
            continue;
        printf("  + %s%s: ", prefix, y->name);
        print_value(y);
        putchar('\n');
        changes++;
    }
    return changes;
}

/* One step of one run, as diff sees it. */
struct step_side {
    const struct step_row *row;
    struct items inputs, outputs; /* name -> digest (a source: its uri) */
    struct items code, data, env; /* from cache_info: its files by role, its env */
    char *command;                /* from cache_info, joined */
};

struct side {
    struct run_row run;
    struct step_row *steps;
    size_t nsteps;
    struct step_side *ss;
    struct metric_row *met;
    size_t nmet;
};

static void side_release(struct side *s)
{
    for (size_t i = 0; i < s->nsteps && s->ss; i++) {
        items_release(&s->ss[i].inputs);
        items_release(&s->ss[i].outputs);
        items_release(&s->ss[i].code);
        items_release(&s->ss[i].data);
        items_release(&s->ss[i].env);
        free(s->ss[i].command);
    }
    free(s->ss);
    step_rows_free(s->steps, s->nsteps);
    metric_rows_free(s->met, s->nmet);
    run_row_release(&s->run);
}

static void cache_info_parse(struct step_side *ss)
{
    json_t *j = ss->row->cache_info ? json_loads(ss->row->cache_info, 0, NULL) : NULL;
    if (!j)
        return;
    const char *k;
    json_t *v;
    const char *kind = json_string_value(json_object_get(j, "kind"));
    json_object_foreach(json_object_get(j, "files"), k, v) {
        bool code = !strcmp(cache_file_role(kind, k), "code");
        items_add(code ? &ss->code : &ss->data, k, json_string_value(v), true);
    }
    json_object_foreach(json_object_get(j, "env"), k, v)
        items_add(&ss->env, k, json_string_value(v), false);
    json_t *cmd = json_object_get(j, "command");
    if (json_is_array(cmd)) {
        struct strbuf sb = STRBUF_INIT;
        size_t i;
        json_array_foreach(cmd, i, v)
            strbuf_addf(&sb, "%s%s", i ? " " : "",
                        json_string_value(v) ? json_string_value(v) : "");
        ss->command = strbuf_detach(&sb, NULL);
    }
    json_decref(j);
}

/* The attempt whose inputs and outputs count: the succeeded (or cached) one, else the last.
 * NULL when the step has none. */
static const struct attempt_row *pick_attempt(const struct attempt_row *att, size_t natt,
                                              int64_t step_id)
{
    const struct attempt_row *ok = NULL, *last = NULL;
    for (size_t i = 0; i < natt; i++) {
        if (att[i].step_id != step_id)
            continue;
        last = &att[i];
        if (!strcmp(att[i].status, "succeeded") || !strcmp(att[i].status, "cached"))
            ok = &att[i];
    }
    return ok ? ok : last;
}

static void add_io(struct items *it, const struct artifact_row *rows, size_t n, int64_t attempt)
{
    for (size_t i = 0; attempt && i < n; i++) {
        if (rows[i].attempt_id != attempt)
            continue;
        bool source = rows[i].kind && !strcmp(rows[i].kind, "source");
        items_add(it, rows[i].name ? rows[i].name : "", source ? rows[i].uri : rows[i].digest,
                  !source);
    }
}

static int side_load(struct store *st, long long id, struct side *s, struct err *e)
{
    struct attempt_row *att = NULL;
    struct artifact_row *in = NULL, *out = NULL;
    size_t natt = 0, nin = 0, nout = 0;
    memset(s, 0, sizeof(*s));
    if (store_run_get(st, id, &s->run, e) < 0)
        return -1;
    int rc = -1;
    if (store_steps_load(st, id, &s->steps, &s->nsteps, e) < 0 ||
        store_run_attempts_load(st, id, &att, &natt, e) < 0 ||
        store_run_io_list(st, id, "in", &in, &nin, e) < 0 ||
        store_run_io_list(st, id, "out", &out, &nout, e) < 0 ||
        store_metrics_load(st, id, NULL, &s->met, &s->nmet, e) < 0)
        goto out;
    s->ss = xcalloc(s->nsteps ? s->nsteps : 1, sizeof(*s->ss));
    for (size_t i = 0; i < s->nsteps; i++) {
        struct step_side *ss = &s->ss[i];
        ss->row = &s->steps[i];
        const struct attempt_row *a = pick_attempt(att, natt, ss->row->id);
        add_io(&ss->outputs, out, nout, a ? a->id : 0);
        cache_info_parse(ss);
        if (!a || !a->cached_from) {
            add_io(&ss->inputs, in, nin, a ? a->id : 0);
            continue;
        }
        /* A cache hit read what the attempt it reused read (an ingest's source too). */
        struct artifact_row *orig = NULL;
        size_t norig = 0;
        if (store_io_list(st, a->cached_from, "in", &orig, &norig, e) < 0)
            goto out;
        add_io(&ss->inputs, orig, norig, a->cached_from);
        artifact_rows_free(orig, norig);
    }
    rc = 0;
out:
    attempt_rows_free(att, natt);
    artifact_rows_free(in, nin);
    artifact_rows_free(out, nout);
    if (rc < 0)
        side_release(s);
    return rc;
}

static const struct step_side *side_step(const struct side *s, const char *name)
{
    for (size_t i = 0; i < s->nsteps; i++)
        if (!strcmp(s->ss[i].row->name, name))
            return &s->ss[i];
    return NULL;
}

/* ---- sections ---- */

static void diff_pipeline(const struct side *a, const struct side *b)
{
    const struct run_row *x = &a->run, *y = &b->run;
    if (strcmp(x->pipeline, y->pipeline))
        printf("pipeline: %s -> %s\n", x->pipeline, y->pipeline);
    if (!strcmp(x->version, y->version)) {
        printf("pipeline text: unchanged (version %.12s)\n", x->version);
        return;
    }
    printf("pipeline text: version %.12s -> %.12s\n", x->version, y->version);
    char *ha = xasprintf("run %lld", (long long)x->id),
         *hb = xasprintf("run %lld", (long long)y->id);
    print_text_diff(x->yaml, y->yaml, ha, hb, 0);
    free(ha);
    free(hb);
}

static void diff_params(const struct side *a, const struct side *b)
{
    struct items pa = {0}, pb = {0};
    for (size_t i = 0; i < a->run.nparams; i++)
        items_add(&pa, a->run.params[i].name, a->run.params[i].value, false);
    for (size_t i = 0; i < b->run.nparams; i++)
        items_add(&pb, b->run.params[i].name, b->run.params[i].value, false);
    printf("\nparams:\n");
    if (!compare_items(&pa, &pb, ""))
        printf("  unchanged\n");
    items_release(&pa);
    items_release(&pb);
}

/* compare_items with the prefix "STEP WHAT ". */
static int compare_step_items(const char *step, const char *what, const struct items *x,
                              const struct items *y)
{
    char *prefix = xasprintf("%s %s ", step, what);
    int changes = compare_items(x, y, prefix);
    free(prefix);
    return changes;
}

static int diff_step(const struct step_side *x, const struct step_side *y)
{
    const char *name = x->row->name;
    int changes = 0;
    if (x->row->status != y->row->status) {
        printf("  ~ %s status: %s -> %s\n", name, step_status_name(x->row->status),
               step_status_name(y->row->status));
        changes++;
    }
    if (x->command && y->command && strcmp(x->command, y->command)) {
        /* a script of several lines reads best as a diff of its own */
        if (strchr(x->command, '\n') || strchr(y->command, '\n')) {
            printf("  ~ %s command:\n", name);
            print_text_diff(x->command, y->command, NULL, NULL, 4);
        } else {
            printf("  ~ %s command: %s -> %s\n", name, x->command, y->command);
        }
        changes++;
    }
    /* Only when both runs computed a cache key: otherwise no side knows its files. */
    if (x->row->cache_info && y->row->cache_info) {
        changes += compare_step_items(name, "code", &x->code, &y->code);
        changes += compare_step_items(name, "data", &x->data, &y->data);
        changes += compare_step_items(name, "env", &x->env, &y->env);
    }
    changes += compare_step_items(name, "input", &x->inputs, &y->inputs);
    changes += compare_step_items(name, "output", &x->outputs, &y->outputs);
    return changes;
}

static void diff_steps(const struct side *a, const struct side *b)
{
    int changes = 0;
    printf("\ncode and data:\n");
    for (size_t i = 0; i < a->nsteps; i++) {
        const struct step_side *y = side_step(b, a->ss[i].row->name);
        if (!y) {
            printf("  - step %s\n", a->ss[i].row->name);
            changes++;
            continue;
        }
        changes += diff_step(&a->ss[i], y);
    }
    for (size_t i = 0; i < b->nsteps; i++) {
        if (side_step(a, b->ss[i].row->name))
            continue;
        printf("  + step %s\n", b->ss[i].row->name);
        changes++;
    }
    if (!changes)
        printf("  unchanged\n");
}

/* A metric of one run: a scalar, or a series (from idx 0). */
struct metric {
    char *key; /* STEP.NAME */
    bool series;
    double v; /* the scalar; a series' last value */
    size_t len;
    const struct metric_row *rows;
};

static struct metric *group_metrics(const struct metric_row *m, size_t n, size_t *out_n)
{
    struct metric *v = NULL;
    size_t nv = 0, alloc = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && !strcmp(m[j].step, m[i].step) && !strcmp(m[j].name, m[i].name))
            j++;
        XGROW(v, alloc, nv + 1);
        struct metric *g = &v[nv++];
        g->key = xasprintf("%s.%s", m[i].step, m[i].name);
        g->series = !(j == i + 1 && m[i].idx < 0);
        g->rows = &m[i];
        g->len = j - i;
        g->v = m[j - 1].value;
        i = j;
    }
    *out_n = nv;
    return v;
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

static void print_metric(const struct metric *g)
{
    char num[40];
    format_number(g->v, num, sizeof(num));
    if (g->series)
        printf("%s (series of %zu)", num, g->len);
    else
        printf("%s", num);
}

static bool metric_equal(const struct metric *x, const struct metric *y)
{
    if (x->series != y->series || x->len != y->len)
        return false;
    for (size_t i = 0; i < x->len; i++) {
        double p = x->rows[i].value, q = y->rows[i].value;
        if (p != q && !(isnan(p) && isnan(q)))
            return false;
    }
    return true;
}

static void diff_metrics(const struct side *a, const struct side *b)
{
    size_t na, nb;
    struct metric *ma = group_metrics(a->met, a->nmet, &na);
    struct metric *mb = group_metrics(b->met, b->nmet, &nb);
    int changes = 0;
    printf("\nmetrics:\n");
    for (size_t i = 0; i < na; i++) {
        const struct metric *y = NULL;
        for (size_t j = 0; j < nb && !y; j++)
            if (!strcmp(mb[j].key, ma[i].key))
                y = &mb[j];
        if (y && metric_equal(&ma[i], y))
            continue;
        printf("  %c %s: ", y ? '~' : '-', ma[i].key);
        print_metric(&ma[i]);
        if (y) {
            printf(" -> ");
            print_metric(y);
            if (!isnan(ma[i].v) && !isnan(y->v) && ma[i].v != y->v)
                printf(" (%+.4g)", y->v - ma[i].v);
        }
        putchar('\n');
        changes++;
    }
    for (size_t j = 0; j < nb; j++) {
        bool found = false;
        for (size_t i = 0; i < na && !found; i++)
            found = !strcmp(ma[i].key, mb[j].key);
        if (found)
            continue;
        printf("  + %s: ", mb[j].key);
        print_metric(&mb[j]);
        putchar('\n');
        changes++;
    }
    if (!changes)
        printf("  unchanged\n");
    for (size_t i = 0; i < na; i++)
        free(ma[i].key);
    for (size_t j = 0; j < nb; j++)
        free(mb[j].key);
    free(ma);
    free(mb);
}

int cmd_diff(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    const char *args[2];
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(usage, "unknown option '%s'", argv[i]);
        if (nargs == 2)
            return cli_usage_error(usage, "diff takes two runs, got '%s' too", argv[i]);
        args[nargs++] = argv[i];
    }
    if (nargs < 2)
        return cli_usage_error(usage, "diff needs two runs");
    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    int rc = EXIT_RUN_FAILED;
    long long ids[2];
    struct side a, b;
    struct err e = ERR_INIT;
    if (cli_resolve_run(st, args[0], &ids[0]) < 0 || cli_resolve_run(st, args[1], &ids[1]) < 0)
        goto out;
    if (side_load(st, ids[0], &a, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (side_load(st, ids[1], &b, &e) < 0) {
        cli_error("%s", e.msg);
        side_release(&a);
        goto out;
    }
    printf("run %lld -> run %lld\n", ids[0], ids[1]);
    diff_pipeline(&a, &b);
    diff_params(&a, &b);
    diff_steps(&a, &b);
    diff_metrics(&a, &b);
    side_release(&a);
    side_release(&b);
    rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUN_FAILED;
out:
    store_close(st);
    return rc;
}
