/* `sluice graph FILE [--format text|dot|svg]`: a pipeline's dependency graph as a list in
 * topological order, as graphviz DOT, or laid out by graphviz as SVG. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/diag.h"
#include "pipeline/graph.h"
#include "pipeline/load.h"
#include "util/err.h"
#include "util/gv.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice graph FILE [--format text|dot|svg]\n"
    "\n"
    "Show the dependency graph of a pipeline file.\n"
    "\n"
    "  -f, --format FMT   text (default): the steps in the order they can run, one per\n"
    "                     line, as 'NAME (KIND) <- DEPENDENCY, ...' ('(KIND, RULE)' for a\n"
    "                     trigger_rule other than all_success)\n"
    "                     dot: graphviz source; svg: laid out by graphviz (libgvc)\n"
    "  -h, --help         show this help\n";

enum format { FMT_TEXT, FMT_DOT, FMT_SVG };

static void print_diags(const struct diag_list *dl, const char *path, const char *text,
                        size_t text_len)
{
    bool unread = !text; /* see cmd_validate.c: a file that could not be read */
    for (size_t i = 0; unread && i < dl->n; i++)
        unread = dl->items[i].line == 0;
    if (!unread) {
        diag_print(dl, path, text, text_len, stderr);
        return;
    }
    for (size_t i = 0; i < dl->n; i++)
        cli_error("%s", dl->items[i].msg);
}

static void write_text(const struct pipeline *p, const struct graph *g, struct strbuf *out)
{
    for (size_t k = 0; k < g->n; k++) {
        size_t i = g->order[k];
        const struct graph_node *node = &g->nodes[i];
        const struct step *s = &p->steps[i];
        strbuf_addf(out, "%s (%s", s->name, step_kind_name(s->kind));
        if (s->trigger_rule != TRIGGER_ALL_SUCCESS)
            strbuf_addf(out, ", %s", trigger_rule_name(s->trigger_rule));
        strbuf_addch(out, ')');
        for (size_t d = 0; d < node->ndeps; d++)
            strbuf_addf(out, "%s%s", d ? ", " : " <- ", p->steps[node->deps[d]].name);
        strbuf_addch(out, '\n');
    }
}

static void write_dot(const struct pipeline *p, const struct graph *g, struct strbuf *out)
{
    strbuf_addstr(out, "digraph ");
    gv_add_quoted(out, p->name);
    strbuf_addstr(out, " {\n"
                       "    rankdir=LR;\n"
                       "    node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef2f8\", "
                       "fontname=\"Helvetica\", fontsize=11];\n"
                       "    edge [color=\"#5f6b7a\"];\n");
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct step *s = &p->steps[i];
        const char *kind = step_kind_name(s->kind);
        char *label = s->trigger_rule == TRIGGER_ALL_SUCCESS
                          ? xasprintf("%s\n%s", s->name, kind)
                          : xasprintf("%s\n%s\n%s", s->name, kind,
                                      trigger_rule_name(s->trigger_rule));
        strbuf_addstr(out, "    ");
        gv_add_quoted(out, s->name);
        strbuf_addstr(out, " [label=");
        gv_add_quoted(out, label);
        /* built-ins are sluice's own steps; shade them apart from the user's commands */
        if (step_kind_builtin(s->kind))
            strbuf_addstr(out, ", fillcolor=\"#e4ece4\"");
        strbuf_addstr(out, "];\n");
        free(label);
    }
    for (size_t i = 0; i < g->n; i++) {
        for (size_t d = 0; d < g->nodes[i].ndeps; d++) {
            strbuf_addstr(out, "    ");
            gv_add_quoted(out, p->steps[g->nodes[i].deps[d]].name);
            strbuf_addstr(out, " -> ");
            gv_add_quoted(out, p->steps[i].name);
            strbuf_addstr(out, ";\n");
        }
    }
    strbuf_addstr(out, "}\n");
}

static int parse_format(const char *s, enum format *f)
{
    static const char *const names[] = {"text", "dot", "svg"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!strcmp(s, names[i])) {
            *f = (enum format)i;
            return 0;
        }
    }
    return -1;
}

int cmd_graph(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    enum format fmt = FMT_TEXT;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (parse_format(optarg, &fmt))
                return cli_usage_error(usage, "unknown format '%s': use text, dot or svg", optarg);
            break;
        case ':':
            return cli_usage_error(usage, "option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt)
                return cli_usage_error(usage, "unknown option '-%c'", optopt);
            return cli_usage_error(usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return cli_usage_error(usage, "no pipeline file given");
    if (argc - optind > 1)
        return cli_usage_error(usage, "one pipeline file at a time, got %d", argc - optind);
    const char *path = argv[optind];

    int rc = EXIT_USAGE;
    struct diag_list dl = DIAG_LIST_INIT;
    struct strbuf out = STRBUF_INIT;
    struct graph g = {0, NULL, NULL};
    char *text = NULL;
    size_t text_len = 0;
    struct pipeline *p = pipeline_load(path, &dl, &text, &text_len);
    if (!p) {
        if (!dl.n)
            diag_add(&dl, 0, 0, "invalid pipeline");
        print_diags(&dl, path, text, text_len);
        goto out;
    }
    if (graph_build(&g, p, &dl)) {
        print_diags(&dl, path, p->text, p->text_len);
        goto out;
    }

    if (fmt == FMT_TEXT) {
        write_text(p, &g, &out);
    } else {
        write_dot(p, &g, &out);
        if (fmt == FMT_SVG) {
            struct err e = ERR_INIT;
            struct strbuf svg = STRBUF_INIT;
            if (gv_render(out.buf, out.len, "svg", &svg, &e)) {
                cli_error("%s", e.msg);
                strbuf_release(&svg);
                rc = 1; /* the pipeline is fine; the environment is not */
                goto out;
            }
            strbuf_release(&out);
            out = svg;
        }
    }
    if (fwrite(out.buf, 1, out.len, stdout) != out.len || fflush(stdout)) {
        cli_error("cannot write the graph: %s", strerror(errno));
        rc = 1;
        goto out;
    }
    rc = EXIT_OK;
out:
    graph_release(&g);
    strbuf_release(&out);
    pipeline_free(p);
    free(text);
    diag_list_release(&dl);
    return rc;
}
