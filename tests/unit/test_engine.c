/* The engine driven on a fake executor and a temporary store, with no processes, as ninja tests
 * its Builder with a FakeCommandRunner: the fake logs every call the engine makes and ends each
 * attempt as the test scripts it, always from the loop, never from within a call. */
#include "tests/unit/store_fixture.h"

#include <uv.h>

#include "executor/executor.h"
#include "pipeline/load.h"
#include "scheduler/engine.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "scheduler/trigger.h"

/* ---- the fake executor ---- */

/* How attempts of a step end. Unscripted, an attempt exits 0 on the loop's next iteration. */
struct script {
    const char *step;
    int n;                               /* the attempt; 0: every attempt of the step */
    enum exec_why why;
    int exit;
    int signal;
    bool permanent;                      /* for START_FAILED */
    const char *msg;                     /* for LOST, START_FAILED, start_fails; with an exit
                                          * or a signal: who ended it */
    uint64_t after_ms;                   /* reported this long after its start */
    bool hold;                           /* runs until a cancel, or the test's hook ends it */
    const struct exec_result *on_cancel; /* how a cancel ends it; NULL: EXEC_CANCELLED */
    bool start_fails;                    /* start returns -1 with msg */
};

struct fake;

/* An attempt the fake answers for, from its start (or adoption) until it reports its end. */
struct fake_attempt {
    struct fake *x;
    int64_t id;
    char step[32];
    int n;
    const struct script *sc;
};

/* An end owed to the engine, or a held attempt to show to the test's hook. */
struct due {
    uint64_t at; /* uv_now() */
    int64_t id;
    struct exec_result r;
    bool hook;
};

struct fake {
    struct executor base; /* first, as executor.h requires */
    uv_loop_t *loop;
    uv_timer_t timer;     /* reports what is due */
    uv_timer_t drain;     /* fake_drain's */
    struct fake_attempt live[16];
    size_t nlive;
    struct due due[32];
    size_t ndue;
};

/* A job as start saw it. */
struct seen_job {
    char exec[8];       /* the executor it was given to: "local", "slurm" */
    char step[32];
    int n;
    char cmd[64];       /* argv joined by spaces, or "sh: SCRIPT" */
    int64_t timeout_ms;
    uint64_t at;        /* uv_now() */
};

/* The test's side: what the fake is told to do and what it saw. Global because the engine, not
 * the test, creates the fake. */
static struct {
    struct fx *fx;
    struct engine *eng;
    const struct script *scripts;
    size_t nscripts;
    void (*hook)(struct fake_attempt *a); /* from the loop, once for each held attempt */
    struct fake *fake;    /* the fake named "local" */
    struct fake *slurm;   /* the one named "slurm" */
    struct strbuf log;    /* "start a#1", "end a#1 exit 0", …, one a line */
    struct strbuf events; /* the listener's: "run running, a running, a succeeded, …" */
    struct seen_job jobs[16];
    size_t njobs;
    int64_t adopted_id;   /* the row adopt was given */
    char adopted_status[16];
    int running, max_running;
    int capacity;           /* the fake's, 0: unbounded */
    int slurm_capacity;     /* the "slurm" fake's, 0: unbounded */
    int lingering;          /* jobs that ended and that its queue still shows: they count
                             * against slurm_capacity until fake_drain, as in slurm.c */
    int64_t run;            /* the run being driven */
    enum run_status status; /* engine_result's, after drive */
    bool waiting;
} W;

#define SCRIPTS(...)                                                                              \
    do {                                                                                          \
        static const struct script s_[] = {__VA_ARGS__};                                          \
        W.scripts = s_;                                                                           \
        W.nscripts = sizeof(s_) / sizeof(s_[0]);                                                  \
    } while (0)

static void log_call(const char *verb, const char *step, int n, const char *more)
{
    strbuf_addf(&W.log, "%s %s#%d%s%s\n", verb, step, n, more ? " " : "", more ? more : "");
}

static const struct script *script_of(const char *step, int n)
{
    static const struct script exits_0 = {0};
    for (size_t i = 0; i < W.nscripts; i++)
        if (!strcmp(W.scripts[i].step, step) && (!W.scripts[i].n || W.scripts[i].n == n))
            return &W.scripts[i];
    return &exits_0;
}

static struct fake_attempt *find_live(struct fake *x, int64_t id)
{
    for (size_t i = 0; i < x->nlive; i++)
        if (x->live[i].id == id)
            return &x->live[i];
    return NULL;
}

static void on_due(uv_timer_t *t);

static void arm(struct fake *x)
{
    if (!x->ndue)
        return;
    uint64_t first = x->due[0].at, now = uv_now(x->loop);
    for (size_t i = 1; i < x->ndue; i++)
        if (x->due[i].at < first)
            first = x->due[i].at;
    uv_timer_start(&x->timer, on_due, first > now ? first - now : 0, 0);
}

static void queue_due(struct fake *x, int64_t id, const struct exec_result *r, uint64_t after_ms,
                      bool hook)
{
    assert_true(x->ndue < sizeof(x->due) / sizeof(x->due[0]));
    x->due[x->ndue++] =
        (struct due){uv_now(x->loop) + after_ms, id, r ? *r : (struct exec_result){0}, hook};
    arm(x);
}

/* Drop what is due for attempt id (a cancel overtakes its scripted end). */
static void unqueue(struct fake *x, int64_t id)
{
    size_t k = 0;
    for (size_t i = 0; i < x->ndue; i++)
        if (x->due[i].id != id)
            x->due[k++] = x->due[i];
    x->ndue = k;
}

/* The test ends a held attempt, after_ms from now. */
static void fake_end(struct fake_attempt *a, enum exec_why why, int exit, uint64_t after_ms)
{
    struct exec_result r = {.why = why, .exit = exit};
    queue_due(a->x, a->id, &r, after_ms, false);
}

static void describe(const struct exec_result *r, char *buf, size_t n)
{
    if (r->why == EXEC_EXITED)
        snprintf(buf, n, "exit %d", r->exit);
    else
        snprintf(buf, n, "%s", exec_why_name(r->why));
}

/* Report one due end (the attempt forgotten first, as executor.h says), or call the hook. */
static void fire(struct fake *x, struct due d)
{
    struct fake_attempt *a = find_live(x, d.id);
    assert_non_null(a);
    if (d.hook) {
        if (W.hook)
            W.hook(a);
        return;
    }
    char what[64];
    describe(&d.r, what, sizeof(what));
    log_call("end", a->step, a->n, what);
    *a = x->live[--x->nlive];
    W.running--;
    x->base.env.ended(x->base.env.data, d.id, &d.r);
}

