/* `sluice rollback MODEL`: switch the model's deployment target back to the version in its
 * other slot (blue/green), and record in the registry which version is live again. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "executor/rollback.h"
#include "store/store.h"

static const char usage[] =
    "usage: sluice rollback MODEL [--target DIR]\n"
    "\n"
    "Switch the deployment of MODEL back to the version deployed before the live one: the\n"
    "target's `current` link moves to its other slot, when that slot holds a model. The\n"
    "registry then shows that version as deployed and the other one as retired.\n"
    "\n"
    "      --target DIR  the deployment folder, when MODEL was deployed to several\n"
    "                    (default: where its live version was deployed)\n";

int cmd_rollback(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *target_arg = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            target_arg = optarg;
            break;
        default:
            return cli_option_error(usage, c, argv);
        }
    }
    const char *name;
    if (cli_last_arg(argc, argv, usage, "MODEL", &name))
        return EXIT_USAGE;

    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    struct rollback_result res;
    struct err e = ERR_INIT;
    int rc = EXIT_RUN_FAILED;
    if (rollback_model(st, name, target_arg, &res, &e) < 0) {
        cli_error("%s", e.msg);
    } else {
        printf("rolled back %s in '%s': version %d is live in slot '%s'", name, res.target,
               res.version, res.slot);
        if (res.retired)
            printf(", version %d (slot '%s') retired", res.retired, res.retired_slot);
        printf("\n");
        rc = EXIT_OK;
    }
    rollback_result_release(&res);
    store_close(st);
    return rc;
}
