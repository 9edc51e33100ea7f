/* Artifacts, lineage and metrics in the store: content-addressed artifact rows (found by a
 * digest prefix), the in/out edges between attempts and artifacts (and one side of an
 * artifact with the runs that repeated the same work folded together), the cache look-up,
 * and a run's metrics. */
#include "store/store_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* ---- artifacts ---- */

void artifact_row_release(struct artifact_row *a)
{
    free(a->digest);
    free(a->kind);
    free(a->uri);
    free(a->name);
    memset(a, 0, sizeof(*a));
}

void artifact_rows_free(struct artifact_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        artifact_row_release(&rows[i]);
    free(rows);
}

/* ARTIFACT_COLS (sql.c), then optionally the io name and attempt. */
static void artifact_decode(sqlite3_stmt *s, struct artifact_row *a, bool io)
{
    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(s, 0);
    a->digest = store_col_str(s, 1);
    a->size = sqlite3_column_int64(s, 2);
    a->kind = store_col_str(s, 3);
    a->uri = store_col_str(s, 4);
    if (io) {
        a->name = store_col_str(s, 5);
        a->attempt_id = sqlite3_column_int64(s, 6);
    }
}

int store_artifact_put(struct store *st, const char *digest, int64_t size, const char *kind,
                       const char *uri, int64_t *artifact_id, struct err *e)
{
    int kind_tx, changes = 0, rc;
    int64_t id = 0;
    if (store_tx_begin(st, &kind_tx, e, "insert artifact") < 0)
        return -1;
    rc = store_exec(st, S_ARTIFACT_INSERT, &changes, e, "insert artifact", "sIssI", digest, size,
                    kind, uri, store_now_ms());
    if (rc == 0 && changes) {
        id = sqlite3_last_insert_rowid(st->db);
    } else if (rc == 0) {
        /* Already stored: the same content, whatever uri it came through this time. */
        rc = store_query_id(st, S_ARTIFACT_BY_DIGEST, &id, e, "find artifact", "s", digest);
        rc = rc == 1 ? 0 : rc < 0 ? -1 : err_set(e, "cannot insert artifact '%s'", digest);
    }
    rc = store_tx_end(st, kind_tx, rc, e);
    if (rc == 0)
        *artifact_id = id;
    return rc;
}

int store_artifact_find(struct store *st, const char *digest_prefix, struct artifact_row *out,
                        struct err *e)
{
    const char *what = "find artifact";
    const char *p = digest_prefix;
    size_t len = strlen(p);
    char lo[65], hi[65];
    memset(out, 0, sizeof(*out));
    if (len < 6 || len > 64 || strspn(p, "0123456789abcdefABCDEF") != len)
        return err_set(e, "invalid artifact digest '%s' (6 to 64 hex digits)", p);
    for (size_t i = 0; i <= len; i++)
        lo[i] = (char)tolower((unsigned char)p[i]);
    /* Every digest starting with lo sorts in [lo, hi): hi is lo with its last digit + 1
     * ('9' + 1 = ':' and 'f' + 1 = 'g' both sort after every hex digit they replace). */
    memcpy(hi, lo, len + 1);
    hi[len - 1]++;
    sqlite3_stmt *s = store_bind(st, S_ARTIFACT_RANGE, e, what, "ss", lo, hi);
    if (!s)
        return -1;
    int rc = store_step(st, s, e, what);
    if (rc == 0) {
        rc = store_notfound(e, "no artifact '%s'", p);
    } else if (rc == 1) {
        artifact_decode(s, out, false);
        rc = store_step(st, s, e, what);
        if (rc == 1) {
            artifact_row_release(out);
            rc = err_set(e, "artifact prefix '%s' is ambiguous", p);
        }
    }
    store_reset(s);
    if (rc < 0)
        artifact_row_release(out);
    return rc;
}

/* ---- lineage ---- */

static int io_dir_check(const char *dir, bool null_ok, struct err *e)
{
    if ((!dir && null_ok) || (dir && (!strcmp(dir, "in") || !strcmp(dir, "out"))))
        return 0;
    return err_set(e, "invalid io direction '%s' (in or out)", dir ? dir : "");
}

