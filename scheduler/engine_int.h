/* The engine's insides, shared by engine.c (the loop, runs, recovery) and step_exec.c (what
 * one attempt runs, its cache key, and what it leaves behind). Not for other parts. */
#ifndef SLUICE_ENGINE_INT_H
#define SLUICE_ENGINE_INT_H

#include <sys/types.h>
#include <uv.h>

#include "executor/executor.h"
#include "pipeline/graph.h"
#include "pipeline/spec.h"
#include "scheduler/engine.h"
#include "scheduler/plan.h"
#include "util/strbuf.h"

#define LEASE_MS 10000          /* a run's lease lasts this long without a heartbeat */
#define RENEW_EVERY_MS 3000     /* heartbeat */
#define RETRY_DELAY_CAP_MS (10 * 60 * 1000)

struct run_ctx;
struct model_row;

struct output_rec {
    char *name;
    char digest[65];
    int64_t size;
    int64_t artifact_id;
};

struct step_rt {
    struct run_ctx *run;
    size_t index;
    const struct step *spec;
    int64_t row_id;
    int attempts;            /* attempts that count toward retries */
    int64_t attempt_id;      /* current attempt, 0 when none */
    int attempt_n;
    char *attempt_dir;       /* HOME/runs/RUN/STEP/N */
    struct executor *exec;   /* its executor, once it has needed one */
    bool in_exec;            /* the current attempt is with its executor: its end is reported */
    bool start_queued;       /* recorded, handed to the executor once the record commits */
    char **argv;             /* the queued start's command (argv, or the shell script alone) */
    char *workdir;           /* where it runs (workdir: expanded, or the pipeline's folder) */
    char **envp;
    bool shell;
    uv_timer_t timer;        /* retry delay, approval timeout */
    bool timer_inited;
    int64_t started_ms;
    int cpus;                /* slots it holds while running */
    bool holds_slots;
    bool cancel_sent;
    struct output_rec *outputs; /* after success or a cache hit */
    size_t noutputs;
    char *cache_key;
    char *cache_info;
    char *note;              /* said on success: catalog version, deployment, extras */
    char **shell_env;        /* SLUICE_V_n=value of a shell-form run's substitutions */
    bool no_metrics;         /* its executor saw no metrics file: step_collect need not look */
};

struct run_ctx {
    struct engine *eng;
    struct run_ctx *next;
    int64_t id;
    struct run_row row;
    struct pipeline *pipe;
    struct graph graph;
    bool graph_built;
    struct plan plan;
    bool plan_inited;
    struct step_rt *steps;
    size_t nsteps;
    struct engine_opts opts;
    int slots_used;
    bool cancelling;
    bool ended;              /* final status recorded, handles closing */
    bool stopped_waiting;    /* --no-wait: left waiting for an approval */
    enum run_status final;
    int closing;             /* handles still closing */
    size_t in_exec;          /* steps whose attempt is with an executor */
    size_t *scratch;         /* n indices, for plan_changes */
    size_t settled_untold;   /* steps settled by the plan whose events are still to be sent */
    struct value param_scratch;
};

/* An executor call waiting for the iteration's transaction to commit. */
struct queued {
    struct step_rt *s;
    bool cancel;
};

#define ENGINE_MAX_EXECUTORS 4
#define ENGINE_MAX_JOBS 200 /* --max-jobs by default, as Nextflow's queueSize */

struct engine {
    uv_loop_t loop;
    struct executor *execs[ENGINE_MAX_EXECUTORS]; /* made when a step first needs one */
    size_t nexecs;
    uv_prepare_t flush;      /* commits the iteration's writes, then makes the queued calls */
    struct queued *queue;
    size_t nqueue, queue_alloc;
    struct step_rt **inflight; /* steps whose attempt is with an executor, by attempt id */
    size_t ninflight, inflight_alloc;
    struct store *st;
    char *home;
    char *self_exe;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    bool handles_open;
    int interrupts;
    engine_event_cb cb;
    void *cb_data;
    struct run_ctx *runs;
    uv_timer_t check;        /* closes the engine's handles once every run has ended */
    bool serve;              /* runs come and go; the loop lives until engine_stop */
    bool stopping;
    unsigned ticks;
    struct engine_opts serve_defaults;
    engine_stop_cb on_stop;
    void *on_stop_data;
    bool failed;             /* a store error stopped the engine */
    bool left;               /* engine_leave: nothing more may be written or started */
    struct err error;
};

/* ---- engine.c: the run state machine ---- */

/* Move step s to `to` (the store first, conditionally; then the plan and its consequences;
 * then listeners). False when another process changed the step first. */
bool run_set_step(struct run_ctx *run, struct step_rt *s, enum step_status to,
                  const char *message);
/* The same for a change another process already recorded (a decision on an approval): only
 * the plan and listeners follow. */
void run_follow_step(struct run_ctx *run, struct step_rt *s, enum step_status to,
                     const char *message);
void run_emit_step(struct run_ctx *run, struct step_rt *s, const char *message);
/* Record (store, listeners) the steps the plan settled without running them when s ended with
 * `to` (plan_changes), each with why. */
