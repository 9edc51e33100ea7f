/* sluice shim: the wrapper the local executor runs each step under (internal, not listed in
 * --help); everything is in executor/shim.c, which stays free of the engine's libraries. */
#include "cli/cli.h"
#include "executor/shim.h"

int cmd_shim(int argc, char **argv)
{
    return shim_main(argc, argv);
}
