/* The model registry (versions, approvals, deployments) and the data catalog (schema versions
 * of tables), in the store. Each write is one short BEGIN IMMEDIATE transaction, or a
 * savepoint inside the caller's; status changes are conditional, so that two processes
 * deciding the same approval can never both win. */
#include "store/registry.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/xalloc.h"

static const char *const model_statuses[] = {"pending", "approved", "rejected", "deployed",
                                             "retired"};
static const char *const deployment_statuses[] = {"deployed", "rolled_back", "failed",
                                                  "superseded"};

static bool one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(s, set[i]))
            return true;
    return false;
}

#define ONE_OF(s, set) one_of((s), (set), sizeof(set) / sizeof((set)[0]))

/* ---- models ---- */

void model_row_release(struct model_row *m)
{
    free(m->name);
    free(m->status);
    free(m->step);
    free(m->digest);
    free(m->metrics);
    memset(m, 0, sizeof(*m));
}

void model_rows_free(struct model_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        model_row_release(&rows[i]);
    free(rows);
}

/* One row of MODEL_COLS (sql.c) into m. */
static void model_decode(sqlite3_stmt *s, struct model_row *m)
{
    memset(m, 0, sizeof(*m));
    m->id = sqlite3_column_int64(s, 0);
    m->name = store_col_str(s, 1);
    m->version = sqlite3_column_int(s, 2);
    m->status = store_col_str(s, 3);
    m->run_id = sqlite3_column_int64(s, 4);
    m->step = store_col_str(s, 5);
    m->artifact_id = sqlite3_column_int64(s, 6);
    m->digest = store_col_str(s, 7);
    m->size = sqlite3_column_int64(s, 8);
    m->metrics = store_col_str(s, 9);
    m->created_at = sqlite3_column_int64(s, 10);
}

/* Look up one model with statement id: 1 with *out filled, 0 when there is none (*out zeroed),
 * -1 with e set. */
static int model_fetch(struct store *st, enum stmt_id id, struct model_row *out, struct err *e,
                       const char *types, ...)
{
    const char *what = "load model";
    va_list ap;
    memset(out, 0, sizeof(*out));
    va_start(ap, types);
    sqlite3_stmt *s = store_vbind(st, id, e, what, types, ap);
    va_end(ap);
    if (!s)
        return -1;
    int rc = store_step(st, s, e, what);
    if (rc == 1)
        model_decode(s, out);
    store_reset(s);
    return rc;
}

/* Every row of a bound model statement. */
static int model_collect(struct store *st, sqlite3_stmt *s, struct model_row **rows, size_t *n,
                         struct err *e)
{
    struct model_row *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    while ((rc = store_step(st, s, e, "list models")) == 1) {
        XGROW(v, alloc, nv + 1);
        model_decode(s, &v[nv++]);
    }
    store_reset(s);
    if (rc < 0) {
        model_rows_free(v, nv);
        return -1;
    }
    *rows = v;
    *n = nv;
    return 0;
}

static int model_event(struct store *st, int64_t model_id, const char *detail, struct err *e)
{
    return store_exec(st, S_EVENT_INSERT_MODEL, NULL, e, "insert event", "IsI", model_id, detail,
                      store_now_ms());
}

/* Move a model to `to` (from `from`, or from whatever it is when from is NULL) and write the
 * event; the caller holds the transaction. *changed false when it was not in `from`, or
 * already `to`. */
static int model_transition(struct store *st, int64_t model_id, const char *from, const char *to,
                            bool *changed, struct err *e)
{
    struct model_row m;
    int changes = 0;
    *changed = false;
    int rc = model_fetch(st, S_MODEL_BY_ID, &m, e, "I", model_id);
    if (rc <= 0)
        return rc < 0 ? -1 : store_notfound(e, "no model with id %" PRId64, model_id);
    const char *old = from ? from : m.status;
    rc = store_exec(st, S_MODEL_SET_STATUS, &changes, e, "update model status", "Iss", model_id,
                    to, old);
    if (rc == 0 && changes) {
        char *detail = xasprintf("%s -> %s", old, to);
        rc = model_event(st, model_id, detail, e);
        free(detail);
        *changed = rc == 0;
    }
    model_row_release(&m);
    return rc;
}