static void on_due(uv_timer_t *t)
{
    struct fake *x = t->data;
    uint64_t now = uv_now(x->loop);
    /* In the order they were queued, each that is due; a report may queue more. */
    for (size_t i = 0; i < x->ndue;) {
        if (x->due[i].at > now) {
            i++;
            continue;
        }
        struct due d = x->due[i];
        memmove(&x->due[i], &x->due[i + 1], (x->ndue - i - 1) * sizeof(x->due[0]));
        x->ndue--;
        fire(x, d);
        i = 0;
    }
    arm(x);
}

/* Start answering for attempt a: end it as scripted, or hold it. */
static void take(struct fake *x, const struct exec_attempt *a)
{
    const struct script *sc = script_of(a->step, a->n);
    assert_true(x->nlive < sizeof(x->live) / sizeof(x->live[0]));
    struct fake_attempt *fa = &x->live[x->nlive++];
    *fa = (struct fake_attempt){.x = x, .id = a->id, .n = a->n, .sc = sc};
    snprintf(fa->step, sizeof(fa->step), "%s", a->step);
    if (++W.running > W.max_running)
        W.max_running = W.running;
    struct exec_result r = {
        .why = sc->why, .exit = sc->exit, .signal = sc->signal, .permanent = sc->permanent};
    snprintf(r.msg, sizeof(r.msg), "%s", sc->msg ? sc->msg : "");
    queue_due(x, a->id, &r, sc->after_ms, sc->hold);
}

static struct fake *fake_new(const struct exec_env *env)
{
    struct fake *x = calloc(1, sizeof(*x));
    x->base.env = *env;
    x->loop = env->loop;
    uv_timer_init(x->loop, &x->timer);
    x->timer.data = x;
    uv_timer_init(x->loop, &x->drain);
    x->drain.data = x;
    return x;
}

static struct executor *fake_create(const struct exec_env *env, struct err *e)
{
    (void)e;
    W.fake = fake_new(env);
    return &W.fake->base;
}

static struct executor *fake_slurm_create(const struct exec_env *env, struct err *e)
{
    (void)e;
    W.slurm = fake_new(env);
    return &W.slurm->base;
}

static void on_drained(uv_timer_t *t)
{
    struct fake *x = t->data;
    strbuf_addf(&W.log, "room %s\n", x->base.ops->name);
    W.lingering = 0;
    x->base.env.room(x->base.env.data);
}

/* after_ms from now, the jobs that lingered in the queue are gone: the fake has room again
 * without an attempt having ended, and tells the engine so from the loop (slurm.c's poll). */
static void fake_drain(struct fake *x, uint64_t after_ms)
{
    uv_timer_start(&x->drain, on_drained, after_ms, 0);
}

static int fake_prepare(struct executor *base, const struct exec_attempt *a, struct err *e)
{
    (void)base;
    (void)e;
    log_call("prepare", a->step, a->n, NULL);
    return 0;
}

static int fake_start(struct executor *base, const struct exec_job *job, struct err *e)
{
    struct fake *x = (struct fake *)base;
    log_call("start", job->a.step, job->a.n, NULL);
    assert_true(W.njobs < sizeof(W.jobs) / sizeof(W.jobs[0]));
    struct seen_job *j = &W.jobs[W.njobs++];
    snprintf(j->exec, sizeof(j->exec), "%s", base->ops->name);
    snprintf(j->step, sizeof(j->step), "%s", job->a.step);
    j->n = job->a.n;
    j->timeout_ms = job->timeout_ms;
    j->at = uv_now(x->loop);
    if (job->shell) {
        snprintf(j->cmd, sizeof(j->cmd), "sh: %s", job->shell);
    } else {
        for (char *const *w = job->argv; *w; w++)
            snprintf(j->cmd + strlen(j->cmd), sizeof(j->cmd) - strlen(j->cmd), "%s%s",
                     w == job->argv ? "" : " ", *w);
    }
    const struct script *sc = script_of(job->a.step, job->a.n);
    if (sc->start_fails)
        return err_set(e, "%s", sc->msg);
    take(x, &job->a);
    return 0;
}

static void fake_cancel(struct executor *base, int64_t id)
{
    struct fake *x = (struct fake *)base;
    struct fake_attempt *a = find_live(x, id);
    assert_non_null(a);
    log_call("cancel", a->step, a->n, NULL);
    struct exec_result cancelled = {.why = EXEC_CANCELLED};
    unqueue(x, id);
    queue_due(x, id, a->sc->on_cancel ? a->sc->on_cancel : &cancelled, 0, false);
}

static int fake_adopt(struct executor *base, const struct exec_attempt *a,
                      const struct attempt_row *row, struct err *e)
{
    (void)e;
    log_call("adopt", a->step, a->n, NULL);
    W.adopted_id = row->id;
    snprintf(W.adopted_status, sizeof(W.adopted_status), "%s", row->status);
    take((struct fake *)base, a);
    return 0;
}

static int fake_capacity(struct executor *base)
{
    (void)base;
    return W.capacity ? W.capacity : INT32_MAX;
}

static int fake_slurm_capacity(struct executor *base)
{
    (void)base;
    int cap = W.slurm_capacity ? W.slurm_capacity : INT32_MAX;
    return cap > W.lingering ? cap - W.lingering : 0;
}

static void fake_close(struct executor *base)
{
    struct fake *x = (struct fake *)base;
    assert_int_equal(x->ndue, 0); /* nothing may be owed once the engine stops */
    uv_close((uv_handle_t *)&x->timer, NULL);
    uv_close((uv_handle_t *)&x->drain, NULL);
}

static void fake_free(struct executor *base)
{
    if ((struct fake *)base == W.fake)
        W.fake = NULL;
    else
        W.slurm = NULL;
    free(base);
}

static bool fake_alive(const struct attempt_row *row)
{
    (void)row;
    return false;
}

/* Named "local": it replaces the real one in this binary, as the loader knows no other name. */
static const struct executor_ops fake_ops = {
    .name = "local",
    .create = fake_create,
    .prepare = fake_prepare,
    .start = fake_start,
    .cancel = fake_cancel,
    .adopt = fake_adopt,
    .capacity = fake_capacity,
    .close = fake_close,
    .free = fake_free,
    .alive = fake_alive,
};

/* Named "slurm", as a cluster's: its attempts take none of the run's slots, and
 * W.slurm_capacity less W.lingering bounds them. */
static const struct executor_ops fake_slurm_ops = {
    .name = "slurm",
    .remote = true,
    .create = fake_slurm_create,
    .prepare = fake_prepare,
    .start = fake_start,
    .cancel = fake_cancel,
    .adopt = fake_adopt,
    .capacity = fake_slurm_capacity,
    .close = fake_close,
    .free = fake_free,
    .alive = fake_alive,
};

/* The fake's log: the lines whose verb is one of verbs (space-separated), joined by ", ". */
static const char *fake_log(const char *verbs)
{
    static char out[2048];
    out[0] = '\0';
    for (const char *line = W.log.buf; *line;) {
        const char *nl = strchr(line, '\n');
        size_t vlen = strcspn(line, " ");
        for (const char *v = verbs; *v; v += strcspn(v, " "), v += *v == ' ') {
            if (strcspn(v, " ") == vlen && !strncmp(v, line, vlen)) {
                snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%.*s",
                         out[0] ? ", " : "", (int)(nl - line), line);
                break;
            }
        }
        line = nl + 1;
    }
    return out;
}

