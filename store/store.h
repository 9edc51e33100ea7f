/* The store: sluice's SQLite database — runs, steps, attempts, metrics, artifacts, lineage,
 * models, catalog, events. The only part of sluice that includes <sqlite3.h>; every statement
 * is prepared once at open with bound parameters. Every write runs in a short
 * BEGIN IMMEDIATE transaction (store_begin/store_commit, or implicitly per call when no
 * transaction is open), or, in batch mode, in one transaction per store_batch_flush (see
 * below). State changes are conditional (UPDATE … WHERE status = ?) and return
 * whether they happened, so two engines can never both make the same transition.
 *
 * Times are milliseconds since the epoch (int64); 0 = unset. All returned strings are owned
 * by the returned structs and freed by their *_release function.
 *
 * The events table (the audit trail) has rows (run, step, what, detail, at); step is NULL for
 * an event of the run itself. The store writes these:
 *   what "created"  detail "queued, trigger cli" (", retry of run 3" when it has a parent)
 *   what "status"   detail "FROM -> TO", or "FROM -> TO: MESSAGE" — runs and steps alike
 *   what "attempt"  detail "N running" | "N cached from attempt ID" | "STATUS, exit X" |
 *                   "STATUS, signal S" (step = the attempt's step)
 *   what "lease"    detail "acquired by OWNER" | "taken by OWNER from OLD" | "released by OWNER"
 *                   (renewals write nothing)
 *   what "cancel"   detail "requested"
 * and store_event writes whatever its caller says. */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/status.h"
#include "util/err.h"

struct store;

/* Open (creating when missing) HOME/sluice.db, creating HOME. Runs the numbered migrations
 * (PRAGMA user_version), sets WAL, synchronous=NORMAL, busy_timeout 5000, foreign_keys=ON.
 * Returns NULL with e set ("cannot open database '…': …"). */
struct store *store_open(const char *home, struct err *e);
void store_close(struct store *st); /* NULL is fine */
const char *store_home(const struct store *st);

/* Explicit transaction (BEGIN IMMEDIATE); calls inside it do not open their own. In batch
 * mode it is a savepoint inside the batch instead (opening the batch when none is open):
 * store_commit releases it into the batch, store_rollback undoes only what was written since
 * store_begin. Nesting store_begin, or store_commit without it, is a BUG(); store_rollback
 * with nothing open does nothing. */
int store_begin(struct store *st, struct err *e);
int store_commit(struct store *st, struct err *e);
void store_rollback(struct store *st);

/* Batch mode, to commit the writes of one loop iteration at once (one commit costs as much
 * as thousands of inserts; PERF.md). While it is on, the first write statement that runs
 * outside a transaction opens one (BEGIN IMMEDIATE, holding the database's write lock), and
 * it stays open until store_batch_flush; reads outside a transaction do not open it. Each
 * call stays all-or-nothing inside the batch (a savepoint), and so does a caller's
 * store_begin. Other connections see none of the batch before the flush. Off by default. */
/* Turn batch mode on or off. Turning it off with a batch open is a BUG(): flush first. */
void store_batch_set(struct store *st, bool on);
/* Whether a batch transaction is open now: false after a flush, and false when SQLite rolled
 * the transaction back by itself (disk full, I/O error), which loses the whole batch. */
bool store_batch_open(const struct store *st);
/* Commit the batch, if one is open (0 and nothing done otherwise). Returns 0, or -1 with e
 * set, and then the whole batch is rolled back. A BUG() inside store_begin. store_close
 * rolls back a batch that was not flushed. */
int store_batch_flush(struct store *st, struct err *e);

int64_t store_now_ms(void);

/* ---- runs ---- */

struct run_param {
    char *name;
    char *value;
};

struct run_new {
    const char *pipeline;      /* name */
    const char *yaml;          /* the exact pipeline text; version = its SHA-256 */
    size_t yaml_len;
    const char *path;          /* absolute path of the file it came from */
    const char *trigger;       /* cli | schedule | api | retry */
    int64_t parent_run;        /* 0 = none */
    const char *options;       /* JSON text of engine options, e.g. {"parallel":2,...} */
    const struct run_param *params; /* every parameter's effective value */
    size_t nparams;
    const char *const *steps;  /* step names, file order */
    const char *const *kinds;  /* their kinds */
    size_t nsteps;
    int64_t fire_at;           /* a scheduled run: the cron time it fires for (unix seconds) */
};

/* Insert pipeline (if new), version (if new), run (queued), params and one pending steps row
 * per step, and a 'queued' event, in one transaction. Returns 0 with *run_id set, -1 with e
 * set, or 1 when rn->fire_at is set and that fire of the pipeline already has its run (another
 * server fired it): then nothing is created. */
