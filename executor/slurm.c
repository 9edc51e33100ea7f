/* The Slurm executor: each attempt is a Slurm job that runs the one-step shim on a compute
 * node, so its log and exit.json land in the attempt's folder as locally (the workspace must be
 * on a file system the nodes share). Every Slurm command runs under uv_spawn with a timeout;
 * none blocks the loop.
 *
 * An attempt goes: queued (waiting for a submission slot) → submitting (sbatch runs) →
 * submitted (Slurm has it) → ended. One squeue call per poll lists every job of this user;
 * the poll is fast while jobs start or change and slows down while nothing does. A job's end is
 * seen when its exit.json appears (a stat per job per tick, no controller needed) or when
 * Slurm says it ended; slurm_settle() says what the two mean together. The job's name
 * identifies the attempt, so an engine that adopts a run whose engine died between sbatch and
 * recording the job id finds the job by name; a job not found is claimed (mkdir DIR/claim,
 * which the job's script does first) before it is declared never started, so that a
 * submission still under way cannot run it later. Failures of Slurm's commands that go away
 * by themselves are retried with backoff; a submission is retried only after a poll has shown
 * that the failed one left no job. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "executor/executor.h"
#include "executor/slurm_cmd.h"
#include "executor/slurm_int.h"
#include "pipeline/duration.h"
#include "pipeline/spec.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

extern char **environ;

#define TICK_MS 200                 /* exit.json checks, submissions, cancels */
#define POLL_MIN_MS 250             /* squeue while jobs start or change */
#define POLL_MAX_MS 10000           /* squeue while nothing changes */
#define BACKOFF_MAX_MS 30000        /* between tries of a failing Slurm command */
#define CMD_TIMEOUT_MS 60000        /* a Slurm command that takes longer is killed */
#define SUBMIT_PARALLEL 4           /* sbatch calls at once */
#define SCANCEL_MAX 500             /* job ids per scancel */
#define EXIT_READ_TIMEOUT_MS 60000  /* waiting for a shared file system to show exit.json */
#define SIGNALLED_WAIT_MS 20000     /* waiting for Slurm to say why a step was killed */
#define TIMEOUT_SLACK_MS 60000      /* a job running past its timeout this long: scancel'd */

struct slurm;

enum phase {
    P_QUEUED,     /* recorded, not submitted yet */
    P_SUBMITTING, /* sbatch runs */
    P_RETRY,      /* sbatch failed for a while: again after not_before, once a poll showed
                   * the failed try left no job */
    P_SUBMITTED,  /* Slurm has it: job_id known */
    P_LOOKUP,     /* adopted without a job id: the next poll looks for it by name */
};

struct sjob {
    struct slurm *x;
    int64_t id, run_id;
    char *step, *dir;
    int n;
    int64_t grace_ms, timeout_ms, memory_bytes, limit_ms;
    char name[64];
    enum phase phase;
    char **sbatch_argv;       /* P_QUEUED, P_RETRY */
    char **envp;
    int tries;
    int64_t not_before;       /* P_RETRY */
    bool need_check;          /* P_RETRY: a poll must show no job of this name first */
    int64_t failed_ms;        /* P_RETRY: when sbatch failed (that poll must start after it) */
    char *job_id;
    char state[32];           /* Slurm's last word, "" until a poll saw it */
    bool listed;              /* in the last poll */
    int64_t queued_ms;        /* when sbatch answered */
    int64_t start_ms;
    int64_t missing_since;    /* out of the queue (or ended) without a settled end */
    bool acct_asked;          /* out of the queue: sacct was asked how it ended */
    char acct_state[32];      /* and said so ("" when it could not) */
    int64_t file_since;       /* an exit.json that waits for Slurm's word */
    bool cancel_wanted, cancel_sent, timed_out_by_us;
    bool have_result;         /* settled inside start/adopt/cancel: reported from the loop */
    struct exec_result result;
};

struct slurm {
    struct executor base;
    uv_loop_t *loop;
    char tag[13];             /* the workspace's id, in its jobs' names */
    char *sbatch, *squeue, *scancel, *sacct; /* sacct: NULL when not installed */
    int accounting;           /* sacct answers: -1 not known yet, 0 no (disabled), 1 yes */
    struct cmd *sacct_cmd;
    char **cmd_env;           /* environ with TZ=UTC: squeue's times in UTC */
    struct sjob **jobs;
    size_t njobs, jobs_alloc;
    uv_timer_t tick;
    bool tick_running;
    int submitting;
    struct cmd *squeue_cmd, *scancel_cmd;
    int64_t next_poll, poll_ms, poll_fail_since, poll_backoff_ms;
    int64_t last_poll_ok;     /* when a poll last answered */
    int64_t cancel_not_before, cancel_backoff_ms;
    char **cancel_ids;        /* job ids to scancel */
    size_t ncancel, cancel_alloc;
    int64_t *ended_ids;       /* attempts reported ended whose jobs Slurm still had queued or
                               * running: they count against --max-jobs until it lets go */
    size_t nended, ended_alloc;
    int lingering;            /* how many of those the last poll saw still active */
    int64_t exit_read_timeout_ms;
    struct err err;           /* a store write that failed: returned from tick */
    bool closed;
    int64_t now;
};

static void tick_arm(struct slurm *x);
static void poll_soon(struct slurm *x);

/* ---- attempts ---- */

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

