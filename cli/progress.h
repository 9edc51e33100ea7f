/* Live progress of a run: on a terminal one redrawn line ("[3/7] train  running 12s") above
 * which finished steps scroll; elsewhere one plain line per event. */
#ifndef SLUICE_PROGRESS_H
#define SLUICE_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "scheduler/engine.h"

struct progress;

struct progress *progress_new(FILE *out, bool tty);
void progress_free(struct progress *p);
/* An engine_event_cb; data is the struct progress. */
void progress_event(void *data, const struct engine_event *ev);
/* Clear the live line (before printing anything else). */
void progress_clear(struct progress *p);

#endif
