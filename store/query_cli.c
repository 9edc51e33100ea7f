/* Read-only look-ups for the history commands (store/query.h). Rarely run, so each statement
 * is prepared per call (sqlite3_prepare_v2, bound parameters, finalize) instead of taking a
 * slot in the store's table of statements prepared at open. */
#include "store/query.h"

#include <inttypes.h>
#include <string.h>

#include "store/store_int.h"

/* The columns in the order of struct attempt_row. */
static const char attempt_get_sql[] =
    "SELECT id, step_id, n, status, pid, pid_start, job_id, exit, signal, cpu_s, max_rss_kb,"
    " dir, cached_from, started_at, ended_at FROM attempts WHERE id = ?1";

int store_attempt_get(struct store *st, int64_t attempt_id, struct attempt_row *out, struct err *e)
{
    const char *what = "load attempt";
    sqlite3_stmt *s = NULL;
    memset(out, 0, sizeof(*out));
    if (sqlite3_prepare_v2(st->db, attempt_get_sql, -1, &s, NULL) != SQLITE_OK)
        return store_dberr(st, e, what);
    int rc = -1;
    if (sqlite3_bind_int64(s, 1, attempt_id) != SQLITE_OK) {
        store_dberr(st, e, what);
        goto out;
    }
    rc = store_step(st, s, e, what);
    if (rc == 0) {
        rc = store_notfound(e, "no attempt %" PRId64, attempt_id);
    } else if (rc == 1) {
        out->id = sqlite3_column_int64(s, 0);
        out->step_id = sqlite3_column_int64(s, 1);
        out->n = sqlite3_column_int(s, 2);
        out->status = store_col_str(s, 3);
        out->pid = sqlite3_column_int64(s, 4);
        out->pid_start = (uint64_t)sqlite3_column_int64(s, 5);
        out->job_id = store_col_str(s, 6);
        out->exit_code = sqlite3_column_int(s, 7);
        out->signal = sqlite3_column_int(s, 8);
        out->cpu_s = sqlite3_column_double(s, 9);
        out->max_rss_kb = sqlite3_column_int64(s, 10);
        out->dir = store_col_str(s, 11);
        out->cached_from = sqlite3_column_int64(s, 12);
        out->started_at = sqlite3_column_int64(s, 13);
        out->ended_at = sqlite3_column_int64(s, 14);
        rc = 0;
    }
out:
    sqlite3_finalize(s);
    return rc;
}
