/* Every SQL statement sluice runs (besides the migrations in schema.c), in one table indexed
 * by enum stmt_id. store_open prepares them all once; values are always bound, never pasted.
 * Shared column lists are macros, joined by the compiler: constant text, not built at run time. */
#include "store/store_int.h"

#define RUN_COLS                                                                                  \
    "r.id, p.name, v.digest, r.path, r.status, r.trigger, r.parent_run, r.options, r.message, "   \
    "r.created_at, r.started_at, r.ended_at, r.lease_owner, r.lease_expires, r.cancel_requested"
#define RUN_FROM                                                                                  \
    " FROM runs r JOIN pipelines p ON p.id = r.pipeline_id"                                       \
    " JOIN pipeline_versions v ON v.id = r.version_id"
/* Keyset pagination: ?3 is the `before` bound (INT64_MAX for none), ?4 the limit. Each filter
 * has its own statement so that each one walks an index in id order and stops at the limit;
 * a single statement with "?1 IS NULL OR …" terms would scan every run. */
#define RUN_PAGE " r.id < ?3 ORDER BY r.id DESC LIMIT ?4"
#define PIPELINE_ID "(SELECT id FROM pipelines WHERE name = ?1)"

#define STEP_COLS                                                                                 \
    "s.id, s.run_id, s.name, s.kind, s.status, s.cached, s.message, s.attempts, "                \
    "s.next_attempt_at, s.started_at, s.ended_at, s.cache_key, s.cache_info"
#define ATTEMPT_COLS                                                                              \
    "a.id, a.step_id, a.n, a.status, a.pid, a.pid_start, a.job_id, a.exit, a.signal, a.cpu_s, "  \
    "a.max_rss_kb, a.dir, a.cached_from, a.started_at, a.ended_at, a.step_pid, a.step_pid_start, "       \
    "a.executor, a.node, a.queued_at, a.job_state, a.job_reason"
#define ARTIFACT_COLS "t.id, t.digest, t.size, t.kind, t.uri"
#define EVENT_COLS "id, run_id, step, what, detail, at"
#define MODEL_COLS                                                                                \
    "m.id, m.name, m.version, m.status, m.run_id, m.step, m.artifact_id, t.digest, t.size, "     \
    "m.metrics, m.created_at"
#define MODEL_FROM " FROM models m JOIN artifacts t ON t.id = m.artifact_id"
#define DEPLOYMENT_COLS                                                                           \
    "d.id, d.model_id, m.name, m.version, d.run_id, d.target, d.slot, d.status, d.at"
#define DEPLOYMENT_FROM " FROM deployments d JOIN models m ON m.id = d.model_id"
#define CATALOG_COLS                                                                              \
    "c.id, c.name, c.version, c.schema, c.rows, c.artifact_id, c.run_id, c.created_at"