static char **strv_dup(char *const *v, const char *extra)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = xcalloc(n + 2, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    if (extra)
        out[n] = xstrdup(extra);
    return out;
}

static struct sjob *find(struct slurm *x, int64_t id)
{
    for (size_t i = 0; i < x->njobs; i++)
        if (x->jobs[i]->id == id)
            return x->jobs[i];
    return NULL;
}

static struct sjob *job_new(struct slurm *x, const struct exec_attempt *a)
{
    struct sjob *j = xcalloc(1, sizeof(*j));
    j->x = x;
    j->id = a->id;
    j->run_id = a->run_id;
    j->step = xstrdup(a->step);
    j->dir = xstrdup(a->dir);
    j->n = a->n;
    j->grace_ms = a->grace_ms > 0 ? a->grace_ms : 10000;
    slurm_job_name(x->tag, a->id, j->name, sizeof(j->name));
    XGROW(x->jobs, x->jobs_alloc, x->njobs + 1);
    x->jobs[x->njobs++] = j;
    return j;
}

static void job_free(struct sjob *j)
{
    strv_free(j->sbatch_argv);
    strv_free(j->envp);
    free(j->step);
    free(j->dir);
    free(j->job_id);
    free(j);
}

static void job_forget(struct sjob *j)
{
    struct slurm *x = j->x;
    /* In order: the queue submits first come, first served. */
    for (size_t i = 0; i < x->njobs; i++) {
        if (x->jobs[i] == j) {
            memmove(&x->jobs[i], &x->jobs[i + 1], (x->njobs - i - 1) * sizeof(*x->jobs));
            x->njobs--;
            break;
        }
    }
    job_free(j);
}

/* Record what Slurm said of the job (lands in the engine's open batch). */
static void job_record(struct sjob *j, const struct attempt_job *aj)
{
    struct slurm *x = j->x;
    struct err e = ERR_INIT;
    if (x->closed || !x->base.env.st)
        return;
    if (store_attempt_set_job(x->base.env.st, j->id, aj, &e) < 0 && !x->err.msg[0])
        x->err = e;
}

/* Report j's end (from the loop: never inside start, cancel or adopt) and forget it. in_queue:
 * Slurm may still have its job queued or running (completing): it counts against --max-jobs
 * until a poll says it is gone. */
static void job_end(struct sjob *j, const struct exec_result *r, bool in_queue)
{
    struct slurm *x = j->x;
    struct exec_result res = *r;
    int64_t id = j->id;
    if (in_queue) {
        /* still in Slurm's queue until a poll says otherwise */
        XGROW(x->ended_ids, x->ended_alloc, x->nended + 1);
        x->ended_ids[x->nended++] = id;
        x->lingering++;
        poll_soon(x); /* to give its place back soon */
    }
    job_forget(j);
    x->base.env.ended(x->base.env.data, id, &res);
}

static void settle_later(struct sjob *j, enum exec_why why, bool permanent, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void settle_later(struct sjob *j, enum exec_why why, bool permanent, const char *fmt, ...)
{
    memset(&j->result, 0, sizeof(j->result));
    j->result.why = why;
    j->result.permanent = permanent;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->result.msg, sizeof(j->result.msg), fmt, ap);
    va_end(ap);
    j->have_result = true;
    tick_arm(j->x);
}

/* ---- submission ---- */

/* Something changed that a poll should see soon (a job queued, a cancel sent). */
static void poll_soon(struct slurm *x)
{
    int64_t soon = store_now_ms() + POLL_MIN_MS;
    x->poll_ms = POLL_MIN_MS;
    if (x->next_poll > soon)
        x->next_poll = soon;
}

static void cancel_queue(struct slurm *x, const char *job_id)
{
    XGROW(x->cancel_ids, x->cancel_alloc, x->ncancel + 1);
    x->cancel_ids[x->ncancel++] = xstrdup(job_id);
}

static void submit_queued(struct slurm *x);

static void on_sbatch_done(struct cmd *c)
{
    struct slurm *x = c->data;
    x->submitting--;
    struct sjob *j = find(x, c->attempt_id);
    if (!j)
        return;
    bool transient;
    char msg[256];
    if (slurm_cmd_ok(c, &transient, msg, sizeof(msg))) {
        /* "JOBID" or "JOBID;CLUSTER" */
        char *out = c->obuf.len ? c->obuf.buf : "";
        out[strcspn(out, ";\n")] = '\0';
        if (!*out) {
            transient = false;
            snprintf(msg, sizeof(msg), "sbatch printed no job id");
        } else {
            proc_crash_point("submitted", j->step);
            j->job_id = xstrdup(out);
            j->phase = P_SUBMITTED;
            snprintf(j->state, sizeof(j->state), "PENDING");
            strv_free(j->sbatch_argv);
            strv_free(j->envp);
            j->sbatch_argv = j->envp = NULL;
            j->queued_ms = store_now_ms();
            job_record(j, &(struct attempt_job){.job_id = j->job_id, .state = "PENDING",
                                                 .queued_at = j->queued_ms});
            if (j->cancel_wanted && !j->cancel_sent) {
                j->cancel_sent = true;
                cancel_queue(x, j->job_id);
            }
            poll_soon(x);
            submit_queued(x); /* the next one now, not at the next tick */
            return;
        }
    }
    if (!transient) {
        settle_later(j, EXEC_START_FAILED, true, "sbatch: %s", msg);
        submit_queued(x);
        return;
    }
    /* Maybe it did submit (a timeout after the controller took it): a poll says. */
    int64_t wait = 1000LL << (j->tries < 5 ? j->tries : 5);
    j->tries++;
    j->phase = P_RETRY;
    j->need_check = true;
    j->failed_ms = store_now_ms();
    j->not_before = j->failed_ms + (wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS);
    snprintf(j->state, sizeof(j->state), "%s", "");
    job_record(j, &(struct attempt_job){.state = "SUBMITTING", .reason = msg});
}

