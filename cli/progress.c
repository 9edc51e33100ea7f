/* Live progress of a run for `sluice run`, `resume`, `retry` and `approve`. */
#include "cli/progress.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline/duration.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

struct active {
    char *name;
    enum step_status status;
    int attempt;
    int64_t started_ms;
};

struct progress {
    FILE *out;
    bool tty;
    size_t nsteps, ndone, nnot_run;
    struct active *steps; /* by step index */
    size_t alloc;
    size_t line_len;      /* length of the live line on screen */
};

struct progress *progress_new(FILE *out, bool tty)
{
    struct progress *p = xcalloc(1, sizeof(*p));
    p->out = out;
    p->tty = tty;
    return p;
}

void progress_free(struct progress *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->alloc; i++)
        free(p->steps[i].name);
    free(p->steps);
    free(p);
}

void progress_clear(struct progress *p)
{
    if (p->tty && p->line_len) {
        fputs("\r\033[K", p->out);
        p->line_len = 0;
        fflush(p->out);
    }
}

/* "[3/7]": steps that ended of all steps; "[3/7, 2 not run]" once some will never start. The
 * count grows by one as each step ends, never by a whole branch at a failure. */
static void add_counter(struct strbuf *sb, const struct progress *p)
{
    strbuf_addf(sb, "[%zu/%zu", p->ndone, p->nsteps);
    if (p->nnot_run)
        strbuf_addf(sb, ", %zu not run", p->nnot_run);
    strbuf_addch(sb, ']');
}

static void redraw(struct progress *p, int64_t now)
{
    struct strbuf sb = STRBUF_INIT;
    add_counter(&sb, p);
    int shown = 0;
    for (size_t i = 0; i < p->alloc; i++) {
        struct active *a = &p->steps[i];
        if (!a->name || (a->status != STEP_RUNNING && a->status != STEP_RETRYING &&
                         a->status != STEP_WAITING))
            continue;
        if (shown++ == 3) {
            strbuf_addstr(&sb, " …");
            break;
        }
        char d[32] = "";
        if (a->started_ms)
            duration_format(now - a->started_ms, d, sizeof(d));
        strbuf_addf(&sb, "%s %s  %s %s", shown > 1 ? "," : "", a->name,
                    step_status_name(a->status), d);
    }
    progress_clear(p);
    fputs(sb.buf, p->out);
    p->line_len = sb.len;
    fflush(p->out);
    strbuf_release(&sb);
}

static const char *mark(enum step_status s)
{
    switch (s) {
    case STEP_SUCCEEDED:
        return "ok  ";
    case STEP_CACHED:
        return "hit ";
    case STEP_SKIPPED:
        return "skip";
    case STEP_WAITING:
        return "wait";
    case STEP_RETRYING:
        return "..  ";
    default:
        return step_status_terminal(s) ? "FAIL" : "    ";
    }
}

void progress_event(void *data, const struct engine_event *ev)
{
    struct progress *p = data;
    p->nsteps = ev->nsteps;
    p->ndone = ev->ndone;
    p->nnot_run = ev->nnot_run;
    if (ev->kind == ENGINE_EV_TICK) {
        if (p->tty)
            redraw(p, ev->at_ms);
        return;
    }
    if (ev->kind == ENGINE_EV_RUN) {
        progress_clear(p);
        fprintf(p->out, "run %lld %s%s%s\n", (long long)ev->run_id,
                run_status_name(ev->run_status), ev->message ? ": " : "",
                ev->message ? ev->message : "");
        fflush(p->out);
        return;
    }
    if (ev->step_index >= p->alloc) {
        size_t old = p->alloc;
        XGROW(p->steps, p->alloc, ev->nsteps > ev->step_index ? ev->nsteps : ev->step_index + 1);
        memset(p->steps + old, 0, (p->alloc - old) * sizeof(*p->steps));
    }
    struct active *a = &p->steps[ev->step_index];
    if (!a->name)
        a->name = xstrdup(ev->step);
    a->status = ev->step_status;
    a->attempt = ev->attempt;
    a->started_ms = ev->step_started_ms;
    if (p->tty) {
        bool show = step_status_terminal(ev->step_status) || ev->step_status == STEP_RETRYING ||
                    ev->step_status == STEP_WAITING;
        if (show) {
            progress_clear(p);
            char d[32] = "";
            if (ev->step_started_ms && step_status_terminal(ev->step_status))
                duration_format(ev->at_ms - ev->step_started_ms, d, sizeof(d));
            fprintf(p->out, "  %s %-20s %-15s %6s%s%s\n", mark(ev->step_status), ev->step,
                    step_status_name(ev->step_status), d, ev->message ? "  " : "",
                    ev->message ? ev->message : "");
        }
        redraw(p, ev->at_ms);
        return;
    }
    /* One write per line (stderr is unbuffered): lines of concurrent runs cannot interleave,
     * and a step costs one syscall here, not four. */
    struct strbuf line = STRBUF_INIT;
    add_counter(&line, p);
    strbuf_addf(&line, " %s %s", ev->step, step_status_name(ev->step_status));
    if (ev->step_status == STEP_RUNNING && ev->attempt > 1)
        strbuf_addf(&line, " (attempt %d)", ev->attempt);
    if (ev->message)
        strbuf_addf(&line, ": %s", ev->message);
    strbuf_addch(&line, '\n');
    fputs(line.buf, p->out);
    fflush(p->out);
    strbuf_release(&line);
}
