/* Steps and attempts in the store: loading a run's steps, their conditional status changes,
 * retry timers and cache keys; attempts recorded before their process starts, their pid and
 * their one-time finish. */
#include "store/store_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* ---- steps ---- */

void step_row_release(struct step_row *s)
{
    free(s->name);
    free(s->kind);
    free(s->message);
    free(s->cache_key);
    free(s->cache_info);
    memset(s, 0, sizeof(*s));
}

void step_rows_free(struct step_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        step_row_release(&rows[i]);
    free(rows);
}

/* One row of STEP_COLS (sql.c) into r. */
static int step_decode(sqlite3_stmt *s, struct step_row *r, struct err *e)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    r->run_id = sqlite3_column_int64(s, 1);
    r->name = store_col_str(s, 2);
    r->kind = store_col_str(s, 3);
    const char *status = (const char *)sqlite3_column_text(s, 4);
    if (step_status_parse(status, &r->status) < 0) {
        err_set(e, "step '%s' of run %" PRId64 " has unknown status '%s'", r->name, r->run_id,
                status ? status : "");
        step_row_release(r);
        return -1;
    }
    r->cached = sqlite3_column_int(s, 5) != 0;
    r->message = store_col_str(s, 6);
    r->attempts = sqlite3_column_int(s, 7);
    r->next_attempt_at = sqlite3_column_int64(s, 8);
    r->started_at = sqlite3_column_int64(s, 9);
    r->ended_at = sqlite3_column_int64(s, 10);
    r->cache_key = store_col_str(s, 11);
    r->cache_info = store_col_str(s, 12);
    return 0;
}

int store_steps_load(struct store *st, int64_t run_id, struct step_row **rows, size_t *n,
                     struct err *e)
{
    const char *what = "load steps";
    struct step_row *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = store_bind(st, S_STEPS_LOAD, e, what, "I", run_id);
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(v, alloc, nv + 1);
        if ((rc = step_decode(s, &v[nv], e)) < 0)
            break;
        nv++;
    }
    store_reset(s);
    if (rc < 0) {
        step_rows_free(v, nv);
        return -1;
    }
    *rows = v;
    *n = nv;
    return 0;
}

static int step_exists(struct store *st, int64_t id, struct err *e)
{
    int64_t found;
    int rc = store_query_id(st, S_STEP_EXISTS, &found, e, "find step", "I", id);
    if (rc == 0)
        return store_notfound(e, "no step %" PRId64, id);
    return rc < 0 ? -1 : 0;
}

int store_step_set_status(struct store *st, int64_t step_id, enum step_status from,
                          enum step_status to, const char *message, bool *changed,
                          struct err *e)
{
    const char *f = step_status_name(from), *t = step_status_name(to);
    int kind, changes = 0, rc;
    *changed = false;
    if (from == to)
        return step_exists(st, step_id, e);
    if (store_tx_begin(st, &kind, e, "update step status") < 0)
        return -1;
    rc = store_exec(st, S_STEP_SET_STATUS, &changes, e, "update step status", "IssIis", step_id,
                    t, message, store_now_ms(), (int)step_status_terminal(to), f);
    if (rc == 0 && changes) {
        char *detail = message ? xasprintf("%s -> %s: %s", f, t, message)
                               : xasprintf("%s -> %s", f, t);
        rc = store_event_step(st, step_id, "status", detail, e);
        free(detail);
    } else if (rc == 0) {
        rc = step_exists(st, step_id, e);
    }
    rc = store_tx_end(st, kind, rc, e);
    if (rc == 0)
        *changed = changes > 0;
    return rc;
}

int store_step_set_retry(struct store *st, int64_t step_id, int attempts, int64_t next_attempt_at,
                         struct err *e)
{
    int changes = 0;
    if (store_exec_tx(st, S_STEP_SET_RETRY, &changes, e, "update step retry", "IiI", step_id,
                      attempts, next_attempt_at) < 0)
        return -1;
    return changes ? 0 : store_notfound(e, "no step %" PRId64, step_id);
}

int store_step_set_cache(struct store *st, int64_t step_id, const char *key, const char *info,
                         struct err *e)
{
    int changes = 0;
    if (store_exec_tx(st, S_STEP_SET_CACHE, &changes, e, "update step cache key", "Iss", step_id,
                      key, info) < 0)
        return -1;
    return changes ? 0 : store_notfound(e, "no step %" PRId64, step_id);
}

int store_step_previous(struct store *st, const char *pipeline, const char *step,
                        int64_t before_run, struct step_row *out, struct err *e)
{
    const char *what = "find the previous step";
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = store_bind(st, S_STEP_PREVIOUS, e, what, "ssI", pipeline, step,
                                 before_run > 0 ? before_run : INT64_MAX);
    if (!s)
        return -1;
    int rc = store_step(st, s, e, what);
    if (rc == 1)
        rc = step_decode(s, out, e);
    else if (rc == 0)
        rc = store_notfound(e, "no earlier run of step '%s' in pipeline '%s'", step, pipeline);
    store_reset(s);
    return rc;
}