static void submit(struct slurm *x, struct sjob *j)
{
    struct err e = ERR_INIT;
    struct cmd *c = slurm_cmd_run(x->loop, j->sbatch_argv, j->envp, CMD_TIMEOUT_MS,
                          on_sbatch_done, x, &x->closed, &e);
    if (!c) {
        settle_later(j, EXEC_START_FAILED, false, "%s", e.msg);
        return;
    }
    c->attempt_id = j->id;
    j->phase = P_SUBMITTING;
    x->submitting++;
}

static void submit_queued(struct slurm *x)
{
    for (size_t i = 0; i < x->njobs && x->submitting < SUBMIT_PARALLEL; i++) {
        struct sjob *j = x->jobs[i];
        if (j->have_result)
            continue;
        if (j->phase == P_QUEUED ||
            (j->phase == P_RETRY && !j->need_check && x->now >= j->not_before))
            submit(x, j);
    }
}

/* ---- how a job ended ---- */

/* Settle j from its exit.json and what Slurm last said (listed: it was in the last poll). */
static void check_end(struct sjob *j, bool listed)
{
    struct slurm *x = j->x;
    struct exec_result file;
    struct err e = ERR_INIT;
    int rc = exec_result_read(j->dir, &file, &e);
    if (rc < 0) {
        settle_later(j, EXEC_LOST, false, "slurm job %s: %s", j->job_id ? j->job_id : "?", e.msg);
        return;
    }
    bool polls_failing = x->poll_fail_since && x->now - x->poll_fail_since > SIGNALLED_WAIT_MS;
    bool late;
    if (rc == 0) {
        if (!j->file_since)
            j->file_since = x->now;
        late = x->now - j->file_since > SIGNALLED_WAIT_MS || polls_failing;
    } else {
        if (!j->missing_since)
            j->missing_since = x->now;
        late = x->now - j->missing_since > x->exit_read_timeout_ms;
    }
    struct slurm_end in = {
        .file = rc == 0 ? &file : NULL,
        .state = listed && j->state[0] ? j->state : j->acct_state[0] ? j->acct_state : NULL,
        .job_id = j->job_id,
        .cancelled_by_us = j->cancel_sent,
        .timed_out_by_us = j->timed_out_by_us,
        .late = late,
        .memory_bytes = j->memory_bytes,
        .limit_ms = j->limit_ms,
    };
    struct exec_result r;
    if (!slurm_settle(&in, &r))
        return;
    /* Ended before a poll saw it end: what Slurm will say, from how its script exited (the
     * shim's status; a poll before the engine closes may still correct it), and where and when
     * it ran, from its exit.json. */
    struct attempt_job aj = {0};
    bool in_queue = j->job_id && (!j->state[0] || !slurm_state_ended(j->state));
    if (rc == 0 && in_queue) {
        aj.state = j->cancel_sent ? "CANCELLED"
                   : file.why == EXEC_EXITED && !file.exit && !file.signal ? "COMPLETED"
                                                                          : "FAILED";
        snprintf(j->state, sizeof(j->state), "%s", aj.state);
    }
    if (rc == 0 && file.node[0])
        aj.node = file.node;
    /* the shim's clock, to the millisecond, over squeue's whole seconds */
    if (rc == 0 && file.started_ms)
        aj.started_at = file.started_ms > j->queued_ms ? file.started_ms : j->queued_ms;
    if (aj.state || aj.node || aj.started_at)
        job_record(j, &aj);
    job_end(j, &r, in_queue);
}

/* Adopted without a job id, and no job of its name is in the queue. */
static void lookup_missing(struct sjob *j)
{
    struct slurm *x = j->x;
    char *claim = xasprintf("%s/claim", j->dir);
    int rc = mkdir(claim, 0755);
    int err = errno;
    free(claim);
    if (rc == 0 || err == ENOENT) {
        /* Claimed before any job could: a submission still under way finds it taken. */
        settle_later(j, EXEC_NEVER_STARTED, false, "no slurm job named '%s' was ever queued",
                     j->name);
        return;
    }
    /* Its job ran (it claimed the attempt) and has left the queue: what it left says. */
    j->phase = P_SUBMITTED;
    (void)x;
    check_end(j, false);
}

/* ---- polling ---- */

static void record_state(struct slurm *x, int64_t attempt_id, const char *state)
{
    struct err e = ERR_INIT;
    if (store_attempt_set_job(x->base.env.st, attempt_id, &(struct attempt_job){.state = state},
                              &e) < 0 &&
        !x->err.msg[0])
        x->err = e;
}

static bool ended_remember(struct slurm *x, int64_t id)
{
    for (size_t i = 0; i < x->nended; i++)
        if (x->ended_ids[i] == id)
            return true;
    return false;
}

static void sacct_start(struct slurm *x);

