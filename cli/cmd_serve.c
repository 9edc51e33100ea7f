/* `sluice serve`: the web page and its API, and an engine on the same loop that runs what is
 * triggered (page, `sluice trigger`, schedules), adopts orphaned runs and follows approvals. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "scheduler/engine.h"
#include "store/store.h"
#include "util/xalloc.h"
#include "web/app.h"
#include "web/security.h"

static const char usage[] =
    "usage: sluice serve [--host ADDR] [--port N] [--dags DIR] [--parallel N]\n"
    "\n"
    "Serve the web page and its JSON API, and run pipelines: those triggered from the page or\n"
    "with `sluice trigger`, those whose schedule: is due (pipelines read from --dags), and runs\n"
    "whose engine died. The first line printed is the address to open; it carries the token\n"
    "(.sluice/token, created on the first serve) that lets the browser approve, trigger,\n"
    "cancel and retry. Ctrl-C stops serving; running steps go on and the next engine adopts\n"
    "them.\n"
    "\n"
    "      --host ADDR   address to listen on (default 127.0.0.1); requests must name it\n"
    "                    (or 127.0.0.1, localhost) in their Host header\n"
    "      --port N      port (default 8080; 0: any free port)\n"
    "      --dags DIR    the pipelines folder (default dags)\n"
    "      --parallel N  step slots of each run started here (default: CPUs)\n"
    "\n"
    "environment: SLUICE_HTTP_HEADER_TIMEOUT_MS (10000), SLUICE_HTTP_REQUEST_TIMEOUT_MS\n"
    "(30000), SLUICE_HTTP_IDLE_TIMEOUT_MS (60000), SLUICE_HTTP_MAX_CONNS (256)\n";

static int parse_num(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The address to print: a wildcard bind is reached through loopback. */
static char *url_host(const char *host)
{
    if (!strcmp(host, "0.0.0.0"))
        return xstrdup("127.0.0.1");
    if (!strcmp(host, "::"))
        return xstrdup("[::1]");
    if (strchr(host, ':'))
        return xasprintf("[%s]", host);
    return xstrdup(host);
}

int cmd_serve(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},     {"port", required_argument, NULL, 'P'},
        {"dags", required_argument, NULL, 'D'},     {"parallel", required_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *host = "127.0.0.1", *dags = "dags";
    long port = 8080, parallel = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 'H':
            host = optarg;
            break;
        case 'P':
            if (parse_num(optarg, 0, 65535, &port) < 0)
                return cli_usage_error(usage, "--port takes a number from 0 to 65535, got '%s'",
                                       optarg);
            break;
        case 'D':
            dags = optarg;
            break;
        case 'j':
            if (parse_num(optarg, 1, 4096, &parallel) < 0)
                return cli_usage_error(usage, "--parallel takes a number from 1 to 4096, got '%s'",
                                       optarg);
            break;
        case ':':
            return cli_usage_error(usage, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    char dags_abs[PATH_MAX];
    if (!realpath(dags, dags_abs)) {
        /* no folder yet: serve the history anyway; triggers say there is no such pipeline */
        fprintf(stderr, "warning: cannot open '%s': %s\n", dags, strerror(errno));
        snprintf(dags_abs, sizeof(dags_abs), "%s", dags);
    }
    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    int rc = EXIT_RUN_FAILED;
    char *token = NULL, *shown = NULL;
    struct engine *eng = NULL;
    struct web_app *app = NULL;
    struct err e = ERR_INIT;
    if (security_token_load(cli_home(), &token, &e) < 0 || !(eng = engine_new(st, NULL, &e))) {
        cli_error("%s", e.msg);
        goto out;
    }
    struct web_app_config cfg = {
        .host = host, .port = (int)port, .dags = dags_abs, .token = token,
        .parallel = (int)parallel,
    };
    if (!(app = web_app_start(st, eng, &cfg, &e))) {
        cli_error("%s", e.msg);
        goto out;
    }
    shown = url_host(host);
    printf("serving http://%s:%d/?token=%s\n", shown, web_app_port(app), token);
    fflush(stdout);
    fprintf(stderr, "workspace %s, pipelines from %s; Ctrl-C to stop\n", cli_home(), dags_abs);
    struct engine_opts defaults = {.parallel = (int)parallel};
    engine_adopt(eng, &defaults);
    if (engine_loop(eng, &e) < 0) {
        cli_engine_error(&e);
        goto out;
    }
    rc = EXIT_OK;
out:
    web_app_free(app);
    engine_free(eng);
    free(shown);
    free(token);
    store_close(st);
    return rc;
}