/* ---- driving the engine ---- */

static void on_event(void *data, const struct engine_event *ev)
{
    (void)data;
    const char *sep = W.events.len ? ", " : "";
    if (ev->kind == ENGINE_EV_STEP)
        strbuf_addf(&W.events, "%s%s %s", sep, ev->step, step_status_name(ev->step_status));
    else if (ev->kind == ENGINE_EV_RUN)
        strbuf_addf(&W.events, "%srun %s", sep, run_status_name(ev->run_status));
}

static void reset_world(struct fx *f)
{
    strbuf_release(&W.log);
    strbuf_release(&W.events);
    memset(&W, 0, sizeof(W));
    W.fx = f;
    strbuf_init(&W.log);
    strbuf_init(&W.events);
}

static int setup_engine(void **state)
{
    if (setup(state) < 0)
        return -1;
    reset_world(*state);
    return 0;
}

static int teardown_engine(void **state)
{
    reset_world(NULL);
    return teardown(state);
}

/* Record a queued run of yaml, as `sluice run` does. */
static int64_t record_run(const char *yaml)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/p.yaml", W.fx->dir);
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p = pipeline_load_text(path, yaml, strlen(yaml), &dl);
    if (!p)
        fail_msg("pipeline does not load: %d:%d: %s", dl.items[0].line, dl.items[0].col,
                 dl.items[0].msg);
    struct engine_opts o = {0};
    int64_t id = 0;
    OK(trigger_run(W.fx->st, p, NULL, 0, "cli", &o, &id, E));
    pipeline_free(p);
    return id;
}

/* Drive run to its end (or until it waits, with no_wait) on a new engine; W.status and
 * W.waiting say how engine_result saw it. */
static void drive_run(int64_t run, const struct engine_opts *o)
{
    struct err e = ERR_INIT;
    W.run = run;
    W.eng = engine_new(W.fx->st, "/bin/true", &e);
    assert_non_null(W.eng);
    engine_set_listener(W.eng, on_event, NULL);
    OK(engine_add_run(W.eng, run, o, E));
    OK(engine_loop(W.eng, E));
    assert_int_equal(engine_result(W.eng, run, &W.status, &W.waiting), 0);
    engine_free(W.eng);
    W.eng = NULL;
    assert_null(W.fake); /* the engine freed its executors */
    assert_null(W.slurm);
    assert_int_equal(W.running, 0);
}

static int64_t drive(const char *yaml, const struct engine_opts *o)
{
    int64_t run = record_run(yaml);
    drive_run(run, o);
    return run;
}

/* ---- what the store says ---- */

static struct step_row *find_step(struct step_row *rows, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].name, name))
            return &rows[i];
    fail_msg("no step '%s'", name);
    return NULL;
}

/* "STATUS" or "STATUS: MESSAGE" of a step, as the store has it. */
static const char *step_says(int64_t run, const char *name)
{
    static char out[512];
    struct step_row *rows;
    size_t n;
    OK(store_steps_load(W.fx->st, run, &rows, &n, E));
    struct step_row *s = find_step(rows, n, name);
    snprintf(out, sizeof(out), "%s%s%s", step_status_name(s->status),
             s->message && *s->message ? ": " : "", s->message ? s->message : "");
    step_rows_free(rows, n);
    return out;
}

/* The attempts that count toward a step's retries, as its row says. */
static int step_tries(int64_t run, const char *name)
{
    struct step_row *rows;
    size_t n;
    OK(store_steps_load(W.fx->st, run, &rows, &n, E));
    int tries = find_step(rows, n, name)->attempts;
    step_rows_free(rows, n);
    return tries;
}

/* A step's attempt rows: "1 failed, 2 succeeded". */
static const char *attempts_of(int64_t run, const char *name)
{
    static char out[256];
    struct attempt_row *a;
    size_t n;
    out[0] = '\0';
    OK(store_attempts_load(W.fx->st, step_id(W.fx->st, run, name), &a, &n, E));
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%d %s", i ? ", " : "", a[i].n,
                 a[i].status);
    attempt_rows_free(a, n);
    return out;
}

/* Every status change of a step, as its events say ("pending -> running", …), one a line. */
static const char *trail(int64_t run, const char *name)
{
    static char out[2048];
    struct event_row *ev;
    size_t n;
    out[0] = '\0';
    OK(store_events_load(W.fx->st, run, 0, 0, &ev, &n, E));
    for (size_t i = 0; i < n; i++)
        if (ev[i].step && !strcmp(ev[i].step, name) && !strcmp(ev[i].what, "status"))
            snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s\n", ev[i].detail);
    event_rows_free(ev, n);
    return out;
}

#define assert_contains(hay, needle)                                                              \
    do {                                                                                          \
        const char *h_ = (hay);                                                                   \
        if (!strstr(h_, (needle)))                                                                \
            fail_msg("'%s' not found in:\n%s", (needle), h_);                                     \
    } while (0)

/* ---- order and parallelism ---- */

static const char *chain_yaml = "pipeline: chain\n"
                                "steps:\n"
                                "  a: {run: 'true'}\n"
                                "  b: {run: [echo, hi], needs: [a]}\n"
                                "  c: {run: 'echo done > out.txt', needs: [b]}\n";

static void test_chain_runs_in_order(void **state)
{
    (void)state;
    struct engine_opts o = {.parallel = 4};
    int64_t run = drive(chain_yaml, &o);
    assert_string_equal(fake_log("prepare start end cancel adopt"),
                        "prepare a#1, start a#1, end a#1 exit 0, "
                        "prepare b#1, start b#1, end b#1 exit 0, "
                        "prepare c#1, start c#1, end c#1 exit 0");
    assert_int_equal(W.njobs, 3);
    assert_string_equal(W.jobs[0].cmd, "true");
    assert_string_equal(W.jobs[1].cmd, "echo hi");
    assert_string_equal(W.jobs[2].cmd, "sh: echo done > out.txt");
    assert_int_equal(W.jobs[0].timeout_ms, 0);
    assert_int_equal(W.status, RUN_SUCCEEDED);
    assert_int_equal(run_status(W.fx->st, run), RUN_SUCCEEDED);
    assert_string_equal(step_says(run, "a"), "succeeded");
    assert_string_equal(step_says(run, "c"), "succeeded");
    assert_string_equal(attempts_of(run, "b"), "1 succeeded");
    /* the listener hears each step run before it succeeds, and the run around them */
    assert_string_equal(W.events.buf, "run running, a running, a succeeded, b running, "
                                      "b succeeded, c running, c succeeded, run succeeded");
}

