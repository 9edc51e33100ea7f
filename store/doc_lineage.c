/* The lineage of an artifact or a model version (`sluice lineage --json`, /api/lineage/REF):
 * what made it and what read it, walked through the store's lineage edges. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/doc.h"
#include "store/registry.h"
#include "util/strmap.h"
#include "util/xalloc.h"

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
