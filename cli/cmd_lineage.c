/* `sluice lineage ARTIFACT`: where an artifact came from (the attempt that produced it, that
 * attempt's inputs, their producers, up to the ingest sources) and where it went (the attempts
 * that consumed it, their outputs, their consumers), as an indented tree or as JSON. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/duration.h"
#include "store/query.h"
#include "store/registry.h"
#include "store/store.h"
#include "util/strmap.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice lineage ARTIFACT|MODEL[:VERSION] [--json]\n"
    "\n"
    "Show where an artifact came from (upstream: the step attempt that produced it, its\n"
    "inputs, their producers, up to the ingested sources) and where it went (downstream: the\n"
    "attempts that consumed it, their outputs, and so on). ARTIFACT is a sha256 digest or a\n"
    "unique prefix of one (at least 6 hex digits).\n"
    "\n"
    "      --json  print {\"artifact\": {\"sha256\", \"size\", \"kind\", \"uri\"},\n"
    "              \"upstream\": [...], \"downstream\": [...]}\n";

/* Lineage is a DAG that can grow with every run: the walk expands each attempt once, stops at
 * a depth, lists at most so many attempts per artifact and so many in all. */
#define MAX_DEPTH 32
#define MAX_PER_ARTIFACT 20
#define MAX_NODES 500

struct walk {
    struct store *st;
    struct strmap seen; /* attempt ids already expanded in this direction */
    size_t nodes;       /* attempts listed so far */
    bool truncated;     /* a cap was hit somewhere */
    struct err e;
    bool failed;
};

static json_t *json_artifact(const struct artifact_row *a)
{
    return json_pack("{s:s, s:I, s:s, s:s?}", "sha256", a->digest, "size", (json_int_t)a->size,
                     "kind", a->kind ? a->kind : "", "uri", a->uri);
}

/* The attempt behind an edge: run, step, attempt number, status, cache origin. */
static json_t *json_attempt(struct walk *w, const struct lineage_edge *ed)
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

static json_t *walk_artifact(struct walk *w, int64_t artifact_id, bool up, int depth, size_t *more);

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
        json_object_set_new(o, "artifact", json_artifact(&rows[i]));
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
static json_t *walk_artifact(struct walk *w, int64_t artifact_id, bool up, int depth, size_t *more)
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
        if (listed == MAX_PER_ARTIFACT || w->nodes == MAX_NODES || depth >= MAX_DEPTH) {
            (*more)++;
            w->truncated = true;
            continue;
        }
        listed++;
        w->nodes++;
        json_t *node = json_attempt(w, &edges[i]);
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

/* ---- printing ---- */

static void print_artifact_line(json_t *art)
{
    const char *kind = json_string_value(json_object_get(art, "kind"));
    if (kind && !strcmp(kind, "source")) {
        printf("source %s", json_string_value(json_object_get(art, "uri")));
        return;
    }
    char size[32];
    size_format((int64_t)json_integer_value(json_object_get(art, "size")), size, sizeof(size));
    printf("%.12s %s%s", json_string_value(json_object_get(art, "sha256")), size,
           kind && !strcmp(kind, "dir") ? " (folder)" : "");
}

