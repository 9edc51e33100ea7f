/* `sluice trigger PIPELINE`: queue a run for `sluice serve` to pick up (the trigger is 'api',
 * as from the page: the run is started by the server, not by this command). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "pipeline/load.h"
#include "scheduler/engine.h"
#include "scheduler/trigger.h"
#include "store/store.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice trigger PIPELINE [-p NAME=VALUE]... [--dags DIR] [--json]\n"
    "\n"
    "Queue a run of PIPELINE (a pipeline's name, looked up in --dags, or a pipeline file) for\n"
    "`sluice serve` to run; prints the run's id. The run is recorded with trigger 'api'.\n"
    "\n"
    "  -p, --param NAME=VALUE  override a parameter's default (repeatable)\n"
    "      --dags DIR          the pipelines folder (default dags)\n"
    "      --json              print {\"id\": N, \"status\": \"queued\"}\n";

static bool looks_like_file(const char *arg)
{
    size_t n = strlen(arg);
    return strchr(arg, '/') || (n > 5 && !strcmp(arg + n - 5, ".yaml")) ||
           (n > 4 && !strcmp(arg + n - 4, ".yml"));
}

int cmd_trigger(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    static const struct option longopts[] = {
        {"param", required_argument, NULL, 'p'},
        {"dags", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    const char *dags = "dags";
    bool json = false;
    struct run_param *set = xcalloc((size_t)argc + 1, sizeof(*set));
    size_t nset = 0;
    int c, rc = EXIT_USAGE;
    struct pipeline *p = NULL;
    struct store *st = NULL;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                rc = cli_usage_error(usage, "'-p %s' is not NAME=VALUE", optarg);
                goto out;
            }
            set[nset].name = xstrndup(optarg, (size_t)(eq - optarg));
            set[nset++].value = xstrdup(eq + 1);
            break;
        }
        case 'D':
            dags = optarg;
            break;
        case 'J':
            json = true;
            break;
        case ':':
            rc = cli_usage_error(usage, "option '%s' needs a value", argv[optind - 1]);
            goto out;
        default:
            rc = cli_usage_error(usage, "unknown option '%s'", argv[optind - 1]);
            goto out;
        }
    }
    if (optind != argc - 1) {
        rc = cli_usage_error(usage, optind >= argc ? "missing PIPELINE" : "one PIPELINE at a time");
        goto out;
    }
    const char *arg = argv[optind];
    struct err e = ERR_INIT;
    if (looks_like_file(arg) && access(arg, F_OK) == 0) {
        struct diag_list diags = DIAG_LIST_INIT;
        char *text = NULL;
        size_t len = 0;
        p = pipeline_load(arg, &diags, &text, &len);
        if (!p)
            diag_print(&diags, arg, text, len, stderr);
        diag_list_release(&diags);
        free(text);
        if (!p)
            goto out;
    } else if (!(p = trigger_find_pipeline(dags, arg, &e))) {
        cli_error("%s", e.msg);
        goto out;
    }
    for (size_t i = 0; i < nset; i++) {
        if (trigger_check_param(p, set[i].name, set[i].value, &e) < 0) {
            cli_error("%s", e.msg);
            goto out;
        }
    }
    rc = EXIT_RUN_FAILED;
    if (!(st = cli_open_store()))
        goto out;
    struct engine_opts opts = {0};
    int64_t id = 0;
    if (trigger_run(st, p, set, nset, "api", &opts, &id, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (json)
        printf("{\"id\": %lld, \"status\": \"queued\"}\n", (long long)id);
    else
        printf("queued run %lld of %s; 'sluice serve' runs it\n", (long long)id, p->name);
    rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUN_FAILED;
out:
    store_close(st);
    pipeline_free(p);
    for (size_t i = 0; i < nset; i++) {
        free(set[i].name);
        free(set[i].value);
    }
    free(set);
    return rc;
}