static void on_squeue_done(struct cmd *c)
{
    struct slurm *x = c->data;
    x->now = store_now_ms();
    bool transient;
    char msg[256];
    if (!slurm_cmd_ok(c, &transient, msg, sizeof(msg))) {
        /* The controller is down or busy: running jobs go on without it; so does the run. */
        if (!x->poll_fail_since)
            x->poll_fail_since = x->now;
        x->poll_backoff_ms = x->poll_backoff_ms ? x->poll_backoff_ms * 2 : 1000;
        if (x->poll_backoff_ms > BACKOFF_MAX_MS)
            x->poll_backoff_ms = BACKOFF_MAX_MS;
        x->next_poll = x->now + x->poll_backoff_ms;
        for (size_t i = 0; i < x->njobs; i++) {
            struct sjob *j = x->jobs[i];
            if (j->phase == P_SUBMITTED && !j->have_result && !j->listed)
                job_record(j, &(struct attempt_job){.state = j->state[0] ? j->state : "UNKNOWN",
                                                     .reason = msg});
        }
        return;
    }
    x->poll_fail_since = 0;
    x->poll_backoff_ms = 0;
    x->last_poll_ok = x->now;
    for (size_t i = 0; i < x->njobs; i++)
        x->jobs[i]->listed = false;
    bool changed = false;
    int lingering = 0;
    int64_t *still = xcalloc(x->nended + 1, sizeof(*still));
    char *p = c->obuf.len ? c->obuf.buf : NULL;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        struct squeue_line l;
        int64_t aid;
        if (slurm_parse_squeue_line(p, &l) == 0 && slurm_job_name_attempt(x->tag, l.name, &aid)) {
            struct sjob *j = find(x, aid);
            bool active = !slurm_state_ended(l.state);
            if (!j || j->have_result || j->phase == P_SUBMITTING || j->phase == P_QUEUED) {
                if (!j && ended_remember(x, aid)) {
                    if (active && (size_t)lingering < x->nended)
                        still[lingering++] = aid;
                    else if (!active) /* its final word, for show and the page */
                        record_state(x, aid, l.state);
                }
            } else if (j->job_id && strcmp(j->job_id, l.job_id)) {
                /* another job of the same name: not this attempt's */
            } else {
                if (!j->job_id) {
                    /* adopted without an id, or a submission that failed after all */
                    j->job_id = xstrdup(l.job_id);
                    j->queued_ms = l.submit_ms;
                    j->phase = P_SUBMITTED;
                    j->need_check = false;
                    strv_free(j->sbatch_argv);
                    strv_free(j->envp);
                    j->sbatch_argv = j->envp = NULL;
                    job_record(j, &(struct attempt_job){.job_id = j->job_id,
                                                         .queued_at = l.submit_ms});
                    if (j->cancel_wanted && !j->cancel_sent) {
                        j->cancel_sent = true;
                        cancel_queue(x, j->job_id);
                    }
                }
                j->listed = true;
                enum slurm_class cls = slurm_state_class(l.state);
                /* Slurm's times are whole seconds: a start never before the submission */
                if (cls >= SLURM_RUNNING && l.start_ms)
                    j->start_ms = l.start_ms > j->queued_ms ? l.start_ms : j->queued_ms;
                if (strcmp(j->state, l.state)) {
                    changed = true;
                    snprintf(j->state, sizeof(j->state), "%s", l.state);
                    job_record(j, &(struct attempt_job){
                                      .node = *l.node ? l.node : NULL,
                                      .state = l.state,
                                      .reason = cls == SLURM_WAITING && *l.reason ? l.reason : NULL,
                                      .started_at = cls >= SLURM_RUNNING ? j->start_ms : 0});
                }
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    /* Settle what the listing says, walking a copy: settling forgets jobs. */
    size_t n = x->njobs;
    struct sjob **snap = xcalloc(n + 1, sizeof(*snap));
    memcpy(snap, x->jobs, n * sizeof(*snap));
    for (size_t i = 0; i < n; i++) {
        struct sjob *j = snap[i];
        if (j->have_result)
            continue;
        /* A listing is of the moment squeue started: it cannot show a job queued after. */
        bool before = c->started_ms > (j->phase == P_RETRY ? j->failed_ms : j->queued_ms);
        if (j->listed && !slurm_state_ended(j->state))
            j->missing_since = 0; /* seen again (a controller that was down, or slow) */
        if (!j->listed && !before)
            continue;
        if (j->phase == P_RETRY && j->need_check && !j->listed) {
            j->need_check = false; /* the failed sbatch left no job: it may go again */
            if (j->cancel_wanted)
                settle_later(j, EXEC_NEVER_STARTED, false, "cancelled before it was queued");
        } else if (j->phase == P_LOOKUP) {
            lookup_missing(j);
        } else if (j->phase == P_SUBMITTED && (!j->listed || slurm_state_ended(j->state))) {
            check_end(j, j->listed);
        }
    }
    free(snap);
    sacct_start(x);
    free(x->ended_ids);
    x->ended_ids = still;
    x->nended = (size_t)lingering;
    x->ended_alloc = x->nended + 1;
    if (lingering < x->lingering && x->base.env.room) {
        x->lingering = lingering;
        x->base.env.room(x->base.env.data);
    }
    x->lingering = lingering;
    /* Fast while jobs are submitted or change; slower while nothing does, whether they run or
     * wait (a queue that holds jobs for hours is asked every 10 s, not 4 times a second).
     * Ends are seen in exit.json without a poll. */
    if (changed)
        x->poll_ms = POLL_MIN_MS;
    else if ((x->poll_ms = x->poll_ms * 3 / 2) > POLL_MAX_MS)
        x->poll_ms = POLL_MAX_MS;
    x->next_poll = x->now + x->poll_ms;
}

/* ---- accounting: how a job that has left the queue ended ---- */

static struct sjob *find_job_id(struct slurm *x, const char *job_id)
{
    for (size_t i = 0; i < x->njobs; i++)
        if (x->jobs[i]->job_id && !strcmp(x->jobs[i]->job_id, job_id))
            return x->jobs[i];
    return NULL;
}

static void on_sacct_done(struct cmd *c)
{
    struct slurm *x = c->data;
    x->now = store_now_ms();
    bool transient;
    char msg[256];
    if (!slurm_cmd_ok(c, &transient, msg, sizeof(msg))) {
        if (strstr(c->ebuf.len ? c->ebuf.buf : "", "accounting storage is disabled"))
            x->accounting = 0; /* as on many clusters: exit.json alone says how jobs end */
        for (size_t i = 0; transient && i < c->nids; i++) {
            struct sjob *j = find_job_id(x, c->ids[i]);
            if (j)
                j->acct_asked = false; /* asked again after the next poll */
        }
        return;
    }
    x->accounting = 1;
    char *p = c->obuf.len ? c->obuf.buf : NULL;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        const char *job_id, *state;
        struct sjob *j;
        if (slurm_parse_sacct_line(p, &job_id, &state) == 0 && (j = find_job_id(x, job_id)) &&
            !j->have_result && slurm_state_ended(state)) {
            snprintf(j->acct_state, sizeof(j->acct_state), "%s", state);
            record_state(x, j->id, state);
            check_end(j, false);
        }
        p = nl ? nl + 1 : NULL;
    }
}

/* One sacct for every job that left the queue without an exit.json, where accounting exists. */
static void sacct_start(struct slurm *x)
{
    if (!x->sacct || !x->accounting || x->sacct_cmd)
        return;
    struct strbuf ids = STRBUF_INIT;
    char **asked = NULL;
    size_t n = 0;
    for (size_t i = 0; i < x->njobs && n < SCANCEL_MAX; i++) {
        struct sjob *j = x->jobs[i];
        /* only what a listing begun after its submission has missed (missing_since) */
        if (j->phase != P_SUBMITTED || j->listed || j->have_result || j->acct_asked ||
            !j->job_id || j->file_since || !j->missing_since)
            continue;
        j->acct_asked = true;
        strbuf_addf(&ids, "%s%s", ids.len ? "," : "", j->job_id);
        asked = xrealloc(asked, (n + 1) * sizeof(*asked));
        asked[n++] = xstrdup(j->job_id);
    }
    if (!n) {
        strbuf_release(&ids);
        return;
    }
    char *argv[] = {x->sacct, "-n", "-P", "-X", "-o", "JobID,State", "-j", ids.buf, NULL};
    struct err e = ERR_INIT;
    struct cmd *c = slurm_cmd_run(x->loop, argv, x->cmd_env, CMD_TIMEOUT_MS,
                          on_sacct_done, x, &x->closed, &e);
    strbuf_release(&ids);
    if (!c) {
        for (size_t i = 0; i < n; i++)
            free(asked[i]);
        free(asked);
        return;
    }
    c->ids = asked;
    c->nids = n;
    x->sacct_cmd = c;
    c->slot = &x->sacct_cmd;
}

static void poll_start(struct slurm *x)
{
    char *argv[] = {x->squeue, "--me", "-h", "-t", "all", "-o", SLURM_SQUEUE_FORMAT, NULL};
    struct err e = ERR_INIT;
    x->squeue_cmd = slurm_cmd_run(x->loop, argv, x->cmd_env, CMD_TIMEOUT_MS,
                          on_squeue_done, x, &x->closed, &e);
    if (x->squeue_cmd)
        x->squeue_cmd->slot = &x->squeue_cmd;
    if (!x->squeue_cmd) {
        x->poll_backoff_ms = BACKOFF_MAX_MS;
        x->next_poll = x->now + BACKOFF_MAX_MS;
    }
}

/* ---- cancels: one scancel for many jobs ---- */

static void on_scancel_done(struct cmd *c)
{
    struct slurm *x = c->data;
    bool transient;
    char msg[256];
    if (slurm_cmd_ok(c, &transient, msg, sizeof(msg)) || !transient) {
        /* "Invalid job id specified": it ended meanwhile, as the poll will say. */
        x->cancel_backoff_ms = 0;
        poll_soon(x);
        return;
    }
    for (size_t i = 0; i < c->nids; i++) {
        XGROW(x->cancel_ids, x->cancel_alloc, x->ncancel + 1);
        x->cancel_ids[x->ncancel++] = c->ids[i];
        c->ids[i] = NULL;
    }
    x->cancel_backoff_ms = x->cancel_backoff_ms ? x->cancel_backoff_ms * 2 : 1000;
    if (x->cancel_backoff_ms > BACKOFF_MAX_MS)
        x->cancel_backoff_ms = BACKOFF_MAX_MS;
    x->cancel_not_before = store_now_ms() + x->cancel_backoff_ms;
}

static void cancel_flush(struct slurm *x)
{
    if (!x->ncancel || x->scancel_cmd || x->now < x->cancel_not_before)
        return;
    size_t n = x->ncancel < SCANCEL_MAX ? x->ncancel : SCANCEL_MAX;
    char **argv = xcalloc(n + 2, sizeof(*argv));
    argv[0] = x->scancel;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = x->cancel_ids[i];
    struct err e = ERR_INIT;
    struct cmd *c = slurm_cmd_run(x->loop, argv, x->cmd_env, CMD_TIMEOUT_MS,
                          on_scancel_done, x, &x->closed, &e);
    free(argv);
    if (!c) {
        x->cancel_not_before = x->now + BACKOFF_MAX_MS;
        return;
    }
    c->ids = xcalloc(n, sizeof(*c->ids));
    memcpy(c->ids, x->cancel_ids, n * sizeof(*c->ids));
    c->nids = n;
    memmove(x->cancel_ids, x->cancel_ids + n, (x->ncancel - n) * sizeof(*x->cancel_ids));
    x->ncancel -= n;
    x->scancel_cmd = c;
    c->slot = &x->scancel_cmd;
}

/* ---- the tick: exit files, submissions, cancels, polls ---- */

static bool needs_poll(const struct sjob *j)
{
    return j->phase == P_SUBMITTED || j->phase == P_LOOKUP ||
           (j->phase == P_RETRY && j->need_check);
}

static void on_tick(uv_timer_t *t)
{
    struct slurm *x = t->data;
    if (x->closed)
        return;
    x->now = store_now_ms();
    size_t n = x->njobs;
    struct sjob **snap = xcalloc(n + 1, sizeof(*snap));
    memcpy(snap, x->jobs, n * sizeof(*snap));
    bool poll = false;
    for (size_t i = 0; i < n && !x->closed; i++) {
        struct sjob *j = snap[i];
        if (j->have_result) {
            job_end(j, &j->result, false);
            continue;
        }
        if (j->phase != P_SUBMITTED)
            continue;
        /* The end, as soon as the node's exit.json shows here: no controller needed. */
        struct stat sb;
        char path[4096];
        snprintf(path, sizeof(path), "%s/exit.json", j->dir);
        if (stat(path, &sb) == 0 || j->missing_since || j->file_since) {
            check_end(j, j->listed || !x->last_poll_ok);
            continue;
        }
        /* The engine's own guard on a step's timeout, in case the node's shim cannot act. */
        if (j->timeout_ms > 0 && j->start_ms > 0 && !j->cancel_sent &&
            x->now - j->start_ms > j->timeout_ms + j->grace_ms + TIMEOUT_SLACK_MS) {
            j->timed_out_by_us = j->cancel_sent = true;
            cancel_queue(x, j->job_id);
        }
    }
    free(snap);
    if (x->closed)
        return;
    for (size_t i = 0; i < x->njobs; i++)
        poll = poll || needs_poll(x->jobs[i]);
    submit_queued(x);
    cancel_flush(x);
    if ((poll || x->nended) && !x->squeue_cmd && x->now >= x->next_poll)
        poll_start(x);
    if (!x->njobs && !x->ncancel && !x->nended) {
        uv_timer_stop(&x->tick);
        x->tick_running = false;
    }
}

static void tick_arm(struct slurm *x)
{
    if (x->closed)
        return;
    if (!x->tick_running) {
        x->tick_running = true;
        uv_timer_start(&x->tick, on_tick, 0, TICK_MS);
    } else if (uv_timer_get_due_in(&x->tick) > 0) {
        /* soon, not at once: starts within one loop turn go out together */
        uv_timer_start(&x->tick, on_tick, 1, TICK_MS);
    }
}

/* ---- the executor ---- */

static char *find_command(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        char *full = xasprintf("%.*s/%s", (int)len, len ? path : ".", name);
        if (access(full, X_OK) == 0)
            return full;
        free(full);
        path += len;
        if (*path == ':')
            path++;
    }
    return NULL;
}

