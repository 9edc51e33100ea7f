/* The POST routes (the token is checked before they run): trigger a pipeline, approve or
 * reject a waiting step, cancel a run, retry an ended one. A run this server starts is handed
 * to its engine at once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/rollback.h"
#include "scheduler/trigger.h"
#include "store/doc.h"
#include "store/registry.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "web/api.h"

#define BY_MAX 100
#define COMMENT_MAX 4000

/* Drive a new run here now rather than at the next adoption sweep. A failure is no error of
 * the request: the run is recorded, and the sweep (or another engine) picks it up. */
static void start_run(struct web_app *app, int64_t id, const struct engine_opts *opts)
{
    if (!app->eng || app->stopping)
        return;
    struct err e = ERR_INIT;
    engine_add_run(app->eng, id, opts, &e);
}

static int fail(struct http_resp *resp, int status, const char *fmt, const char *a)
{
    char *msg = xasprintf(fmt, a);
    http_resp_error(resp, status, msg);
    free(msg);
    return 0;
}

/* A JSON parameter value as the text a parameter is stored as. NULL for arrays, objects and
 * null. */
static char *param_text(json_t *v)
{
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v)) {
        double d = json_real_value(v);
        for (int p = 15; p <= 17; p++) {
            char *s = xasprintf("%.*g", p, d);
            if (strtod(s, NULL) == d || p == 17)
                return s;
            free(s);
        }
    }
    if (json_is_boolean(v))
        return xstrdup(json_is_true(v) ? "true" : "false");
    return NULL;
}

int api_trigger(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    const char *name = req->params[0];
    json_t *body = api_body_object(req, resp);
    if (!body)
        return 0;
    json_t *given = json_object_get(body, "params");
    if (given && !json_is_object(given)) {
        json_decref(body);
        return fail(resp, 400, "%s", "'params' must be an object of NAME: VALUE");
    }
    struct err e = ERR_INIT;
    struct pipeline *p = trigger_find_pipeline(app->dags, name, &e);
    if (!p) {
        json_decref(body);
        return fail(resp, e.code == TRIGGER_NOT_FOUND ? 404 : 500, "%s", e.msg);
    }
    size_t n = json_object_size(given), k = 0;
    struct run_param *set = xcalloc(n + 1, sizeof(*set));
    const char *key;
    json_t *v;
    bool ok = true;
    json_object_foreach(given, key, v) {
        char *text = param_text(v);
        if (!text) {
            fail(resp, 400, "parameter '%s' must be a string, a number or true/false", key);
            ok = false;
            break;
        }
        set[k].name = xstrdup(key);
        set[k++].value = text;
        if (trigger_check_param(p, key, text, &e) < 0) {
            fail(resp, 400, "%s", e.msg);
            ok = false;
            break;
        }
    }
    int64_t id = 0;
    if (ok && trigger_run(app->st, p, set, k, "api", &app->run_opts, &id, &e) < 0) {
        fail(resp, 500, "%s", e.msg);
        ok = false;
    }
    for (size_t i = 0; i < k; i++) {
        free(set[i].name);
        free(set[i].value);
    }
    free(set);
    pipeline_free(p);
    json_decref(body);
    if (!ok)
        return 0;
    start_run(app, id, &app->run_opts);
    http_resp_header(resp, "Location", "/api/runs/%lld", (long long)id);
    return api_json(resp, 201, json_pack("{s:I, s:s}", "id", (json_int_t)id, "status", "queued"));
}

/* The run id of a /api/runs/ID/... route, and the run; -1 with the answer made when there is
 * no such run. */
static int load_run(struct http_req *req, struct http_resp *resp, struct run_row *r)
{
    struct web_app *app = req->app;
    int64_t id = api_parse_id(req->params[0]);
    if (id < 0) {
        http_resp_error(resp, 404, "not found");
        return -1;
    }
    struct err e = ERR_INIT;
    if (store_run_get(app->st, id, r, &e) < 0) {
        api_store_error(resp, &e);
        return -1;
    }
    return 0;
}

/* The step to decide: the one named, or the only one waiting. NULL with the answer made. */
static char *pick_step(struct web_app *app, const struct run_row *r, const char *want,
                       struct http_resp *resp)
{
    struct step_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_steps_load(app->st, r->id, &rows, &n, &e) < 0) {
        api_store_error(resp, &e);
        return NULL;
    }
    char *pick = NULL;
    struct strbuf waiting = STRBUF_INIT;
    size_t nwait = 0;
    for (size_t i = 0; i < n; i++) {
        if (want && !strcmp(rows[i].name, want)) {
            if (rows[i].status == STEP_WAITING)
                pick = xstrdup(want);
            else
                fail(resp, 409, "step '%s' is not waiting for a decision", want);
            break;
        }
        if (rows[i].status == STEP_WAITING) {
            strbuf_addf(&waiting, "%s%s", nwait ? ", " : "", rows[i].name);
            nwait++;
        }
    }
    if (want && !pick && resp->status == 200)
        fail(resp, 404, "there is no step '%s'", want);
    else if (!want && nwait == 1)
        pick = xstrdup(waiting.buf);
    else if (!want && nwait == 0)
        fail(resp, 409, "%s", "no step of this run is waiting for a decision");
    else if (!want)
        fail(resp, 409, "several steps wait for a decision (%s): say which with \"step\"",
             waiting.buf);
    strbuf_release(&waiting);
    step_rows_free(rows, n);
    return pick;
}