/* ---- attempts ---- */

static const char *const attempt_final[] = {"succeeded", "failed",    "lost",
                                            "cancelled", "timed_out", "cached"};

void attempt_row_release(struct attempt_row *a)
{
    free(a->status);
    free(a->job_id);
    free(a->dir);
    free(a->executor);
    free(a->node);
    free(a->job_state);
    free(a->job_reason);
    memset(a, 0, sizeof(*a));
}

void attempt_rows_free(struct attempt_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        attempt_row_release(&rows[i]);
    free(rows);
}

int store_attempt_insert(struct store *st, int64_t step_id, int n, const char *dir,
                         int64_t cached_from, const char *executor, int64_t *attempt_id,
                         struct err *e)
{
    const char *what = "insert attempt";
    int64_t now = store_now_ms(), id = 0;
    int kind, rc;
    /* A cache hit is over the moment it is recorded: finished, status cached, exit 0. */
    bool hit = cached_from != 0;
    if (store_tx_begin(st, &kind, e, what) < 0)
        return -1;
    rc = store_exec(st, S_ATTEMPT_INSERT, NULL, e, what, "IissziIIs", step_id, n,
                    hit ? "cached" : "running", dir, cached_from, hit ? 0 : -1, now,
                    hit ? now : (int64_t)0, executor);
    if (rc == 0) {
        id = sqlite3_last_insert_rowid(st->db);
        char *detail = hit ? xasprintf("%d cached from attempt %" PRId64, n, cached_from)
                           : xasprintf("%d running", n);
        rc = store_event_attempt(st, id, "attempt", detail, e);
        free(detail);
    }
    rc = store_tx_end(st, kind, rc, e);
    if (rc == 0)
        *attempt_id = id;
    return rc;
}

int store_attempt_set_pid(struct store *st, int64_t attempt_id, int64_t pid, uint64_t pid_start,
                          const char *job_id, struct err *e)
{
    int changes = 0;
    /* /proc start times are clock ticks since boot: far below INT64_MAX. */
    if (store_exec_tx(st, S_ATTEMPT_SET_PID, &changes, e, "record attempt pid", "IIIs",
                      attempt_id, pid, (int64_t)pid_start, job_id) < 0)
        return -1;
    return changes ? 0 : store_notfound(e, "no attempt %" PRId64, attempt_id);
}

int store_attempt_set_job(struct store *st, int64_t attempt_id, const struct attempt_job *j,
                          struct err *e)
{
    int changes = 0;
    if (store_exec_tx(st, S_ATTEMPT_SET_JOB, &changes, e, "record the attempt's job", "IssssII",
                      attempt_id, j->job_id, j->node, j->state, j->reason, j->queued_at,
                      j->started_at) < 0)
        return -1;
    return changes ? 0 : store_notfound(e, "no attempt %" PRId64, attempt_id);
}

int store_attempt_set_step_pid(struct store *st, int64_t attempt_id, int64_t pid,
                               uint64_t pid_start, struct err *e)
{
    int changes = 0;
    if (store_exec_tx(st, S_ATTEMPT_SET_STEP_PID, &changes, e, "record the step's pid", "III",
                      attempt_id, pid, (int64_t)pid_start) < 0)
        return -1;
    return changes ? 0 : store_notfound(e, "no attempt %" PRId64, attempt_id);
}

int store_attempt_finish(struct store *st, int64_t attempt_id, const char *status, int exit_code,
                         int signal, double cpu_s, int64_t max_rss_kb, int64_t ended_at,
                         bool *changed, struct err *e)
{
    const char *what = "finish attempt";
    int kind, changes = 0, rc;
    bool known = false;
    *changed = false;
    for (size_t i = 0; i < sizeof(attempt_final) / sizeof(attempt_final[0]); i++)
        known = known || (status && !strcmp(status, attempt_final[i]));
    if (!known)
        return err_set(e, "cannot finish attempt %" PRId64 ": unknown status '%s'", attempt_id,
                       status ? status : "");
    if (store_tx_begin(st, &kind, e, what) < 0)
        return -1;
    rc = store_exec(st, S_ATTEMPT_FINISH, &changes, e, what, "IsiidII", attempt_id, status,
                    exit_code, signal, cpu_s, max_rss_kb, ended_at ? ended_at : store_now_ms());
    if (rc == 0 && changes) {
        char *detail = signal ? xasprintf("%s, signal %d", status, signal)
                              : xasprintf("%s, exit %d", status, exit_code);
        rc = store_event_attempt(st, attempt_id, "attempt", detail, e);
        free(detail);
    } else if (rc == 0) {
        int64_t found;
        rc = store_query_id(st, S_ATTEMPT_EXISTS, &found, e, "find attempt", "I", attempt_id);
        rc = rc == 0 ? store_notfound(e, "no attempt %" PRId64, attempt_id) : rc < 0 ? -1 : 0;
    }
    rc = store_tx_end(st, kind, rc, e);
    if (rc == 0)
        *changed = changes > 0;
    return rc;
}

