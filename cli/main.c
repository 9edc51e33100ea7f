/* sluice: the command table and dispatch, after git.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/version.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary; /* NULL: not listed in --help (internal) */
};

static const struct command commands[] = {
    {"validate", cmd_validate, "check pipeline files; errors as FILE:LINE:COL"},
    {"graph", cmd_graph, "draw a pipeline's dependency graph (text, dot, svg)"},
    {"run", cmd_run, "run a pipeline and wait for it to end"},
    {"runs", cmd_runs, "list runs, newest first"},
    {"show", cmd_show, "show a run: steps, attempts, metrics, outputs"},
    {"logs", cmd_logs, "print (or follow) a step's log"},
    {"cancel", cmd_cancel, "cancel a run"},
    {"resume", cmd_resume, "take over a run whose engine died and drive it to the end"},
    {"retry", cmd_retry, "run again what failed in a run, reusing what succeeded"},
    {"compare", cmd_compare, "params and metrics of runs side by side"},
    {"diff", cmd_diff, "what changed between two runs"},
    {"lineage", cmd_lineage, "where an artifact came from and where it went"},
    {"approve", cmd_approve, "approve a step waiting for a decision, and go on with the run"},
    {"reject", cmd_reject, "reject a step waiting for a decision: the run fails"},
    {"models", cmd_models, "the model registry: versions, status, metrics, deployments"},
    {"catalog", cmd_catalog, "the data catalog: tables and their schema versions"},
    {"rollback", cmd_rollback, "switch a model's deployment back to the previous version"},
    {"serve", cmd_serve, "serve the web page and run triggered and scheduled pipelines"},
    {"trigger", cmd_trigger, "queue a run of a pipeline for 'sluice serve'"},
    {"shim", cmd_shim, NULL},
    {"builtin", cmd_builtin, NULL},
    {"bench-fill", cmd_benchfill, NULL},
};

static const char usage[] =
    "usage: sluice [--version] [--help] [--home DIR] COMMAND [ARGS]\n"
    "\n"
    "sluice runs machine-learning pipelines described in YAML, records every run in\n"
    "SQLite, and serves their history as a web page.\n"
    "\n"
    "commands:\n";

static void print_usage(FILE *out)
{
    fputs(usage, out);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (commands[i].summary)
            fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nthe workspace is --home DIR, else $SLUICE_HOME, else ./.sluice\n"
          "run 'sluice COMMAND --help' for a command's options.\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    /* Global options come before the command. */
    while (argc >= 3 && !strcmp(argv[1], "--home")) {
        cli_set_home(argv[2]);
        argc -= 2;
        argv += 2;
    }
    if (argc >= 2 && !strncmp(argv[1], "--home=", 7)) {
        cli_set_home(argv[1] + 7);
        argc--;
        argv++;
    }
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("sluice %s\n", SLUICE_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    cli_error("unknown command '%s'; see 'sluice --help'", name);
    return EXIT_USAGE;
}