int store_io_add(struct store *st, int64_t attempt_id, int64_t artifact_id, const char *dir,
                 const char *name, struct err *e)
{
    if (io_dir_check(dir, false, e) < 0)
        return -1;
    return store_exec_tx(st, S_IO_ADD, NULL, e, "record lineage", "IIss", attempt_id,
                         artifact_id, dir, name);
}

static int io_list(struct store *st, enum stmt_id id, int64_t key, const char *dir,
                   struct artifact_row **rows, size_t *n, struct err *e)
{
    const char *what = "list step inputs and outputs";
    struct artifact_row *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    if (io_dir_check(dir, true, e) < 0)
        return -1;
    sqlite3_stmt *s = store_bind(st, id, e, what, "Is", key, dir);
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(v, alloc, nv + 1);
        artifact_decode(s, &v[nv++], true);
    }
    store_reset(s);
    if (rc < 0) {
        artifact_rows_free(v, nv);
        return -1;
    }
    *rows = v;
    *n = nv;
    return 0;
}

int store_io_list(struct store *st, int64_t attempt_id, const char *dir, struct artifact_row **rows,
                  size_t *n, struct err *e)
{
    return io_list(st, S_IO_LIST, attempt_id, dir, rows, n, e);
}

int store_run_io_list(struct store *st, int64_t run_id, const char *dir,
                      struct artifact_row **rows, size_t *n, struct err *e)
{
    return io_list(st, S_IO_LIST_RUN, run_id, dir, rows, n, e);
}

int store_cache_lookup(struct store *st, const char *pipeline, const char *step, const char *key,
                       int64_t *attempt_id, struct err *e)
{
    *attempt_id = 0;
    int rc = store_query_id(st, S_CACHE_LOOKUP, attempt_id, e, "look up the cache", "sss",
                            pipeline, step, key);
    return rc < 0 ? -1 : 0;
}

static void lineage_edge_release(struct lineage_edge *l)
{
    free(l->step);
    free(l->name);
    free(l->dir);
    free(l->status);
    free(l->inputs_key);
    memset(l, 0, sizeof(*l));
}

void lineage_edges_free(struct lineage_edge *edges, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lineage_edge_release(&edges[i]);
    free(edges);
}

/* The edges of an artifact, of one run only when run is not 0. */
static int lineage_edges(struct store *st, int64_t artifact_id, int64_t run,
                         struct lineage_edge **edges, size_t *n, struct err *e)
{
    const char *what = "load lineage";
    struct lineage_edge *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    *edges = NULL;
    *n = 0;
    sqlite3_stmt *s = store_bind(st, S_LINEAGE_EDGES, e, what, "II", artifact_id, run);
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(v, alloc, nv + 1);
        struct lineage_edge *l = &v[nv++];
        l->attempt_id = sqlite3_column_int64(s, 0);
        l->run_id = sqlite3_column_int64(s, 1);
        l->step = store_col_str(s, 2);
        l->name = store_col_str(s, 3);
        l->dir = store_col_str(s, 4);
        l->attempt_n = sqlite3_column_int(s, 5);
        l->status = store_col_str(s, 6);
        l->cached_from = sqlite3_column_int64(s, 7);
        l->inputs_key = store_col_str(s, 8);
    }
    store_reset(s);
    if (rc < 0) {
        lineage_edges_free(v, nv);
        return -1;
    }
    *edges = v;
    *n = nv;
    return 0;
}

