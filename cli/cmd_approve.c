/* `sluice approve RUN` and `sluice reject RUN`: show the candidate model against the deployed
 * one, record the decision on the step waiting for it (exactly one of two racing deciders
 * wins), then let the live engine that owns the run go on, or drive the rest of the run here. */
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "scheduler/engine.h"
#include "store/registry.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static const char approve_usage[] =
    "usage: sluice approve RUN [--step S] [--by NAME] [--comment TEXT]\n"
    "\n"
    "Approve the step of RUN (a number, or 'last') that waits for a decision, and the model\n"
    "version it registered. The engine that drives the run goes on with it; when none does\n"
    "(the run was started with --no-wait, or its engine died), this command drives the rest\n"
    "of the run in the foreground.\n"
    "\n"
    "      --step S        the approve step, when several wait (default: the one waiting)\n"
    "      --by NAME       who decides (default: $USER)\n"
    "      --comment TEXT  why, kept with the decision\n"
    "\n"
    "exit status: as `sluice run` for the rest of the run; 1 when the step was already\n"
    "decided or nothing waits\n";

static const char reject_usage[] =
    "usage: sluice reject RUN [--step S] [--by NAME] [--comment TEXT]\n"
    "\n"
    "Reject the step of RUN (a number, or 'last') that waits for a decision, and the model\n"
    "version it registered: the step fails, so does the run. Options as `sluice approve`.\n"
    "\n"
    "exit status: 1 once the run has failed; 0 when a live engine owns the run and will end\n"
    "it; 1 when the step was already decided or nothing waits\n";

/* ---- which step ---- */

/* The approval already recorded for step, as "approved by 'alice'"; NULL when none. */
static char *decided_by(struct store *st, long long run_id, const char *step)
{
    struct approval_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    char *s = NULL;
    if (store_approvals_list(st, run_id, &rows, &n, &e) < 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].step, step))
            continue;
        free(s);
        s = rows[i].by ? xasprintf("%s by '%s'", rows[i].decision, rows[i].by)
                       : xstrdup(rows[i].decision);
    }
    approval_rows_free(rows, n);
    return s;
}

static void already_decided(struct store *st, long long run_id, const char *step)
{
    char *how = decided_by(st, run_id, step);
    if (how)
        cli_error("step '%s' of run %lld was already decided: %s", step, run_id, how);
    else
        cli_error("step '%s' of run %lld was already decided", step, run_id);
    free(how);
}

/* Find the step to decide: `want`, or the only one waiting. Prints why not and returns NULL;
 * else a copy of its name. */
static char *pick_step(struct store *st, const struct run_row *run, const char *want)
{
    struct step_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    char *pick = NULL;
    long long id = (long long)run->id;
    if (store_steps_load(st, run->id, &rows, &n, &e) < 0) {
        cli_error("%s", e.msg);
        return NULL;
    }
    size_t nwaiting = 0;
    struct strbuf waiting = STRBUF_INIT, decided = STRBUF_INIT;
    size_t ndecided = 0;
    for (size_t i = 0; i < n; i++) {
        const struct step_row *s = &rows[i];
        if (want) {
            if (strcmp(s->name, want))
                continue;
            if (s->status == STEP_WAITING) {
                pick = xstrdup(s->name);
            } else {
                char *how = decided_by(st, id, s->name);
                if (how)
                    already_decided(st, id, s->name);
                else if (strcmp(s->kind, "approve"))
                    cli_error("step '%s' of run %lld is a %s step, not an approval", s->name, id,
                              s->kind);
                else
                    cli_error("step '%s' of run %lld is not waiting for an approval (it is %s)",
                              s->name, id, step_status_name(s->status));
                free(how);
            }
            goto out;
        }
        if (s->status == STEP_WAITING) {
            strbuf_addf(&waiting, "%s%s", nwaiting++ ? ", " : "", s->name);
            if (!pick)
                pick = xstrdup(s->name);
        } else if (!strcmp(s->kind, "approve") && step_status_terminal(s->status)) {
            char *how = decided_by(st, id, s->name);
            if (how && !ndecided++)
                strbuf_addstr(&decided, s->name);
            free(how);
        }
    }
    if (want) {
        cli_error("run %lld has no step '%s'", id, want);
    } else if (nwaiting > 1) {
        cli_error("run %lld has %zu steps waiting for an approval: %s; choose one with --step",
                  id, nwaiting, waiting.buf);
        free(pick);
        pick = NULL;
    } else if (!nwaiting && ndecided == 1) {
        /* `sluice approve last` a second time */
        already_decided(st, id, decided.buf);
    } else if (!nwaiting && run_status_terminal(run->status)) {
        cli_error("run %lld has no step waiting for an approval (it has ended: %s)", id,
                  run_status_name(run->status));
    } else if (!nwaiting) {
        cli_error("run %lld has no step waiting for an approval", id);
    }
out:
    strbuf_release(&waiting);
    strbuf_release(&decided);
    step_rows_free(rows, n);
    return pick;
}

/* ---- challenger against champion ---- */

/* A metric's value for the table: a number, or a series' last number ("0.31 (last of 3)"). */
static bool metric_value(json_t *v, double *out, char *text, size_t n)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        snprintf(text, n, "%.4g", *out);
        return true;
    }
    size_t len = json_array_size(v);
    if (len && json_is_number(json_array_get(v, len - 1))) {
        *out = json_number_value(json_array_get(v, len - 1));
        snprintf(text, n, "%.4g (last of %zu)", *out, len);
        return true;
    }
    snprintf(text, n, "-");
    return false;
}