static const char *wide_yaml = "pipeline: wide\n"
                               "steps:\n"
                               "  a: {run: 'true'}\n"
                               "  b: {run: 'true'}\n"
                               "  c: {run: 'true'}\n"
                               "  d: {run: 'true'}\n";

static void test_parallel_bounds_running_attempts(void **state)
{
    static const int slots[] = {1, 2, 4};
    for (size_t k = 0; k < 3; k++) {
        reset_world(*state);
        struct engine_opts o = {.parallel = slots[k]};
        int64_t run = drive(wide_yaml, &o);
        assert_int_equal(W.max_running, slots[k]);
        assert_string_equal(fake_log("start"), "start a#1, start b#1, start c#1, start d#1");
        assert_int_equal(W.status, RUN_SUCCEEDED);
        assert_string_equal(step_says(run, "d"), "succeeded");
    }
    /* with 2 slots, two start, and the next two only when those have ended */
    reset_world(*state);
    struct engine_opts o = {.parallel = 2};
    drive(wide_yaml, &o);
    assert_string_equal(fake_log("start end"),
                        "start a#1, start b#1, end a#1 exit 0, end b#1 exit 0, "
                        "start c#1, start d#1, end c#1 exit 0, end d#1 exit 0");
}

static void test_capacity_bounds_attempts_in_flight(void **state)
{
    (void)state;
    /* the executor takes 1 at a time (a Slurm queue's --max-jobs), whatever the slots */
    W.capacity = 1;
    struct engine_opts o = {.parallel = 4};
    drive(wide_yaml, &o);
    assert_int_equal(W.max_running, 1);
    assert_string_equal(fake_log("start end"),
                        "start a#1, end a#1 exit 0, start b#1, end b#1 exit 0, "
                        "start c#1, end c#1 exit 0, start d#1, end d#1 exit 0");
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

/* ---- a cluster's executor beside this machine's ---- */

/* Which executor step's first attempt went to: the one start was called on, which must be the
 * one its attempt row names; "" when it never started. */
static const char *ran_on(int64_t run, const char *step)
{
    static char out[8];
    out[0] = '\0';
    for (size_t i = 0; i < W.njobs && !out[0]; i++)
        if (!strcmp(W.jobs[i].step, step))
            snprintf(out, sizeof(out), "%s", W.jobs[i].exec);
    struct attempt_row *a;
    size_t n;
    OK(store_attempts_load(W.fx->st, step_id(W.fx->st, run, step), &a, &n, E));
    if (n && strcmp(a[0].executor ? a[0].executor : "", out))
        fail_msg("step '%s' was given to '%s' but its attempt says '%s'", step, out,
                 a[0].executor ? a[0].executor : "");
    attempt_rows_free(a, n);
    return out;
}

/* In this order in the ready queue: l1, then three Slurm steps, then l2. */
static const char *mixed_yaml = "pipeline: mixed\n"
                                "steps:\n"
                                "  l1: {run: 'true'}\n"
                                "  s1: {run: 'true', executor: slurm}\n"
                                "  s2: {run: 'true', executor: slurm}\n"
                                "  s3: {run: 'true', executor: slurm}\n"
                                "  l2: {run: 'true'}\n";

static void test_slurm_steps_take_no_slots_and_wait_for_capacity(void **state)
{
    (void)state;
    SCRIPTS({.step = "s1", .after_ms = 50}, {.step = "s2", .after_ms = 100});
    W.slurm_capacity = 2;
    struct engine_opts o = {.parallel = 1};
    int64_t run = drive(mixed_yaml, &o);
    /* One slot, and still three at once: l1 in it, s1 and s2 on the cluster. l2 takes the slot
     * l1 leaves, though s1 and s2 still run (they hold none of it); s3 waits for s1. */
    assert_string_equal(fake_log("start end"),
                        "start l1#1, start s1#1, start s2#1, end l1#1 exit 0, start l2#1, "
                        "end l2#1 exit 0, end s1#1 exit 0, start s3#1, end s3#1 exit 0, "
                        "end s2#1 exit 0");
    assert_int_equal(W.max_running, 3);
    assert_string_equal(ran_on(run, "l1"), "local");
    assert_string_equal(ran_on(run, "s1"), "slurm");
    assert_string_equal(ran_on(run, "s3"), "slurm");
    assert_string_equal(ran_on(run, "l2"), "local");
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

/* Neither resource holds back the other's steps: at the head of the ready queue, a step waits
 * for its own (s2 for the Slurm queue s1 fills, l2 for the slot l1 holds), and the steps of
 * the other kind behind it start at once. */
static void test_a_full_resource_does_not_hold_back_the_other(void **state)
{
    static const struct {
        const char *slow, *yaml, *want;
        int parallel, slurm_capacity;
    } cases[] = {
        {"s1",
         "pipeline: hol\n"
         "steps:\n"
         "  s1: {run: 'true', executor: slurm}\n"
         "  s2: {run: 'true', executor: slurm}\n"
         "  l1: {run: 'true'}\n"
         "  l2: {run: 'true'}\n",
         "start s1#1, start l1#1, start l2#1, end l1#1 exit 0, end l2#1 exit 0, "
         "end s1#1 exit 0, start s2#1, end s2#1 exit 0",
         2, 1},
        {"l1",
         "pipeline: hol\n"
         "steps:\n"
         "  l1: {run: 'true'}\n"
         "  l2: {run: 'true'}\n"
         "  s1: {run: 'true', executor: slurm}\n"
         "  s2: {run: 'true', executor: slurm}\n",
         "start l1#1, start s1#1, start s2#1, end s1#1 exit 0, end s2#1 exit 0, "
         "end l1#1 exit 0, start l2#1, end l2#1 exit 0",
         1, 0},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        reset_world(*state);
        const struct script slow = {.step = cases[k].slow, .after_ms = 50};
        W.scripts = &slow;
        W.nscripts = 1;
        W.slurm_capacity = cases[k].slurm_capacity;
        struct engine_opts o = {.parallel = cases[k].parallel};
        drive(cases[k].yaml, &o);
        assert_string_equal(fake_log("start end"), cases[k].want);
        assert_int_equal(W.status, RUN_SUCCEEDED);
    }
}

static void test_a_wide_step_is_not_overtaken_by_narrow_ones(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .after_ms = 50});
    struct engine_opts o = {.parallel = 2};
    drive("pipeline: wide\n"
          "steps:\n"
          "  a: {run: 'true'}\n"
          "  wide: {run: 'true', resources: {cpus: 2}}\n"
          "  n1: {run: 'true'}\n"
          "  n2: {run: 'true'}\n"
          "  s1: {run: 'true', executor: slurm}\n",
          &o);
    /* wide needs both slots: n1 and n2 would fit beside a, but they wait behind wide, which
     * starts once a has ended; s1, needing no slot, does not wait */
    assert_string_equal(fake_log("start end"),
                        "start a#1, start s1#1, end s1#1 exit 0, end a#1 exit 0, start wide#1, "
                        "end wide#1 exit 0, start n1#1, start n2#1, end n1#1 exit 0, "
                        "end n2#1 exit 0");
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

/* s1's hook: 20 ms on, the job that lingered leaves the queue; s1 ends at 50 ms. */
static void drain_then_end(struct fake_attempt *a)
{
    fake_drain(a->x, 20);
    fake_end(a, EXEC_EXITED, 0, 50);
}

static void test_room_starts_a_waiting_step_before_any_end(void **state)
{
    (void)state;
    SCRIPTS({.step = "s1", .hold = true});
    W.hook = drain_then_end;
    W.slurm_capacity = 2;
    W.lingering = 1; /* an ended job the queue still shows: room for one */
    struct engine_opts o = {.parallel = 4};
    drive("pipeline: room\n"
          "steps:\n"
          "  s1: {run: 'true', executor: slurm}\n"
          "  s2: {run: 'true', executor: slurm}\n",
          &o);
    /* s2 starts when the executor says it has room, while s1 still runs */
    assert_string_equal(fake_log("start end room"),
                        "start s1#1, room slurm, start s2#1, end s2#1 exit 0, end s1#1 exit 0");
    assert_int_equal(W.max_running, 2);
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

/* A held ingest's hook: write its output, as `sluice builtin ingest` would, and end it. */
static void ingest_writes(struct fake_attempt *a)
{
    char dir[256], path[300];
    snprintf(dir, sizeof(dir), "%s/runs/%lld/%s/%d/out", W.fx->home, (long long)W.run, a->step,
             a->n);
    OK(fs_mkdir_p(dir, 0755, E));
    snprintf(path, sizeof(path), "%s/d.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("x\n1\n", f);
    fclose(f);
    fake_end(a, EXEC_EXITED, 0, 0);
}

static void test_executor_option_moves_command_steps_only(void **state)
{
    (void)state;
    SCRIPTS({.step = "in", .hold = true});
    W.hook = ingest_writes;
    struct engine_opts o = {.parallel = 4, .executor = "slurm"};
    int64_t run = drive("pipeline: moved\n"
                        "steps:\n"
                        "  cmd: {run: 'true'}\n"
                        "  here: {run: 'true', executor: local}\n"
                        "  in: {kind: ingest, source: d.csv, outputs: [d.csv]}\n",
                        &o);
    assert_string_equal(ran_on(run, "cmd"), "slurm");
    assert_string_equal(ran_on(run, "here"), "local");
    assert_string_equal(ran_on(run, "in"), "local"); /* a built-in stays with the engine */
    assert_int_equal(W.status, RUN_SUCCEEDED);
    /* without it, a step goes where its executor: says, else to this machine */
    reset_world(*state);
    struct engine_opts here = {.parallel = 4};
    run = drive("pipeline: stays\n"
                "steps:\n"
                "  cmd: {run: 'true'}\n"
                "  there: {run: 'true', executor: slurm}\n",
                &here);
    assert_string_equal(ran_on(run, "cmd"), "local");
    assert_string_equal(ran_on(run, "there"), "slurm");
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

/* ---- retries and timeouts ---- */

static void test_retries_back_off_then_succeed(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .n = 1, .exit = 1}, {.step = "a", .n = 2, .exit = 1});
    struct engine_opts o = {.parallel = 2};
    int64_t run = drive("pipeline: retry\n"
                        "steps:\n"
                        "  a: {run: 'true', retries: 2, retry_delay: 10ms}\n",
                        &o);
    assert_string_equal(fake_log("start end"), "start a#1, end a#1 exit 1, start a#2, "
                                               "end a#2 exit 1, start a#3, end a#3 exit 0");
    assert_string_equal(step_says(run, "a"), "succeeded: succeeded on attempt 3");
    assert_string_equal(attempts_of(run, "a"), "1 failed, 2 failed, 3 succeeded");
    assert_int_equal(step_tries(run, "a"), 3);
    /* the delay doubles, and the engine waits it out */
    assert_contains(trail(run, "a"), "retry 1 of 2 in 10ms");
    assert_contains(trail(run, "a"), "retry 2 of 2 in 20ms");
    assert_true(W.jobs[1].at - W.jobs[0].at >= 10);
    assert_true(W.jobs[2].at - W.jobs[1].at >= 20);
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

static void test_retries_exhausted_fail_downstream(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .exit = 3});
    struct engine_opts o = {.parallel = 2};
    int64_t run = drive("pipeline: retry\n"
                        "steps:\n"
                        "  a: {run: 'true', retries: 1, retry_delay: 1ms}\n"
                        "  b: {run: 'true', needs: [a]}\n",
                        &o);
    assert_string_equal(fake_log("start"), "start a#1, start a#2");
    assert_string_equal(step_says(run, "a"), "failed: exited with status 3");
    assert_string_equal(attempts_of(run, "a"), "1 failed, 2 failed");
    assert_string_equal(step_says(run, "b"), "upstream_failed: upstream step 'a' failed");
    assert_string_equal(attempts_of(run, "b"), "");
    assert_int_equal(W.status, RUN_FAILED);
    assert_int_equal(run_status(W.fx->st, run), RUN_FAILED);
}

static void test_timeout_reaches_executor_and_fails(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .why = EXEC_TIMED_OUT});
    struct engine_opts o = {.parallel = 1};
    int64_t run = drive("pipeline: slow\n"
                        "steps:\n"
                        "  a: {run: 'true', timeout: 5s}\n"
                        "  b: {run: 'true'}\n",
                        &o);
    assert_string_equal(fake_log("start end"),
                        "start a#1, end a#1 timed out, start b#1, end b#1 exit 0");
    assert_int_equal(W.jobs[0].timeout_ms, 5000);
    assert_int_equal(W.jobs[1].timeout_ms, 0);
    assert_string_equal(step_says(run, "a"), "failed: timed out after 5s");
    assert_string_equal(attempts_of(run, "a"), "1 timed_out");
    assert_string_equal(step_says(run, "b"), "succeeded");
    assert_int_equal(W.status, RUN_FAILED);
}

