/* `sluice logs RUN STEP`: print a step attempt's log (runs/RUN/STEP/N/log), streamed in
 * chunks; with --follow, keep printing what the step writes until its attempt ends. Without
 * STEP, list the run's steps to pick from. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "executor/executor.h"
#include "scheduler/engine.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice logs RUN STEP [--attempt N] [--follow]\n"
    "\n"
    "Print the log (stdout and stderr) of STEP in RUN (a number, or 'last'): by default its\n"
    "latest attempt. A step that was a cache hit shows the log of the attempt it reused.\n"
    "Without STEP, list the run's steps (status, attempts) on stderr and exit 2.\n"
    "\n"
    "      --attempt N  the log of attempt N (1-based)\n"
    "  -f, --follow     keep printing new output until the attempt ends (waits for the step\n"
    "                   to start when it has not yet); exits 1 when nothing is left to end\n"
    "                   it (the run's engine and the step's shim are gone, for 5 s)\n";

#define POLL_MS 200
/* How long --follow waits for an engine to adopt a run nothing drives before it gives up. */
#define ORPHAN_WAIT_MS 5000
#define CHUNK (64 * 1024)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Copy fd from its current offset to EOF onto stdout. 0, or -1 (printed) on an error. */
static int drain(int fd, const char *path)
{
    char *buf = xmalloc(CHUNK);
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("cannot read '%s': %s", path, strerror(errno));
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
            cli_error("cannot write the log: %s", strerror(errno));
            rc = -1;
            break;
        }
    }
    free(buf);
    if (rc == 0 && fflush(stdout) != 0) {
        cli_error("cannot write the log: %s", strerror(errno));
        rc = -1;
    }
    return rc;
}

/* The step named name of run_id, or -1 (printed) listing the run's steps. */
static int find_step(struct store *st, long long run_id, const char *name, struct step_row *out)
{
    struct step_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_steps_load(st, run_id, &rows, &n, &e) < 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    int rc = -1;
    for (size_t i = 0; i < n && rc < 0; i++) {
        if (!strcmp(rows[i].name, name)) {
            *out = rows[i];
            memset(&rows[i], 0, sizeof(rows[i]));
            rc = 0;
        }
    }
    struct strbuf names = STRBUF_INIT;
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            strbuf_addf(&names, "%s%s", i ? ", " : "", rows[i].name);
        cli_error("run %lld has no step '%s'; its steps: %s", run_id, name, n ? names.buf : "none");
    }
    strbuf_release(&names);
    step_rows_free(rows, n);
    return rc;
}

/* `sluice logs RUN` without a step: which steps there are to pick from, with their status and
 * attempts, on stderr (stdout is for a log). Returns EXIT_USAGE, or EXIT_RUN_FAILED when the
 * store cannot say. */
static int list_steps(struct store *st, long long run_id)
{
    struct step_row *steps = NULL;
    struct attempt_row *att = NULL;
    size_t nsteps = 0, natt = 0;
    struct err e = ERR_INIT;
    if (store_steps_load(st, run_id, &steps, &nsteps, &e) < 0 ||
        store_run_attempts_load(st, run_id, &att, &natt, &e) < 0) {
        cli_error("%s", e.msg);
        step_rows_free(steps, nsteps);
        return EXIT_RUN_FAILED;
    }
    cli_error("which step of run %lld? name one: sluice logs %lld STEP", run_id, run_id);
    struct cli_table t;
    cli_table_init(&t, 3);
    cli_table_addf(&t, "STEP");
    cli_table_addf(&t, "STATUS");
    cli_table_addf(&t, "ATTEMPTS");
    for (size_t i = 0; i < nsteps; i++) {
        int ran = 0;
        int64_t reused = 0;
        for (size_t k = 0; k < natt; k++) {
            if (att[k].step_id != steps[i].id)
                continue;
            ran += att[k].n > 0;
            if (att[k].cached_from)
                reused = att[k].cached_from;
        }
        int64_t from_run = 0;
        char *from_step = NULL;
        if (reused && store_attempt_origin(st, reused, &from_run, &from_step, &e) < 0)
            from_run = 0;
        free(from_step);
        cli_table_addf(&t, "%s", steps[i].name);
        cli_table_addf(&t, "%s", step_status_name(steps[i].status));
        if (from_run)
            cli_table_addf(&t, "%d (a cache hit: its log is run %lld's)", ran,
                           (long long)from_run);
        else
            cli_table_addf(&t, "%d", ran);
    }
    cli_table_print(&t, stderr, "  ");
    if (!nsteps)
        fprintf(stderr, "  (it has no steps)\n");
    attempt_rows_free(att, natt);
    step_rows_free(steps, nsteps);
    return EXIT_USAGE;
}

