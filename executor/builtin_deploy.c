/* `sluice builtin deploy`: the process the engine runs (under the shim) for a deploy step.
 * Health check progress and a final JSON line go to stdout, errors to stderr; the exit status
 * is 0, 1 (failed, rolled back when the health check failed) or 75 (target busy: retry). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/builtin.h"
#include "executor/deploy.h"

static json_t *slot_json(const char *slot)
{
    return slot[0] ? json_string(slot) : json_null();
}

/* {"slot": "green", "previous": "blue", "rolled_back": false, "version": "v3"} */
static void print_result(const struct deploy_result *res, const char *version)
{
    json_t *o = json_object();
    json_object_set_new(o, "slot", slot_json(res->slot));
    json_object_set_new(o, "previous", slot_json(res->previous));
    json_object_set_new(o, "rolled_back", json_boolean(res->rolled_back));
    json_t *v = json_string(version);
    json_object_set_new(o, "version", v ? v : json_null());
    char *text = json_dumps(o, JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text)
        printf("%s\n", text);
    free(text);
}

int builtin_deploy_main(int argc, char **argv)
{
    struct builtin_req req;
    int done = builtin_start(BUILTIN_DEPLOY, argc, argv, &req);
    if (done >= 0)
        return done;
    struct deploy_options opt = {
        .model = req.model,
        .target = req.target,
        .version = req.version,
        .name = req.name,
        .health = req.health,
        .health_timeout_ms = req.health_timeout_ms, /* 0: deploy_run's default */
        .progress = stdout,
    };

    struct deploy_result res;
    struct err e = ERR_INIT;
    int rc = deploy_run(&opt, &res, &e);
    if (res.slot[0])
        print_result(&res, opt.version);
    if (fflush(stdout) && !rc)
        return 1;
    if (!rc)
        return 0;
    fprintf(stderr, "error: %s\n", e.msg);
    return e.code == DEPLOY_ERR_BUSY ? BUILTIN_EXIT_TRANSIENT : 1;
}