const char *const store_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT store_call",
    [S_RELEASE] = "RELEASE store_call",
    [S_ROLLBACK_TO] = "ROLLBACK TO store_call",

    [S_PIPELINE_FIND] = "SELECT id FROM pipelines WHERE name = ?1",
    [S_PIPELINE_INSERT] = "INSERT INTO pipelines (name, created_at) VALUES (?1, ?2)",
    [S_VERSION_FIND] = "SELECT id FROM pipeline_versions WHERE pipeline_id = ?1 AND digest = ?2",
    [S_VERSION_INSERT] = "INSERT INTO pipeline_versions (pipeline_id, digest, yaml, created_at)"
                         " VALUES (?1, ?2, ?3, ?4)",
    [S_RUN_INSERT] = "INSERT INTO runs (pipeline_id, version_id, path, status, trigger,"
                     " parent_run, options, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_SCHEDULE_FIRE_ADD] = "INSERT OR IGNORE INTO schedule_fires (pipeline, fire_at, run_id)"
                            " VALUES (?1, ?2, ?3)",
    [S_PARAM_INSERT] = "INSERT INTO run_params (run_id, name, value) VALUES (?1, ?2, ?3)",
    [S_STEP_INSERT] = "INSERT INTO steps (run_id, name, kind, status) VALUES (?1, ?2, ?3, ?4)",
    [S_RUN_GET] = "SELECT " RUN_COLS ", v.yaml" RUN_FROM " WHERE r.id = ?1",
    [S_RUN_PARAMS] = "SELECT name, value FROM run_params WHERE run_id = ?1 ORDER BY id",
    [S_RUN_LAST] = "SELECT id FROM runs ORDER BY id DESC LIMIT 1",
    [S_RUN_LIST] = "SELECT " RUN_COLS RUN_FROM " WHERE" RUN_PAGE,
    [S_RUN_LIST_P] = "SELECT " RUN_COLS RUN_FROM " WHERE r.pipeline_id = " PIPELINE_ID " AND"
                     RUN_PAGE,
    [S_RUN_LIST_S] = "SELECT " RUN_COLS RUN_FROM " WHERE r.status = ?2 AND" RUN_PAGE,
    [S_RUN_LIST_PS] = "SELECT " RUN_COLS RUN_FROM " WHERE r.pipeline_id = " PIPELINE_ID
                      " AND r.status = ?2 AND" RUN_PAGE,
    /* ?1 id, ?2 to, ?3 message, ?4 now, ?5 to is terminal, ?6 from */
    [S_RUN_SET_STATUS] =
        "UPDATE runs SET status = ?2, message = CASE WHEN ?3 IS NULL THEN message ELSE nullif(?3, '') END,"
        " started_at = CASE WHEN ?2 = 'running' AND started_at = 0 THEN ?4 ELSE started_at END,"
        " ended_at = CASE WHEN ?5 THEN ?4 ELSE 0 END"
        " WHERE id = ?1 AND status = ?6",
    [S_RUN_CANCEL] = "UPDATE runs SET cancel_requested = 1 WHERE id = ?1 AND cancel_requested = 0",
    [S_RUN_EXISTS] = "SELECT id FROM runs WHERE id = ?1",
    [S_STEP_EXISTS] = "SELECT id FROM steps WHERE id = ?1",
    [S_ATTEMPT_EXISTS] = "SELECT id FROM attempts WHERE id = ?1",
    [S_LEASE_OWNER] = "SELECT lease_owner FROM runs WHERE id = ?1",
    /* ?1 id, ?2 owner, ?3 expected (stale) owner, ?4 now, ?5 expires */
    [S_LEASE_ACQUIRE] = "UPDATE runs SET lease_owner = ?2, lease_expires = ?5 WHERE id = ?1 AND"
                        " (lease_owner IS NULL OR lease_owner = ?2 OR lease_owner = ?3"
                        " OR lease_expires <= ?4)",
    [S_LEASE_RENEW] = "UPDATE runs SET lease_expires = ?3 WHERE id = ?1 AND lease_owner = ?2",
    [S_LEASE_RELEASE] = "UPDATE runs SET lease_owner = NULL, lease_expires = 0"
                        " WHERE id = ?1 AND lease_owner = ?2",

    [S_EVENT_INSERT] = "INSERT INTO events (run_id, step, what, detail, at)"
                       " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_EVENT_INSERT_STEP] = "INSERT INTO events (run_id, step, what, detail, at)"
                            " SELECT run_id, name, ?2, ?3, ?4 FROM steps WHERE id = ?1",
    [S_EVENT_INSERT_ATTEMPT] = "INSERT INTO events (run_id, step, what, detail, at)"
                               " SELECT s.run_id, s.name, ?2, ?3, ?4"
                               " FROM attempts a JOIN steps s ON s.id = a.step_id WHERE a.id = ?1",
    [S_EVENTS_LOAD_RUN] = "SELECT " EVENT_COLS " FROM events WHERE run_id = ?1 AND id > ?2"
                          " ORDER BY id LIMIT ?3",
    [S_EVENTS_LOAD_ALL] = "SELECT " EVENT_COLS " FROM events WHERE id > ?2 ORDER BY id LIMIT ?3",

    [S_STEPS_LOAD] = "SELECT " STEP_COLS " FROM steps s WHERE s.run_id = ?1 ORDER BY s.id",
    /* ?1 id, ?2 to, ?3 message, ?4 now, ?5 to is terminal, ?6 from */
    [S_STEP_SET_STATUS] =
        "UPDATE steps SET status = ?2, message = coalesce(?3, message),"
        " started_at = CASE WHEN ?6 = 'pending' AND started_at = 0 THEN ?4 ELSE started_at END,"
        " ended_at = CASE WHEN ?5 THEN ?4 ELSE 0 END,"
        " cached = CASE WHEN ?2 = 'cached' THEN 1 ELSE cached END"
        " WHERE id = ?1 AND status = ?6",
    [S_STEP_SET_RETRY] = "UPDATE steps SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1",
    [S_STEP_SET_CACHE] = "UPDATE steps SET cache_key = ?2, cache_info = ?3 WHERE id = ?1",
    /* Walks the steps of that name that have a cache_info (partial index steps_cache_info),
     * newest first, until one is of the pipeline. */
    [S_STEP_PREVIOUS] = "SELECT " STEP_COLS " FROM steps s JOIN runs r ON r.id = s.run_id"
                        " WHERE s.name = ?2 AND s.cache_info IS NOT NULL AND s.run_id < ?3"
                        " AND r.pipeline_id = " PIPELINE_ID " ORDER BY s.run_id DESC LIMIT 1",
    [S_ATTEMPT_INSERT] = "INSERT INTO attempts (step_id, n, status, dir, cached_from, exit,"
                         " started_at, ended_at, executor)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, coalesce(?9, 'local'))",
    [S_ATTEMPT_SET_PID] = "UPDATE attempts SET pid = ?2, pid_start = ?3,"
                          " job_id = coalesce(?4, job_id) WHERE id = ?1",
    /* NULL and 0 keep what is there: a poll says only what changed. */
    [S_ATTEMPT_SET_JOB] = "UPDATE attempts SET job_id = coalesce(?2, job_id),"
                          " node = coalesce(?3, node), job_state = coalesce(?4, job_state),"
                          " job_reason = CASE WHEN ?4 IS NULL THEN job_reason ELSE ?5 END,"
                          " queued_at = CASE WHEN ?6 > 0 THEN ?6 ELSE queued_at END,"
                          " started_at = CASE WHEN ?7 > 0 THEN ?7 ELSE started_at END"
                          " WHERE id = ?1",
    [S_WORKSPACE_ID] = "SELECT id FROM workspace LIMIT 1",
    [S_ATTEMPT_GET] = "SELECT " ATTEMPT_COLS " FROM attempts a WHERE a.id = ?1",
    [S_ATTEMPT_SET_STEP_PID] = "UPDATE attempts SET step_pid = ?2, step_pid_start = ?3"
                               " WHERE id = ?1",
    [S_ATTEMPT_FINISH] = "UPDATE attempts SET status = ?2, exit = ?3, signal = ?4, cpu_s = ?5,"
                         " max_rss_kb = ?6, ended_at = ?7 WHERE id = ?1 AND status = 'running'",
    [S_ATTEMPTS_LOAD] = "SELECT " ATTEMPT_COLS " FROM attempts a WHERE a.step_id = ?1"
                        " ORDER BY a.n",
    [S_ATTEMPTS_LOAD_RUN] = "SELECT " ATTEMPT_COLS " FROM steps s JOIN attempts a"
                            " ON a.step_id = s.id WHERE s.run_id = ?1 ORDER BY s.id, a.n",
    [S_ATTEMPT_ORIGIN] = "SELECT s.run_id, s.name FROM attempts a JOIN steps s ON s.id = a.step_id"
                         " WHERE a.id = ?1",

    [S_ARTIFACT_INSERT] = "INSERT INTO artifacts (digest, size, kind, uri, created_at)"
                          " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (digest) DO NOTHING",
    [S_ARTIFACT_BY_DIGEST] = "SELECT id FROM artifacts WHERE digest = ?1",
    /* A prefix as a range of the unique index: [prefix, prefix with its last digit + 1). */
    [S_ARTIFACT_RANGE] = "SELECT " ARTIFACT_COLS " FROM artifacts t"
                         " WHERE t.digest >= ?1 AND t.digest < ?2 ORDER BY t.digest LIMIT 2",
    [S_IO_ADD] = "INSERT INTO step_io (attempt_id, artifact_id, dir, name)"
                 " VALUES (?1, ?2, ?3, ?4)"
                 " ON CONFLICT (attempt_id, dir, name)"
                 " DO UPDATE SET artifact_id = excluded.artifact_id",
    [S_IO_LIST] = "SELECT " ARTIFACT_COLS ", io.name, io.attempt_id FROM step_io io"
                  " JOIN artifacts t ON t.id = io.artifact_id"
                  " WHERE io.attempt_id = ?1 AND (?2 IS NULL OR io.dir = ?2)"
                  " ORDER BY io.dir, io.name",
    [S_IO_LIST_RUN] = "SELECT " ARTIFACT_COLS ", io.name, io.attempt_id FROM steps s"
                      " JOIN attempts a ON a.step_id = s.id"
                      " JOIN step_io io ON io.attempt_id = a.id"
                      " JOIN artifacts t ON t.id = io.artifact_id"
                      " WHERE s.run_id = ?1 AND (?2 IS NULL OR io.dir = ?2)"
                      " ORDER BY s.id, a.n, io.dir, io.name",
    /* Starts from steps_cache_key: only the steps that had this key. */
    [S_CACHE_LOOKUP] = "SELECT a.id FROM steps s JOIN runs r ON r.id = s.run_id"
                       " JOIN attempts a ON a.step_id = s.id"
                       " WHERE s.cache_key = ?3 AND s.name = ?2"
                       " AND r.pipeline_id = " PIPELINE_ID " AND a.status = 'succeeded'"
                       " ORDER BY a.id DESC LIMIT 1",
    /* Producers ('out') first, then consumers; ?2: only those of that run (0: all). */
    [S_LINEAGE_EDGES] = "SELECT io.attempt_id, s.run_id, s.name, io.name, io.dir, a.n, a.status,"
                        " a.cached_from, (SELECT group_concat(k, ',') FROM"
                        "  (SELECT i.name || '=' || i.artifact_id AS k FROM step_io i"
                        "   WHERE i.attempt_id = coalesce(a.cached_from, a.id) AND i.dir = 'in'"
                        "   ORDER BY i.name))"
                        " FROM step_io io JOIN attempts a ON a.id = io.attempt_id"
                        " JOIN steps s ON s.id = a.step_id"
                        " WHERE io.artifact_id = ?1 AND (?2 = 0 OR s.run_id = ?2)"
                        " ORDER BY io.dir DESC, io.attempt_id, io.name",
    [S_METRIC_PUT] = "INSERT INTO metrics (run_id, step, name, idx, value)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)"
                     " ON CONFLICT (run_id, step, name, idx) DO UPDATE SET value = excluded.value",
    [S_METRICS_LOAD] = "SELECT step, name, idx, value FROM metrics"
                       " WHERE run_id = ?1 AND (?2 IS NULL OR step = ?2)"
                       " ORDER BY step, name, idx",
    [S_METRICS_DELETE] = "DELETE FROM metrics WHERE run_id = ?1 AND step = ?2",

    [S_MODEL_NEXT_VERSION] = "SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = ?1",
    [S_MODEL_INSERT] = "INSERT INTO models (name, version, artifact_id, run_id, step, status,"
                       " metrics, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_MODEL_BY_ID] = "SELECT " MODEL_COLS MODEL_FROM " WHERE m.id = ?1",
    [S_MODEL_GET] = "SELECT " MODEL_COLS MODEL_FROM " WHERE m.name = ?1 AND m.version = ?2",
    [S_MODEL_NEWEST] = "SELECT " MODEL_COLS MODEL_FROM " WHERE m.name = ?1"
                       " ORDER BY m.version DESC LIMIT 1",
    /* Walks the unique index models_run_step (migration 2). */
    [S_MODEL_FOR_STEP] = "SELECT " MODEL_COLS MODEL_FROM " WHERE m.run_id = ?1 AND m.step = ?2",
    [S_MODEL_DEPLOYED] = "SELECT " MODEL_COLS MODEL_FROM " WHERE m.name = ?1"
                         " AND m.status = 'deployed' ORDER BY m.version DESC LIMIT 1",
    [S_MODEL_LIST] = "SELECT " MODEL_COLS MODEL_FROM " ORDER BY m.id DESC",
    [S_MODEL_LIST_NAME] = "SELECT " MODEL_COLS MODEL_FROM " WHERE m.name = ?1"
                          " ORDER BY m.version DESC",
    /* ?3 NULL: unconditional */
    [S_MODEL_SET_STATUS] = "UPDATE models SET status = ?2 WHERE id = ?1"
                           " AND (?3 IS NULL OR status = ?3) AND status <> ?2",
    /* The other versions of model ?1's name that are deployed (to be retired). */
    [S_MODEL_OTHERS_DEPLOYED] = "SELECT id FROM models WHERE name ="
                                " (SELECT name FROM models WHERE id = ?1)"
                                " AND status = 'deployed' AND id <> ?1 ORDER BY id",
    /* A model's transitions go to the audit trail of the run that produced it. */
    [S_EVENT_INSERT_MODEL] = "INSERT INTO events (run_id, step, what, detail, at)"
                             " SELECT run_id, step, 'model',"
                             " name || ' version ' || version || ': ' || ?2, ?3"
                             " FROM models WHERE id = ?1",
    [S_STEP_FIND] = "SELECT id FROM steps WHERE run_id = ?1 AND name = ?2",
    [S_APPROVAL_INSERT] = "INSERT INTO approvals (run_id, step, decision, by, comment, at)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_APPROVALS_LIST] = "SELECT id, run_id, step, decision, by, comment, at FROM approvals"
                         " WHERE run_id = ?1 ORDER BY id",
    [S_DEPLOYMENT_INSERT] = "INSERT INTO deployments (model_id, run_id, target, slot, status, at)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_DEPLOYMENT_SUPERSEDE] = "UPDATE deployments SET status = 'superseded'"
                               " WHERE target = ?1 AND status = 'deployed' AND id <> ?2",
    [S_DEPLOYMENTS_LIST] = "SELECT " DEPLOYMENT_COLS DEPLOYMENT_FROM " ORDER BY d.id DESC",
    [S_DEPLOYMENTS_LIST_NAME] = "SELECT " DEPLOYMENT_COLS DEPLOYMENT_FROM " WHERE m.name = ?1"
                                " ORDER BY d.id DESC",
    [S_CATALOG_NEXT_VERSION] = "SELECT coalesce(max(version), 0) + 1 FROM catalog_tables"
                               " WHERE name = ?1",
    [S_CATALOG_INSERT] = "INSERT INTO catalog_tables (name, version, schema, rows, artifact_id,"
                         " run_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_CATALOG_LATEST] = "SELECT " CATALOG_COLS " FROM catalog_tables c WHERE c.name = ?1"
                         " ORDER BY c.version DESC LIMIT 1",
    [S_CATALOG_LIST_ALL] = "SELECT " CATALOG_COLS " FROM catalog_tables c"
                           " WHERE c.version = (SELECT max(version) FROM catalog_tables"
                           " WHERE name = c.name) ORDER BY c.name",
    [S_CATALOG_LIST_TABLE] = "SELECT " CATALOG_COLS " FROM catalog_tables c WHERE c.name = ?1"
                             " ORDER BY c.version DESC",
};
