/* The catalog's JSON documents (`sluice catalog --json`, /api/catalog), beside the crawl whose
 * schema.json they read and whose schema diff says what changed between two versions. The
 * values they are made of are store/doc.h's. */
#ifndef SLUICE_DOC_CATALOG_H
#define SLUICE_DOC_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct catalog_row;

/* A catalog version's columns as the catalog promises them: [{"name", "type", "nulls"}]. */
json_t *doc_catalog_columns(const struct catalog_row *c);
/* What changed from older to newer, one line each; NULL (with *why set, caller frees) when a
 * schema cannot be read. */
json_t *doc_catalog_changes(const struct catalog_row *older, const struct catalog_row *newer,
                            char **why);
/* One version: {"name" (with_name), "version", "run", "rows", "columns", "created_at"}. */
json_t *doc_catalog_version(const struct catalog_row *c, bool with_name);
/* `sluice catalog TABLE --json` for rows (every version of table, newest first): each
 * version also has "changes" from the one before (not the oldest); with_schema adds its full
 * schema.json as "schema" (the web API's quality-rule results). */
json_t *doc_catalog_table_json(const char *table, const struct catalog_row *rows, size_t n,
                               bool with_schema);

#endif