/* ---- fail-fast and cancel ---- */

/* a fails at once while b still runs; d waits for b, c for a. */
static const char *branches_yaml = "pipeline: branches\n"
                                   "steps:\n"
                                   "  a: {run: 'true'}\n"
                                   "  b: {run: 'true'}\n"
                                   "  c: {run: 'true', needs: [a]}\n"
                                   "  d: {run: 'true', needs: [b]}\n";

static void test_fail_fast_cancels_the_other_branch(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .exit = 1}, {.step = "b", .after_ms = 50});
    struct engine_opts o = {.parallel = 4, .fail_fast = true};
    int64_t run = drive(branches_yaml, &o);
    assert_string_equal(fake_log("start end cancel"),
                        "start a#1, start b#1, end a#1 exit 1, cancel b#1, end b#1 cancelled");
    assert_string_equal(step_says(run, "a"), "failed: exited with status 1");
    assert_string_equal(step_says(run, "b"), "cancelled: cancelled");
    assert_string_equal(attempts_of(run, "b"), "1 cancelled");
    assert_string_equal(step_says(run, "c"), "upstream_failed: upstream step 'a' failed");
    assert_string_equal(step_says(run, "d"), "cancelled: --fail-fast: a step failed");
    assert_int_equal(W.status, RUN_FAILED);
    assert_int_equal(run_status(W.fx->st, run), RUN_FAILED);
}