int store_model_register(struct store *st, const char *name, int64_t artifact_id, int64_t run_id,
                         const char *step, const char *metrics_json, struct model_row *out,
                         struct err *e)
{
    const char *what = "register model";
    int64_t version = 0;
    int kind, rc = 0;
    memset(out, 0, sizeof(*out));
    if (!name || !*name)
        return err_set(e, "cannot register a model without a name");
    if (store_tx_begin(st, &kind, e, what) < 0)
        return -1;
    /* Inside the write lock, so that a second engine cannot slip a version in between. */
    if (run_id && step) {
        rc = model_fetch(st, S_MODEL_FOR_STEP, out, e, "Is", run_id, step);
        if (rc != 0)
            goto out;
    }
    rc = store_query_id(st, S_MODEL_NEXT_VERSION, &version, e, what, "s", name);
    if (rc < 0)
        goto out;
    rc = store_exec(st, S_MODEL_INSERT, NULL, e, what, "siIzsssI", name, (int)version,
                    artifact_id, run_id, step, "pending", metrics_json, store_now_ms());
    if (rc < 0) {
        err_set(e, "cannot register version %d of model '%s': %s", (int)version, name,
                store_errmsg(st));
        goto out;
    }
    int64_t id = sqlite3_last_insert_rowid(st->db);
    if ((rc = model_event(st, id, "registered, pending", e)) < 0)
        goto out;
    rc = model_fetch(st, S_MODEL_BY_ID, out, e, "I", id);
out:
    if (rc == 0)
        rc = err_set(e, "cannot read back the model '%s' just registered", name);
    rc = store_tx_end(st, kind, rc < 0 ? -1 : 0, e);
    if (rc < 0)
        model_row_release(out);
    return rc;
}

int store_model_get(struct store *st, const char *name, int version, struct model_row *out,
                    struct err *e)
{
    int rc = version > 0 ? model_fetch(st, S_MODEL_GET, out, e, "si", name, version)
                         : model_fetch(st, S_MODEL_NEWEST, out, e, "s", name);
    if (rc == 0) {
        if (version > 0)
            return store_notfound(e, "no version %d of model '%s'", version, name);
        return store_notfound(e, "no model '%s'", name);
    }
    return rc < 0 ? -1 : 0;
}

int store_model_for_step(struct store *st, int64_t run_id, const char *step, struct model_row *out,
                         struct err *e)
{
    int rc = model_fetch(st, S_MODEL_FOR_STEP, out, e, "Is", run_id, step);
    if (rc == 0)
        return store_notfound(e, "step '%s' of run %" PRId64 " registered no model", step, run_id);
    return rc < 0 ? -1 : 0;
}

int store_model_deployed(struct store *st, const char *name, struct model_row *out,
                         struct err *e)
{
    int rc = model_fetch(st, S_MODEL_DEPLOYED, out, e, "s", name);
    if (rc == 0)
        return store_notfound(e, "no version of model '%s' is deployed", name);
    return rc < 0 ? -1 : 0;
}

int store_model_list(struct store *st, const char *name, struct model_row **rows, size_t *n,
                     struct err *e)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = name ? store_bind(st, S_MODEL_LIST_NAME, e, "list models", "s", name)
                           : store_bind(st, S_MODEL_LIST, e, "list models", "");
    if (!s)
        return -1;
    return model_collect(st, s, rows, n, e);
}

int store_model_set_status(struct store *st, int64_t model_id, const char *from, const char *to,
                           bool *changed, struct err *e)
{
    int kind;
    *changed = false;
    if (!ONE_OF(to, model_statuses))
        return err_set(e, "unknown model status '%s'", to ? to : "");
    if (from && !ONE_OF(from, model_statuses))
        return err_set(e, "unknown model status '%s'", from);
    if (store_tx_begin(st, &kind, e, "update model status") < 0)
        return -1;
    bool ch = false;
    int rc = model_transition(st, model_id, from, to, &ch, e);
    rc = store_tx_end(st, kind, rc, e);
    if (rc == 0)
        *changed = ch;
    return rc;
}

/* ---- approvals ---- */

void approval_rows_free(struct approval_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].step);
        free(rows[i].decision);
        free(rows[i].by);
        free(rows[i].comment);
    }
    free(rows);
}