static void slurm_free(struct executor *base);

static struct executor *slurm_create(const struct exec_env *env, struct err *e)
{
    struct slurm *x = xcalloc(1, sizeof(*x));
    x->base.env = *env;
    x->loop = env->loop;
    char id[17];
    if (store_workspace_id(env->st, id, e) < 0) {
        free(x);
        return NULL;
    }
    memcpy(x->tag, id, 12);
    x->sbatch = find_command("sbatch");
    x->squeue = find_command("squeue");
    x->scancel = find_command("scancel");
    x->sacct = find_command("sacct");
    x->accounting = -1;
    if (!x->sbatch || !x->squeue || !x->scancel) {
        err_set(e, "the slurm executor needs '%s' on PATH, and it is not there (is this a Slurm "
                   "login node?)",
                !x->sbatch ? "sbatch" : !x->squeue ? "squeue" : "scancel");
        slurm_free(&x->base);
        return NULL;
    }
    /* squeue's times in UTC, in one format, whatever the user's settings */
    size_t n = 0;
    while (environ[n])
        n++;
    x->cmd_env = xcalloc(n + 3, sizeof(*x->cmd_env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "TZ=", 3) && strncmp(environ[i], "SLURM_TIME_FORMAT=", 18) &&
            strncmp(environ[i], "SQUEUE_", 7))
            x->cmd_env[k++] = xstrdup(environ[i]);
    x->cmd_env[k++] = xstrdup("TZ=UTC");
    x->cmd_env[k++] = xstrdup("SLURM_TIME_FORMAT=standard");
    x->exit_read_timeout_ms = EXIT_READ_TIMEOUT_MS;
    const char *ert = getenv("SLUICE_SLURM_EXIT_READ_TIMEOUT");
    int64_t v;
    if (ert && duration_parse(ert, &v) == 0)
        x->exit_read_timeout_ms = v;
    x->poll_ms = POLL_MIN_MS;
    uv_timer_init(x->loop, &x->tick);
    x->tick.data = x;
    return &x->base;
}