static void test_without_fail_fast_the_other_branch_goes_on(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .exit = 1}, {.step = "b", .after_ms = 50});
    struct engine_opts o = {.parallel = 4};
    int64_t run = drive(branches_yaml, &o);
    assert_string_equal(fake_log("start end cancel"), "start a#1, start b#1, end a#1 exit 1, "
                                                      "end b#1 exit 0, start d#1, end d#1 exit 0");
    assert_string_equal(step_says(run, "b"), "succeeded");
    assert_string_equal(step_says(run, "c"), "upstream_failed: upstream step 'a' failed");
    assert_string_equal(step_says(run, "d"), "succeeded");
    assert_int_equal(W.status, RUN_FAILED);
}

static void cancel_the_run(struct fake_attempt *a)
{
    (void)a;
    engine_cancel(W.eng, 0);
}

static const char *cancel_yaml = "pipeline: cancel\n"
                                 "steps:\n"
                                 "  a: {run: 'true', retries: 2, retry_delay: 1ms}\n"
                                 "  b: {run: 'true', needs: [a]}\n";

static void test_cancel_stops_a_running_step(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .hold = true});
    W.hook = cancel_the_run;
    struct engine_opts o = {.parallel = 2};
    int64_t run = drive(cancel_yaml, &o);
    /* cancelled, not retried */
    assert_string_equal(fake_log("start end cancel"), "start a#1, cancel a#1, end a#1 cancelled");
    assert_string_equal(step_says(run, "a"), "cancelled: cancelled");
    assert_string_equal(attempts_of(run, "a"), "1 cancelled");
    assert_string_equal(step_says(run, "b"), "cancelled: cancelled");
    assert_int_equal(W.status, RUN_CANCELLED);
    assert_int_equal(run_status(W.fx->st, run), RUN_CANCELLED);
}

static void test_exit_0_after_a_cancel_succeeds_but_starts_nothing(void **state)
{
    (void)state;
    static const struct exec_result exit_0 = {.why = EXEC_EXITED};
    SCRIPTS({.step = "a", .hold = true, .on_cancel = &exit_0});
    W.hook = cancel_the_run;
    struct engine_opts o = {.parallel = 2};
    int64_t run = drive(cancel_yaml, &o);
    /* its work was done: the step keeps it, but the run is cancelled and b never starts */
    assert_string_equal(fake_log("start end cancel"), "start a#1, cancel a#1, end a#1 exit 0");
    assert_string_equal(step_says(run, "a"), "succeeded");
    assert_string_equal(attempts_of(run, "a"), "1 succeeded");
    assert_string_equal(step_says(run, "b"), "cancelled: cancelled");
    assert_int_equal(W.status, RUN_CANCELLED);
}

static void test_never_started_after_a_cancel_ends_cancelled(void **state)
{
    (void)state;
    static const struct exec_result never = {.why = EXEC_NEVER_STARTED};
    SCRIPTS({.step = "a", .hold = true, .on_cancel = &never});
    W.hook = cancel_the_run;
    struct engine_opts o = {.parallel = 2};
    int64_t run = drive(cancel_yaml, &o);
    assert_string_equal(fake_log("start end cancel"),
                        "start a#1, cancel a#1, end a#1 never started");
    assert_string_equal(step_says(run, "a"), "cancelled: cancelled");
    assert_string_equal(attempts_of(run, "a"), "1 lost");
    assert_string_equal(step_says(run, "b"), "cancelled: cancelled");
    assert_int_equal(W.status, RUN_CANCELLED);
}

/* ---- decided without running: when:, approvals ---- */

