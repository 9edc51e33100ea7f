/* Runs in the store: creating one (pipeline, version, params, steps), reading and listing
 * them, conditional status changes, cancel requests and the lease an engine holds on a run. */
#include "store/store_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/sha256.h"
#include "util/xalloc.h"

/* The pipeline's id, inserting it when new; callers hold the write transaction. */
static int pipeline_id(struct store *st, const char *name, int64_t now, int64_t *id,
                       struct err *e)
{
    int rc = store_query_id(st, S_PIPELINE_FIND, id, e, "find pipeline", "s", name);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (store_exec(st, S_PIPELINE_INSERT, NULL, e, "insert pipeline", "sI", name, now) < 0)
        return -1;
    *id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

/* The version's id (digest of the exact text), inserting it when new. */
static int version_id(struct store *st, int64_t pipeline, const char *digest, const char *yaml,
                      size_t len, int64_t now, int64_t *id, struct err *e)
{
    int rc = store_query_id(st, S_VERSION_FIND, id, e, "find pipeline version", "Is", pipeline,
                            digest);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (store_exec(st, S_VERSION_INSERT, NULL, e, "insert pipeline version", "IsLI", pipeline,
                   digest, yaml, len, now) < 0)
        return -1;
    *id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int store_run_create(struct store *st, const struct run_new *rn, int64_t *run_id, struct err *e)
{
    char digest[DIGEST_HEX_LEN + 1];
    int64_t pid, vid, id = 0, now = store_now_ms();
    int kind, rc = -1;
    bool fired = false;
    if (!rn->pipeline || !rn->yaml)
        BUG("store_run_create without a pipeline name or text");
    const char *trigger = rn->trigger ? rn->trigger : "cli";
    sha256_hex(rn->yaml, rn->yaml_len, digest);
    if (store_tx_begin(st, &kind, e, "create run") < 0)
        return -1;
    if (pipeline_id(st, rn->pipeline, now, &pid, e) < 0 ||
        version_id(st, pid, digest, rn->yaml, rn->yaml_len, now, &vid, e) < 0)
        goto out;
    if (store_exec(st, S_RUN_INSERT, NULL, e, "insert run", "IIssszsI",
                   pid, vid, rn->path, run_status_name(RUN_QUEUED), trigger, rn->parent_run,
                   rn->options, now) < 0)
        goto out;
    id = sqlite3_last_insert_rowid(st->db);
    if (rn->fire_at) {
        int added = 0;
        if (store_exec(st, S_SCHEDULE_FIRE_ADD, &added, e, "record the schedule's fire", "sII",
                       rn->pipeline, rn->fire_at, id) < 0)
            goto out;
        if (!added) {
            fired = true; /* rolled back below: no second run for one fire */
            goto out;
        }
    }
    for (size_t i = 0; i < rn->nparams; i++) {
        if (store_exec(st, S_PARAM_INSERT, NULL, e, "insert run parameter", "Iss", id,
                       rn->params[i].name, rn->params[i].value) < 0) {
            /* name it; sqlite3_errmsg still holds the failed statement's error */
            err_set(e, "cannot insert parameter '%s': %s", rn->params[i].name,
                    store_errmsg(st));
            goto out;
        }
    }
    for (size_t i = 0; i < rn->nsteps; i++) {
        const char *k = rn->kinds && rn->kinds[i] ? rn->kinds[i] : "task";
        if (store_exec(st, S_STEP_INSERT, NULL, e, "insert step", "Isss", id, rn->steps[i], k,
                       step_status_name(STEP_PENDING)) < 0) {
            err_set(e, "cannot insert step '%s': %s", rn->steps[i], store_errmsg(st));
            goto out;
        }
    }
    char *detail = rn->parent_run
                       ? xasprintf("%s, trigger %s, retry of run %" PRId64,
                                   run_status_name(RUN_QUEUED), trigger, rn->parent_run)
                       : xasprintf("%s, trigger %s", run_status_name(RUN_QUEUED), trigger);
    rc = store_event(st, id, NULL, "created", detail, e);
    free(detail);
out:
    rc = store_tx_end(st, kind, rc, e);
    if (rc == 0)
        *run_id = id;
    return fired ? 1 : rc;
}

void run_row_release(struct run_row *r)
{
    free(r->pipeline);
    free(r->version);
    free(r->yaml);
    free(r->path);
    free(r->trigger);
    free(r->options);
    free(r->message);
    free(r->lease_owner);
    for (size_t i = 0; i < r->nparams; i++) {
        free(r->params[i].name);
        free(r->params[i].value);
    }
    free(r->params);
    memset(r, 0, sizeof(*r));
}

void run_rows_free(struct run_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        run_row_release(&rows[i]);
    free(rows);
}

/* One row of RUN_COLS (sql.c) into r. */
static int run_decode(sqlite3_stmt *s, struct run_row *r, struct err *e)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    r->pipeline = store_col_str(s, 1);
    r->version = store_col_str(s, 2);
    r->path = store_col_str(s, 3);
    const char *status = (const char *)sqlite3_column_text(s, 4);
    if (run_status_parse(status, &r->status) < 0) {
        err_set(e, "run %" PRId64 " has unknown status '%s'", r->id, status ? status : "");
        run_row_release(r);
        return -1;
    }
    r->trigger = store_col_str(s, 5);
    r->parent_run = sqlite3_column_int64(s, 6);
    r->options = store_col_str(s, 7);
    r->message = store_col_str(s, 8);
    r->created_at = sqlite3_column_int64(s, 9);
    r->started_at = sqlite3_column_int64(s, 10);
    r->ended_at = sqlite3_column_int64(s, 11);
    r->lease_owner = store_col_str(s, 12);
    r->lease_expires = sqlite3_column_int64(s, 13);
    r->cancel_requested = sqlite3_column_int(s, 14) != 0;
    return 0;
}

static int load_params(struct store *st, struct run_row *r, struct err *e)
{
    const char *what = "load run parameters";
    size_t alloc = 0;
    int rc;
    sqlite3_stmt *s = store_bind(st, S_RUN_PARAMS, e, what, "I", r->id);
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(r->params, alloc, r->nparams + 1);
        r->params[r->nparams].name = store_col_str(s, 0);
        r->params[r->nparams].value = store_col_str(s, 1);
        r->nparams++;
    }
    store_reset(s);
    return rc;
}

