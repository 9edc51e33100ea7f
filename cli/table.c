/* What the listing commands (runs, show, models, catalog) and the registry commands share: text
 * tables padded by display width, local times for people, and the parsing of an optional or a
 * last positional argument after getopt_long. */
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* ---- tables ---- */

void cli_table_init(struct cli_table *t, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
}

void cli_table_addf(struct cli_table *t, const char *fmt, ...)
{
    struct strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    XGROW(t->cells, t->alloc, t->n + 1);
    t->cells[t->n++] = strbuf_detach(&sb, NULL);
}

/* Display width of UTF-8 text: continuation bytes take no column. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

void cli_table_print(struct cli_table *t, FILE *out, const char *indent)
{
    size_t *width = xcalloc(t->ncols ? t->ncols : 1, sizeof(*width));
    for (size_t i = 0; i < t->n; i++) {
        size_t w = text_width(t->cells[i]);
        if (w > width[i % t->ncols])
            width[i % t->ncols] = w;
    }
    struct strbuf line = STRBUF_INIT;
    for (size_t i = 0; i < t->n; i++) {
        size_t c = i % t->ncols;
        if (c == 0)
            strbuf_addstr(&line, indent);
        strbuf_addstr(&line, t->cells[i]);
        if (c + 1 < t->ncols && i + 1 < t->n) {
            for (size_t k = text_width(t->cells[i]); k < width[c] + 2; k++)
                strbuf_addch(&line, ' ');
            continue;
        }
        while (line.len && line.buf[line.len - 1] == ' ')
            line.buf[--line.len] = '\0';
        fprintf(out, "%s\n", line.buf);
        strbuf_reset(&line);
    }
    strbuf_release(&line);
    free(width);
    cli_table_release(t);
}

void cli_table_release(struct cli_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->n = t->alloc = 0;
}

/* ---- cells ---- */

void cli_local_time(int64_t ms, char *buf, size_t n)
{
    if (ms <= 0) {
        snprintf(buf, n, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- arguments ---- */

int cli_option_error(const char *usage, int c, char **argv)
{
    if (c == ':')
        return cli_usage_error(usage, "option '%s' needs a value", argv[optind - 1]);
    return cli_usage_error(usage, "unknown option '%s'", argv[optind - 1]);
}

int cli_last_arg(int argc, char **argv, const char *usage, const char *what, const char **arg)
{
    if (optind >= argc)
        return cli_usage_error(usage, "missing %s", what);
    if (optind + 1 < argc)
        return cli_usage_error(usage, "one %s at a time", what);
    *arg = argv[optind];
    return 0;
}

int cli_optional_arg(int argc, char **argv, const char *usage, const char *what,
                     const char **arg, bool *json)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    int c;
    *arg = NULL;
    *json = false;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c != 'J')
            return cli_option_error(usage, c, argv);
        *json = true;
    }
    if (argc - optind > 1)
        return cli_usage_error(usage, "one %s at a time", what);
    *arg = optind < argc ? argv[optind] : NULL;
    return 0;
}