static json_t *metrics_of(const struct model_row *m)
{
    json_t *j = m && m->metrics ? json_loads(m->metrics, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    return j;
}

static void metric_row(struct cli_table *t, const char *key, json_t *cv, json_t *dv,
                       bool champion)
{
    char ctext[64], dtext[64];
    double c = 0, d = 0;
    bool has_c = metric_value(cv, &c, ctext, sizeof(ctext));
    bool has_d = metric_value(dv, &d, dtext, sizeof(dtext));
    cli_table_addf(t, "%s", key);
    cli_table_addf(t, "%s", ctext);
    if (!champion)
        return;
    cli_table_addf(t, "%s", dtext);
    if (has_c && has_d)
        cli_table_addf(t, "%+.4g", c - d);
    else
        cli_table_addf(t, "-");
}

/* What is being decided: the candidate version's metrics beside the deployed version's. */
static void print_challenger(struct store *st, long long run_id, const char *step)
{
    struct model_row cand, champ;
    struct err e = ERR_INIT;
    if (store_model_for_step(st, run_id, step, &cand, &e) < 0) {
        if (e.code != STORE_NOT_FOUND)
            cli_error("%s", e.msg);
        return;
    }
    bool has_champ = store_model_deployed(st, cand.name, &champ, &e) == 0;
    printf("candidate: %s v%d from run %lld (sha256 %.12s, %s)\n", cand.name, cand.version,
           (long long)cand.run_id, cand.digest ? cand.digest : "", cand.status);
    if (has_champ)
        printf("deployed:  %s v%d from run %lld (sha256 %.12s)\n", champ.name, champ.version,
               (long long)champ.run_id, champ.digest ? champ.digest : "");
    else
        printf("deployed:  none yet\n");
    json_t *cm = metrics_of(&cand), *dm = metrics_of(has_champ ? &champ : NULL);
    if (json_object_size(cm) || json_object_size(dm)) {
        struct cli_table t;
        cli_table_init(&t, has_champ ? 4 : 2);
        cli_table_addf(&t, "METRIC");
        cli_table_addf(&t, "CANDIDATE v%d", cand.version);
        if (has_champ) {
            cli_table_addf(&t, "DEPLOYED v%d", champ.version);
            cli_table_addf(&t, "DELTA");
        }
        const char *k;
        json_t *v;
        json_object_foreach(cm, k, v)
            metric_row(&t, k, v, json_object_get(dm, k), has_champ);
        json_object_foreach(dm, k, v)
            if (!json_object_get(cm, k))
                metric_row(&t, k, NULL, v, has_champ);
        printf("\n");
        cli_table_print(&t, stdout, "  ");
    }
    printf("\n");
    json_decref(cm);
    json_decref(dm);
    model_row_release(&cand);
    if (has_champ)
        model_row_release(&champ);
}

/* ---- the command ---- */


static int decide(int argc, char **argv, bool approve)
{
    const char *usage = approve ? approve_usage : reject_usage;
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    static const struct option longopts[] = {
        {"step", required_argument, NULL, 's'},
        {"by", required_argument, NULL, 'b'},
        {"comment", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *want = NULL, *by = NULL, *comment = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            want = optarg;
            break;
        case 'b':
            by = optarg;
            break;
        case 'c':
            comment = optarg;
            break;
        default:
            return cli_option_error(usage, c, argv);
        }
    }
    const char *run_arg;
    if (cli_last_arg(argc, argv, usage, "RUN", &run_arg))
        return EXIT_USAGE;
    if (by && !*by)
        return cli_usage_error(usage, "--by needs a name");
    if (!by)
        by = getenv("USER");
    if (!by || !*by)
        by = "unknown";

    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    int rc = EXIT_RUN_FAILED;
    long long id;
    char *step = NULL;
    struct run_row run = {0};
    struct err e = ERR_INIT;
    if (cli_resolve_run(st, run_arg, &id) < 0)
        goto out;
    if (store_run_get(st, id, &run, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    step = pick_step(st, &run, want);
    if (!step)
        goto out;
    print_challenger(st, id, step);
    bool won = false;
    if (store_approval_decide(st, id, step, approve, by, comment, &won, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (!won) {
        already_decided(st, id, step);
        goto out;
    }
    printf("run %lld: step '%s' %s by '%s'\n", id, step, approve ? "approved" : "rejected", by);
    fflush(stdout);
    /* The run as it is now: the engine that owned it may have let go meanwhile. */
    run_row_release(&run);
    if (store_run_get(st, id, &run, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (run_status_terminal(run.status)) {
        rc = run.status == RUN_SUCCEEDED ? EXIT_OK : EXIT_RUN_FAILED;
        goto out;
    }
    if (engine_drives(&run, store_now_ms())) {
        printf("recorded; the engine driving run %lld continues it\n", id);
        rc = EXIT_OK;
        goto out;
    }
    struct engine_opts opts = {0};
    engine_opts_from_json(run.options, &opts);
    rc = cli_drive(st, id, &opts, false);
out:
    free(step);
    run_row_release(&run);
    store_close(st);
    return rc;
}

int cmd_approve(int argc, char **argv)
{
    return decide(argc, argv, true);
}

int cmd_reject(int argc, char **argv)
{
    return decide(argc, argv, false);
}
