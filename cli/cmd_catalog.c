/* `sluice catalog [TABLE]`: the data catalog the crawl steps fill — every table with its newest
 * schema version, or one table's versions, newest first, with their columns and what changed
 * from one version to the next. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "executor/doc_catalog.h"
#include "store/doc.h"
#include "store/registry.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice catalog [TABLE] [--json]\n"
    "\n"
    "List the tables of the data catalog with their newest schema version, row and column\n"
    "counts; or, with TABLE, each schema version of it (newest first) with its columns and\n"
    "the changes from the version before.\n"
    "\n"
    "      --json  with TABLE: {\"name\", \"versions\": [{\"version\", \"run\", \"rows\",\n"
    "              \"columns\": [{\"name\", \"type\", \"nulls\"}], \"created_at\",\n"
    "              \"changes\"}]}, newest first; without TABLE: [{\"name\", \"version\",\n"
    "              \"run\", \"rows\", \"columns\", \"created_at\"}], by name\n";

static int dump(json_t *j)
{
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    fputc('\n', stdout);
    if (rc < 0)
        cli_error("cannot write the JSON output");
    return rc < 0 ? -1 : 0;
}

static int print_tables(const struct catalog_row *rows, size_t n, bool json)
{
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, doc_catalog_version(&rows[i], true));
        return dump(a);
    }
    if (!n) {
        printf("no tables in the catalog yet: a crawl step with table: adds one\n");
        return 0;
    }
    struct cli_table t;
    cli_table_init(&t, 6);
    cli_table_addf(&t, "TABLE");
    cli_table_addf(&t, "VERSION");
    cli_table_addf(&t, "ROWS");
    cli_table_addf(&t, "COLUMNS");
    cli_table_addf(&t, "RUN");
    cli_table_addf(&t, "CREATED");
    for (size_t i = 0; i < n; i++) {
        char created[32];
        cli_local_time(rows[i].created_at, created, sizeof(created));
        json_t *cols = doc_catalog_columns(&rows[i]);
        cli_table_addf(&t, "%s", rows[i].name);
        cli_table_addf(&t, "%d", rows[i].version);
        cli_table_addf(&t, "%lld", (long long)rows[i].rows);
        cli_table_addf(&t, "%zu", json_array_size(cols));
        if (rows[i].run_id)
            cli_table_addf(&t, "%lld", (long long)rows[i].run_id);
        else
            cli_table_addf(&t, "-");
        cli_table_addf(&t, "%s", created);
        json_decref(cols);
    }
    cli_table_print(&t, stdout, "");
    return 0;
}

static void print_columns(const struct catalog_row *c)
{
    json_t *cols = doc_catalog_columns(c);
    struct cli_table t;
    cli_table_init(&t, 3);
    cli_table_addf(&t, "COLUMN");
    cli_table_addf(&t, "TYPE");
    cli_table_addf(&t, "NULLS");
    size_t i;
    json_t *col;
    json_array_foreach(cols, i, col) {
        const char *name = json_string_value(json_object_get(col, "name"));
        const char *type = json_string_value(json_object_get(col, "type"));
        json_t *nulls = json_object_get(col, "nulls");
        cli_table_addf(&t, "%s", name ? name : "?");
        cli_table_addf(&t, "%s", type ? type : "?");
        if (json_is_integer(nulls))
            cli_table_addf(&t, "%lld", (long long)json_integer_value(nulls));
        else
            cli_table_addf(&t, "-");
    }
    json_decref(cols);
    cli_table_print(&t, stdout, "  ");
}

/* One table's versions, newest first; each diffed against the one before it. */
static int print_table(const char *name, const struct catalog_row *rows, size_t n, bool json)
{
    if (json)
        return dump(doc_catalog_table_json(name, rows, n, false));
    printf("table %s: %zu version%s\n", name, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        const struct catalog_row *c = &rows[i];
        char *why = NULL;
        json_t *changes = i + 1 < n ? doc_catalog_changes(&rows[i + 1], c, &why) : NULL;
        char created[32];
        cli_local_time(c->created_at, created, sizeof(created));
        printf("\nversion %d: ", c->version);
        if (c->run_id)
            printf("run %lld, ", (long long)c->run_id);
        printf("%lld rows, %s\n", (long long)c->rows, created);
        if (why) {
            printf("  changes from version %d: cannot tell: %s\n", rows[i + 1].version, why);
        } else if (changes) {
            printf("  changes from version %d:%s\n", rows[i + 1].version,
                   json_array_size(changes) ? "" : " none in the columns");
            size_t k;
            json_t *line;
            json_array_foreach(changes, k, line)
                printf("    %s\n", json_string_value(line));
        }
        print_columns(c);
        json_decref(changes);
        free(why);
    }
    return 0;
}

int cmd_catalog(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    const char *table;
    bool json;
    if (cli_optional_arg(argc, argv, usage, "TABLE", &table, &json))
        return EXIT_USAGE;
    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    struct catalog_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    int rc = EXIT_RUN_FAILED;
    if (store_catalog_list(st, table, &rows, &n, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (table && !n) {
        cli_error("no table '%s' in the catalog", table);
        goto out;
    }
    if ((table ? print_table(table, rows, n, json) : print_tables(rows, n, json)) == 0)
        rc = EXIT_OK;
out:
    catalog_rows_free(rows, n);
    store_close(st);
    return rc;
}