int store_lineage_edges(struct store *st, int64_t artifact_id, struct lineage_edge **edges,
                        size_t *n, struct err *e)
{
    return lineage_edges(st, artifact_id, 0, edges, n, e);
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Is x the better edge to show for its group than y? One of run prefer, else the newest run,
 * else the later attempt. */
static bool edge_better(const struct lineage_edge *x, const struct lineage_edge *y,
                        int64_t prefer)
{
    if ((x->run_id == prefer) != (y->run_id == prefer))
        return x->run_id == prefer;
    if (x->run_id != y->run_id)
        return x->run_id > y->run_id;
    return x->attempt_id > y->attempt_id;
}

static int cmp_run(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void lineage_groups_free(struct lineage_group *groups, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        lineage_edge_release(&groups[i].edge);
        free(groups[i].other_runs);
    }
    free(groups);
}

/* The group of edge x among g[0..ng), each known by the index of its best edge; ng if none. */
static size_t group_of(const struct lineage_edge *edges, const size_t *best, size_t ng,
                       const struct lineage_edge *x, bool producers)
{
    for (size_t k = 0; k < ng; k++) {
        const struct lineage_edge *y = &edges[best[k]];
        if (str_eq(y->step, x->step) && str_eq(y->name, x->name) &&
            (!producers || str_eq(y->inputs_key, x->inputs_key)))
            return k;
    }
    return ng;
}

int store_lineage_side(struct store *st, int64_t artifact_id, const char *dir, int64_t prefer_run,
                       int64_t only_run, struct lineage_group **groups, size_t *n,
                       struct err *e)
{
    struct lineage_edge *edges = NULL;
    size_t nedges = 0, ng = 0;
    *groups = NULL;
    *n = 0;
    if (io_dir_check(dir, false, e) < 0 ||
        lineage_edges(st, artifact_id, only_run, &edges, &nedges, e) < 0)
        return -1;
    bool producers = !strcmp(dir, "out");
    /* pass 1: the groups, each with its best edge and its size; pass 2: their other runs */
    size_t *best = xcalloc(nedges, sizeof(*best));
    size_t *size = xcalloc(nedges, sizeof(*size));
    size_t *member = xcalloc(nedges, sizeof(*member));
    for (size_t i = 0; i < nedges; i++) {
        const struct lineage_edge *x = &edges[i];
        member[i] = SIZE_MAX;
        if (strcmp(x->dir, dir))
            continue;
        size_t k = group_of(edges, best, ng, x, producers);
        if (k == ng)
            best[ng++] = i;
        else if (edge_better(x, &edges[best[k]], prefer_run))
            best[k] = i;
        size[k]++;
        member[i] = k;
    }
    struct lineage_group *g = xcalloc(ng, sizeof(*g));
    for (size_t k = 0; k < ng; k++)
        g[k].other_runs = xcalloc(size[k], sizeof(int64_t));
    for (size_t i = 0; i < nedges; i++) {
        size_t k = member[i];
        if (k != SIZE_MAX && edges[i].run_id != edges[best[k]].run_id)
            g[k].other_runs[g[k].nother++] = edges[i].run_id;
    }
    for (size_t k = 0; k < ng; k++) {
        /* sorted, each run once (a run may have tried the step several times) */
        qsort(g[k].other_runs, g[k].nother, sizeof(int64_t), cmp_run);
        size_t m = 0;
        for (size_t j = 0; j < g[k].nother; j++)
            if (!m || g[k].other_runs[m - 1] != g[k].other_runs[j])
                g[k].other_runs[m++] = g[k].other_runs[j];
        g[k].nother = m;
        g[k].edge = edges[best[k]];
        memset(&edges[best[k]], 0, sizeof(edges[best[k]]));
    }
    free(best);
    free(size);
    free(member);
    lineage_edges_free(edges, nedges);
    *groups = g;
    *n = ng;
    return 0;
}

/* ---- metrics ---- */

int store_metric_put(struct store *st, int64_t run_id, const char *step, const char *name, int idx,
                     double value, struct err *e)
{
    return store_exec_tx(st, S_METRIC_PUT, NULL, e, "record metric", "Issid", run_id, step, name,
                         idx, value);
}

int store_metrics_delete(struct store *st, int64_t run_id, const char *step, struct err *e)
{
    return store_exec_tx(st, S_METRICS_DELETE, NULL, e, "delete metrics", "Is", run_id, step);
}

void metric_rows_free(struct metric_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].step);
        free(rows[i].name);
    }
    free(rows);
}

int store_metrics_load(struct store *st, int64_t run_id, const char *step, struct metric_row **rows,
                       size_t *n, struct err *e)
{
    const char *what = "load metrics";
    struct metric_row *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = store_bind(st, S_METRICS_LOAD, e, what, "Is", run_id, step);
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(v, alloc, nv + 1);
        struct metric_row *m = &v[nv++];
        m->step = store_col_str(s, 0);
        m->name = store_col_str(s, 1);
        m->idx = sqlite3_column_int(s, 2);
        /* SQLite keeps NaN as NULL */
        m->value = sqlite3_column_type(s, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 3);
    }
    store_reset(s);
    if (rc < 0) {
        metric_rows_free(v, nv);
        return -1;
    }
    *rows = v;
    *n = nv;
    return 0;
}
