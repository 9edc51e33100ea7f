/* Internals shared by the files of store/: the connection, the table of prepared statements
 * and the bind → step → reset helpers. Only the .c files of store/ include this: it pulls in
 * <sqlite3.h>, which no other part of sluice may see. */
#ifndef SLUICE_STORE_INT_H
#define SLUICE_STORE_INT_H

#include <sqlite3.h>
#include <stdarg.h>

#include "store/store.h"

/* Every statement of the store; its SQL text is store_sql[id] (store/sql.c). */
enum stmt_id {
    /* transaction control first: store_vbind tells it from the rest by S_ROLLBACK_TO */
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,

    S_PIPELINE_FIND,
    S_PIPELINE_INSERT,
    S_VERSION_FIND,
    S_VERSION_INSERT,
    S_RUN_INSERT,
    S_SCHEDULE_FIRE_ADD,
    S_PARAM_INSERT,
    S_STEP_INSERT,
    S_RUN_GET,
    S_RUN_PARAMS,
    S_RUN_LAST,
    S_RUN_LIST,
    S_RUN_LIST_P,
    S_RUN_LIST_S,
    S_RUN_LIST_PS,
    S_RUN_SET_STATUS,
    S_RUN_CANCEL,
    S_RUN_EXISTS,
    S_STEP_EXISTS,
    S_ATTEMPT_EXISTS,
    S_LEASE_OWNER,
    S_LEASE_ACQUIRE,
    S_LEASE_RENEW,
    S_LEASE_RELEASE,

    S_EVENT_INSERT,
    S_EVENT_INSERT_STEP,
    S_EVENT_INSERT_ATTEMPT,
    S_EVENTS_LOAD_RUN,
    S_EVENTS_LOAD_ALL,

    S_STEPS_LOAD,
    S_STEP_SET_STATUS,
    S_STEP_SET_RETRY,
    S_STEP_SET_CACHE,
    S_STEP_PREVIOUS,
    S_ATTEMPT_INSERT,
    S_ATTEMPT_SET_PID,
    S_ATTEMPT_SET_STEP_PID,
    S_ATTEMPT_SET_JOB,
    S_ATTEMPT_GET,
    S_WORKSPACE_ID,
    S_ATTEMPT_FINISH,
    S_ATTEMPTS_LOAD,
    S_ATTEMPTS_LOAD_RUN,
    S_ATTEMPT_ORIGIN,

    S_ARTIFACT_INSERT,
    S_ARTIFACT_BY_DIGEST,
    S_ARTIFACT_RANGE,
    S_IO_ADD,
    S_IO_LIST,
    S_IO_LIST_RUN,
    S_CACHE_LOOKUP,
    S_LINEAGE_EDGES,
    S_METRIC_PUT,
    S_METRICS_LOAD,
    S_METRICS_DELETE,

    /* the model registry and the data catalog (store/registry.c) */
    S_MODEL_NEXT_VERSION,
    S_MODEL_INSERT,
    S_MODEL_BY_ID,
    S_MODEL_GET,
    S_MODEL_NEWEST,
    S_MODEL_FOR_STEP,
    S_MODEL_DEPLOYED,
    S_MODEL_LIST,
    S_MODEL_LIST_NAME,
    S_MODEL_SET_STATUS,
    S_MODEL_OTHERS_DEPLOYED,
    S_EVENT_INSERT_MODEL,
    S_STEP_FIND,
    S_APPROVAL_INSERT,
    S_APPROVALS_LIST,
    S_DEPLOYMENT_INSERT,
    S_DEPLOYMENT_SUPERSEDE,
    S_DEPLOYMENTS_LIST,
    S_DEPLOYMENTS_LIST_NAME,
    S_CATALOG_NEXT_VERSION,
    S_CATALOG_INSERT,
    S_CATALOG_LATEST,
    S_CATALOG_LIST_ALL,
    S_CATALOG_LIST_TABLE,

    S_COUNT
};

extern const char *const store_sql[S_COUNT];

