/* `sluice runs`: the workspace's runs, newest first, as a table or as JSON; filtered by
 * pipeline and status, paginated with --before (keyset, like the web page's list). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/duration.h"
#include "store/doc.h"
#include "store/store.h"
#include "util/strbuf.h"

static const char usage[] =
    "usage: sluice runs [--pipeline NAME] [--status S] [--limit N] [--before ID] [--json]\n"
    "\n"
    "List the workspace's runs, newest first.\n"
    "\n"
    "      --pipeline NAME  only runs of this pipeline\n"
    "      --status S       only runs in this status (queued, running, waiting, succeeded,\n"
    "                       failed, cancelled)\n"
    "      --limit N        at most N runs (default 50, at most 10000)\n"
    "      --before ID      only runs older than run ID (the next page)\n"
    "      --json           print a JSON array: [{\"id\", \"pipeline\", \"status\", \"trigger\",\n"
    "                       \"created_at\", \"started_at\", \"ended_at\"}, ...]\n";

/* A run's wall time: to its end, or (still going) to now; "-" before it started. */
static void run_duration(const struct run_row *r, int64_t now, char *buf, int n)
{
    if (!r->started_at) {
        snprintf(buf, (size_t)n, "-");
        return;
    }
    duration_format((r->ended_at ? r->ended_at : now) - r->started_at, buf, n);
}

static int print_json(const struct run_row *rows, size_t n)
{
    json_t *a = doc_runs_json(rows, n);
    int rc = doc_dump(a, stdout);
    json_decref(a);
    return rc;
}

static void print_table(const struct run_row *rows, size_t n)
{
    struct cli_table t;
    int64_t now = store_now_ms();
    cli_table_init(&t, 6);
    cli_table_addf(&t, "ID");
    cli_table_addf(&t, "PIPELINE");
    cli_table_addf(&t, "STATUS");
    cli_table_addf(&t, "TRIGGER");
    cli_table_addf(&t, "CREATED");
    cli_table_addf(&t, "DURATION");
    for (size_t i = 0; i < n; i++) {
        const struct run_row *r = &rows[i];
        char created[32], dur[32];
        cli_local_time(r->created_at, created, sizeof(created));
        run_duration(r, now, dur, sizeof(dur));
        cli_table_addf(&t, "%lld", (long long)r->id);
        cli_table_addf(&t, "%s", r->pipeline ? r->pipeline : "");
        cli_table_addf(&t, "%s", run_status_name(r->status));
        if (r->parent_run)
            cli_table_addf(&t, "%s (of %lld)", r->trigger ? r->trigger : "",
                           (long long)r->parent_run);
        else
            cli_table_addf(&t, "%s", r->trigger ? r->trigger : "");
        cli_table_addf(&t, "%s", created);
        cli_table_addf(&t, "%s", dur);
    }
    cli_table_print(&t, stdout, "");
}

/* A positive number no larger than max, or -1. */
static long long parse_count(const char *s, long long max)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 1 || v > max)
        return -1;
    return v;
}

int cmd_runs(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    static const struct option longopts[] = {
        {"pipeline", required_argument, NULL, 'P'}, {"status", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'n'},    {"before", required_argument, NULL, 'B'},
        {"json", no_argument, NULL, 'J'},           {NULL, 0, NULL, 0},
    };
    struct run_filter f = {.status = -1};
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
        switch (c) {
        case 'P':
            f.pipeline = optarg;
            break;
        case 'S': {
            enum run_status s;
            if (run_status_parse(optarg, &s) < 0) {
                struct strbuf known = STRBUF_INIT;
                for (int i = 0; i < RUN_STATUS_COUNT; i++)
                    strbuf_addf(&known, "%s%s", i ? ", " : "", run_status_name((enum run_status)i));
                int rc =
                    cli_usage_error(usage, "unknown status '%s'; one of: %s", optarg, known.buf);
                strbuf_release(&known);
                return rc;
            }
            f.status = (int)s;
            break;
        }
        case 'n': {
            long long v = parse_count(optarg, 10000);
            if (v < 0)
                return cli_usage_error(usage, "--limit takes a number from 1 to 10000, got '%s'",
                                       optarg);
            f.limit = (int)v;
            break;
        }
        case 'B': {
            long long v = parse_count(optarg, INT64_MAX);
            if (v < 0)
                return cli_usage_error(usage, "--before takes a run id, got '%s'", optarg);
            f.before = v;
            break;
        }
        case 'J':
            json = true;
            break;
        default:
            return cli_option_error(usage, c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);

    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    int rc = EXIT_RUN_FAILED;
    struct run_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_run_list(st, &f, &rows, &n, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (json) {
        if (print_json(rows, n) < 0) {
            cli_error("cannot write the JSON output");
            goto out;
        }
    } else if (n == 0) {
        fprintf(stderr,
                f.pipeline || f.status >= 0 || f.before ? "no runs match\n" : "no runs yet\n");
    } else {
        print_table(rows, n);
        int limit = f.limit ? f.limit : 50;
        /* A full page may have a next one: say how to get it. */
        if (n == (size_t)limit && rows[n - 1].id > 1)
            fprintf(stderr, "older runs: sluice runs --before %lld\n", (long long)rows[n - 1].id);
    }
    rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUN_FAILED;
out:
    run_rows_free(rows, n);
    store_close(st);
    return rc;
}
