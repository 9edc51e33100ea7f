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

static const char usage[] =
    "usage: sluice builtin deploy --model PATH --target DIR --version LABEL [--name NAME]\n"
    "                             [--health URL]\n"
    "                             [--health-timeout MS]\n"
    "\n"
    "  --model PATH         the model file or folder to deploy\n"
    "  --target DIR         deployment folder: DIR/blue, DIR/green, DIR/current -> live slot\n"
    "  --version LABEL      written to the slot's VERSION file\n"
    "  --name NAME          the model's file name in the slot (default: that of --model)\n"
    "  --health URL         must answer 2xx after the switch, else the switch is undone\n"
    "  --health-timeout MS  how long to keep trying the health check (default and 0: 30000)\n";

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
    struct deploy_options opt = {.health_timeout_ms = DEPLOY_DEFAULT_HEALTH_TIMEOUT_MS,
                                 .progress = stdout};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (i + 1 >= argc)
            return builtin_usage_error(usage, "unknown option or missing value '%s'", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--model")) {
            opt.model = v;
        } else if (!strcmp(a, "--target")) {
            opt.target = v;
        } else if (!strcmp(a, "--version")) {
            opt.version = v;
        } else if (!strcmp(a, "--name")) {
            opt.name = v;
        } else if (!strcmp(a, "--health")) {
            opt.health = v;
        } else if (!strcmp(a, "--health-timeout")) {
            char *end;
            errno = 0;
            long long n = strtoll(v, &end, 10);
            if (v[0] < '0' || v[0] > '9' || *end || errno || n < 0)
                return builtin_usage_error(usage,
                                           "bad --health-timeout '%s': expected milliseconds", v);
            opt.health_timeout_ms = n; /* 0: deploy_run's default */
        } else {
            return builtin_usage_error(usage, "unknown option '%s'", a);
        }
    }
    if (!opt.model)
        return builtin_usage_error(usage, "missing --model");
    if (!opt.target)
        return builtin_usage_error(usage, "missing --target");
    if (!opt.version)
        return builtin_usage_error(usage, "missing --version");

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
