/* `sluice lineage ARTIFACT`: where an artifact came from (the attempt that produced it, that
 * attempt's inputs, their producers, up to the ingest sources) and where it went (the attempts
 * that consumed it, their outputs, their consumers), as an indented tree or as JSON. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/duration.h"
#include "store/doc.h"
#include "store/store.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice lineage ARTIFACT|MODEL[:VERSION] [--json]\n"
    "\n"
    "Show where an artifact came from (upstream: the step attempt that produced it, its\n"
    "inputs, their producers, up to the ingested sources) and where it went (downstream: the\n"
    "attempts that consumed it, their outputs, and so on). ARTIFACT is a sha256 digest or a\n"
    "unique prefix of one (at least 6 hex digits). MODEL:VERSION is a model version's\n"
    "artifact, as made in the run that registered it; MODEL alone is its deployed version, or\n"
    "its newest when none is deployed.\n"
    "\n"
    "Runs that did the same work (made the same bytes from the same inputs, or read them) are\n"
    "shown once: the newest (or the model version's run), then '… and N earlier runs'. Below\n"
    "that, each attempt leads to the attempts of its own run. An input with the same bytes as\n"
    "an artifact above it (a copy step) is not followed.\n"
    "\n"
    "      --json  print {\"artifact\": {\"sha256\", \"size\", \"kind\", \"uri\"}, \"model\"?,\n"
    "              \"upstream\": [...], \"downstream\": [...], \"truncated\"}\n";

/* ---- printing ---- */

static const char *str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static void print_artifact_line(json_t *art)
{
    if (!strcmp(str(art, "kind"), "source")) {
        printf("source %s", str(art, "uri"));
        return;
    }
    char size[32];
    size_format((int64_t)json_integer_value(json_object_get(art, "size")), size, sizeof(size));
    printf("%.12s %s%s", str(art, "sha256"), size,
           !strcmp(str(art, "kind"), "dir") ? " (folder)" : "");
}

/* Run ids, ascending, as "1–4, 7". */
static void print_runs(json_t *runs)
{
    size_t n = json_array_size(runs);
    for (size_t i = 0; i < n;) {
        json_int_t first = json_integer_value(json_array_get(runs, i));
        size_t j = i;
        while (j + 1 < n && json_integer_value(json_array_get(runs, j + 1)) ==
                                json_integer_value(json_array_get(runs, j)) + 1)
            j++;
        printf("%s%" JSON_INTEGER_FORMAT, i ? ", " : "", first);
        if (j > i)
            printf("%s%" JSON_INTEGER_FORMAT, j == i + 1 ? ", " : "–",
                   json_integer_value(json_array_get(runs, j)));
        i = j + 1;
    }
}

/* "… and 4 earlier runs (1–4) of ingest with the same source": the runs folded into node. */
static void print_other_runs(json_t *node, bool up, int indent)
{
    json_t *runs = json_object_get(node, "other_runs");
    size_t n = json_array_size(runs);
    if (!n)
        return;
    json_int_t run = json_integer_value(json_object_get(node, "run"));
    const char *when = json_integer_value(json_array_get(runs, n - 1)) < run ? "earlier"
                       : json_integer_value(json_array_get(runs, 0)) > run ? "later"
                                                                            : "other";
    printf("%*s… and %zu %s run%s (", indent, "", n, when, n == 1 ? "" : "s");
    print_runs(runs);
    printf(") of %s", str(node, "step"));
    if (!up) {
        printf(" read it too\n");
        return;
    }
    json_t *in = json_object_get(node, "inputs");
    bool source = json_array_size(in) == 1 && !strcmp(str(json_array_get(in, 0), "name"), "source");
    printf(" made it too%s\n", json_array_size(in) == 0 ? ""
                               : source                  ? ", with the same source"
                                                         : ", from the same inputs");
}

