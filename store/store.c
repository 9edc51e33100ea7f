/* The store's connection: open (pragmas, migrations, preparing every statement), close,
 * transactions, the bind → step → reset helpers the other store/ files use, and the events
 * table. */
#include "store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/fs.h"
#include "util/xalloc.h"

/* Status names live in store/status.c. */

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- errors and statement helpers ---- */

enum { TX_OWN = 1, TX_SAVEPOINT = 2 }; /* what store_tx_begin opened */

const char *store_errmsg(struct store *st)
{
    const char *msg = sqlite3_errmsg(st->db);
    int code = sqlite3_errcode(st->db) & 0xff, sys = sqlite3_system_errno(st->db);
    if (sys && (code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN)) {
        snprintf(st->errbuf, sizeof(st->errbuf), "%s (%s)", msg, strerror(sys));
        return st->errbuf;
    }
    return msg;
}

int store_dberr(struct store *st, struct err *e, const char *what)
{
    if (e)
        e->code = 0; /* err_set keeps an earlier code; this is a new, generic error */
    return err_set(e, "cannot %s: %s", what, store_errmsg(st));
}

int store_notfound(struct err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    e->code = STORE_NOT_FOUND;
    return -1;
}

void store_reset(sqlite3_stmt *s)
{
    /* sqlite3_reset repeats the error of the last step, already reported by store_step. */
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* BEGIN IMMEDIATE of the batch transaction, which stays open until store_batch_flush. */
static int batch_start(struct store *st, struct err *e, const char *what)
{
    if (store_exec(st, S_BEGIN, NULL, e, what, "") < 0)
        return -1;
    st->batch_tx = true;
    return 0;
}

sqlite3_stmt *store_vbind(struct store *st, enum stmt_id id, struct err *e, const char *what,
                          const char *types, va_list ap)
{
    sqlite3_stmt *s = st->stmt[id];
    int rc = SQLITE_OK;
    if (strlen(types) != (size_t)sqlite3_bind_parameter_count(s))
        BUG("statement %d takes %d parameters, bound with '%s'", (int)id,
            sqlite3_bind_parameter_count(s), types);
    /* Reads outside a transaction stay autocommit reads. Transaction control is skipped by
     * id: SQLite counts BEGIN IMMEDIATE as a write (it takes the lock), so opening the batch
     * would come back here without end. */
    if (st->batch && id > S_ROLLBACK_TO && !sqlite3_stmt_readonly(s) &&
        sqlite3_get_autocommit(st->db) && batch_start(st, e, what) < 0)
        return NULL;
    /* SQLITE_STATIC: every caller steps and resets (clearing the bindings) before its
     * arguments go out of scope, so copying a 4 MiB pipeline text would be wasted. */
    for (int i = 1; types[i - 1] && rc == SQLITE_OK; i++) {
        switch (types[i - 1]) {
        case 'I':
            rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
            break;
        case 'i':
            rc = sqlite3_bind_int(s, i, va_arg(ap, int));
            break;
        case 'd': {
            double d = va_arg(ap, double);
            rc = isnan(d) ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, d);
            break;
        }
        case 's': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
            break;
        }
        case 'z': {
            int64_t v = va_arg(ap, int64_t);
            rc = v ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
            break;
        }
        case 'L': {
            const char *v = va_arg(ap, const char *);
            size_t len = va_arg(ap, size_t);
            rc = sqlite3_bind_text64(s, i, v, len, SQLITE_STATIC, SQLITE_UTF8);
            break;
        }
        default:
            BUG("bad bind type '%c' for statement %d", types[i - 1], (int)id);
        }
    }
    if (rc != SQLITE_OK) {
        store_dberr(st, e, what);
        store_reset(s);
        return NULL;
    }
    return s;
}

sqlite3_stmt *store_bind(struct store *st, enum stmt_id id, struct err *e, const char *what,
                         const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *s = store_vbind(st, id, e, what, types, ap);
    va_end(ap);
    return s;
}

int store_step(struct store *st, sqlite3_stmt *s, struct err *e, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return store_dberr(st, e, what);
}

int store_exec(struct store *st, enum stmt_id id, int *changes, struct err *e, const char *what,
               const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *s = store_vbind(st, id, e, what, types, ap);
    va_end(ap);
    if (!s)
        return -1;
    int rc;
    while ((rc = store_step(st, s, e, what)) == 1)
        ;
    if (rc == 0 && changes)
        *changes = sqlite3_changes(st->db);
    store_reset(s);
    return rc;
}

