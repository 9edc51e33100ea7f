/* The store's schema as numbered migrations, applied in order under PRAGMA user_version.
 * Adding a migration is adding one entry to the migrations[] array; never edit an entry that
 * has shipped, since databases out there already ran it. */
#include "store/store_int.h"

#include <stdio.h>

/* Migration N brings a database from user_version N-1 to N. Statuses are stored as their
 * names (not enum values) so that a new status never needs a migration, and the database
 * reads well in the sqlite3 shell. Times are milliseconds since the epoch, 0 = unset. */
static const char *const migrations[] = {
    /* 1: every table of DESIGN.md "Store" */
    "CREATE TABLE pipelines (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    name TEXT NOT NULL UNIQUE,\n"
    "    created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE pipeline_versions (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),\n"
    "    digest TEXT NOT NULL,             -- sha256 hex of yaml\n"
    "    yaml TEXT NOT NULL,               -- the exact pipeline text\n"
    "    created_at INTEGER NOT NULL,\n"
    "    UNIQUE (pipeline_id, digest)\n"
    ");\n"
    "CREATE TABLE runs (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),\n"
    "    version_id INTEGER NOT NULL REFERENCES pipeline_versions(id),\n"
    "    path TEXT,                        -- the pipeline file it came from\n"
    "    status TEXT NOT NULL,\n"
    "    trigger TEXT NOT NULL,            -- cli | schedule | api | retry\n"
    "    parent_run INTEGER REFERENCES runs(id),\n"
    "    options TEXT,                     -- JSON of the engine options\n"
    "    message TEXT,\n"
    "    created_at INTEGER NOT NULL,\n"
    "    started_at INTEGER NOT NULL DEFAULT 0,\n"
    "    ended_at INTEGER NOT NULL DEFAULT 0,\n"
    "    lease_owner TEXT,                 -- HOST:PID:STARTTIME, NULL when free\n"
    "    lease_expires INTEGER NOT NULL DEFAULT 0,\n"
    "    cancel_requested INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "-- keyset pagination (id < ? ORDER BY id DESC) under each filter of store_run_list\n"
    "CREATE INDEX runs_pipeline ON runs (pipeline_id, id);\n"
    "CREATE INDEX runs_status ON runs (status, id);\n"
    "CREATE INDEX runs_pipeline_status ON runs (pipeline_id, status, id);\n"
    "CREATE TABLE run_params (\n"
    "    id INTEGER PRIMARY KEY,           -- keeps the order they were given in\n"
    "    run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "    name TEXT NOT NULL,\n"
    "    value TEXT NOT NULL,\n"
    "    UNIQUE (run_id, name)\n"
    ");\n"
    "CREATE TABLE steps (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "    name TEXT NOT NULL,\n"
    "    kind TEXT NOT NULL,\n"
    "    status TEXT NOT NULL,\n"
    "    cached INTEGER NOT NULL DEFAULT 0,\n"
    "    message TEXT,\n"
    "    attempts INTEGER NOT NULL DEFAULT 0,  -- attempts that count toward retries\n"
    "    next_attempt_at INTEGER NOT NULL DEFAULT 0,\n"
    "    cache_key TEXT,\n"
    "    cache_info TEXT,                  -- JSON of the key's parts\n"
    "    started_at INTEGER NOT NULL DEFAULT 0,\n"
    "    ended_at INTEGER NOT NULL DEFAULT 0,\n"
    "    UNIQUE (run_id, name)             -- also the index of steps by run\n"
    ");\n"
    "CREATE INDEX steps_cache_key ON steps (cache_key);\n"
    "-- store_step_previous: the newest earlier step of that name that explained its key\n"
    "CREATE INDEX steps_cache_info ON steps (name, run_id) WHERE cache_info IS NOT NULL;\n"
    "CREATE TABLE attempts (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    step_id INTEGER NOT NULL REFERENCES steps(id),\n"
    "    n INTEGER NOT NULL,               -- 1-based; 0 records a cache hit\n"
    "    status TEXT NOT NULL,\n"
    "    pid INTEGER NOT NULL DEFAULT 0,\n"
    "    pid_start INTEGER NOT NULL DEFAULT 0, -- /proc start time, against pid reuse\n"
    "    job_id TEXT,                      -- Slurm\n"
    "    exit INTEGER NOT NULL DEFAULT -1,\n"
    "    signal INTEGER NOT NULL DEFAULT 0,\n"
    "    cpu_s REAL NOT NULL DEFAULT 0,\n"
    "    max_rss_kb INTEGER NOT NULL DEFAULT 0,\n"
    "    dir TEXT,                         -- runs/RUN/STEP/N, absolute\n"
    "    log TEXT GENERATED ALWAYS AS (dir || '/log') VIRTUAL,\n"
    "    cached_from INTEGER REFERENCES attempts(id),\n"
    "    started_at INTEGER NOT NULL,\n"
    "    ended_at INTEGER NOT NULL DEFAULT 0,\n"
    "    UNIQUE (step_id, n)               -- two engines cannot both record attempt n\n"
    ");\n"
    "CREATE TABLE artifacts (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    digest TEXT NOT NULL UNIQUE,      -- sha256 hex, lowercase; prefix search by range\n"
    "    size INTEGER NOT NULL,\n"
    "    kind TEXT NOT NULL,               -- file | dir | source\n"
    "    uri TEXT,\n"
    "    created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE step_io (\n"
    "    attempt_id INTEGER NOT NULL REFERENCES attempts(id),\n"
    "    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),\n"
    "    dir TEXT NOT NULL CHECK (dir IN ('in', 'out')),\n"
    "    name TEXT NOT NULL,\n"
    "    PRIMARY KEY (attempt_id, dir, name) -- also the index by attempt\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX step_io_artifact ON step_io (artifact_id);\n"
    "CREATE TABLE metrics (\n"
    "    run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "    step TEXT NOT NULL,\n"
    "    name TEXT NOT NULL,\n"
    "    idx INTEGER NOT NULL,             -- -1 scalar, 0.. a series\n"
    "    value REAL,                       -- NULL stands for NaN\n"
    "    PRIMARY KEY (run_id, step, name, idx) -- also the index by run\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE models (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    name TEXT NOT NULL,\n"
    "    version INTEGER NOT NULL,\n"
    "    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),\n"
    "    run_id INTEGER REFERENCES runs(id),\n"
    "    step TEXT,\n"
    "    status TEXT NOT NULL DEFAULT 'pending', -- pending approved rejected deployed retired\n"
    "    metrics TEXT,                     -- JSON\n"
    "    created_at INTEGER NOT NULL,\n"
    "    UNIQUE (name, version)\n"
    ");\n"
    "CREATE INDEX models_run ON models (run_id);\n"
    "CREATE TABLE approvals (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "    step TEXT NOT NULL,\n"
    "    decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),\n"
    "    by TEXT,\n"
    "    comment TEXT,\n"
    "    at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX approvals_run ON approvals (run_id);\n"
    "CREATE TABLE deployments (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    model_id INTEGER NOT NULL REFERENCES models(id),\n"
    "    target TEXT NOT NULL,\n"
    "    slot TEXT,                        -- blue | green\n"
    "    status TEXT NOT NULL,\n"
    "    at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX deployments_model ON deployments (model_id);\n"
    "CREATE INDEX deployments_target ON deployments (target, id);\n"
    "CREATE TABLE catalog_tables (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    name TEXT NOT NULL,\n"
    "    version INTEGER NOT NULL,\n"
    "    schema TEXT NOT NULL,             -- JSON, the crawl step's schema.json\n"
    "    rows INTEGER NOT NULL DEFAULT 0,\n"
    "    artifact_id INTEGER REFERENCES artifacts(id),\n"
    "    run_id INTEGER REFERENCES runs(id),\n"
    "    created_at INTEGER NOT NULL,\n"
    "    UNIQUE (name, version)\n"
    ");\n"
    "CREATE TABLE events (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    run_id INTEGER REFERENCES runs(id),\n"
    "    step TEXT,                        -- NULL for an event of the run itself\n"
    "    what TEXT NOT NULL,\n"
    "    detail TEXT,\n"
    "    at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX events_run ON events (run_id, id);\n",
    /* 2: the model registry's deployment history names the run that deployed (NULL for a
     * `sluice rollback`); one model version per approve step of a run, so that an engine
     * restarted during the step finds the version it registered instead of adding another
     * (the unique index also serves look-ups by run, which models_run did) */
    "ALTER TABLE deployments ADD COLUMN run_id INTEGER REFERENCES runs(id);\n"
    "CREATE UNIQUE INDEX models_run_step ON models (run_id, step);\n"
    "DROP INDEX models_run;\n",
    /* 3: one shim serves all the steps of an engine, so an attempt's pid (the shim's) no longer
     * names the step's process: an engine that adopts the attempt needs that to stop it */
    "ALTER TABLE attempts ADD COLUMN step_pid INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE attempts ADD COLUMN step_pid_start INTEGER NOT NULL DEFAULT 0;\n",
    /* 4: one run per scheduled fire of a pipeline, however many servers watch the schedule:
     * the fire is recorded with the run, and a second server's insert finds it taken */
    "CREATE TABLE schedule_fires (\n"
    "    pipeline TEXT NOT NULL,\n"
    "    fire_at INTEGER NOT NULL,         -- the cron time it fired for, unix seconds\n"
    "    run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "    PRIMARY KEY (pipeline, fire_at)\n"
    ");\n",
    /* 5: an attempt runs under an executor (local, slurm): whoever reads it back without an
     * engine (sluice logs --follow) asks that executor whether it still runs */
    "ALTER TABLE attempts ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';\n",
    /* 6: what a batch system says of an attempt's job: the node it runs on, when it was
     * submitted (started_at becomes when it started), its state and, while it waits, why */
    "ALTER TABLE attempts ADD COLUMN node TEXT;\n"
    "ALTER TABLE attempts ADD COLUMN queued_at INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE attempts ADD COLUMN job_state TEXT;\n"
    "ALTER TABLE attempts ADD COLUMN job_reason TEXT;\n"
    /* and the workspace's own id, which names its jobs apart from every other workspace's,
     * including an earlier one at the same path */
    "CREATE TABLE workspace (id TEXT NOT NULL);\n"
    "INSERT INTO workspace (id) VALUES (lower(hex(randomblob(8))));\n",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int store_schema_latest(void)
{
    return NMIGRATIONS;
}

static int user_version(struct store *st, int *version, struct err *e)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(st, e, "read the schema version");
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        store_dberr(st, e, "read the schema version");
        sqlite3_finalize(s);
        return -1;
    }
    *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return 0;
}

static int exec(struct store *st, const char *sql, const char *what, struct err *e)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, "cannot %s: %s", what, msg ? msg : store_errmsg(st));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store_migrate(struct store *st, struct err *e)
{
    int version = 0;
    /* Read the version under the write lock: two processes opening a new database at once
     * must not both run migration 1. */
    if (exec(st, "BEGIN IMMEDIATE", "migrate the database", e) < 0)
        return -1;
    if (user_version(st, &version, e) < 0)
        goto fail;
    if (version > NMIGRATIONS) {
        err_set(e, "database '%s' is from a newer sluice (schema %d, this one knows %d)",
                st->path, version, NMIGRATIONS);
        goto fail;
    }
    for (int v = version; v < NMIGRATIONS; v++) {
        char what[64];
        /* PRAGMA takes no bound parameters; the number is ours, not user text. */
        char pragma[64];
        snprintf(what, sizeof(what), "apply migration %d", v + 1);
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (exec(st, migrations[v], what, e) < 0 || exec(st, pragma, what, e) < 0)
            goto fail;
    }
    if (exec(st, "COMMIT", "migrate the database", e) < 0)
        goto fail;
    return 0;
fail:
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}
