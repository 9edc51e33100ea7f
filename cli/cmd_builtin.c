/* `sluice builtin NAME ...`: the built-in steps' process entry points (internal; the engine runs
 * them under the shim). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "executor/builtin.h"

static const char usage[] = "usage: sluice builtin (ingest|crawl|deploy) ARGS...\n"
                            "internal: run by the engine for built-in steps\n";

int cmd_builtin(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(usage, "missing built-in name");
    if (!strcmp(argv[1], "ingest"))
        return builtin_ingest_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "crawl"))
        return builtin_crawl_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "deploy"))
        return builtin_deploy_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage, stdout);
        return 0;
    }
    return cli_usage_error(usage, "unknown built-in '%s'", argv[1]);
}