int store_exec_tx(struct store *st, enum stmt_id id, int *changes, struct err *e,
                  const char *what, const char *types, ...)
{
    va_list ap;
    int rc;
    /* Inside any transaction (explicit, or a call's own) one statement needs nothing more;
     * in batch mode store_vbind opens the batch around it. */
    bool own = !st->batch && sqlite3_get_autocommit(st->db) != 0;
    if (own && store_exec(st, S_BEGIN, NULL, e, what, "") < 0)
        return -1;
    va_start(ap, types);
    sqlite3_stmt *s = store_vbind(st, id, e, what, types, ap);
    va_end(ap);
    if (!s) {
        rc = -1;
    } else {
        while ((rc = store_step(st, s, e, what)) == 1)
            ;
        if (rc == 0 && changes)
            *changes = sqlite3_changes(st->db);
        store_reset(s);
    }
    return own ? store_tx_end(st, TX_OWN, rc, e) : rc;
}

int store_query_id(struct store *st, enum stmt_id id, int64_t *out, struct err *e,
                   const char *what, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *s = store_vbind(st, id, e, what, types, ap);
    va_end(ap);
    if (!s)
        return -1;
    int rc = store_step(st, s, e, what);
    if (rc == 1)
        *out = sqlite3_column_int64(s, 0);
    store_reset(s);
    return rc;
}

char *store_col_str(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    if (!t)
        return NULL;
    return xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, col));
}

/* ---- transactions ---- */

int store_tx_begin(struct store *st, int *kind, struct err *e, const char *what)
{
    /* A SAVEPOINT outside a transaction would open a deferred one: the batch is opened
     * explicitly, so that the write lock is taken (waiting on the busy timeout) up front. */
    if (st->batch && sqlite3_get_autocommit(st->db) && batch_start(st, e, what) < 0)
        return -1;
    if (!sqlite3_get_autocommit(st->db)) {
        *kind = TX_SAVEPOINT;
        return store_exec(st, S_SAVEPOINT, NULL, e, what, "");
    }
    *kind = TX_OWN;
    return store_exec(st, S_BEGIN, NULL, e, what, "");
}

/* Undo what the call did; errors are ignored because the caller already has the first one.
 * SQLite may have rolled back the whole transaction itself (disk full, I/O error): then
 * there is nothing left to undo. */
static void tx_undo(struct store *st, int kind)
{
    struct err ignored = ERR_INIT;
    if (sqlite3_get_autocommit(st->db))
        return;
    if (kind == TX_SAVEPOINT) {
        store_exec(st, S_ROLLBACK_TO, NULL, &ignored, "roll back", "");
        store_exec(st, S_RELEASE, NULL, &ignored, "roll back", "");
    } else {
        store_exec(st, S_ROLLBACK, NULL, &ignored, "roll back", "");
    }
}

int store_tx_end(struct store *st, int kind, int rc, struct err *e)
{
    if (rc < 0) {
        tx_undo(st, kind);
        return rc;
    }
    if (store_exec(st, kind == TX_SAVEPOINT ? S_RELEASE : S_COMMIT, NULL, e, "commit", "") < 0) {
        tx_undo(st, kind);
        return -1;
    }
    return rc;
}

int store_begin(struct store *st, struct err *e)
{
    const char *what = "begin a transaction";
    if (st->explicit_tx)
        BUG("store_begin inside an open transaction");
    if (!st->batch) {
        if (store_exec(st, S_BEGIN, NULL, e, what, "") < 0)
            return -1;
        st->explicit_tx = TX_OWN;
        return 0;
    }
    /* In batch mode the caller's transaction is a savepoint inside the batch, so that its
     * rollback undoes its own part only. */
    if (sqlite3_get_autocommit(st->db) && batch_start(st, e, what) < 0)
        return -1;
    if (store_exec(st, S_SAVEPOINT, NULL, e, what, "") < 0)
        return -1;
    st->explicit_tx = TX_SAVEPOINT;
    return 0;
}

int store_commit(struct store *st, struct err *e)
{
    int kind = st->explicit_tx;
    if (!kind)
        BUG("store_commit without store_begin");
    st->explicit_tx = 0;
    return store_tx_end(st, kind, 0, e);
}

void store_rollback(struct store *st)
{
    int kind = st->explicit_tx;
    if (!kind)
        return;
    st->explicit_tx = 0;
    tx_undo(st, kind);
}

/* ---- batch mode ---- */

void store_batch_set(struct store *st, bool on)
{
    if (!on && store_batch_open(st))
        BUG("store_batch_set off with a batch transaction open");
    st->batch = on;
    if (!on)
        st->batch_tx = false; /* a batch SQLite rolled back by itself leaves it behind */
}

bool store_batch_open(const struct store *st)
{
    return st->batch_tx && !sqlite3_get_autocommit(st->db);
}

int store_batch_flush(struct store *st, struct err *e)
{
    if (!store_batch_open(st)) {
        st->batch_tx = false;
        return 0;
    }
    if (st->explicit_tx)
        BUG("store_batch_flush inside store_begin");
    st->batch_tx = false;
    if (store_exec(st, S_COMMIT, NULL, e, "commit", "") < 0) {
        tx_undo(st, TX_OWN);
        return -1;
    }
    return 0;
}

/* ---- open and close ---- */