int store_run_create(struct store *st, const struct run_new *rn, int64_t *run_id, struct err *e);

struct run_row {
    int64_t id;
    char *pipeline;
    char *version;       /* sha256 of the yaml */
    char *yaml;          /* filled by store_run_get only */
    char *path;
    enum run_status status;
    char *trigger;
    int64_t parent_run;
    char *options;
    char *message;
    int64_t created_at, started_at, ended_at;
    char *lease_owner;   /* NULL when free */
    int64_t lease_expires;
    bool cancel_requested;
    struct run_param *params; /* filled by store_run_get only */
    size_t nparams;
};
void run_row_release(struct run_row *r);

/* Returns 0 and fills out; -1 with e set; e->code == STORE_NOT_FOUND when there is no such run. */
#define STORE_NOT_FOUND 404
int store_run_get(struct store *st, int64_t id, struct run_row *out, struct err *e);
/* The newest run's id; STORE_NOT_FOUND when there is none. */
int store_run_last(struct store *st, int64_t *id, struct err *e);

struct run_filter {
    const char *pipeline; /* NULL = any */
    int status;           /* -1 = any, else enum run_status */
    int64_t before;       /* 0 = none; else only ids < before (keyset pagination) */
    int limit;            /* 0 = 50 */
};
/* Newest first. *rows is an array the caller frees with run_rows_free. */
int store_run_list(struct store *st, const struct run_filter *f, struct run_row **rows,
                   size_t *n, struct err *e);
void run_rows_free(struct run_row *rows, size_t n);
/* EXPLAIN QUERY PLAN of the statement store_run_list runs for filter f, one line per plan row
 * (*plan is the caller's to free). For tests and benchmarks: the list must walk an index. */
int store_run_list_plan(struct store *st, const struct run_filter *f, char **plan,
                        struct err *e);

/* Conditional: changes the status only when it is `from`; *changed says whether it did.
 * Sets started_at on the first move to running, ended_at on a terminal status; writes an
 * event. message may be NULL (keeps the old one) or "" (clears it). */
int store_run_set_status(struct store *st, int64_t id, enum run_status from, enum run_status to,
                         const char *message, bool *changed, struct err *e);
int store_run_request_cancel(struct store *st, int64_t id, struct err *e);

/* Leases: owner is "HOST:PID:STARTTIME". Acquire succeeds (*got = true) when the run has no
 * owner, or its owner is `expected_owner` (the stale owner the caller decided to take over), or
 * the lease expired before now. */
int store_lease_acquire(struct store *st, int64_t run_id, const char *owner,
                        const char *expected_owner, int64_t now, int64_t expires, bool *got,
                        struct err *e);
/* Extend; *kept false when someone else took it. */
int store_lease_renew(struct store *st, int64_t run_id, const char *owner, int64_t expires,
                      bool *kept, struct err *e);
int store_lease_release(struct store *st, int64_t run_id, const char *owner, struct err *e);

/* ---- steps and attempts ---- */

struct attempt_row {
    int64_t id;
    int64_t step_id;
    int n;                 /* 1-based; 0 for the record of a cache hit */
    char *status;          /* running, succeeded, failed, lost, cancelled, timed_out, cached */
    int64_t pid;
    uint64_t pid_start;    /* /proc start time of pid, against pid reuse */
    char *job_id;          /* Slurm */
    int exit_code;         /* -1 unknown */
    int signal;
    double cpu_s;
    int64_t max_rss_kb;
    char *dir;             /* runs/RUN/STEP/N, absolute */
    int64_t cached_from;   /* attempt id this cache hit reuses, 0 = none */
    int64_t started_at, ended_at;
    int64_t step_pid;      /* the step's process, its session's id; 0 = not known */
    uint64_t step_pid_start;
    char *executor;        /* the executor it runs under: "local", "slurm" */
    /* A batch system's job (Slurm): job_id above, then */
    char *node;            /* where it runs or ran; NULL until known */
    int64_t queued_at;     /* when it was submitted (started_at: when it started); 0 = never */
    char *job_state;       /* the batch system's state: PENDING, RUNNING, TIMEOUT, …; NULL */
    char *job_reason;      /* while pending, why (Resources, Priority); NULL */
};
void attempt_row_release(struct attempt_row *a);

struct step_row {
    int64_t id;
    int64_t run_id;
    char *name;
    char *kind;
    enum step_status status;
    bool cached;
    char *message;
    int attempts;          /* attempts started so far (those that count toward retries) */
    int64_t next_attempt_at; /* retry timer: not before this time */
    int64_t started_at, ended_at;
    char *cache_key;       /* hex, NULL when not computed */
    char *cache_info;      /* JSON of the key's parts, for explaining a miss */
};
void step_row_release(struct step_row *s);
void step_rows_free(struct step_row *rows, size_t n);