void run_record_settled(struct run_ctx *run, struct step_rt *s, enum step_status to);
/* Steps that ended after starting or being decided on their own: not those the plan settled
 * and not those cancelled before they started (plan.nunrun). */
size_t run_count_done(const struct run_ctx *run);
/* Steps that ended without starting, as far as the events sent so far tell (see
 * engine_event.nnot_run). */
size_t run_count_not_run(const struct run_ctx *run);
/* A store failure: remember it and cancel the run. */
void run_fail(struct run_ctx *run, const struct err *e);
/* Leave every run at once, like a crash: the open batch is never committed, nothing more is
 * written or started, the loop stops and engine_loop fails with code (ENGINE_LEFT_*) and msg.
 * What runs goes on under its executor; the next engine adopts it. */
void engine_leave(struct engine *eng, int code, const char *msg);
/* Fencing, before a batch commits: the lease of every run whose heartbeat is late (the engine
 * was stopped) is renewed inside the batch; a run another engine took over meanwhile makes
 * this engine leave (engine_leave), so that its writes never land. Returns -1 then. */
int engine_fence_leases(struct engine *eng);
void run_set_status(struct run_ctx *run, enum run_status to, const char *message);
/* Start every ready step capacity allows. */
void run_pump(struct run_ctx *run);
/* End the run (status, lease, handles) when nothing is left to do, or mark it waiting. */
void run_check_end(struct run_ctx *run);
void run_cancel(struct run_ctx *run, const char *why);
void run_close_handles(struct run_ctx *run);
void step_release_slots(struct run_ctx *run, struct step_rt *s);
/* s's resources.cpus of this machine's slots, unless its executor runs it elsewhere. */
void step_take_slots(struct run_ctx *run, struct step_rt *s);
void step_ensure_timer(struct run_ctx *run, struct step_rt *s);
void step_on_retry_timer(uv_timer_t *t);
/* Settle the attempt its executor reported ended: success, retry or failure. */
void step_attempt_ended(struct run_ctx *run, struct step_rt *s, const struct exec_result *r);
/* A run has ended: look at once (not at the next 20 ms check) whether the loop can end. */
void engine_check_soon(struct engine *eng);
/* Test hook (SLUICE_CRASH_AT), see engine.c. */
/* Settle s as cached with the outputs and metrics of an earlier attempt, from (a cache hit, or
 * a step that succeeded in the run being retried). 1 when it is; 0 when that attempt's
 * artifacts are no longer there (the step must run); -1 with e set when the store fails. */
#define REUSE_GONE 410 /* e->code of step_collect: a reused artifact is gone */
int step_reuse(struct run_ctx *run, struct step_rt *s, int64_t from, const char *why,
               struct err *e);

/* ---- dispatch.c: handing attempts to executors ---- */

/* The executor s runs under (its spec's executor:), made at its first use. NULL with e set when
 * this build has none of that name. */
struct executor *dispatch_executor(struct run_ctx *run, struct step_rt *s, struct err *e);
/* s's recorded attempt goes to its executor once the record has committed (engine_flush);
 * s->argv, s->envp are handed over then. */
void dispatch_start(struct run_ctx *run, struct step_rt *s);
/* An attempt another engine started: its executor watches it from now on. */
int dispatch_adopt(struct run_ctx *run, struct step_rt *s, const struct attempt_row *row,
                   struct err *e);
/* Whether s's executor takes another attempt now (its capacity, against what it has). */
bool dispatch_has_room(struct run_ctx *run, struct step_rt *s);
/* Queue a cancel of s's attempt (after the iteration's commit, in order with starts). */
void dispatch_cancel(struct run_ctx *run, struct step_rt *s);
/* Commit the iteration's writes, then make the queued executor calls. */
void engine_flush(struct engine *eng);
/* The flush handle and the store's batch mode, for engine_loop. */
void dispatch_init(struct engine *eng);
/* Once a second: each executor's bookkeeping. */
void dispatch_tick(struct engine *eng);
/* A run is being freed: drop its queued calls and its steps' places in flight. */
void dispatch_forget_run(struct run_ctx *run);
/* Tell every executor the engine stops (what runs goes on); dispatch_release frees them. */
void dispatch_close(struct engine *eng);
void dispatch_release(struct engine *eng);

/* ---- approval.c ---- */

void step_start_approve(struct run_ctx *run, struct step_rt *s);
void step_follow_decision(struct run_ctx *run, struct step_rt *s, enum step_status to,
                          const char *message);
void step_on_approval_timeout(uv_timer_t *t);

/* ---- adopt.c ---- */

void run_free(struct run_ctx *run);

/* ---- step_exec.c ---- */

