/* `sluice run FILE`: validate, record a run, drive it to its end in the foreground. Also the
 * shared driving code of resume, retry and approve (cli_drive). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "pipeline/load.h"
#include "scheduler/engine.h"
#include "scheduler/trigger.h"
#include "store/store.h"
#include "executor/executor.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice run FILE [-p NAME=VALUE]... [--no-cache] [--parallel N] [--executor NAME]\n"
    "                  [--max-jobs N] [--fail-fast] [--no-wait] [--auto-approve] [--json]\n"
    "\n"
    "Run the pipeline in FILE in the foreground until it ends.\n"
    "\n"
    "  -p, --param NAME=VALUE  override a parameter's default (repeatable)\n"
    "      --no-cache          ignore cache hits: run every step\n"
    "      --parallel N        run at most N step slots at once on this machine (default: CPUs)\n"
    "      --executor NAME     run command steps that set no 'executor:' with NAME (local,\n"
    "                          slurm); built-in steps stay on this machine\n"
    "      --max-jobs N        keep at most N Slurm jobs queued or running (default: 200)\n"
    "      --fail-fast         cancel the run at the first failed step\n"
    "      --no-wait           exit 3 as soon as only approvals are left\n"
    "      --auto-approve      approve every approval step as 'auto'\n"
    "      --json              print the run as one JSON document at the end\n"
    "\n"
    "exit status: 0 succeeded, 1 failed or cancelled, 2 bad usage or invalid pipeline,\n"
    "3 waiting for an approval (--no-wait)\n";

int cli_drive(struct store *st, long long run_id, const struct engine_opts *opts, bool json)
{
    bool tty = isatty(STDERR_FILENO);
    struct progress *p = progress_new(stderr, tty);
    enum run_status status = RUN_FAILED;
    bool waiting = false;
    struct err e = ERR_INIT;
    int rc = engine_drive(st, run_id, opts, progress_event, p, &status, &waiting, &e);
    progress_clear(p);
    progress_free(p);
    if (rc < 0) {
        cli_engine_error(&e);
        return EXIT_RUN_FAILED;
    }
    if (json)
        cli_show_json(st, run_id, stdout);
    else
        cli_print_summary(st, run_id, stdout);
    if (waiting) {
        if (!json)
            printf("run %lld is waiting for an approval: sluice approve %lld\n", run_id, run_id);
        return EXIT_WAITING;
    }
    return status == RUN_SUCCEEDED ? EXIT_OK : EXIT_RUN_FAILED;
}

/* "-p NAME=VALUE", checked against the pipeline's parameters. */
static int parse_param(struct pipeline *p, const char *arg, struct run_param *out)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        cli_error("'-p %s' is not NAME=VALUE", arg);
        return -1;
    }
    char *name = xstrndup(arg, (size_t)(eq - arg));
    struct err e = ERR_INIT;
    if (trigger_check_param(p, name, eq + 1, &e) < 0) {
        cli_error("%s", e.msg);
        free(name);
        return -1;
    }
    out->name = name;
    out->value = xstrdup(eq + 1);
    return 0;
}

int cmd_run(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    static const struct option longopts[] = {
        {"param", required_argument, NULL, 'p'},  {"no-cache", no_argument, NULL, 'C'},
        {"parallel", required_argument, NULL, 'j'}, {"fail-fast", no_argument, NULL, 'F'},
        {"no-wait", no_argument, NULL, 'W'},      {"auto-approve", no_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'J'},         {"max-jobs", required_argument, NULL, 'M'},
        {"executor", required_argument, NULL, 'E'}, {NULL, 0, NULL, 0},
    };
    struct engine_opts opts = {0};
    bool json = false;
    const char **pargs = xcalloc((size_t)argc + 1, sizeof(*pargs));
    size_t npargs = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:j:", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            pargs[npargs++] = optarg;
            break;
        case 'C':
            opts.no_cache = true;
            break;
        case 'j': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 4096) {
                free(pargs);
                return cli_usage_error(usage, "--parallel takes a number from 1 to 4096, got '%s'",
                                       optarg);
            }
            opts.parallel = (int)n;
            break;
        }
        case 'E':
            if (!executor_find(optarg)) {
                free(pargs);
                return cli_usage_error(usage, "--executor takes 'local' or 'slurm', got '%s'",
                                       optarg);
            }
            snprintf(opts.executor, sizeof(opts.executor), "%s", optarg);
            break;
        case 'M': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 100000) {
                free(pargs);
                return cli_usage_error(usage,
                                       "--max-jobs takes a number from 1 to 100000, got '%s'",
                                       optarg);
            }
            opts.max_jobs = (int)n;
            break;
        }
        case 'F':
            opts.fail_fast = true;
            break;
        case 'W':
            opts.no_wait = true;
            break;
        case 'A':
            opts.auto_approve = true;
            break;
        case 'J':
            json = true;
            break;
        default:
            free(pargs);
            return cli_usage_error(usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) {
        free(pargs);
        return cli_usage_error(usage, optind >= argc ? "missing FILE" : "one FILE at a time");
    }
    const char *file = argv[optind];
    struct diag_list diags = DIAG_LIST_INIT;
    char *text = NULL;
    size_t text_len = 0;
    struct pipeline *p = pipeline_load(file, &diags, &text, &text_len);
    if (!p) {
        diag_print(&diags, file, text, text_len, stderr);
        diag_list_release(&diags);
        free(text);
        free(pargs);
        return EXIT_USAGE;
    }
    diag_list_release(&diags);
    free(text);

    int rc = EXIT_USAGE;
    struct run_param *set = xcalloc(npargs + 1, sizeof(*set));
    size_t nset = 0;
    struct store *st = NULL;
    for (size_t k = 0; k < npargs; k++, nset++)
        if (parse_param(p, pargs[k], &set[k]) < 0)
            goto out;
    st = cli_open_store();
    if (!st) {
        rc = EXIT_RUN_FAILED;
        goto out;
    }
    int64_t run_id = 0;
    struct err e = ERR_INIT;
    if (trigger_run(st, p, set, nset, "cli", &opts, &run_id, &e) < 0) {
        cli_error("%s", e.msg);
        rc = EXIT_RUN_FAILED;
        goto out;
    }
    if (!json)
        fprintf(stderr, "run %lld: %s, %zu steps, workspace %s\n", (long long)run_id, p->name,
                p->nsteps, cli_home());
    rc = cli_drive(st, run_id, &opts, json);
out:
    store_close(st);
    for (size_t i = 0; i < nset; i++) {
        free(set[i].name);
        free(set[i].value);
    }
    free(set);
    free(pargs);
    pipeline_free(p);
    return rc;
}