/* The attempt to show: number `want` (-1 = the latest that ran, else a cache record).
 * Returns 1 and fills out, 0 when the step has none yet, -1 (printed) on an error. */
static int pick_attempt(struct store *st, long long run_id, const struct step_row *step, int want,
                        struct attempt_row *out)
{
    struct attempt_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_attempts_load(st, step->id, &rows, &n, &e) < 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    ssize_t pick = -1;
    for (size_t i = 0; i < n; i++) {
        if (want >= 0 ? rows[i].n == want : (pick < 0 || rows[i].n > rows[pick].n))
            pick = (ssize_t)i;
    }
    int rc = 1;
    if (pick >= 0) {
        *out = rows[pick];
        memset(&rows[pick], 0, sizeof(rows[pick]));
    } else if (want >= 0) {
        struct strbuf have = STRBUF_INIT;
        for (size_t i = 0; i < n; i++)
            strbuf_addf(&have, "%s%d", i ? ", " : "", rows[i].n);
        cli_error("step '%s' of run %lld has no attempt %d; %s%s", step->name, run_id, want,
                  n ? "it has: " : "it has none yet", have.buf);
        strbuf_release(&have);
        rc = -1;
    } else {
        rc = 0;
    }
    attempt_rows_free(rows, n);
    return rc;
}