int store_approval_decide(struct store *st, int64_t run_id, const char *step, bool approve,
                          const char *by, const char *comment, bool *won, struct err *e)
{
    const char *what = "record the approval";
    const char *decision = approve ? "approved" : "rejected";
    int64_t step_id = 0;
    bool changed = false;
    char *msg = NULL;
    int kind;
    *won = false;
    if (store_tx_begin(st, &kind, e, what) < 0)
        return -1;
    int rc = store_query_id(st, S_STEP_FIND, &step_id, e, what, "Is", run_id, step);
    if (rc == 0)
        rc = store_notfound(e, "run %" PRId64 " has no step '%s'", run_id, step);
    if (rc < 0)
        goto out;
    if (by && comment && *comment)
        msg = xasprintf("%s by '%s': %s", decision, by, comment);
    else if (by)
        msg = xasprintf("%s by '%s'", decision, by);
    else
        msg = xstrdup(decision);
    /* The conditional move out of waiting is what decides the race: the loser changes
     * nothing, not even the approvals table. */
    rc = store_step_set_status(st, step_id, STEP_WAITING, approve ? STEP_SUCCEEDED : STEP_FAILED,
                               msg, &changed, e);
    if (rc < 0 || !changed)
        goto out;
    rc = store_exec(st, S_APPROVAL_INSERT, NULL, e, what, "IssssI", run_id, step, decision, by,
                    comment, store_now_ms());
    if (rc < 0)
        goto out;
    struct model_row m;
    rc = model_fetch(st, S_MODEL_FOR_STEP, &m, e, "Is", run_id, step);
    if (rc == 1) {
        bool ch;
        rc = model_transition(st, m.id, "pending", decision, &ch, e);
        model_row_release(&m);
    }
out:
    free(msg);
    rc = store_tx_end(st, kind, rc < 0 ? -1 : 0, e);
    if (rc == 0)
        *won = changed;
    return rc;
}

int store_approvals_list(struct store *st, int64_t run_id, struct approval_row **rows, size_t *n,
                         struct err *e)
{
    const char *what = "list approvals";
    struct approval_row *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = store_bind(st, S_APPROVALS_LIST, e, what, "I", run_id);
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(v, alloc, nv + 1);
        struct approval_row *a = &v[nv++];
        a->id = sqlite3_column_int64(s, 0);
        a->run_id = sqlite3_column_int64(s, 1);
        a->step = store_col_str(s, 2);
        a->decision = store_col_str(s, 3);
        a->by = store_col_str(s, 4);
        a->comment = store_col_str(s, 5);
        a->at = sqlite3_column_int64(s, 6);
    }
    store_reset(s);
    if (rc < 0) {
        approval_rows_free(v, nv);
        return -1;
    }
    *rows = v;
    *n = nv;
    return 0;
}

/* ---- deployments ---- */

void deployment_rows_free(struct deployment_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].name);
        free(rows[i].target);
        free(rows[i].slot);
        free(rows[i].status);
    }
    free(rows);
}

/* The ids of the other deployed versions of model_id's name. */
static int others_deployed(struct store *st, int64_t model_id, int64_t **ids, size_t *n,
                           struct err *e)
{
    const char *what = "find deployed models";
    size_t alloc = 0;
    int rc;
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *s = store_bind(st, S_MODEL_OTHERS_DEPLOYED, e, what, "I", model_id);
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(*ids, alloc, *n + 1);
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    store_reset(s);
    return rc;
}

int store_deployment_add(struct store *st, int64_t model_id, int64_t run_id, const char *target,
                         const char *slot, const char *status, struct err *e)
{
    const char *what = "record the deployment";
    int64_t *others = NULL;
    size_t nothers = 0;
    struct model_row m;
    int kind;
    if (!ONE_OF(status, deployment_statuses))
        return err_set(e, "unknown deployment status '%s'", status ? status : "");
    if (!target || !*target)
        return err_set(e, "cannot record a deployment without a target");
    if (store_tx_begin(st, &kind, e, what) < 0)
        return -1;
    int rc = model_fetch(st, S_MODEL_BY_ID, &m, e, "I", model_id);
    if (rc == 0)
        rc = store_notfound(e, "no model with id %" PRId64, model_id);
    if (rc < 0)
        goto out;
    model_row_release(&m);
    rc = store_exec(st, S_DEPLOYMENT_INSERT, NULL, e, what, "IzsssI", model_id, run_id, target,
                    slot, status, store_now_ms());
    if (rc < 0 || strcmp(status, "deployed"))
        goto out;
    int64_t id = sqlite3_last_insert_rowid(st->db);
    rc = store_exec(st, S_DEPLOYMENT_SUPERSEDE, NULL, e, what, "sI", target, id);
    if (rc == 0)
        rc = others_deployed(st, model_id, &others, &nothers, e);
    /* One deployed version per name: the champion it replaces retires. */
    for (size_t i = 0; rc == 0 && i < nothers; i++) {
        bool ch;
        rc = model_transition(st, others[i], "deployed", "retired", &ch, e);
    }
    if (rc == 0) {
        bool ch;
        rc = model_transition(st, model_id, NULL, "deployed", &ch, e);
    }
out:
    free(others);
    return store_tx_end(st, kind, rc < 0 ? -1 : 0, e);
}