/* Attempts at one indent, their artifacts one level deeper, and so on. */
static void print_attempts(json_t *list, bool up, int indent)
{
    size_t i;
    json_t *node;
    json_array_foreach(list, i, node) {
        printf("%*srun %" JSON_INTEGER_FORMAT " %s ", indent, "",
               json_integer_value(json_object_get(node, "run")), str(node, "step"));
        json_t *reused = json_object_get(node, "reused");
        if (reused)
            printf("(cache hit of run %" JSON_INTEGER_FORMAT " %s attempt %" JSON_INTEGER_FORMAT
                   ")",
                   json_integer_value(json_object_get(reused, "run")), str(reused, "step"),
                   json_integer_value(json_object_get(reused, "attempt")));
        else
            printf("(attempt %" JSON_INTEGER_FORMAT ")",
                   json_integer_value(json_object_get(node, "attempt")));
        printf(up ? " made it as '%s'" : " read it as '%s'", str(node, "as"));
        if (json_is_true(json_object_get(node, "seen"))) {
            printf(" (shown above)\n");
            print_other_runs(node, up, indent);
            continue;
        }
        putchar('\n');
        size_t k;
        json_t *io;
        json_array_foreach(json_object_get(node, up ? "inputs" : "outputs"), k, io) {
            printf("%*s%s '%s': ", indent + 2, "", up ? "input" : "output", str(io, "name"));
            print_artifact_line(json_object_get(io, "artifact"));
            if (json_is_true(json_object_get(io, "on_path"))) {
                printf(" (the same content as above: not followed)\n");
                continue;
            }
            putchar('\n');
            print_attempts(json_object_get(io, up ? "producers" : "consumers"), up, indent + 4);
            json_t *more = json_object_get(io, "more");
            if (more)
                printf("%*s… and %" JSON_INTEGER_FORMAT " more\n", indent + 4, "",
                       json_integer_value(more));
        }
        print_other_runs(node, up, indent);
    }
}

/* Which model version, and why that one when MODEL named no version. */
static void print_model(json_t *m)
{
    printf("model %s v%" JSON_INTEGER_FORMAT " (%s), registered by run %" JSON_INTEGER_FORMAT
           " step '%s'\n",
           str(m, "name"), json_integer_value(json_object_get(m, "version")), str(m, "status"),
           json_integer_value(json_object_get(m, "run")), str(m, "step"));
    const char *picked = str(m, "picked");
    if (!strcmp(picked, "deployed"))
        printf("  the deployed version (%s:VERSION names another)\n", str(m, "name"));
    else if (!strcmp(picked, "newest"))
        printf("  the newest version: none is deployed (%s:VERSION names another)\n",
               str(m, "name"));
}

static void print_tree(json_t *doc)
{
    json_t *art = json_object_get(doc, "artifact");
    json_t *model = json_object_get(doc, "model");
    if (model)
        print_model(model);
    printf("artifact %s\n", str(art, "sha256"));
    if (!strcmp(str(art, "kind"), "source")) {
        printf("  source %s: what an ingest read; what it got is stored as its output\n",
               str(art, "uri"));
    } else {
        char size[32];
        size_format((int64_t)json_integer_value(json_object_get(art, "size")), size,
                    sizeof(size));
        const char *uri = str(art, "uri");
        printf("  %s, %s%s%s\n", str(art, "kind"), size, *uri ? ", " : "", uri);
    }
    static const char *const dirs[] = {"upstream", "downstream"};
    for (int d = 0; d < 2; d++) {
        json_t *list = json_object_get(doc, dirs[d]);
        printf("\n%s:\n", dirs[d]);
        if (!json_array_size(list))
            printf("  none\n");
        print_attempts(list, d == 0, 2);
        char key[32];
        snprintf(key, sizeof(key), "more_%s", dirs[d]);
        json_t *more = json_object_get(doc, key);
        if (more)
            printf("  … and %" JSON_INTEGER_FORMAT " more\n", json_integer_value(more));
    }
    if (json_is_true(json_object_get(doc, "truncated")))
        printf("\n(lineage cut at %d levels, %d attempts per artifact, %d attempts in all)\n",
               DOC_LINEAGE_MAX_DEPTH, DOC_LINEAGE_MAX_PER_ARTIFACT,
               DOC_LINEAGE_MAX_NODES);
}

int cmd_lineage(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    bool json;
    const char *arg;
    int bad = cli_one_arg(argc, argv, usage, "ARTIFACT", &arg, &json);
    if (bad)
        return bad;
    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    int rc = EXIT_RUN_FAILED;
    struct err e = ERR_INIT;
    json_t *doc = doc_lineage(st, arg, &e);
    if (!doc) {
        cli_error("%s", e.msg);
    } else if (json) {
        if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0) {
            putchar('\n');
            rc = EXIT_OK;
        }
    } else {
        print_tree(doc);
        rc = EXIT_OK;
    }
    json_decref(doc);
    if (rc == EXIT_OK && fflush(stdout) != 0)
        rc = EXIT_RUN_FAILED;
    store_close(st);
    return rc;
}
