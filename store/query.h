/* Read-only look-ups for the history commands (sluice show, logs, lineage) that the store's
 * core API does not carry. Same conventions as store.h: 0 or -1 with e set, STORE_NOT_FOUND
 * when the row does not exist, returned rows freed by their *_release function. */
#ifndef SLUICE_STORE_QUERY_H
#define SLUICE_STORE_QUERY_H

#include <stdint.h>

#include "store/store.h"

/* One attempt by its id (e.g. the attempt a cache record's cached_from names, or one seen in
 * a lineage edge); release with attempt_row_release. */
int store_attempt_get(struct store *st, int64_t attempt_id, struct attempt_row *out, struct err *e);

#endif
