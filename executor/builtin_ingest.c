/* `sluice builtin ingest`: the process the engine runs (under the shim) for an ingest step.
 * Progress and the result go to stdout, errors to stderr (both into the step's log); the exit
 * status says success (0), a permanent failure (1) or one worth retrying (75). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/builtin.h"
#include "executor/ingest.h"

static const char usage[] =
    "usage: sluice builtin ingest --source SRC --out PATH [--base DIR] [--max-size BYTES]\n"
    "                             [--sha256 HEX] [--connect-timeout MS] [--timeout MS]\n"
    "                             [--meta FILE]\n"
    "\n"
    "  --source SRC          a path (relative to --base), file:///path, http:// or https://\n"
    "  --out PATH            where the data goes (written to PATH.tmp, then renamed)\n"
    "  --base DIR            the pipeline's folder (default: the current folder)\n"
    "  --max-size BYTES      refuse a source larger than this (default and 0: 10 GiB)\n"
    "  --sha256 HEX          the data must have this digest\n"
    "  --connect-timeout MS  http(s): give up connecting after MS ms (default 30000)\n"
    "  --timeout MS          http(s): give up the whole transfer after MS ms (default: none)\n"
    "  --meta FILE           write {source, url, size, sha256, http_status} as JSON to FILE\n";

/* A non-negative decimal integer, all of s. */
static int parse_count(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 0 || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return -1;
    *out = v;
    return 0;
}

int builtin_ingest_main(int argc, char **argv)
{
    struct ingest_options opt = {.connect_timeout_ms = 30000, .progress = stdout};
    const char *meta = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (i + 1 >= argc)
            return builtin_usage_error(usage, "unknown option or missing value '%s'", a);
        const char *v = argv[++i];
        long long n = 0;
        if (!strcmp(a, "--source")) {
            opt.source = v;
        } else if (!strcmp(a, "--out")) {
            opt.out = v;
        } else if (!strcmp(a, "--base")) {
            opt.base = v;
        } else if (!strcmp(a, "--sha256")) {
            opt.sha256 = v;
        } else if (!strcmp(a, "--meta")) {
            meta = v;
        } else if (!strcmp(a, "--max-size")) {
            if (parse_count(v, &n))
                return builtin_usage_error(usage,
                                           "bad --max-size '%s': expected a number of bytes", v);
            opt.max_size = n;
        } else if (!strcmp(a, "--connect-timeout") || !strcmp(a, "--timeout")) {
            if (parse_count(v, &n) || n > 24LL * 3600 * 1000 * 365)
                return builtin_usage_error(usage, "bad timeout '%s': expected milliseconds",
                                           v);
            if (!strcmp(a, "--timeout"))
                opt.timeout_ms = (long)n;
            else
                opt.connect_timeout_ms = (long)n;
        } else {
            return builtin_usage_error(usage, "unknown option '%s'", a);
        }
    }
    if (!opt.source)
        return builtin_usage_error(usage, "missing %s", "--source");
    if (!opt.out)
        return builtin_usage_error(usage, "missing %s", "--out");

    struct ingest_result res;
    struct err e = ERR_INIT;
    int status = 1;
    if (ingest_run(&opt, &res, &e)) {
        fflush(stdout);
        fprintf(stderr, "error: %s\n", e.msg);
        if (res.transient) {
            fputs("(transient: the step may be retried)\n", stderr);
            status = BUILTIN_EXIT_TRANSIENT;
        }
        goto out;
    }
    if (meta && ingest_write_meta(meta, opt.source, &res, &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        goto out;
    }
    printf("ingested %s: %lld bytes, sha256 %s\n", opt.source, (long long)res.size, res.sha256);
    status = fflush(stdout) ? 1 : 0;
out:
    ingest_result_release(&res);
    return status;
}