static void attempt_decode(sqlite3_stmt *s, struct attempt_row *a)
{
    a->id = sqlite3_column_int64(s, 0);
    a->step_id = sqlite3_column_int64(s, 1);
    a->n = sqlite3_column_int(s, 2);
    a->status = store_col_str(s, 3);
    a->pid = sqlite3_column_int64(s, 4);
    a->pid_start = (uint64_t)sqlite3_column_int64(s, 5);
    a->job_id = store_col_str(s, 6);
    a->exit_code = sqlite3_column_int(s, 7);
    a->signal = sqlite3_column_int(s, 8);
    a->cpu_s = sqlite3_column_double(s, 9);
    a->max_rss_kb = sqlite3_column_int64(s, 10);
    a->dir = store_col_str(s, 11);
    a->cached_from = sqlite3_column_int64(s, 12);
    a->started_at = sqlite3_column_int64(s, 13);
    a->ended_at = sqlite3_column_int64(s, 14);
    a->step_pid = sqlite3_column_int64(s, 15);
    a->step_pid_start = (uint64_t)sqlite3_column_int64(s, 16);
    a->executor = store_col_str(s, 17);
    a->node = store_col_str(s, 18);
    a->queued_at = sqlite3_column_int64(s, 19);
    a->job_state = store_col_str(s, 20);
    a->job_reason = store_col_str(s, 21);
}

int store_workspace_id(struct store *st, char out[17], struct err *e)
{
    const char *what = "read the workspace's id";
    sqlite3_stmt *s = store_bind(st, S_WORKSPACE_ID, e, what, "");
    if (!s)
        return -1;
    int rc = store_step(st, s, e, what);
    const unsigned char *v = rc == 1 ? sqlite3_column_text(s, 0) : NULL;
    if (rc == 1 && v && strlen((const char *)v) == 16)
        memcpy(out, v, 17);
    else if (rc >= 0)
        rc = err_set(e, "cannot %s: the store has none", what);
    store_reset(s);
    return rc < 0 ? -1 : 0;
}

int store_attempt_get(struct store *st, int64_t attempt_id, struct attempt_row *out, struct err *e)
{
    const char *what = "load attempt";
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = store_bind(st, S_ATTEMPT_GET, e, what, "I", attempt_id);
    if (!s)
        return -1;
    int rc = store_step(st, s, e, what);
    if (rc == 1)
        attempt_decode(s, out);
    store_reset(s);
    if (rc == 0)
        return store_notfound(e, "no attempt %" PRId64, attempt_id);
    return rc < 0 ? -1 : 0;
}

static int attempts_load(struct store *st, enum stmt_id id, int64_t key, struct attempt_row **rows,
                         size_t *n, struct err *e)
{
    const char *what = "load attempts";
    struct attempt_row *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = store_bind(st, id, e, what, "I", key);
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(v, alloc, nv + 1);
        attempt_decode(s, &v[nv++]);
    }
    store_reset(s);
    if (rc < 0) {
        attempt_rows_free(v, nv);
        return -1;
    }
    *rows = v;
    *n = nv;
    return 0;
}

int store_attempts_load(struct store *st, int64_t step_id, struct attempt_row **rows, size_t *n,
                        struct err *e)
{
    return attempts_load(st, S_ATTEMPTS_LOAD, step_id, rows, n, e);
}

int store_run_attempts_load(struct store *st, int64_t run_id, struct attempt_row **rows,
                            size_t *n, struct err *e)
{
    return attempts_load(st, S_ATTEMPTS_LOAD_RUN, run_id, rows, n, e);
}

int store_attempt_origin(struct store *st, int64_t attempt_id, int64_t *run_id, char **step,
                         struct err *e)
{
    const char *what = "find the step of an attempt";
    *step = NULL;
    sqlite3_stmt *s = store_bind(st, S_ATTEMPT_ORIGIN, e, what, "I", attempt_id);
    if (!s)
        return -1;
    int rc = store_step(st, s, e, what);
    if (rc == 1) {
        *run_id = sqlite3_column_int64(s, 0);
        *step = store_col_str(s, 1);
        rc = 0;
    } else if (rc == 0) {
        rc = store_notfound(e, "no attempt %" PRId64, attempt_id);
    }
    store_reset(s);
    return rc;
}
