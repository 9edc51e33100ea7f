/* Pipeline files: YAML text (libyaml) → a validated struct pipeline. */
#ifndef SLUICE_LOAD_H
#define SLUICE_LOAD_H

#include <stddef.h>

#include "pipeline/diag.h"
#include "pipeline/spec.h"

#define PIPELINE_MAX_BYTES (4 * 1024 * 1024)
#define PIPELINE_MAX_NODES 100000
#define PIPELINE_MAX_DEPTH 64

/* Load and validate the file at path. Every error found is added to diags (all of them, in
 * one pass). Returns the pipeline when diags stays empty, else NULL. The text is kept in
 * the returned pipeline; on failure *text (if text is non-NULL) receives the file text for
 * diag_print (caller frees), or NULL when the file could not be read. */
struct pipeline *pipeline_load(const char *path, struct diag_list *diags, char **text,
                               size_t *text_len);
/* The same from text in memory; path is used for messages and to resolve relative paths. */
struct pipeline *pipeline_load_text(const char *path, const char *text, size_t len,
                                    struct diag_list *diags);

#endif
