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
#include "store/store.h"
#include "util/xalloc.h"
#include "web/doc.h"

static const char usage[] =
    "usage: sluice lineage ARTIFACT|MODEL[:VERSION] [--json]\n"
    "\n"
    "Show where an artifact came from (upstream: the step attempt that produced it, its\n"
    "inputs, their producers, up to the ingested sources) and where it went (downstream: the\n"
    "attempts that consumed it, their outputs, and so on). ARTIFACT is a sha256 digest or a\n"
    "unique prefix of one (at least 6 hex digits).\n"
    "\n"
    "      --json  print {\"artifact\": {\"sha256\", \"size\", \"kind\", \"uri\"},\n"
    "              \"upstream\": [...], \"downstream\": [...]}\n";

/* ---- printing ---- */

static void print_artifact_line(json_t *art)
{
    const char *kind = json_string_value(json_object_get(art, "kind"));
    if (kind && !strcmp(kind, "source")) {
        printf("source %s", json_string_value(json_object_get(art, "uri")));
        return;
    }
    char size[32];
    size_format((int64_t)json_integer_value(json_object_get(art, "size")), size, sizeof(size));
    printf("%.12s %s%s", json_string_value(json_object_get(art, "sha256")), size,
           kind && !strcmp(kind, "dir") ? " (folder)" : "");
}

/* Attempts at one indent, their artifacts one level deeper, and so on. */
static void print_attempts(json_t *list, bool up, int indent)
{
    size_t i;
    json_t *node;
    json_array_foreach(list, i, node) {
        printf("%*srun %" JSON_INTEGER_FORMAT " %s ", indent, "",
               json_integer_value(json_object_get(node, "run")),
               json_string_value(json_object_get(node, "step")));
        json_t *reused = json_object_get(node, "reused");
        if (reused)
            printf("(cache hit of run %" JSON_INTEGER_FORMAT " %s attempt %" JSON_INTEGER_FORMAT
                   ")",
                   json_integer_value(json_object_get(reused, "run")),
                   json_string_value(json_object_get(reused, "step")),
                   json_integer_value(json_object_get(reused, "attempt")));
        else
            printf("(attempt %" JSON_INTEGER_FORMAT ")",
                   json_integer_value(json_object_get(node, "attempt")));
        printf(up ? " made it as '%s'" : " read it as '%s'",
               json_string_value(json_object_get(node, "as")));
        if (json_is_true(json_object_get(node, "seen"))) {
            printf(" (shown above)\n");
            continue;
        }
        putchar('\n');
        size_t k;
        json_t *io;
        json_array_foreach(json_object_get(node, up ? "inputs" : "outputs"), k, io) {
            printf("%*s%s '%s': ", indent + 2, "", up ? "input" : "output",
                   json_string_value(json_object_get(io, "name")));
            print_artifact_line(json_object_get(io, "artifact"));
            putchar('\n');
            print_attempts(json_object_get(io, up ? "producers" : "consumers"), up, indent + 4);
            json_t *more = json_object_get(io, "more");
            if (more)
                printf("%*s… and %" JSON_INTEGER_FORMAT " more\n", indent + 4, "",
                       json_integer_value(more));
        }
    }
}

static void print_tree(json_t *doc, const struct artifact_row *a)
{
    char size[32];
    size_format(a->size, size, sizeof(size));
    printf("artifact %s\n", a->digest);
    printf("  %s, %s%s%s\n", a->kind ? a->kind : "", size, a->uri ? ", " : "",
           a->uri ? a->uri : "");
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
    struct artifact_row a;
    struct err e = ERR_INIT;
    if (doc_lineage_resolve(st, arg, &a, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    json_t *doc = doc_lineage_json(st, &a, &e);
    if (!doc) {
        cli_error("%s", e.msg);
    } else if (json) {
        if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0) {
            putchar('\n');
            rc = EXIT_OK;
        }
    } else {
        print_tree(doc, &a);
        rc = EXIT_OK;
    }
    json_decref(doc);
    artifact_row_release(&a);
    if (rc == EXIT_OK && fflush(stdout) != 0)
        rc = EXIT_RUN_FAILED;
out:
    store_close(st);
    return rc;
}