int store_deployments_list(struct store *st, const char *name, struct deployment_row **rows,
                           size_t *n, struct err *e)
{
    const char *what = "list deployments";
    struct deployment_row *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = name ? store_bind(st, S_DEPLOYMENTS_LIST_NAME, e, what, "s", name)
                           : store_bind(st, S_DEPLOYMENTS_LIST, e, what, "");
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(v, alloc, nv + 1);
        struct deployment_row *d = &v[nv++];
        d->id = sqlite3_column_int64(s, 0);
        d->model_id = sqlite3_column_int64(s, 1);
        d->name = store_col_str(s, 2);
        d->version = sqlite3_column_int(s, 3);
        d->run_id = sqlite3_column_int64(s, 4);
        d->target = store_col_str(s, 5);
        d->slot = store_col_str(s, 6);
        d->status = store_col_str(s, 7);
        d->at = sqlite3_column_int64(s, 8);
    }
    store_reset(s);
    if (rc < 0) {
        deployment_rows_free(v, nv);
        return -1;
    }
    *rows = v;
    *n = nv;
    return 0;
}

/* ---- the catalog ---- */

void catalog_row_release(struct catalog_row *c)
{
    free(c->name);
    free(c->schema);
    memset(c, 0, sizeof(*c));
}

void catalog_rows_free(struct catalog_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        catalog_row_release(&rows[i]);
    free(rows);
}

/* One row of CATALOG_COLS (sql.c) into c. */
static void catalog_decode(sqlite3_stmt *s, struct catalog_row *c)
{
    memset(c, 0, sizeof(*c));
    c->id = sqlite3_column_int64(s, 0);
    c->name = store_col_str(s, 1);
    c->version = sqlite3_column_int(s, 2);
    c->schema = store_col_str(s, 3);
    c->rows = sqlite3_column_int64(s, 4);
    c->artifact_id = sqlite3_column_int64(s, 5);
    c->run_id = sqlite3_column_int64(s, 6);
    c->created_at = sqlite3_column_int64(s, 7);
}

int store_catalog_latest(struct store *st, const char *table, struct catalog_row *out,
                         struct err *e)
{
    const char *what = "load catalog table";
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = store_bind(st, S_CATALOG_LATEST, e, what, "s", table);
    if (!s)
        return -1;
    int rc = store_step(st, s, e, what);
    if (rc == 1)
        catalog_decode(s, out);
    store_reset(s);
    if (rc == 0)
        return store_notfound(e, "no table '%s' in the catalog", table);
    return rc < 0 ? -1 : 0;
}

int store_catalog_add(struct store *st, const char *table, const char *schema_json, int64_t rows,
                      int64_t artifact_id, int64_t run_id, int *version, struct err *e)
{
    const char *what = "add a catalog version";
    int64_t v = 0;
    int kind;
    if (!table || !*table || !schema_json)
        return err_set(e, "cannot add a catalog version without a table name and a schema");
    if (store_tx_begin(st, &kind, e, what) < 0)
        return -1;
    int rc = store_query_id(st, S_CATALOG_NEXT_VERSION, &v, e, what, "s", table);
    if (rc == 1) {
        rc = store_exec(st, S_CATALOG_INSERT, NULL, e, what, "sisIzzI", table, (int)v,
                        schema_json, rows, artifact_id, run_id, store_now_ms());
        if (rc < 0)
            err_set(e, "cannot add version %d of table '%s': %s", (int)v, table,
                    store_errmsg(st));
    }
    rc = store_tx_end(st, kind, rc < 0 ? -1 : 0, e);
    if (rc == 0 && version)
        *version = (int)v;
    return rc;
}

int store_catalog_list(struct store *st, const char *table, struct catalog_row **rows, size_t *n,
                       struct err *e)
{
    const char *what = "list the catalog";
    struct catalog_row *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = table ? store_bind(st, S_CATALOG_LIST_TABLE, e, what, "s", table)
                            : store_bind(st, S_CATALOG_LIST_ALL, e, what, "");
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(v, alloc, nv + 1);
        catalog_decode(s, &v[nv++]);
    }
    store_reset(s);
    if (rc < 0) {
        catalog_rows_free(v, nv);
        return -1;
    }
    *rows = v;
    *n = nv;
    return 0;
}
