/* `sluice validate FILE...`: load each pipeline file, print every error compiler-style, and
 * exit 2 when any file has one; each valid file gets one line, "ok: FILE (N steps)". */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "pipeline/diag.h"
#include "pipeline/load.h"

static const char usage[] =
    "usage: sluice validate [-v] FILE...\n"
    "\n"
    "Check pipeline files: YAML, keys, references, expressions, durations, cron, cycles.\n"
    "Every error is printed as FILE:LINE:COL: error: MESSAGE on stderr, each valid file as\n"
    "'ok: FILE (N steps)' on stdout; exit status 0 when all files are valid, 2 otherwise.\n"
    "\n"
    "  -v, --verbose   accepted for compatibility: the ok lines are always printed\n"
    "  -h, --help      show this help\n";

/* Print dl for path. A file that could not be read has no text and only whole-file
 * messages, which already name the file: they read as plain CLI errors,
 * "error: cannot read 'x.yaml': No such file or directory". */
static void print_diags(const struct diag_list *dl, const char *path, const char *text,
                        size_t text_len)
{
    bool unread = !text;
    for (size_t i = 0; unread && i < dl->n; i++)
        unread = dl->items[i].line == 0;
    if (!unread) {
        diag_print(dl, path, text, text_len, stderr);
        return;
    }
    for (size_t i = 0; i < dl->n; i++)
        cli_error("%s", dl->items[i].msg);
}

/* Returns true when path is a valid pipeline. */
static bool validate_one(const char *path)
{
    struct diag_list dl = DIAG_LIST_INIT;
    char *text = NULL;
    size_t text_len = 0;
    /* the loader builds the graph too, so a cycle is one of its errors */
    struct pipeline *p = pipeline_load(path, &dl, &text, &text_len);
    if (!p) {
        if (!dl.n) /* the loader must say why; never fail silently */
            diag_add(&dl, 0, 0, "invalid pipeline");
        print_diags(&dl, path, text, text_len);
    } else {
        printf("ok: %s (%zu step%s)\n", path, p->nsteps, p->nsteps == 1 ? "" : "s");
    }
    bool ok = p != NULL;
    pipeline_free(p);
    free(text);
    diag_list_release(&dl);
    return ok;
}

int cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'v':
            break;
        default:
            if (optopt)
                return cli_usage_error(usage, "unknown option '-%c'", optopt);
            return cli_usage_error(usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return cli_usage_error(usage, "no pipeline file given");

    bool all_ok = true;
    for (int i = optind; i < argc; i++)
        all_ok &= validate_one(argv[i]);
    return all_ok ? EXIT_OK : EXIT_USAGE;
}