/* Attempts at one indent, their artifacts one level deeper, and so on. */
static void print_attempts(json_t *list, bool up, int indent)
{
    size_t i;
    json_t *node;
    json_array_foreach(list, i, node) {
        printf("%*srun %" JSON_INTEGER_FORMAT " %s ", indent, "",
               json_integer_value(json_object_get(node, "run")),
               json_string_value(json_object_get(node, "step")));
        json_t *reused = json_object_get(node, "reused");
        if (reused)
            printf("(cache hit of run %" JSON_INTEGER_FORMAT " %s attempt %" JSON_INTEGER_FORMAT
                   ")",
                   json_integer_value(json_object_get(reused, "run")),
                   json_string_value(json_object_get(reused, "step")),
                   json_integer_value(json_object_get(reused, "attempt")));
        else
            printf("(attempt %" JSON_INTEGER_FORMAT ")",
                   json_integer_value(json_object_get(node, "attempt")));
        printf(up ? " made it as '%s'" : " read it as '%s'",
               json_string_value(json_object_get(node, "as")));
        if (json_is_true(json_object_get(node, "seen"))) {
            printf(" (shown above)\n");
            continue;
        }
        putchar('\n');
        size_t k;
        json_t *io;
        json_array_foreach(json_object_get(node, up ? "inputs" : "outputs"), k, io) {
            printf("%*s%s '%s': ", indent + 2, "", up ? "input" : "output",
                   json_string_value(json_object_get(io, "name")));
            print_artifact_line(json_object_get(io, "artifact"));
            putchar('\n');
            print_attempts(json_object_get(io, up ? "producers" : "consumers"), up, indent + 4);
            json_t *more = json_object_get(io, "more");
            if (more)
                printf("%*s… and %" JSON_INTEGER_FORMAT " more\n", indent + 4, "",
                       json_integer_value(more));
        }
    }
}

static void print_tree(json_t *doc, const struct artifact_row *a)
{
    char size[32];
    size_format(a->size, size, sizeof(size));
    printf("artifact %s\n", a->digest);
    printf("  %s, %s%s%s\n", a->kind ? a->kind : "", size, a->uri ? ", " : "",
           a->uri ? a->uri : "");
    static const char *const dirs[] = {"upstream", "downstream"};
    for (int d = 0; d < 2; d++) {
        json_t *list = json_object_get(doc, dirs[d]);
        printf("\n%s:\n", dirs[d]);
        if (!json_array_size(list))
            printf("  none\n");
        print_attempts(list, d == 0, 2);
        char key[32];
        snprintf(key, sizeof(key), "more_%s", dirs[d]);
        json_t *more = json_object_get(doc, key);
        if (more)
            printf("  … and %" JSON_INTEGER_FORMAT " more\n", json_integer_value(more));
    }
    if (json_is_true(json_object_get(doc, "truncated")))
        printf("\n(lineage cut at %d levels, %d attempts per artifact, %d attempts in all)\n",
               MAX_DEPTH, MAX_PER_ARTIFACT, MAX_NODES);
}

/* ---- resolving the argument ---- */

/* Models are a later issue: when the store has them, resolve NAME or NAME:VERSION to the
 * model version's artifact here (0 and *out filled; STORE_NOT_FOUND when there is none). */
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
static int resolve(struct store *st, const char *arg, struct artifact_row *out, struct err *e)
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

int cmd_lineage(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    bool json = false;
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(usage, "unknown option '%s'", argv[i]);
        else if (!arg)
            arg = argv[i];
        else
            return cli_usage_error(usage, "one ARTIFACT at a time");
    }
    if (!arg)
        return cli_usage_error(usage, "missing ARTIFACT");
    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    int rc = EXIT_RUN_FAILED;
    struct artifact_row a;
    struct err e = ERR_INIT;
    if (resolve(st, arg, &a, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "artifact", json_artifact(&a));
    static const char *const dirs[] = {"upstream", "downstream"};
    struct walk w = {.st = st, .e = ERR_INIT};
    for (int d = 0; d < 2 && !w.failed; d++) {
        size_t more = 0;
        strmap_init(&w.seen);
        json_object_set_new(doc, dirs[d], walk_artifact(&w, a.id, d == 0, 0, &more));
        strmap_release(&w.seen);
        if (more) {
            char key[32];
            snprintf(key, sizeof(key), "more_%s", dirs[d]);
            json_object_set_new(doc, key, json_integer((json_int_t)more));
        }
    }
    json_object_set_new(doc, "truncated", json_boolean(w.truncated));
    if (w.failed) {
        cli_error("%s", w.e.msg);
    } else if (json) {
        if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0) {
            putchar('\n');
            rc = EXIT_OK;
        }
    } else {
        print_tree(doc, &a);
        rc = EXIT_OK;
    }
    json_decref(doc);
    artifact_row_release(&a);
    if (rc == EXIT_OK && fflush(stdout) != 0)
        rc = EXIT_RUN_FAILED;
out:
    store_close(st);
    return rc;
}