static void test_when_false_skips_without_starting(void **state)
{
    (void)state;
    struct engine_opts o = {.parallel = 2};
    int64_t run = drive("pipeline: when\n"
                        "params:\n"
                        "  x: 1\n"
                        "steps:\n"
                        "  a: {run: 'true', when: params.x > 1}\n"
                        "  b: {run: 'true', needs: [a]}\n"
                        "  c: {run: 'true'}\n"
                        "  d: {run: 'true', needs: [b, c], trigger_rule: none_failed}\n",
                        &o);
    assert_string_equal(fake_log("prepare start"),
                        "prepare c#1, start c#1, prepare d#1, start d#1");
    assert_string_equal(step_says(run, "a"), "skipped: when is false: 1 > 1");
    assert_string_equal(attempts_of(run, "a"), "");
    assert_string_equal(step_says(run, "b"), "skipped: upstream step 'a' skipped");
    assert_string_equal(step_says(run, "d"), "succeeded");
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

static const char *approve_yaml = "pipeline: gate\n"
                                  "steps:\n"
                                  "  train: {run: 'true'}\n"
                                  "  approve: {kind: approve, needs: [train]}\n"
                                  "  ship: {run: 'true', needs: [approve]}\n";

static void test_auto_approve_runs_no_process(void **state)
{
    (void)state;
    struct engine_opts o = {.parallel = 2, .auto_approve = true};
    int64_t run = drive(approve_yaml, &o);
    assert_string_equal(fake_log("start"), "start train#1, start ship#1");
    assert_string_equal(step_says(run, "approve"), "succeeded: approved by 'auto': --auto-approve");
    assert_string_equal(attempts_of(run, "approve"), "");
    assert_string_equal(step_says(run, "ship"), "succeeded");
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

static void test_no_wait_leaves_the_run_waiting(void **state)
{
    (void)state;
    struct engine_opts o = {.parallel = 2, .no_wait = true};
    int64_t run = drive(approve_yaml, &o);
    assert_string_equal(fake_log("start"), "start train#1");
    assert_true(W.waiting);
    assert_int_equal(W.status, RUN_WAITING);
    assert_int_equal(run_status(W.fx->st, run), RUN_WAITING);
    char want[160];
    snprintf(want, sizeof(want),
             "waiting: waiting for an approval; decide with: sluice approve %lld (or reject)",
             (long long)run);
    assert_string_equal(step_says(run, "approve"), want);
    assert_string_equal(step_says(run, "ship"), "pending");
}

/* ---- adoption: a run a dead engine left ---- */

/* Leave run as a dead engine would: running, with an expired lease, its step `step` running
 * attempt 1. Returns that attempt's id. */
static int64_t leave_running(int64_t run, const char *step)
{
    struct store *st = W.fx->st;
    int64_t now = store_now_ms(), sid = step_id(st, run, step), aid = 0;
    bool ok = false;
    char dir[160];
    OK(store_lease_acquire(st, run, "elsewhere:1:1", NULL, now - 20000, now - 10000, &ok, E));
    assert_true(ok);
    OK(store_run_set_status(st, run, RUN_QUEUED, RUN_RUNNING, NULL, &ok, E));
    OK(store_step_set_status(st, sid, STEP_PENDING, STEP_RUNNING, NULL, &ok, E));
    snprintf(dir, sizeof(dir), "%s/runs/%lld/%s/1", W.fx->home, (long long)run, step);
    OK(store_attempt_insert(st, sid, 1, dir, 0, "local", &aid, E));
    OK(store_step_set_retry(st, sid, 1, 0, E));
    return aid;
}

static int64_t adopt_run(const char *a_step)
{
    char yaml[256];
    snprintf(yaml, sizeof(yaml),
             "pipeline: adopt\n"
             "steps:\n"
             "  a: %s\n"
             "  b: {run: 'true', needs: [a]}\n",
             a_step);
    int64_t run = record_run(yaml);
    int64_t aid = leave_running(run, "a");
    struct engine_opts o = {.parallel = 2};
    drive_run(run, &o);
    assert_int_equal(W.adopted_id, aid);
    assert_string_equal(W.adopted_status, "running");
    return run;
}

static void test_adopt_finished_attempt(void **state)
{
    (void)state;
    int64_t run = adopt_run("{run: 'true'}");
    assert_string_equal(fake_log("start adopt end"),
                        "adopt a#1, end a#1 exit 0, start b#1, end b#1 exit 0");
    assert_string_equal(step_says(run, "a"), "succeeded");
    assert_string_equal(attempts_of(run, "a"), "1 succeeded");
    assert_string_equal(step_says(run, "b"), "succeeded");
    assert_int_equal(W.status, RUN_SUCCEEDED);
    assert_int_equal(run_status(W.fx->st, run), RUN_SUCCEEDED);
}

static void end_later_if_still_running(struct fake_attempt *a)
{
    assert_string_equal(step_says(W.run, a->step), "running");
    fake_end(a, EXEC_EXITED, 0, 20);
}

static void test_adopt_running_attempt_that_ends_later(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .hold = true});
    W.hook = end_later_if_still_running;
    int64_t run = adopt_run("{run: 'true'}");
    assert_string_equal(fake_log("start adopt end"),
                        "adopt a#1, end a#1 exit 0, start b#1, end b#1 exit 0");
    assert_string_equal(step_says(run, "a"), "succeeded");
    assert_string_equal(step_says(run, "b"), "succeeded");
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

static void test_adopt_lost_attempt_is_retried(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .n = 1, .why = EXEC_LOST, .msg = "its shim is gone"});
    int64_t run = adopt_run("{run: 'true', retries: 1, retry_delay: 1ms}");
    assert_string_equal(fake_log("start adopt end"), "adopt a#1, end a#1 lost, start a#2, "
                                                     "end a#2 exit 0, start b#1, end b#1 exit 0");
    assert_string_equal(step_says(run, "a"), "succeeded: succeeded on attempt 2");
    assert_string_equal(attempts_of(run, "a"), "1 lost, 2 succeeded");
    assert_contains(trail(run, "a"), "attempt 1 was lost: its shim is gone; retry 1 of 1 in 1ms");
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

static void test_adopt_lost_attempt_without_retries_is_lost(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .why = EXEC_LOST, .msg = "its shim is gone"});
    int64_t run = adopt_run("{run: 'true'}");
    assert_string_equal(fake_log("start adopt end"), "adopt a#1, end a#1 lost");
    assert_string_equal(step_says(run, "a"), "lost: attempt 1 was lost: its shim is gone");
    assert_string_equal(attempts_of(run, "a"), "1 lost");
    assert_string_equal(step_says(run, "b"), "upstream_failed: upstream step 'a' lost");
    assert_int_equal(W.status, RUN_FAILED);
}

static void test_adopt_never_started_runs_again_without_a_try(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .n = 1, .why = EXEC_NEVER_STARTED});
    int64_t run = adopt_run("{run: 'true'}"); /* retries: 0 — and still it runs again */
    assert_string_equal(fake_log("start adopt end"), "adopt a#1, end a#1 never started, "
                                                     "start a#2, end a#2 exit 0, start b#1, "
                                                     "end b#1 exit 0");
    assert_string_equal(attempts_of(run, "a"), "1 lost, 2 succeeded");
    assert_int_equal(step_tries(run, "a"), 1);
    assert_contains(trail(run, "a"),
                    "running -> pending: re-dispatched: its process never started");
    /* not "succeeded on attempt 2": nothing failed, and the message says why there are two */
    assert_string_equal(step_says(run, "a"), "succeeded: re-dispatched: its process never started");
    assert_int_equal(W.status, RUN_SUCCEEDED);
}

/* ---- an executor that cannot start ---- */

static void test_start_failed_fails_the_step(void **state)
{
    (void)state;
    /* a: start says no at once; b: the executor reports it could not start it */
    SCRIPTS({.step = "a", .start_fails = true, .msg = "no such partition"},
            {.step = "b", .why = EXEC_START_FAILED, .msg = "no such partition"});
    struct engine_opts o = {.parallel = 2};
    int64_t run = drive("pipeline: nostart\n"
                        "steps:\n"
                        "  a: {run: 'true'}\n"
                        "  b: {run: 'true'}\n"
                        "  c: {run: 'true', needs: [a]}\n",
                        &o);
    assert_string_equal(fake_log("start end"), "start a#1, start b#1, end b#1 could not start");
    assert_string_equal(step_says(run, "a"), "failed: cannot start step: no such partition");
    assert_string_equal(step_says(run, "b"), "failed: cannot start step: no such partition");
    assert_string_equal(attempts_of(run, "a"), "1 failed");
    assert_string_equal(attempts_of(run, "b"), "1 failed");
    assert_string_equal(step_says(run, "c"), "upstream_failed: upstream step 'a' failed");
    assert_int_equal(W.status, RUN_FAILED);
}

static void test_fail_fast_after_a_failed_start(void **state)
{
    (void)state;
    /* b, recorded in the same iteration as a, is never handed to its executor once a's start
     * failed and the run began cancelling: it ends cancelled without a start */
    SCRIPTS({.step = "a", .start_fails = true, .msg = "no such partition"});
    struct engine_opts o = {.parallel = 4, .fail_fast = true};
    int64_t run = drive(branches_yaml, &o);
    assert_string_equal(fake_log("start end cancel"), "start a#1");
    assert_string_equal(step_says(run, "a"), "failed: cannot start step: no such partition");
    assert_string_equal(step_says(run, "b"), "cancelled: cancelled");
    assert_string_equal(step_says(run, "d"), "cancelled: --fail-fast: a step failed");
    assert_int_equal(W.status, RUN_FAILED);
}