int store_run_get(struct store *st, int64_t id, struct run_row *out, struct err *e)
{
    const char *what = "load run";
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = store_bind(st, S_RUN_GET, e, what, "I", id);
    if (!s)
        return -1;
    int rc = store_step(st, s, e, what);
    if (rc == 0)
        rc = store_notfound(e, "no run %" PRId64, id);
    else if (rc == 1 && (rc = run_decode(s, out, e)) == 0)
        out->yaml = store_col_str(s, 15);
    store_reset(s);
    if (rc == 0 && load_params(st, out, e) < 0) {
        run_row_release(out);
        rc = -1;
    }
    return rc;
}

int store_run_last(struct store *st, int64_t *id, struct err *e)
{
    int rc = store_query_id(st, S_RUN_LAST, id, e, "find the last run", "");
    if (rc == 0)
        return store_notfound(e, "no runs yet");
    return rc < 0 ? -1 : 0;
}

static enum stmt_id run_list_stmt(const struct run_filter *f)
{
    if (f->pipeline)
        return f->status >= 0 ? S_RUN_LIST_PS : S_RUN_LIST_P;
    return f->status >= 0 ? S_RUN_LIST_S : S_RUN_LIST;
}

static sqlite3_stmt *run_list_bind(struct store *st, const struct run_filter *f, struct err *e,
                                   const char *what)
{
    if (f->status >= RUN_STATUS_COUNT) {
        err_set(e, "unknown run status %d", f->status);
        return NULL;
    }
    /* Unused parameters of a variant are bound all the same: numbers up to the highest one a
     * statement uses are all valid. */
    return store_bind(st, run_list_stmt(f), e, what, "ssIi", f->pipeline,
                      f->status >= 0 ? run_status_name((enum run_status)f->status) : NULL,
                      f->before > 0 ? f->before : INT64_MAX, f->limit > 0 ? f->limit : 50);
}

int store_run_list(struct store *st, const struct run_filter *f, struct run_row **rows,
                   size_t *n, struct err *e)
{
    const char *what = "list runs";
    struct run_filter any = {NULL, -1, 0, 0};
    struct run_row *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = run_list_bind(st, f ? f : &any, e, what);
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(v, alloc, nv + 1);
        if ((rc = run_decode(s, &v[nv], e)) < 0)
            break;
        nv++;
    }
    store_reset(s);
    if (rc < 0) {
        run_rows_free(v, nv);
        return -1;
    }
    *rows = v;
    *n = nv;
    return 0;
}

int store_run_list_plan(struct store *st, const struct run_filter *f, char **plan,
                        struct err *e)
{
    struct run_filter any = {NULL, -1, 0, 0};
    sqlite3_stmt *s = NULL;
    *plan = NULL;
    /* Debug aid for tests and benchmarks: the constant text of one of our own statements,
     * behind a constant prefix; no value is pasted in. */
    char *sql = xasprintf("EXPLAIN QUERY PLAN %s", store_sql[run_list_stmt(f ? f : &any)]);
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    free(sql);
    if (rc != SQLITE_OK)
        return store_dberr(st, e, "explain the run list");
    size_t len = 0, alloc = 0;
    char *out = NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(s, 3);
        size_t dl = detail ? strlen(detail) : 0;
        XGROW(out, alloc, len + dl + 2);
        memcpy(out + len, detail ? detail : "", dl);
        len += dl;
        out[len++] = '\n';
        out[len] = '\0';
    }
    if (rc != SQLITE_DONE) {
        store_dberr(st, e, "explain the run list");
        sqlite3_finalize(s);
        free(out);
        return -1;
    }
    sqlite3_finalize(s);
    *plan = out ? out : xstrdup("");
    return 0;
}

