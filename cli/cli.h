/* The command line: one file per subcommand (cli/cmd_*.c), dispatched from main.c's table.
 * Each cmd_* function gets argv with argv[0] = the subcommand's name and returns the exit
 * status: 0 success, 1 run failed/cancelled/rejected, 2 bad usage or invalid pipeline,
 * 3 waiting for approval. Only cli/ prints. */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

#define EXIT_OK 0
#define EXIT_RUN_FAILED 1
#define EXIT_USAGE 2
#define EXIT_WAITING 3

struct store;

int cmd_validate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_retry(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_lineage(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_shim(int argc, char **argv);
int cmd_builtin(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_reject(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_trigger(int argc, char **argv);
int cmd_benchfill(int argc, char **argv);

/* "error: ..." to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An engine's failure (engine_loop, engine_drive): when the engine left its runs at once, like
 * a crash (ENGINE_LEFT_*), say why and exit now, cleaning nothing (130 when interrupted, else
 * 1); otherwise print the error and return. */
void cli_engine_error(const struct err *e);
/* Print usage to stdout and return 0 when argv has -h/--help anywhere before "--"; else -1. */
int cli_help(int argc, char **argv, const char *usage);
/* "error: MSG\n" + usage to stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The workspace: --home DIR (global option), else $SLUICE_HOME, else ./.sluice; absolute. */
void cli_set_home(const char *dir);
const char *cli_home(void);
/* Open the workspace's store; prints the error and returns NULL on failure. */
struct store *cli_open_store(void);
/* The one positional argument (what: "RUN", "ARTIFACT") and --json of a command. Returns 0,
 * or EXIT_USAGE after printing the problem and the usage. */
int cli_one_arg(int argc, char **argv, const char *usage, const char *what, const char **arg,
                bool *json);
/* The same for an optional ARG ([ARG] [--json], parsed by getopt_long): *arg is NULL when
 * absent. Returns 0, or EXIT_USAGE after printing the problem and the usage (cli/table.c). */
int cli_optional_arg(int argc, char **argv, const char *usage, const char *what,
                     const char **arg, bool *json);
/* After getopt_long returned c, '?' or ':' (a missing value, with a ':' optstring): print the
 * problem with argv[optind - 1] and the usage; returns EXIT_USAGE (cli/table.c). */
int cli_option_error(const char *usage, int c, char **argv);
/* The one positional argument left after getopt_long (argv[optind]); 0, or EXIT_USAGE after
 * "missing WHAT" or "one WHAT at a time" and the usage (cli/table.c). */
int cli_last_arg(int argc, char **argv, const char *usage, const char *what, const char **arg);
/* Resolve RUN ("last" or a number) to an existing run id; prints the error and returns -1. */
int cli_resolve_run(struct store *st, const char *arg, long long *id);

/* `sluice show RUN --json`'s document, written to out (cli/cmd_show.c); 0 or -1 (printed). */
int cli_show_json(struct store *st, long long run_id, FILE *out);
/* The end-of-run table: step, status, duration, cpu, peak memory, cached (cli/cmd_show.c). */
int cli_print_summary(struct store *st, long long run_id, FILE *out);

/* A text table for people: cells row by row, ncols a row, the first row its header; columns
 * two spaces apart, padded by display width (cli/table.c). */
struct cli_table {
    size_t ncols;
    char **cells; /* row-major, owned */
    size_t n, alloc;
};
void cli_table_init(struct cli_table *t, size_t ncols);
void cli_table_addf(struct cli_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print each row after indent, trailing blanks trimmed; then release the cells. */
void cli_table_print(struct cli_table *t, FILE *out, const char *indent);
void cli_table_release(struct cli_table *t);
/* Local time for people, "2026-11-24 19:00:05"; "-" for ms <= 0 (not set). */
void cli_local_time(int64_t ms, char *buf, size_t n);

struct engine_opts;
/* Drive a run in the foreground with live progress, then print its summary (or its JSON).
 * Returns the exit status per DESIGN.md. */
int cli_drive(struct store *st, long long run_id, const struct engine_opts *opts, bool json);

#endif
