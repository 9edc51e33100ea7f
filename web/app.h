/* `sluice serve` as a whole: the HTTP server with its routes on the engine's loop, the SSE
 * feeds, and the pipelines' schedules. cli/cmd_serve.c sets it up and runs the engine. */
#ifndef SLUICE_WEB_APP_H
#define SLUICE_WEB_APP_H

#include "scheduler/engine.h"
#include "store/store.h"
#include "util/err.h"

struct web_app;

struct web_app_config {
    const char *host;  /* bind address */
    int port;          /* 0 = any free port */
    const char *dags;  /* the pipelines folder (triggers and schedules) */
    const char *token; /* the secret of mutations */
    int parallel;      /* step slots of each run started here; 0 = CPUs */
};

/* Listen and register everything on eng's loop (engine_set_serve and the listener included);
 * nothing runs until engine_loop. NULL with e set ("cannot listen on …"). */
struct web_app *web_app_start(struct store *st, struct engine *eng,
                              const struct web_app_config *cfg, struct err *e);
int web_app_port(const struct web_app *app);
/* Close the server and the timers (the engine's on_stop does it on SIGINT/SIGTERM). */
void web_app_stop(struct web_app *app);
/* After engine_loop has returned. NULL is fine. */
void web_app_free(struct web_app *app);

#endif