static int slurm_prepare(struct executor *base, const struct exec_attempt *a, struct err *e)
{
    (void)base;
    (void)a;
    (void)e;
    return 0; /* the job's name finds it again: nothing to record before sbatch */
}

/* The sbatch command of job: its arguments, then the script. */
static int sbatch_argv(struct slurm *x, const struct exec_job *job, const char *name,
                       const char *script, char ***out, struct err *e)
{
    const struct step *sp = job->spec;
    char **v = xcalloc(32 + (sp ? sp->slurm.noptions : 0), sizeof(*v));
    size_t n = 0;
    v[n++] = xstrdup(x->sbatch);
    v[n++] = xstrdup("--parsable");
    v[n++] = xasprintf("--job-name=%s", name);
    v[n++] = xasprintf("--output=%s/log", job->a.dir);
    v[n++] = xasprintf("--error=%s/log", job->a.dir);
    v[n++] = xstrdup("--open-mode=append");
    v[n++] = xstrdup("--no-requeue"); /* a failed node's job is lost, and retried by sluice */
    if (job->workdir)
        v[n++] = xasprintf("--chdir=%s", job->workdir);
    v[n++] = xasprintf("--cpus-per-task=%d", job->cpus > 0 ? job->cpus : 1);
    if (job->memory_bytes > 0)
        v[n++] = xasprintf("--mem=%" PRId64 "M", slurm_mem_mib(job->memory_bytes));
    int64_t limit = sp && sp->slurm.time_ms ? sp->slurm.time_ms : job->timeout_ms;
    if (limit > 0)
        v[n++] = xasprintf("--time=%" PRId64, slurm_minutes(limit));
    if (sp) {
        static const struct {
            const char *flag;
            size_t off;
        } tmpls[] = {
            {"--partition", offsetof(struct slurm_opts, partition)},
            {"--account", offsetof(struct slurm_opts, account)},
            {"--qos", offsetof(struct slurm_opts, qos)},
            {"--gres", offsetof(struct slurm_opts, gres)},
            {"--constraint", offsetof(struct slurm_opts, constraint)},
        };
        for (size_t i = 0; i < sizeof(tmpls) / sizeof(tmpls[0]); i++) {
            const struct tmpl *t = (const void *)((const char *)&sp->slurm + tmpls[i].off);
            if (!t->src)
                continue;
            struct err xe = ERR_INIT;
            char *val = job->expand ? job->expand(job->expand_data, t, &xe) : xstrdup(t->src);
            if (!val) {
                err_set(e, "cannot expand slurm '%s': %s", tmpls[i].flag + 2, xe.msg);
                strv_free(v);
                return -1;
            }
            if (!*val) {
                err_set(e, "slurm '%s' is empty: '%s' expands to nothing", tmpls[i].flag + 2,
                        t->src);
                free(val);
                strv_free(v);
                return -1;
            }
            v[n++] = xasprintf("%s=%s", tmpls[i].flag, val);
            free(val);
        }
        for (size_t i = 0; i < sp->slurm.noptions; i++)
            v[n++] = xstrdup(sp->slurm.options[i].s);
    }
    v[n++] = xstrdup(script);
    *out = v;
    return 0;
}