/* All steps of a run, in file order (the order they were created). */
int store_steps_load(struct store *st, int64_t run_id, struct step_row **rows, size_t *n,
                     struct err *e);
/* Conditional status change, as store_run_set_status; sets started_at when leaving pending,
 * ended_at on terminal statuses, cached=1 when to == STEP_CACHED. */
int store_step_set_status(struct store *st, int64_t step_id, enum step_status from,
                          enum step_status to, const char *message, bool *changed,
                          struct err *e);
int store_step_set_retry(struct store *st, int64_t step_id, int attempts, int64_t next_attempt_at,
                         struct err *e);
int store_step_set_cache(struct store *st, int64_t step_id, const char *key, const char *info,
                         struct err *e);
/* The most recent earlier steps row (any run of the same pipeline, same step name, with a
 * cache_info), for explaining a miss; STORE_NOT_FOUND when none. before_run 0 = any run. */
int store_step_previous(struct store *st, const char *pipeline, const char *step, int64_t before_run,
                        struct step_row *out, struct err *e);

/* Record attempt n, status running, before its process is spawned. With cached_from != 0 it
 * records a cache hit instead: inserted finished (status cached, exit 0, ended_at = now), so
 * store_attempt_finish on it reports *changed = false. (step, n) is unique: a second insert of
 * the same n fails. executor names what runs it ("local", "slurm"; NULL: "local"). */
int store_attempt_insert(struct store *st, int64_t step_id, int n, const char *dir,
                         int64_t cached_from, const char *executor, int64_t *attempt_id,
                         struct err *e);
/* pid: the process whose exit means the attempt's exit.json is final (its shim). */
int store_attempt_set_pid(struct store *st, int64_t attempt_id, int64_t pid, uint64_t pid_start,
                          const char *job_id, struct err *e);
/* What a batch system says of an attempt's job: NULL (and 0 for times) keeps what is recorded;
 * reason goes with state (a state without a reason clears the old one). started_at is when the
 * job started, after its queue wait. */
struct attempt_job {
    const char *job_id, *node, *state, *reason;
    int64_t queued_at, started_at;
};
int store_attempt_set_job(struct store *st, int64_t attempt_id, const struct attempt_job *j,
                          struct err *e);
/* The step's own process (its session's id), as the shim reported it. */
int store_attempt_set_step_pid(struct store *st, int64_t attempt_id, int64_t pid,
                               uint64_t pid_start, struct err *e);
/* Conditional on status 'running'; *changed false when already finished. */
int store_attempt_finish(struct store *st, int64_t attempt_id, const char *status, int exit_code,
                         int signal, double cpu_s, int64_t max_rss_kb, int64_t ended_at,
                         bool *changed, struct err *e);
/* Which run and step an attempt belongs to (*step is the caller's to free). */
int store_attempt_origin(struct store *st, int64_t attempt_id, int64_t *run_id, char **step,
                         struct err *e);
/* The workspace's random id (16 hex digits), made with its store: what names its batch jobs
 * apart from any other workspace's, even one that was at the same path before. */
int store_workspace_id(struct store *st, char out[17], struct err *e);

/* One attempt by its id (e.g. the attempt a cache record's cached_from names, or one seen in
 * a lineage edge); release with attempt_row_release. */
int store_attempt_get(struct store *st, int64_t attempt_id, struct attempt_row *out, struct err *e);
/* Attempts of a step, by n. */
int store_attempts_load(struct store *st, int64_t step_id, struct attempt_row **rows, size_t *n,
                        struct err *e);
void attempt_rows_free(struct attempt_row *rows, size_t n);
/* Every attempt of every step of a run, by step (file order) then n: one query for `show`. */
int store_run_attempts_load(struct store *st, int64_t run_id, struct attempt_row **rows,
                            size_t *n, struct err *e);

/* ---- artifacts, lineage, cache ---- */

struct artifact_row {
    int64_t id;
    char *digest; /* hex sha256 */
    int64_t size;
    char *kind;   /* file | dir | source (an ingest's origin, uri = the URL) */
    char *uri;    /* path in the artifact store, or the source URL */
    char *name;   /* the output/input name, when listed through an attempt */
    int64_t attempt_id; /* the attempt it was listed through, when it was */
};
void artifact_row_release(struct artifact_row *a);
void artifact_rows_free(struct artifact_row *rows, size_t n);