/* A string member of the body no longer than max; *out NULL when absent. -1 with the answer
 * made when it is not a string or too long. */
static int body_string(json_t *body, const char *key, size_t max, const char **out,
                       struct http_resp *resp)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > max) {
        char *msg = xasprintf("'%s' must be a string of at most %zu bytes", key, max);
        http_resp_error(resp, 400, msg);
        free(msg);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int decide(struct http_req *req, struct http_resp *resp, bool approve)
{
    struct web_app *app = req->app;
    struct run_row r;
    if (load_run(req, resp, &r) < 0)
        return 0;
    json_t *body = api_body_object(req, resp);
    const char *by = NULL, *comment = NULL, *want = NULL;
    char *step = NULL;
    if (!body || body_string(body, "by", BY_MAX, &by, resp) < 0 ||
        body_string(body, "comment", COMMENT_MAX, &comment, resp) < 0 ||
        body_string(body, "step", 256, &want, resp) < 0)
        goto out;
    if (!(step = pick_step(app, &r, want, resp)))
        goto out;
    bool won = false;
    struct err e = ERR_INIT;
    if (store_approval_decide(app->st, r.id, step, approve, by && *by ? by : "web", comment,
                              &won, &e) < 0) {
        api_store_error(resp, &e);
        goto out;
    }
    if (!won) {
        fail(resp, 409, "step '%s' was already decided", step);
        goto out;
    }
    /* The engine that drives the run follows the decision at its next tick; a run nobody
     * drives (sluice run --no-wait exited) is adopted by this server's sweep. */
    api_json(resp, 200,
             json_pack("{s:I, s:s, s:s}", "id", (json_int_t)r.id, "step", step, "decision",
                       approve ? "approved" : "rejected"));
out:
    free(step);
    json_decref(body);
    run_row_release(&r);
    return 0;
}

int api_approve(struct http_req *req, struct http_resp *resp)
{
    return decide(req, resp, true);
}

int api_reject(struct http_req *req, struct http_resp *resp)
{
    return decide(req, resp, false);
}

int api_cancel(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    struct run_row r;
    if (load_run(req, resp, &r) < 0)
        return 0;
    int64_t id = r.id;
    bool ended = run_status_terminal(r.status);
    char *status = xstrdup(run_status_name(r.status));
    run_row_release(&r);
    if (ended) {
        fail(resp, 409, "the run has already ended (%s)", status);
        free(status);
        return 0;
    }
    free(status);
    struct err e = ERR_INIT;
    if (store_run_request_cancel(app->st, id, &e) < 0)
        return api_store_error(resp, &e);
    if (app->eng)
        engine_cancel(app->eng, id); /* at once when this server drives it */
    return api_json(resp, 202,
                    json_pack("{s:I, s:b}", "id", (json_int_t)id, "cancel_requested", 1));
}

int api_retry(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    int64_t parent = api_parse_id(req->params[0]), id = 0;
    if (parent < 0) {
        http_resp_error(resp, 404, "not found");
        return 0;
    }
    struct engine_opts opts;
    struct err e = ERR_INIT;
    if (trigger_retry(app->st, parent, &id, &opts, &e) < 0) {
        if (e.code == TRIGGER_CONFLICT)
            return fail(resp, 409, "%s", e.msg);
        return api_store_error(resp, &e);
    }
    opts.no_wait = false;
    start_run(app, id, &opts);
    http_resp_header(resp, "Location", "/api/runs/%lld", (long long)id);
    return api_json(resp, 201,
                    json_pack("{s:I, s:I, s:s}", "id", (json_int_t)id, "parent_run",
                              (json_int_t)parent, "status", "queued"));
}

int api_rollback(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    const char *target = NULL;
    json_t *body = api_body_object(req, resp);
    if (!body || body_string(body, "target", 4096, &target, resp) < 0) {
        json_decref(body);
        return 0;
    }
    struct rollback_result res;
    struct err e = ERR_INIT;
    if (rollback_model(app->st, req->params[0], target, &res, &e) < 0) {
        json_decref(body);
        int status = e.code == ROLLBACK_NOT_FOUND ? 404 : e.code == ROLLBACK_CONFLICT ? 409 : 500;
        return fail(resp, status, "%s", e.msg);
    }
    json_decref(body);
    json_t *doc = json_pack("{s:s, s:s, s:i, s:s, s:o}", "name", req->params[0], "target",
                            res.target, "version", res.version, "slot", res.slot, "retired",
                            res.retired ? json_integer(res.retired) : json_null());
    rollback_result_release(&res);
    return api_json(resp, 200, doc ? doc : json_object());
}
