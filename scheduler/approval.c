/* Approval steps: registering the candidate model, waiting, following a decision made
 * here (--auto-approve, a timeout) or by another process, and timing out. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/duration.h"
#include "pipeline/load.h"
#include "scheduler/engine_int.h"
#include "store/registry.h"
#include "util/xalloc.h"

/* A decision recorded in the store (by this engine for --auto-approve or a timeout, or by
 * another process) moves the plan on. */
void step_follow_decision(struct run_ctx *run, struct step_rt *s, enum step_status to,
                            const char *message)
{
    if (run->plan.status[s->index] != STEP_WAITING)
        return;
    if (s->timer_inited)
        uv_timer_stop(&s->timer);
    run_follow_step(run, s, to, message);
    if (!step_status_ok(to) && run->opts.fail_fast)
        run_cancel(run, "--fail-fast: a step failed");
}

void step_on_approval_timeout(uv_timer_t *t)
{
    struct step_rt *s = t->data;
    struct run_ctx *run = s->run;
    if (run->plan.status[s->index] != STEP_WAITING)
        return;
    char d[32];
    duration_format(s->spec->timeout_ms, d, sizeof(d));
    char *why = xasprintf("no decision within %s: approval timed out", d);
    struct err e = ERR_INIT;
    bool won = false;
    if (store_approval_decide(run->eng->st, run->id, s->spec->name, false, "timeout", why, &won,
                              &e) < 0) {
        run_fail(run, &e);
    } else if (won) {
        step_follow_decision(run, s, STEP_FAILED, why);
    }
    free(why);
    run_pump(run);
    run_check_end(run);
}

void step_start_approve(struct run_ctx *run, struct step_rt *s)
{
    const struct step *sp = s->spec;
    struct store *st = run->eng->st;
    struct err e = ERR_INIT;
    struct strbuf msg = STRBUF_INIT;
    if (sp->model.step) {
        char *name = NULL;
        struct model_row m = {0};
        if (step_field(run, sp, "model_name", &name, &e) == 0 && !name)
            name = xstrdup(run->pipe->name);
        if (!name || step_register_model(run, s, name, &m, &e) < 0) {
            free(name);
            run_set_step(run, s, STEP_FAILED, e.msg);
            return;
        }
        char *vs = step_challenger_summary(run, &m);
        strbuf_addf(&msg, "%s", vs);
        free(vs);
        model_row_release(&m);
        free(name);
    } else {
        strbuf_addstr(&msg, "waiting for an approval");
    }
    strbuf_addf(&msg, "; decide with: sluice approve %lld (or reject)", (long long)run->id);
    if (!run_set_step(run, s, STEP_WAITING, msg.buf)) {
        strbuf_release(&msg);
        return;
    }
    strbuf_release(&msg);
    if (run->opts.auto_approve) {
        bool won = false;
        if (store_approval_decide(st, run->id, sp->name, true, "auto", "--auto-approve", &won,
                                  &e) < 0) {
            run_fail(run, &e);
            return;
        }
        if (won)
            step_follow_decision(run, s, STEP_SUCCEEDED, "approved by 'auto'");
        return;
    }
    if (sp->timeout_ms > 0) {
        int64_t left = s->started_ms + sp->timeout_ms - store_now_ms();
        step_ensure_timer(run, s);
        uv_timer_start(&s->timer, step_on_approval_timeout, left > 0 ? (uint64_t)left : 0, 0);
    }
}