/* Insert, or find the existing row with this digest (first uri wins). */
int store_artifact_put(struct store *st, const char *digest, int64_t size, const char *kind,
                       const char *uri, int64_t *artifact_id, struct err *e);
/* Find by a digest or an unambiguous prefix of one (≥ 6 hex digits). */
int store_artifact_find(struct store *st, const char *digest_prefix, struct artifact_row *out,
                        struct err *e);
/* Record that attempt consumed (dir "in") or produced (dir "out") artifact under name. */
int store_io_add(struct store *st, int64_t attempt_id, int64_t artifact_id, const char *dir,
                 const char *name, struct err *e);
/* Artifacts an attempt consumed or produced. */
int store_io_list(struct store *st, int64_t attempt_id, const char *dir, struct artifact_row **rows,
                  size_t *n, struct err *e);
/* The same for every attempt of a run at once (row.attempt_id says whose), by step then
 * attempt then name; dir "in", "out", or NULL for both (also accepted by store_io_list). */
int store_run_io_list(struct store *st, int64_t run_id, const char *dir,
                      struct artifact_row **rows, size_t *n, struct err *e);

/* The newest attempt with status succeeded (of a step of the given pipeline and step name) whose
 * step's cache_key is key, *attempt_id = 0 when none. */
int store_cache_lookup(struct store *st, const char *pipeline, const char *step, const char *key,
                       int64_t *attempt_id, struct err *e);

/* Lineage around an artifact: the attempts that produced it (with run, step) and those that
 * consumed it; producers first, then by attempt. */
struct lineage_edge {
    int64_t attempt_id;
    int64_t run_id;
    char *step;
    char *name;   /* the artifact's name on that side */
    char *dir;    /* in | out */
    int attempt_n;       /* the attempt's number; 0 for the record of a cache hit */
    char *status;        /* the attempt's status */
    int64_t cached_from; /* a cache hit's original attempt, else 0 */
    char *inputs_key;    /* "NAME=ARTIFACT_ID,…" by name: what the work read (a cache hit's
                          * original's inputs), NULL when it read nothing */
};
int store_lineage_edges(struct store *st, int64_t artifact_id, struct lineage_edge **edges,
                        size_t *n, struct err *e);
void lineage_edges_free(struct lineage_edge *edges, size_t n);

/* One side of an artifact with the repeats folded: every run that did the same work (the same
 * step, the same name for the artifact and, for producers, the same inputs) is one group,
 * shown by one edge — the latest attempt of run prefer_run when the group has one, else of
 * the newest run — and other_runs lists the group's other runs, ascending. */
struct lineage_group {
    struct lineage_edge edge;
    int64_t *other_runs;
    size_t nother;
};
/* dir "out" (producers) or "in" (consumers); only_run keeps only that run's attempts (0: every
 * run). Groups come in the order of their first attempt. */
int store_lineage_side(struct store *st, int64_t artifact_id, const char *dir, int64_t prefer_run,
                       int64_t only_run, struct lineage_group **groups, size_t *n,
                       struct err *e);
void lineage_groups_free(struct lineage_group *groups, size_t n);

/* ---- metrics ---- */

struct metric_row {
    char *step;
    char *name;
    int idx;      /* -1 for a scalar; 0.. for a series */
    double value;
};
/* Insert or replace (run, step, name, idx). A NaN value is kept (as SQL NULL) and read back
 * as NaN. */
int store_metric_put(struct store *st, int64_t run_id, const char *step, const char *name, int idx,
                     double value, struct err *e);
/* Forget a step's metrics, e.g. before recording those of a new attempt (a shorter series
 * would otherwise keep the old tail). */
int store_metrics_delete(struct store *st, int64_t run_id, const char *step, struct err *e);
/* step NULL = every step of the run; ordered by step, name, idx. */
int store_metrics_load(struct store *st, int64_t run_id, const char *step, struct metric_row **rows,
                       size_t *n, struct err *e);
void metric_rows_free(struct metric_row *rows, size_t n);

/* ---- events ---- */

/* An audit row; written by the set_status calls too. */
int store_event(struct store *st, int64_t run_id, const char *step, const char *what,
                const char *detail, struct err *e);

struct event_row {
    int64_t id;     /* increasing: pass the last one seen as after_id to poll for more */
    int64_t run_id; /* 0 for an event of no run */
    char *step;     /* NULL for an event of the run itself */
    char *what;
    char *detail;
    int64_t at;
};
/* Events with id > after_id, oldest first, at most limit (0 = all); run_id 0 = of every run. */
int store_events_load(struct store *st, int64_t run_id, int64_t after_id, int limit,
                      struct event_row **rows, size_t *n, struct err *e);
void event_rows_free(struct event_row *rows, size_t n);

#endif
