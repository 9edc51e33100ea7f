/* The command line: one file per subcommand (cli/cmd_*.c), dispatched from main.c's table.
 * Each cmd_* function gets argv with argv[0] = the subcommand's name and returns the exit
 * status: 0 success, 1 run failed/cancelled/rejected, 2 bad usage or invalid pipeline,
 * 3 waiting for approval. Only cli/ prints. */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdbool.h>

#define EXIT_OK 0
#define EXIT_RUN_FAILED 1
#define EXIT_USAGE 2
#define EXIT_WAITING 3

#define SLUICE_VERSION "0.1.0"

int cmd_validate(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_shim(int argc, char **argv);

/* "error: ..." to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print usage to stdout and return 0 when argv has -h/--help anywhere before "--"; else -1. */
int cli_help(int argc, char **argv, const char *usage);
/* "error: MSG\n" + usage to stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
