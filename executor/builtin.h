/* Built-in steps that run as a child process under the shim (so that their logs, timeouts and
 * crash safety are those of any step): `sluice builtin NAME ARGS...`. Each *_main returns the
 * process exit status: 0 success, 1 a permanent failure, 75 (EX_TEMPFAIL) a transient one. */
#ifndef SLUICE_BUILTIN_H
#define SLUICE_BUILTIN_H

#define BUILTIN_EXIT_TRANSIENT 75

/* "error: MSG\n" and usage to stderr; returns 1, a permanent failure: a bad command line is
 * the engine's bug, not worth a retry. */
int builtin_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int builtin_ingest_main(int argc, char **argv);
int builtin_crawl_main(int argc, char **argv);
int builtin_deploy_main(int argc, char **argv);

#endif