/* A cache record (n = 0) has no process and no log: show the one of the attempt it reused. */
static int resolve_cached(struct store *st, struct attempt_row *a)
{
    struct err e = ERR_INIT;
    if (!a->cached_from) {
        cli_error("attempt %d has no log of its own and names no attempt it reused", a->n);
        return -1;
    }
    int64_t from_run = 0;
    char *from_step = NULL;
    struct attempt_row orig;
    if (store_attempt_get(st, a->cached_from, &orig, &e) < 0 ||
        store_attempt_origin(st, a->cached_from, &from_run, &from_step, &e) < 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    fprintf(stderr, "note: a cache hit; this is the log of run %lld step '%s' attempt %d\n",
            (long long)from_run, from_step, orig.n);
    free(from_step);
    attempt_row_release(a);
    *a = orig;
    return 0;
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Has the attempt ended? Its exit.json (written by the shim, even when the engine died), its
 * row, or a step that settled some other way (cancelled before the shim started, say). */
static bool attempt_ended(struct store *st, long long run_id, const struct attempt_row *a,
                          const char *step)
{
    char *exit_json = xasprintf("%s/exit.json", a->dir);
    bool ended = file_exists(exit_json);
    free(exit_json);
    if (ended)
        return true;
    struct attempt_row now;
    struct err e = ERR_INIT;
    if (store_attempt_get(st, a->id, &now, &e) == 0) {
        ended = strcmp(now.status, "running") != 0;
        attempt_row_release(&now);
        if (ended)
            return true;
    }
    struct step_row s;
    if (find_step(st, run_id, step, &s) == 0) {
        ended = step_status_terminal(s.status);
        step_row_release(&s);
    }
    return ended;
}

/* Is anything left to finish the attempt? Its engine (engine_drives: the run's lease owner,
 * its lease unexpired — a process of this host that still lives, or an engine of another host
 * that keeps renewing it), or its shim, which writes exit.json even when the engine died.
 * Neither: nothing will record the attempt's end until someone resumes the run. a may be NULL
 * (no attempt yet: only an engine can start one). */
static bool anyone_drives(struct store *st, long long run_id, const struct attempt_row *a)
{
    const struct executor_ops *x = a ? executor_find(a->executor) : NULL;
    if (x && x->alive(a))
        return true;
    struct run_row r;
    struct err e = ERR_INIT;
    if (store_run_get(st, run_id, &r, &e) < 0)
        return true; /* cannot tell: keep following */
    bool alive = run_status_terminal(r.status) || engine_drives(&r, store_now_ms());
    run_row_release(&r);
    return alive;
}

/* Called every POLL_MS while following: false (printed) once nothing has driven the run for
 * ORPHAN_WAIT_MS, checked every fifth call. */
static bool still_driven(struct store *st, long long run_id, const struct attempt_row *a,
                         int round, int64_t *orphaned_since)
{
    if (round % 5 != 4)
        return true;
    int64_t now = store_now_ms();
    if (anyone_drives(st, run_id, a)) {
        *orphaned_since = 0;
        return true;
    }
    if (!*orphaned_since)
        *orphaned_since = now;
    if (now - *orphaned_since < ORPHAN_WAIT_MS)
        return true;
    cli_error("nothing drives run %lld any more (its engine and the step's shim are gone): "
              "'sluice resume %lld' picks it up",
              run_id, run_id);
    return false;
}

/* --follow before the step has an attempt: wait for one, or for the step to settle without
 * one. 1 and *a filled, 0 when it settled, -1 (printed) on an error. */
static int wait_for_attempt(struct store *st, long long run_id, const char *step,
                            struct attempt_row *a)
{
    int64_t orphaned_since = 0;
    for (int round = 0;; round++) {
        struct step_row s;
        if (find_step(st, run_id, step, &s) < 0)
            return -1;
        int rc = pick_attempt(st, run_id, &s, -1, a);
        bool settled = step_status_terminal(s.status);
        enum step_status status = s.status;
        step_row_release(&s);
        if (rc != 0)
            return rc;
        if (settled) {
            fprintf(stderr, "step '%s' of run %lld ended without running: %s\n", step, run_id,
                    step_status_name(status));
            return 0;
        }
        if (!still_driven(st, run_id, NULL, round, &orphaned_since))
            return -1;
        sleep_ms(POLL_MS);
    }
}

static int show_log(struct store *st, long long run_id, const char *step,
                    const struct attempt_row *a, bool follow)
{
    char *path = xasprintf("%s/log", a->dir);
    int rc = -1, fd = -1;
    /* since when nothing drives the attempt: a server adopts such a run within seconds */
    int64_t orphaned_since = 0;
    for (int round = 0;; round++) {
        /* Decide "ended" before reading: every byte written before the end is then read. */
        bool ended = !follow || attempt_ended(st, run_id, a, step);
        if (fd < 0) {
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 && errno == ENOENT && !follow && a->job_id && a->job_state) {
                /* a batch job that has not started: no log yet, and that is no error */
                fprintf(stderr, "no log yet: %s job %s is %s%s%s%s; --follow waits for it\n",
                        a->executor, a->job_id, a->job_state, a->job_reason ? " (" : "",
                        a->job_reason ? a->job_reason : "", a->job_reason ? ")" : "");
                rc = 0;
                goto out;
            }
            if (fd < 0 && (errno != ENOENT || !follow)) {
                cli_error("cannot open log '%s': %s", path, strerror(errno));
                goto out;
            }
        }
        if (fd >= 0 && drain(fd, path) < 0)
            goto out;
        if (ended)
            break;
        if (!still_driven(st, run_id, a, round, &orphaned_since))
            goto out;
        sleep_ms(POLL_MS);
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

int cmd_logs(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    static const struct option longopts[] = {
        {"attempt", required_argument, NULL, 'a'},
        {"follow", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    int want = -1;
    bool follow = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || errno || v < 0 || v > 1000000)
                return cli_usage_error(usage, "--attempt takes an attempt number, got '%s'",
                                       optarg);
            want = (int)v;
            break;
        }
        case 'f':
            follow = true;
            break;
        case ':':
            return cli_usage_error(usage, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc == optind)
        return cli_usage_error(usage, "missing RUN and STEP");
    if (argc - optind > 2)
        return cli_usage_error(usage, "unexpected argument '%s'", argv[optind + 2]);
    const char *run_arg = argv[optind];
    const char *step_name = argc - optind == 2 ? argv[optind + 1] : NULL;
    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    int rc = EXIT_RUN_FAILED;
    long long run_id;
    struct step_row step;
    struct attempt_row a = {0};
    bool have_step = false;
    if (cli_resolve_run(st, run_arg, &run_id) < 0)
        goto out;
    if (!step_name) {
        rc = list_steps(st, run_id);
        goto out;
    }
    if (find_step(st, run_id, step_name, &step) < 0)
        goto out;
    have_step = true;
    int got = pick_attempt(st, run_id, &step, want, &a);
    if (got < 0)
        goto out;
    if (got == 0) {
        if (!follow) {
            cli_error("step '%s' of run %lld has not started (%s)", step_name, run_id,
                      step_status_name(step.status));
            goto out;
        }
        got = wait_for_attempt(st, run_id, step_name, &a);
        if (got <= 0) {
            rc = got == 0 ? EXIT_OK : EXIT_RUN_FAILED;
            goto out;
        }
    }
    if (a.n == 0 && resolve_cached(st, &a) < 0)
        goto out;
    if (!a.dir || !*a.dir) {
        cli_error("attempt %d of step '%s' has no folder, so no log", a.n, step_name);
        goto out;
    }
    if (show_log(st, run_id, step_name, &a, follow) == 0)
        rc = EXIT_OK;
out:
    attempt_row_release(&a);
    if (have_step)
        step_row_release(&step);
    store_close(st);
    return rc;
}