static int run_exists(struct store *st, int64_t id, struct err *e)
{
    int64_t found;
    int rc = store_query_id(st, S_RUN_EXISTS, &found, e, "find run", "I", id);
    if (rc == 0)
        return store_notfound(e, "no run %" PRId64, id);
    return rc < 0 ? -1 : 0;
}

int store_run_set_status(struct store *st, int64_t id, enum run_status from, enum run_status to,
                         const char *message, bool *changed, struct err *e)
{
    const char *f = run_status_name(from), *t = run_status_name(to);
    int kind, changes = 0, rc;
    *changed = false;
    if (from == to)
        return run_exists(st, id, e);
    if (store_tx_begin(st, &kind, e, "update run status") < 0)
        return -1;
    rc = store_exec(st, S_RUN_SET_STATUS, &changes, e, "update run status", "IssIis", id, t,
                    message, store_now_ms(), (int)run_status_terminal(to), f);
    if (rc == 0 && changes) {
        char *detail = message ? xasprintf("%s -> %s: %s", f, t, message)
                               : xasprintf("%s -> %s", f, t);
        rc = store_event(st, id, NULL, "status", detail, e);
        free(detail);
    } else if (rc == 0) {
        rc = run_exists(st, id, e);
    }
    rc = store_tx_end(st, kind, rc, e);
    if (rc == 0)
        *changed = changes > 0;
    return rc;
}

int store_run_request_cancel(struct store *st, int64_t id, struct err *e)
{
    int kind, changes = 0, rc;
    if (store_tx_begin(st, &kind, e, "request cancel") < 0)
        return -1;
    rc = store_exec(st, S_RUN_CANCEL, &changes, e, "request cancel", "I", id);
    if (rc == 0 && changes)
        rc = store_event(st, id, NULL, "cancel", "requested", e);
    else if (rc == 0)
        rc = run_exists(st, id, e); /* already requested, or no such run */
    return store_tx_end(st, kind, rc, e);
}

/* ---- leases ---- */

/* The current owner (NULL when free) of an existing run. */
static int lease_owner(struct store *st, int64_t id, char **owner, struct err *e)
{
    const char *what = "read lease";
    *owner = NULL;
    sqlite3_stmt *s = store_bind(st, S_LEASE_OWNER, e, what, "I", id);
    if (!s)
        return -1;
    int rc = store_step(st, s, e, what);
    if (rc == 1) {
        *owner = store_col_str(s, 0);
        rc = 0;
    } else if (rc == 0) {
        rc = store_notfound(e, "no run %" PRId64, id);
    }
    store_reset(s);
    return rc;
}

int store_lease_acquire(struct store *st, int64_t run_id, const char *owner,
                        const char *expected_owner, int64_t now, int64_t expires, bool *got,
                        struct err *e)
{
    const char *what = "acquire lease";
    char *old = NULL;
    int kind, changes = 0, rc;
    *got = false;
    if (store_tx_begin(st, &kind, e, what) < 0)
        return -1;
    /* Read the owner in the same write transaction, for the audit trail of take-overs. */
    rc = lease_owner(st, run_id, &old, e);
    if (rc == 0)
        rc = store_exec(st, S_LEASE_ACQUIRE, &changes, e, what, "IssII", run_id, owner,
                        expected_owner, now, expires);
    if (rc == 0 && changes && (!old || strcmp(old, owner))) {
        char *detail = old ? xasprintf("taken by %s from %s", owner, old)
                           : xasprintf("acquired by %s", owner);
        rc = store_event(st, run_id, NULL, "lease", detail, e);
        free(detail);
    }
    free(old);
    rc = store_tx_end(st, kind, rc, e);
    if (rc == 0)
        *got = changes > 0;
    return rc;
}

int store_lease_renew(struct store *st, int64_t run_id, const char *owner, int64_t expires,
                      bool *kept, struct err *e)
{
    int changes = 0;
    *kept = false;
    if (store_exec_tx(st, S_LEASE_RENEW, &changes, e, "renew lease", "IsI", run_id, owner,
                      expires) < 0)
        return -1;
    *kept = changes > 0;
    return 0;
}

int store_lease_release(struct store *st, int64_t run_id, const char *owner, struct err *e)
{
    int kind, changes = 0, rc;
    if (store_tx_begin(st, &kind, e, "release lease") < 0)
        return -1;
    rc = store_exec(st, S_LEASE_RELEASE, &changes, e, "release lease", "Is", run_id, owner);
    if (rc == 0 && changes) {
        char *detail = xasprintf("released by %s", owner);
        rc = store_event(st, run_id, NULL, "lease", detail, e);
        free(detail);
    }
    return store_tx_end(st, kind, rc, e);
}