struct argv_buf {
    char **v;
    size_t n, alloc;
};
/* Append s (taken over) and keep v NULL-terminated. */
void argv_push(struct argv_buf *a, char *s);
/* An upstream step's output of this run, by step and output name; NULL when not (yet) there. */
struct output_rec *find_output(struct run_ctx *run, const char *step, const char *name);
/* Every upstream output a step reads (inputs:, input:, model:), at most max. */
size_t step_refs(const struct step *sp, const struct ref **out, size_t max);
/* A param's value in this run, typed by its declaration (borrowed until the next call). */
int env_param(void *data, const char *name, struct value *out);
/* A param's value in this run as given (-p) or declared: the text of its SLUICE_PARAM_. */
const char *run_param_text(const struct run_ctx *run, const struct param *p);
/* Whether the step sees the param as SLUICE_PARAM_* (all do, unless it lists params:). */
bool step_sees_param(const struct step *sp, const char *name);
/* Expand a template against the run; NULL with e set. */
char *step_expand(struct run_ctx *run, const struct tmpl *t, bool quote, struct err *e);

/* A step's string field (source, sha256, table, model_name, target, health, workdir) as this
 * run expands it, checked by the field's rule (table and model_name a name, health an http(s)
 * URL, none empty); a relative target or workdir is made absolute against the pipeline's
 * folder. Returns 0 with *out (caller frees; NULL when the step does not set the field), or
 * -1 with e set, e.g. "bad table 'Q1' (from '${{ params.table }}'): use …". */
int step_field(struct run_ctx *run, const struct step *sp, const char *key, char **out,
               struct err *e);
/* The i-th of those fields: its key, and its template in *t (src NULL when the step does not
 * set it); NULL past the last. */
const char *step_field_at(const struct step *sp, size_t i, const struct tmpl **t);

/* ---- shell.c ---- */

/* The /bin/sh script of a shell-form run; the values of its substitutions go to
 * s->shell_env as SLUICE_V_n=VALUE. NULL with e set. */
char *shell_render(struct run_ctx *run, struct step_rt *s, const struct tmpl *t, struct err *e);
/* Whether a shell-free run string must still go to /bin/sh: its first word, argv0 once split,
 * is a shell builtin or reserved word, or the text starts with an assignment (X=1 cmd). */
bool shell_needed(const struct tmpl *t, const char *argv0);

/* ---- record.c ---- */

/* The model version an approve step of this run registered for the artifact r names;
 * STORE_NOT_FOUND in e->code when none. */
int find_run_model(struct run_ctx *run, const struct ref *r, struct model_row *out, struct err *e);
/* A crawl's schema.json as a new catalog version of its table when the columns changed
 * (fails the step on drift with on_drift: fail); sets s->note. */
int record_catalog(struct run_ctx *run, struct step_rt *s, const struct output_rec *o,
                   struct err *e);
/* A deploy's switch, in the registry; sets s->note. */
int record_deployment(struct run_ctx *run, struct step_rt *s, struct err *e);
/* What the attempt left in $SLUICE_OUT besides its declared outputs (not recorded): said in
 * its log and added to s->note, at most a few names and how many more. */
int record_undeclared(struct step_rt *s, struct err *e);

/* The argv that the shim runs for an attempt of s (NULL-terminated, caller frees with
 * argv_free), and whether it must go through /bin/sh -c (then argv[0] is the script). */
char **step_command(struct run_ctx *run, struct step_rt *s, bool *shell, struct err *e);
void argv_free(char **argv);
/* The complete environment of an attempt (NULL-terminated; argv_free). */
char **step_environ(struct run_ctx *run, struct step_rt *s, const char *attempt_dir, struct err *e);
/* The cache key of s (hex) and the JSON of its parts; 0 or -1 with e set. */
int step_cache_key(struct run_ctx *run, struct step_rt *s, char **key, char **info,
                   struct err *e);
/* The last non-empty line of an attempt's log (at most 300 bytes, a longer one cut and ending
 * in "..."), for failure messages; NULL when there is none. Caller frees. */
char *step_log_last_line(const char *dir);
/* What changed between two cache_info JSON texts, for humans ("param 'max_depth' 4 -> 6"). */
char *cache_explain_miss(const char *old_info, const char *new_info);
/* After the step's process exited 0: check and store its outputs, read its metrics, record
 * them (inside the caller's transaction). Returns 0, or -1 with e set when the step must fail. */
int step_collect(struct run_ctx *run, struct step_rt *s, struct err *e);
/* Record the inputs s consumes (lineage) for the current attempt. */
int step_record_inputs(struct run_ctx *run, struct step_rt *s, struct err *e);
/* Path of an upstream output in the artifact store (caller frees), or NULL with e set. */
char *step_input_path(struct run_ctx *run, const struct ref *r, struct err *e);
/* Load the outputs of a finished step from the store (resume, retry). */
int step_load_outputs(struct run_ctx *run, struct step_rt *s, struct err *e);
/* Register the model an approve step names as a new pending version of name (idempotent per
 * run and step), with the run's metrics so far. */
int step_register_model(struct run_ctx *run, struct step_rt *s, const char *name,
                        struct model_row *out, struct err *e);
/* "tumour v3 waits for approval: f1 0.95 (deployed v2: 0.93, +0.02), …" (caller frees). */
char *step_challenger_summary(struct run_ctx *run, const struct model_row *m);
/* Expression environment over a run's params, metrics and statuses. */
void run_expr_env(struct run_ctx *run, struct expr_env *env);

#endif