struct store {
    sqlite3 *db;
    char *home;                  /* the workspace folder, as given */
    char *path;                  /* HOME/sluice.db */
    int explicit_tx;             /* what an open store_begin opened: 0 = none, else a
                                    store_tx_begin kind (misuse checks, and whether commit is
                                    COMMIT or RELEASE; whether any transaction is open is
                                    sqlite3_get_autocommit) */
    bool batch;                  /* batch mode (store_batch_set) */
    bool batch_tx;               /* the open transaction, if any, was opened as the batch; may
                                    outlive it when SQLite rolls back by itself, so
                                    store_batch_open checks sqlite3_get_autocommit too */
    sqlite3_stmt *stmt[S_COUNT]; /* prepared once at open, reset after every use */
    char errbuf[512];            /* store_errmsg's answer */
};

/* The newest schema this build knows, and bringing a database up to it (store/schema.c).
 * Returns -1 with e set, e.g. for a database written by a newer sluice. */
int store_schema_latest(void);
int store_migrate(struct store *st, struct err *e);

/* sqlite3_errmsg() of the last failure, and for a failure of the operating system (an I/O
 * error, a full disk, a file it cannot open) what the system said: "disk I/O error (No space
 * left on device)". Valid until the next call. */
const char *store_errmsg(struct store *st);
/* "cannot WHAT: store_errmsg()"; returns -1. */
int store_dberr(struct store *st, struct err *e, const char *what);
/* e->code = STORE_NOT_FOUND with the formatted message; returns -1. */
int store_notfound(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bind the parameters 1, 2, … of statement id from types, one letter per argument:
 *   'I' int64_t   'i' int   'd' double (NaN binds NULL, as SQLite would store it anyway)
 *   's' const char * (NULL binds NULL)   'z' int64_t bound as NULL when 0 (optional references)
 *   'L' const char * then size_t: text of that length
 * In batch mode a write statement (not sqlite3_stmt_readonly, not transaction control) that
 * finds no transaction open first opens the batch (BEGIN IMMEDIATE): every write of the store
 * passes through here.
 * Returns the statement, or NULL with e set (the statement is then reset). */
sqlite3_stmt *store_bind(struct store *st, enum stmt_id id, struct err *e, const char *what,
                         const char *types, ...);
sqlite3_stmt *store_vbind(struct store *st, enum stmt_id id, struct err *e, const char *what,
                          const char *types, va_list ap);
/* One sqlite3_step: 1 for a row, 0 when done, -1 with e set ("cannot WHAT: …"). */
int store_step(struct store *st, sqlite3_stmt *s, struct err *e, const char *what);
/* Reset and clear the bindings, so the statement holds no read transaction open. */
void store_reset(sqlite3_stmt *s);
/* Bind, step until done, reset. *changes (may be NULL) gets sqlite3_changes(). */
int store_exec(struct store *st, enum stmt_id id, int *changes, struct err *e, const char *what,
               const char *types, ...);

/* store_exec of a single write statement in its own BEGIN IMMEDIATE transaction, unless one
 * is open already or batch mode is on (one statement is atomic by itself; in batch mode
 * store_vbind opens the batch). BEGIN IMMEDIATE waits on the busy timeout for the write lock,
 * where an autocommit write could fail with SQLITE_BUSY at once. */
int store_exec_tx(struct store *st, enum stmt_id id, int *changes, struct err *e,
                  const char *what, const char *types, ...);

/* Transaction of one write call: BEGIN IMMEDIATE when no transaction is open, else a
 * savepoint, so each call stays all-or-nothing inside a caller's transaction. In batch mode
 * with no transaction open it opens the batch and then a savepoint. store_tx_end commits
 * (or, when rc < 0, rolls back) and returns rc, or -1 when the commit failed. */
int store_tx_begin(struct store *st, int *kind, struct err *e, const char *what);
int store_tx_end(struct store *st, int kind, int rc, struct err *e);

/* Bind, step once, reset: 1 and *out = column 0 of the first row, 0 when there is no row,
 * -1 with e set. */
int store_query_id(struct store *st, enum stmt_id id, int64_t *out, struct err *e,
                   const char *what, const char *types, ...);

/* A copy of a text column, NULL for SQL NULL. */
char *store_col_str(sqlite3_stmt *s, int col);
/* The events row for a status change or other transition; step_id/attempt_id name the step. */
int store_event_step(struct store *st, int64_t step_id, const char *what, const char *detail,
                     struct err *e);
int store_event_attempt(struct store *st, int64_t attempt_id, const char *what,
                        const char *detail, struct err *e);

#endif
