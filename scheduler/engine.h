/* The run engine: drives runs on one libuv loop — ready steps → when: → cache check →
 * dispatch through the shim — recording every transition in the store, so that a restarted
 * engine can adopt a run where a dead one left it. */
#ifndef SLUICE_ENGINE_H
#define SLUICE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/status.h"
#include "store/store.h"
#include "util/err.h"

struct engine_opts {
    int parallel;          /* step slots (a step takes resources.cpus of them); 0 = CPUs */
    bool fail_fast;        /* stop at the first failure */
    bool no_cache;         /* ignore cache hits */
    bool auto_approve;     /* approve every approval step as 'auto' */
    bool no_wait;          /* stop driving (run stays waiting) when only approvals are left */
    int64_t kill_grace_ms; /* SIGTERM → SIGKILL; 0 = 10 s */
    int max_jobs;          /* Slurm jobs queued + running at once (--max-jobs); 0 = 200 */
    char executor[32];     /* the executor of steps that name none (--executor); "" = local */
};

enum engine_event_kind {
    ENGINE_EV_STEP, /* a step changed status */
    ENGINE_EV_RUN,  /* a run changed status */
    ENGINE_EV_TICK, /* once a second while something runs (for progress displays) */
};

struct engine_event {
    enum engine_event_kind kind;
    int64_t run_id;
    const char *pipeline;
    size_t nsteps;
    size_t ndone;             /* steps that ended after starting or being decided themselves */
    size_t nnot_run;          /* steps that ended without starting (settled because of their
                               * upstream steps, or cancelled before they started) */
    const char *step;         /* ENGINE_EV_STEP */
    size_t step_index;
    enum step_status step_status;
    int attempt;              /* the step's current attempt, 0 when none */
    const char *message;      /* may be NULL */
    int64_t step_started_ms;  /* 0 when it has not started */
    enum run_status run_status;
    int64_t at_ms;
};

typedef void (*engine_event_cb)(void *data, const struct engine_event *ev);

/* A snapshot of one step for progress displays (engine_each_running). */
struct engine_step_view {
    const char *name;
    size_t index;
    enum step_status status;
    int attempt;
    int64_t started_ms;
};

struct engine;

/* An engine on its own libuv loop. self_exe is the sluice binary that runs shims and built-ins
 * (NULL: /proc/self/exe). */
struct engine *engine_new(struct store *st, const char *self_exe, struct err *e);
void engine_free(struct engine *eng); /* NULL is fine; only once every run has ended */
void engine_set_listener(struct engine *eng, engine_event_cb cb, void *data);

/* Take a run over: acquire its lease (free, expired, or held by a dead engine of this host),
 * load its pipeline snapshot, adopt finished and live attempts. Fails with e set (e.g. "run 7
 * is being driven by another engine (host:123:456)"). */
int engine_add_run(struct engine *eng, int64_t run_id, const struct engine_opts *opts,
                   struct err *e);
/* e->code of engine_loop when the engine left its runs at once, like a crash, with nothing
 * more written: the caller should exit at once (_exit), without cleaning up. */
#define ENGINE_LEFT_INTERRUPTED 130 /* a third SIGINT or SIGTERM: the user insists */
#define ENGINE_LEFT_TAKEN_OVER 75   /* another engine took a run over while this one was stopped
                                     * (SIGSTOP, a debugger, a machine asleep) past its lease */

/* Run the loop until every run added has ended or stopped waiting. Returns 0, or -1 on an
 * error of the engine itself (store failure, or ENGINE_LEFT_* in e->code). */
int engine_loop(struct engine *eng, struct err *e);
/* Ask every run (run_id 0) or one run to cancel: running steps get SIGTERM (SIGKILL after the
 * grace period), nothing new starts. */
void engine_cancel(struct engine *eng, int64_t run_id);
/* How a run added to this engine ended: its status, and whether it stopped while waiting for
 * an approval (--no-wait). -1 when the run is unknown. */
int engine_result(struct engine *eng, int64_t run_id, enum run_status *status, bool *waiting);
/* Call cb for each step of run_id that is running, retrying or waiting. */
void engine_each_active(struct engine *eng, int64_t run_id,
                        void (*cb)(void *data, const struct engine_step_view *v), void *data);

/* Serving (`sluice serve`): the engine's loop, for the web server's handles to share. */
void *engine_uv_loop(struct engine *eng); /* a uv_loop_t * */
typedef void (*engine_stop_cb)(void *data);
/* Keep the loop alive when runs end, forget ended runs, adopt orphaned and queued runs every
 * two seconds; SIGINT/SIGTERM stop the engine (engine_stop) instead of cancelling, and on_stop
 * is called so that the caller closes its own handles. */
void engine_set_serve(struct engine *eng, engine_stop_cb on_stop, void *data);
/* Stop driving: every run is left to its shims (nothing is cancelled) and its lease released,
 * so that the next engine adopts it at once. */
void engine_stop(struct engine *eng);
/* Add every queued, running or waiting run whose lease is free, expired or held by a dead
 * engine of this host. */
void engine_adopt(struct engine *eng, const struct engine_opts *defaults);

/* A run's engine options as stored with it (JSON), and back. */
char *engine_opts_to_json(const struct engine_opts *o);
void engine_opts_from_json(const char *text, struct engine_opts *o);

/* Convenience for the CLI: engine_new + engine_add_run + engine_loop + engine_result. */
int engine_drive(struct store *st, int64_t run_id, const struct engine_opts *opts,
                 engine_event_cb cb, void *data, enum run_status *status, bool *waiting,
                 struct err *e);

/* This process's lease owner string, "HOST:PID:STARTTIME". */
const char *engine_owner_id(void);
/* Whether a lease owner string names a live process (on another host: assumed live). */
bool engine_owner_alive(const char *owner);
/* Whether a live engine drives run r at now (ms since the epoch): its lease has an owner, has
 * not expired (lease_expires > now) and engine_owner_alive says the owner lives. Such a run is
 * that engine's to drive: another process asks it (cancel) or leaves it alone. */
bool engine_drives(const struct run_row *r, int64_t now);

#endif