static int write_file(const char *path, const char *text, size_t len, mode_t mode, struct err *e)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return err_set(e, "cannot write '%s': %s", path, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int err = errno;
            close(fd);
            return err_set(e, "cannot write '%s': %s", path, strerror(err));
        }
        off += (size_t)w;
    }
    if (close(fd) < 0)
        return err_set(e, "cannot write '%s': %s", path, strerror(errno));
    return 0;
}

static int slurm_start(struct executor *base, const struct exec_job *job, struct err *e)
{
    struct slurm *x = (struct slurm *)base;
    struct sjob *j = job_new(x, &job->a);
    const struct step *sp = job->spec;
    j->timeout_ms = job->timeout_ms;
    j->memory_bytes = job->memory_bytes;
    j->limit_ms = sp && sp->slurm.time_ms ? sp->slurm.time_ms : job->timeout_ms;
    char *out = xasprintf("%s/out", job->a.dir);
    char *script = xasprintf("%s/job.sh", job->a.dir);
    struct strbuf sb = STRBUF_INIT;
    int rc = fs_mkdir_p(out, 0755, e);
    if (rc == 0) {
        struct slurm_script ss = {
            .self_exe = x->base.env.self_exe,
            .dir = job->a.dir,
            .workdir = job->workdir,
            .argv = job->argv,
            .shell = job->shell,
            .timeout_ms = job->timeout_ms,
            .grace_ms = job->a.grace_ms,
            .run_id = job->a.run_id,
            .attempt_id = job->a.id,
            .step = job->a.step,
            .n = job->a.n,
        };
        slurm_script_write(&sb, &ss);
        rc = write_file(script, sb.buf, sb.len, 0755, e);
    }
    if (rc == 0) {
        struct err xe = ERR_INIT;
        if (sbatch_argv(x, job, j->name, script, &j->sbatch_argv, &xe) < 0)
            settle_later(j, EXEC_START_FAILED, true, "%s", xe.msg); /* the same every time */
        j->envp = strv_dup(job->envp ? job->envp : environ, NULL);
    }
    strbuf_release(&sb);
    free(out);
    free(script);
    if (rc < 0) {
        job_forget(j);
        return -1;
    }
    j->phase = P_QUEUED;
    tick_arm(x);
    return 0;
}

