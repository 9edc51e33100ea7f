/* Built-in steps that run as a child process under the shim (so that their logs, timeouts and
 * crash safety are those of any step): `sluice builtin NAME ARGS...`. Each *_main returns the
 * process exit status: 0 success, 1 a permanent failure, 75 (EX_TEMPFAIL) a transient one. */
#ifndef SLUICE_BUILTIN_H
#define SLUICE_BUILTIN_H

#define BUILTIN_EXIT_TRANSIENT 75

int builtin_ingest_main(int argc, char **argv);
int builtin_crawl_main(int argc, char **argv);
int builtin_deploy_main(int argc, char **argv);

#endif