static void test_permanent_start_failure_is_not_retried(void **state)
{
    (void)state;
    SCRIPTS({.step = "a", .why = EXEC_START_FAILED, .permanent = true,
             .msg = "sbatch: invalid partition specified: gpu"},
            {.step = "b", .why = EXEC_START_FAILED, .msg = "sbatch: socket timed out"});
    struct engine_opts o = {.parallel = 2};
    int64_t run = drive("pipeline: nostart\n"
                        "steps:\n"
                        "  a: {run: 'true', executor: slurm, retries: 3, retry_delay: 1ms}\n"
                        "  b: {run: 'true', executor: slurm, retries: 1, retry_delay: 1ms}\n",
                        &o);
    assert_string_equal(fake_log("start end"),
                        "start a#1, start b#1, end a#1 could not start, "
                        "end b#1 could not start, start b#2, end b#2 could not start");
    /* trying again cannot help: a fails after one attempt, its retries unused */
    assert_string_equal(step_says(run, "a"),
                        "failed: cannot start step: sbatch: invalid partition specified: gpu");
    assert_string_equal(attempts_of(run, "a"), "1 failed");
    assert_int_equal(step_tries(run, "a"), 1);
    /* it might: b is retried */
    assert_contains(trail(run, "b"),
                    "cannot start step: sbatch: socket timed out; retry 1 of 1 in 1ms");
    assert_string_equal(step_says(run, "b"), "failed: cannot start step: sbatch: socket timed out");
    assert_string_equal(attempts_of(run, "b"), "1 failed, 2 failed");
    assert_int_equal(W.status, RUN_FAILED);
}

/* ---- what an executor says of how an attempt ended ---- */

#define OUTSIDE "cancelled outside sluice (slurm job 7)"

static void test_executor_message_says_how_an_attempt_ended(void **state)
{
    (void)state;
    SCRIPTS({.step = "term", .signal = 15, .msg = OUTSIDE, .permanent = true},
            {.step = "meant", .n = 1, .signal = 15, .msg = OUTSIDE, .permanent = true},
            {.step = "again", .n = 1, .signal = 15, .msg = "stopped by a signal"},
            {.step = "oom", .why = EXEC_OUT_OF_MEMORY, .msg = "(limit 16G, slurm job 7)"},
            {.step = "oom_bare", .why = EXEC_OUT_OF_MEMORY},
            {.step = "limit", .why = EXEC_TIMED_OUT, .msg = "slurm's time limit ended job 7"},
            {.step = "limit_30m", .why = EXEC_TIMED_OUT,
             .msg = "slurm's time limit of 30m ended job 7"});
    struct engine_opts o = {.parallel = 8};
    int64_t run = drive("pipeline: ends\n"
                        "steps:\n"
                        "  term: {run: 'true', executor: slurm}\n"
                        "  meant: {run: 'true', executor: slurm, retries: 1, retry_delay: 1ms}\n"
                        "  again: {run: 'true', executor: slurm, retries: 1, retry_delay: 1ms}\n"
                        "  oom: {run: 'true', executor: slurm}\n"
                        "  oom_bare: {run: 'true'}\n"
                        "  limit: {run: 'true', executor: slurm}\n"
                        "  limit_30m: {run: 'true', executor: slurm, timeout: 2h,\n"
                        "              slurm: {time: 30m}}\n",
                        &o);
    /* a signal with a message: the message, in place of "killed by signal 15" */
    assert_string_equal(step_says(run, "term"), "failed: " OUTSIDE);
    assert_string_equal(attempts_of(run, "term"), "1 failed");
    /* a cancel from outside sluice was meant: not undone by a retry */
    assert_string_equal(step_says(run, "meant"), "failed: " OUTSIDE);
    assert_string_equal(attempts_of(run, "meant"), "1 failed");
    /* another failure with a message is one like any other: retried when the step has retries */
    assert_contains(trail(run, "again"), "stopped by a signal; retry 1 of 1 in 1ms");
    assert_string_equal(attempts_of(run, "again"), "1 failed, 2 succeeded");
    assert_string_equal(step_says(run, "again"), "succeeded: succeeded on attempt 2");
    assert_string_equal(step_says(run, "oom"), "failed: out of memory (limit 16G, slurm job 7)");
    assert_string_equal(attempts_of(run, "oom"), "1 failed");
    assert_string_equal(step_says(run, "oom_bare"), "failed: out of memory");
    /* a timeout sluice did not set: the executor says whose it was */
    assert_string_equal(step_says(run, "limit"),
                        "failed: timed out: slurm's time limit ended job 7");
    assert_string_equal(attempts_of(run, "limit"), "1 timed_out");
    /* nor one that it did set, when Slurm's shorter one (slurm: time) came first */
    assert_string_equal(step_says(run, "limit_30m"),
                        "failed: timed out: slurm's time limit of 30m ended job 7");
    assert_int_equal(W.status, RUN_FAILED);
}

int main(void)
{
    (void)yaml_a;
    executor_register(&fake_ops);
    executor_register(&fake_slurm_ops);
    alarm(30); /* a held attempt nobody ends would hang the loop: fail instead */
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_engine, teardown_engine)
        T(test_chain_runs_in_order),
        T(test_parallel_bounds_running_attempts),
        T(test_capacity_bounds_attempts_in_flight),
        T(test_retries_back_off_then_succeed),
        T(test_retries_exhausted_fail_downstream),
        T(test_timeout_reaches_executor_and_fails),
        T(test_fail_fast_cancels_the_other_branch),
        T(test_without_fail_fast_the_other_branch_goes_on),
        T(test_cancel_stops_a_running_step),
        T(test_exit_0_after_a_cancel_succeeds_but_starts_nothing),
        T(test_never_started_after_a_cancel_ends_cancelled),
        T(test_when_false_skips_without_starting),
        T(test_auto_approve_runs_no_process),
        T(test_no_wait_leaves_the_run_waiting),
        T(test_adopt_finished_attempt),
        T(test_adopt_running_attempt_that_ends_later),
        T(test_adopt_lost_attempt_is_retried),
        T(test_adopt_lost_attempt_without_retries_is_lost),
        T(test_adopt_never_started_runs_again_without_a_try),
        T(test_start_failed_fails_the_step),
        T(test_fail_fast_after_a_failed_start),
        T(test_slurm_steps_take_no_slots_and_wait_for_capacity),
        T(test_a_full_resource_does_not_hold_back_the_other),
        T(test_a_wide_step_is_not_overtaken_by_narrow_ones),
        T(test_room_starts_a_waiting_step_before_any_end),
        T(test_executor_option_moves_command_steps_only),
        T(test_permanent_start_failure_is_not_retried),
        T(test_executor_message_says_how_an_attempt_ended),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
