/* What every command shares: the workspace, the store, run ids. */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "scheduler/engine.h"
#include "store/store.h"
#include "util/xalloc.h"

static char *home;

void cli_set_home(const char *dir)
{
    free(home);
    home = xstrdup(dir);
}

const char *cli_home(void)
{
    static char *abs_home;
    if (abs_home)
        return abs_home;
    const char *h = home;
    if (!h || !*h)
        h = getenv("SLUICE_HOME");
    if (!h || !*h)
        h = ".sluice";
    if (h[0] == '/') {
        abs_home = xstrdup(h);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            abs_home = xstrdup(h);
        else
            abs_home = xasprintf("%s/%s", cwd, h);
    }
    size_t n = strlen(abs_home);
    while (n > 1 && abs_home[n - 1] == '/')
        abs_home[--n] = '\0';
    return abs_home;
}

struct store *cli_open_store(void)
{
    struct err e = ERR_INIT;
    struct store *st = store_open(cli_home(), &e);
    if (!st)
        cli_error("%s", e.msg);
    return st;
}

int cli_resolve_run(struct store *st, const char *arg, long long *id)
{
    struct err e = ERR_INIT;
    if (!strcmp(arg, "last")) {
        int64_t last = 0;
        if (store_run_last(st, &last, &e) < 0) {
            if (e.code == STORE_NOT_FOUND)
                cli_error("no runs yet in '%s'", cli_home());
            else
                cli_error("%s", e.msg);
            return -1;
        }
        *id = last;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (!*arg || *end || errno || v <= 0) {
        cli_error("'%s' is not a run id (a number, or 'last')", arg);
        return -1;
    }
    struct run_row r;
    if (store_run_get(st, v, &r, &e) < 0) {
        if (e.code == STORE_NOT_FOUND)
            cli_error("no run '%s' in '%s'", arg, cli_home());
        else
            cli_error("%s", e.msg);
        return -1;
    }
    run_row_release(&r);
    *id = v;
    return 0;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_help(int argc, char **argv, const char *cmd_usage)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(cmd_usage, stdout);
            return 0;
        }
    }
    return -1;
}

int cli_usage_error(const char *cmd_usage, const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(cmd_usage, stderr);
    return EXIT_USAGE;
}

int cli_one_arg(int argc, char **argv, const char *usage, const char *what, const char **arg,
                bool *json)
{
    *arg = NULL;
    *json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            *json = true;
        else if (!strcmp(argv[i], "--") && i + 1 < argc && !*arg)
            *arg = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(usage, "unknown option '%s'", argv[i]);
        else if (!*arg)
            *arg = argv[i];
        else
            return cli_usage_error(usage, "one %s at a time", what);
    }
    if (!*arg)
        return cli_usage_error(usage, "missing %s", what);
    return 0;
}

void cli_engine_error(const struct err *e)
{
    if (e->code == ENGINE_LEFT_INTERRUPTED) {
        fprintf(stderr, "\n%s\n", e->msg);
        _exit(130);
    }
    cli_error("%s", e->msg);
    if (e->code == ENGINE_LEFT_TAKEN_OVER)
        _exit(1);
}