static void slurm_cancel(struct executor *base, int64_t id)
{
    struct slurm *x = (struct slurm *)base;
    struct sjob *j = find(x, id);
    if (!j || j->have_result || j->cancel_sent)
        return;
    switch (j->phase) {
    case P_QUEUED:
        settle_later(j, EXEC_NEVER_STARTED, false, "cancelled before it was queued");
        return;
    case P_SUBMITTED:
        j->cancel_sent = true;
        cancel_queue(x, j->job_id);
        poll_soon(x);
        tick_arm(x);
        return;
    default:
        /* sbatch runs, or the job is yet to be found: cancelled once it is */
        j->cancel_wanted = true;
        return;
    }
}

static int slurm_adopt(struct executor *base, const struct exec_attempt *a,
                       const struct attempt_row *row, struct err *e)
{
    struct slurm *x = (struct slurm *)base;
    (void)e;
    struct sjob *j = job_new(x, a);
    if (row->job_id && *row->job_id) {
        j->job_id = xstrdup(row->job_id);
        j->phase = P_SUBMITTED;
        snprintf(j->state, sizeof(j->state), "%s", row->job_state ? row->job_state : "");
        j->queued_ms = row->queued_at;
        if (row->queued_at && row->started_at > row->queued_at)
            j->start_ms = row->started_at;
    } else {
        j->phase = P_LOOKUP; /* its engine died between sbatch and recording the job id */
    }
    x->next_poll = 0;
    tick_arm(x);
    return 0;
}

static int slurm_capacity(struct executor *base)
{
    struct slurm *x = (struct slurm *)base;
    int cap = x->base.env.max_jobs > 0 ? x->base.env.max_jobs : 200;
    return cap > x->lingering ? cap - x->lingering : 0;
}

static int slurm_tick(struct executor *base, struct err *e)
{
    struct slurm *x = (struct slurm *)base;
    if (!x->err.msg[0])
        return 0;
    *e = x->err;
    err_clear(&x->err);
    return -1;
}

static void on_tick_closed(uv_handle_t *h)
{
    (void)h;
}

static void slurm_close(struct executor *base)
{
    struct slurm *x = (struct slurm *)base;
    if (x->closed)
        return;
    x->closed = true;
    /* A poll or a cancel is not worth waiting for; a submission is (its job is found by
     * name either way, but a finished sbatch leaves less to find). */
    if (x->squeue_cmd && !x->squeue_cmd->exited)
        uv_process_kill(&x->squeue_cmd->proc, SIGKILL);
    if (x->scancel_cmd && !x->scancel_cmd->exited)
        uv_process_kill(&x->scancel_cmd->proc, SIGKILL);
    if (x->sacct_cmd && !x->sacct_cmd->exited)
        uv_process_kill(&x->sacct_cmd->proc, SIGKILL);
    uv_timer_stop(&x->tick);
    if (!uv_is_closing((uv_handle_t *)&x->tick))
        uv_close((uv_handle_t *)&x->tick, on_tick_closed);
    while (x->njobs)
        job_forget(x->jobs[0]);
}

static void slurm_free(struct executor *base)
{
    struct slurm *x = (struct slurm *)base;
    if (!x)
        return;
    while (x->njobs)
        job_forget(x->jobs[0]);
    free(x->jobs);
    for (size_t i = 0; i < x->ncancel; i++)
        free(x->cancel_ids[i]);
    free(x->cancel_ids);
    free(x->ended_ids);
    strv_free(x->cmd_env);
    free(x->sbatch);
    free(x->squeue);
    free(x->scancel);
    free(x->sacct);
    free(x);
}

/* Without an engine (sluice logs --follow): whether Slurm still has the job queued or
 * running. One squeue for one job: this is a person's command, not a poll. */
static bool slurm_alive(const struct attempt_row *row)
{
    if (!row->job_id || !*row->job_id || strspn(row->job_id, "0123456789_") != strlen(row->job_id))
        return false;
    struct exec_result r;
    struct err e = ERR_INIT;
    if (row->dir && exec_result_read(row->dir, &r, &e) == 0)
        return false;
    char *cmd = xasprintf("TZ=UTC squeue -h -j %s -o %%T 2>&1", row->job_id);
    FILE *f = popen(cmd, "r");
    free(cmd);
    if (!f)
        return true; /* cannot tell: keep following */
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    int status = pclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    if (status != 0)
        return slurm_error_transient(buf); /* "Invalid job id": it is long gone */
    return *buf && !slurm_state_ended(buf);
}

const struct executor_ops slurm_executor = {
    .name = "slurm",
    .remote = true,
    .create = slurm_create,
    .prepare = slurm_prepare,
    .start = slurm_start,
    .cancel = slurm_cancel,
    .adopt = slurm_adopt,
    .capacity = slurm_capacity,
    .tick = slurm_tick,
    .close = slurm_close,
    .free = slurm_free,
    .alive = slurm_alive,
};