static int open_pragmas(struct store *st, struct err *e)
{
    sqlite3_stmt *s = NULL;
    int rc;
    if (sqlite3_busy_timeout(st->db, 5000) != SQLITE_OK)
        goto fail;
    /* Outside any transaction: foreign_keys is a no-op inside one. */
    if (sqlite3_exec(st->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    /* journal_mode answers with the mode it ended up in; anything but wal (e.g. a file
     * system without shared memory) would break sharing the database between processes. */
    if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        goto fail;
    const char *mode = (const char *)sqlite3_column_text(s, 0);
    if (!mode || strcmp(mode, "wal")) {
        err_set(e, "cannot open database '%s': cannot use WAL mode (journal mode is '%s')",
                st->path, mode ? mode : "unknown");
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    s = NULL;
    /* NORMAL in WAL mode survives a crash of the process and costs 29 µs per commit against
     * 256 µs for FULL (PERF.md); only a power loss may drop the last commits. */
    if (sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    err_set(e, "cannot open database '%s': %s", st->path, store_errmsg(st));
    sqlite3_finalize(s);
    return -1;
}

static int prepare_all(struct store *st, struct err *e)
{
    for (int i = 0; i < S_COUNT; i++) {
        if (!store_sql[i])
            BUG("statement %d has no SQL", i);
        /* PERSISTENT: they live as long as the connection. */
        if (sqlite3_prepare_v3(st->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &st->stmt[i], NULL) != SQLITE_OK)
            return err_set(e, "cannot prepare statement %d: %s", i, sqlite3_errmsg(st->db));
    }
    return 0;
}

struct store *store_open(const char *home, struct err *e)
{
    struct store *st = xcalloc(1, sizeof(*st));
    st->home = xstrdup(home);
    st->path = xasprintf("%s/sluice.db", home);
    if (fs_mkdir_p(home, 0777, e) < 0)
        goto fail;
    /* NOMUTEX: a connection belongs to one thread, and is never carried across fork(). */
    int rc = sqlite3_open_v2(st->path, &st->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        err_set(e, "cannot open database '%s': %s", st->path,
                st->db ? store_errmsg(st) : sqlite3_errstr(rc));
        goto fail;
    }
    if (open_pragmas(st, e) < 0 || store_migrate(st, e) < 0 || prepare_all(st, e) < 0)
        goto fail;
    return st;
fail:
    store_close(st);
    return NULL;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    /* An unflushed batch is dropped, not committed: closing is no commit point (the engine
     * flushes before it closes). SQLite would roll it back too; saying it here keeps the
     * rule in one place. */
    if (store_batch_open(st))
        tx_undo(st, TX_OWN);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    /* Every statement is finalized, so this cannot be SQLITE_BUSY; an open transaction is
     * rolled back by SQLite. */
    sqlite3_close(st->db);
    free(st->home);
    free(st->path);
    free(st);
}

const char *store_home(const struct store *st)
{
    return st->home;
}

/* ---- events ---- */

int store_event(struct store *st, int64_t run_id, const char *step, const char *what,
                const char *detail, struct err *e)
{
    return store_exec_tx(st, S_EVENT_INSERT, NULL, e, "insert event", "zsssI", run_id, step, what,
                      detail, store_now_ms());
}

int store_event_step(struct store *st, int64_t step_id, const char *what, const char *detail,
                     struct err *e)
{
    return store_exec(st, S_EVENT_INSERT_STEP, NULL, e, "insert event", "IssI", step_id, what,
                      detail, store_now_ms());
}

int store_event_attempt(struct store *st, int64_t attempt_id, const char *what,
                        const char *detail, struct err *e)
{
    return store_exec(st, S_EVENT_INSERT_ATTEMPT, NULL, e, "insert event", "IssI", attempt_id,
                      what, detail, store_now_ms());
}

void event_rows_free(struct event_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].step);
        free(rows[i].what);
        free(rows[i].detail);
    }
    free(rows);
}

int store_events_load(struct store *st, int64_t run_id, int64_t after_id, int limit,
                      struct event_row **rows, size_t *n, struct err *e)
{
    const char *what = "load events";
    struct event_row *v = NULL;
    size_t nv = 0, alloc = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = store_bind(st, run_id ? S_EVENTS_LOAD_RUN : S_EVENTS_LOAD_ALL, e, what,
                                 "IIi", run_id, after_id, limit > 0 ? limit : -1);
    if (!s)
        return -1;
    while ((rc = store_step(st, s, e, what)) == 1) {
        XGROW(v, alloc, nv + 1);
        struct event_row *r = &v[nv++];
        r->id = sqlite3_column_int64(s, 0);
        r->run_id = sqlite3_column_int64(s, 1);
        r->step = store_col_str(s, 2);
        r->what = store_col_str(s, 3);
        r->detail = store_col_str(s, 4);
        r->at = sqlite3_column_int64(s, 5);
    }
    store_reset(s);
    if (rc < 0) {
        event_rows_free(v, nv);
        return -1;
    }
    *rows = v;
    *n = nv;
    return 0;
}
