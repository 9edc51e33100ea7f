/* GET /api/events: Server-Sent Events. Run and step changes of the runs this server drives
 * (the engine's listener), every new row of the store's audit trail (polled, so runs driven by
 * other processes show too), and, for a stream opened with ?run=ID&step=S, the new bytes of
 * that step's log. */
#include <stdlib.h>
#include <string.h>

#include "store/doc.h"
#include "util/xalloc.h"
#include "web/api.h"

#define AUDIT_BATCH 500          /* audit rows sent per poll at most */
#define AUDIT_BACKLOG 1000       /* rows replayed to a client that reconnects (Last-Event-ID) */
#define LOG_CHUNK (64 * 1024)    /* log bytes per stream per tick at most */

struct web_events {
    struct web_app *app;
    int64_t audit_after; /* the last audit row sent */
    unsigned ticks;
};

/* One stream's subscription. */
struct sub {
    int64_t run;    /* 0 = every run */
    char *step;     /* follow this step's log; NULL = no log */
    int attempt;    /* the attempt asked for; 0 = the newest */
    int following;  /* the attempt whose log is followed now */
    int64_t offset; /* next byte of its log to send */
    bool done;      /* that attempt ended and everything was sent */
};

static void sub_free(void *p)
{
    struct sub *s = p;
    if (!s)
        return;
    free(s->step);
    free(s);
}

/* The newest audit row's id, found with a few indexed look-ups (doubling, then halving)
 * rather than by reading the whole table. */
static int64_t audit_last_id(struct store *st)
{
    struct event_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    int64_t lo = 0, hi = 1;
    /* invariant: some row has id > lo; find hi with none above it */
    if (store_events_load(st, 0, 0, 1, &rows, &n, &e) < 0 || !n) {
        event_rows_free(rows, n);
        return 0;
    }
    event_rows_free(rows, n);
    for (;;) {
        if (store_events_load(st, 0, hi, 1, &rows, &n, &e) < 0)
            return 0;
        event_rows_free(rows, n);
        if (!n)
            break;
        lo = hi;
        hi *= 2;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (store_events_load(st, 0, mid, 1, &rows, &n, &e) < 0)
            return 0;
        event_rows_free(rows, n);
        if (n)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

struct web_events *web_events_new(struct web_app *app)
{
    struct web_events *ev = xcalloc(1, sizeof(*ev));
    ev->app = app;
    ev->audit_after = audit_last_id(app->st);
    return ev;
}

void web_events_free(struct web_events *ev)
{
    free(ev);
}

static char *audit_json(const struct event_row *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "run", r->run_id ? json_integer(r->run_id) : json_null());
    json_object_set_new(o, "step", doc_str_or_null(r->step));
    json_object_set_new(o, "what", doc_str_or_null(r->what));
    json_object_set_new(o, "detail", doc_str_or_null(r->detail));
    json_object_set_new(o, "at", doc_time(r->at));
    char *s = doc_dumps(o, false);
    json_decref(o);
    return s;
}

struct audit_send {
    const struct event_row *rows;
    size_t n;
    char **texts;
};

static void send_audit(void *data, struct http_stream *s)
{
    struct audit_send *a = data;
    struct sub *sub = http_stream_user(s);
    for (size_t i = 0; i < a->n; i++)
        if (!sub->run || sub->run == a->rows[i].run_id)
            http_stream_send(s, "audit", a->texts[i], a->rows[i].id);
}

static void poll_audit(struct web_events *ev)
{
    struct event_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_events_load(ev->app->st, 0, ev->audit_after, AUDIT_BATCH, &rows, &n, &e) < 0 ||
        !n) {
        event_rows_free(rows, n);
        return;
    }
    struct audit_send a = {rows, n, xcalloc(n, sizeof(char *))};
    for (size_t i = 0; i < n; i++)
        a.texts[i] = audit_json(&rows[i]);
    http_server_each_stream(ev->app->srv, send_audit, &a);
    ev->audit_after = rows[n - 1].id;
    for (size_t i = 0; i < n; i++)
        free(a.texts[i]);
    free(a.texts);
    event_rows_free(rows, n);
}

/* Send what is new in the log a stream follows. */
static void tail_log(void *data, struct http_stream *s)
{
    struct web_events *ev = data;
    struct sub *sub = http_stream_user(s);
    if (!sub->step || !sub->run)
        return;
    struct api_log lg;
    struct err e = ERR_INIT;
    if (api_log_locate(ev->app->st, sub->run, sub->step, sub->attempt, &lg, &e) < 0 ||
        !lg.attempt) {
        free(lg.path);
        return;
    }
    if (lg.attempt != sub->following) {
        /* a new attempt: its log from the start */
        if (sub->following)
            sub->offset = 0;
        sub->following = lg.attempt;
        sub->done = false;
    }
    if (sub->done) {
        free(lg.path);
        return;
    }
    struct strbuf text = STRBUF_INIT;
    int64_t size, start;
    if (api_log_read(lg.path, sub->offset, LOG_CHUNK, lg.ended, &text, &size, &start) == 0 &&
        text.len) {
        int64_t next = start + (int64_t)text.len;
        json_t *o = json_pack("{s:I, s:s, s:i, s:I, s:I, s:o}", "run", (json_int_t)sub->run,
                              "step", sub->step, "attempt", lg.attempt, "offset",
                              (json_int_t)start, "next_offset", (json_int_t)next, "text",
                              api_utf8_string(text.buf, text.len));
        if (o) {
            char *js = doc_dumps(o, false);
            http_stream_send(s, "log", js, 0);
            free(js);
            json_decref(o);
        }
        sub->offset = next;
    }
    if (lg.ended && sub->offset >= size)
        sub->done = true;
    strbuf_release(&text);
    free(lg.path);
}

void web_events_tick(struct web_events *ev)
{
    if (!ev || !ev->app->srv)
        return;
    http_server_each_stream(ev->app->srv, tail_log, ev);
    if (ev->ticks++ % 2 == 0)
        poll_audit(ev);
}

struct change_send {
    int64_t run;
    const char *event;
    const char *text;
};

static void send_change(void *data, struct http_stream *s)
{
    struct change_send *c = data;
    struct sub *sub = http_stream_user(s);
    if (!sub->run || sub->run == c->run)
        http_stream_send(s, c->event, c->text, 0);
}

void web_events_engine_cb(void *data, const struct engine_event *ev)
{
    struct web_app *app = data;
    if (!app->srv || (ev->kind != ENGINE_EV_RUN && ev->kind != ENGINE_EV_STEP))
        return;
    json_t *o;
    if (ev->kind == ENGINE_EV_RUN)
        o = json_pack("{s:I, s:s?, s:s, s:I, s:I, s:I, s:o}", "run", (json_int_t)ev->run_id,
                      "pipeline", ev->pipeline, "status", run_status_name(ev->run_status),
                      "ndone", (json_int_t)ev->ndone, "nnot_run", (json_int_t)ev->nnot_run,
                      "nsteps", (json_int_t)ev->nsteps, "at", doc_time(ev->at_ms));
    else
        o = json_pack("{s:I, s:s?, s:s, s:i, s:o, s:o}", "run", (json_int_t)ev->run_id, "step",
                      ev->step, "status", step_status_name(ev->step_status), "attempt",
                      ev->attempt, "message", doc_str_or_null(ev->message), "at",
                      doc_time(ev->at_ms));
    if (!o)
        return;
    char *text = doc_dumps(o, false);
    json_decref(o);
    struct change_send c = {ev->run_id, ev->kind == ENGINE_EV_RUN ? "run" : "step", text};
    http_server_each_stream(app->srv, send_change, &c);
    free(text);
}

int api_events(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    int64_t run, attempt, offset;
    if (api_query_int(req, resp, "run", 1, INT64_MAX, 0, &run) < 0 ||
        api_query_int(req, resp, "attempt", 1, 1000000, 0, &attempt) < 0 ||
        api_query_int(req, resp, "offset", 0, INT64_MAX, 0, &offset) < 0)
        return 0;
    char *step = http_req_query(req, "step");
    if (step && (!*step || !run)) {
        free(step);
        http_resp_error(resp, 400, "'step' needs 'run' too");
        return 0;
    }
    struct sub *sub = xcalloc(1, sizeof(*sub));
    sub->run = run;
    sub->step = step;
    sub->attempt = (int)attempt;
    sub->offset = offset;
    if (attempt)
        sub->following = (int)attempt;
    struct http_stream *s = http_stream_start(req, resp, sub, sub_free);
    if (!s) {
        sub_free(sub);
        http_resp_error(resp, 400, "not a stream");
        return 0;
    }
    /* A reconnecting EventSource says what it saw last: send what it missed. */
    int64_t last = api_parse_id(http_req_header(req, "last-event-id"));
    if (last > 0) {
        struct event_row *rows = NULL;
        size_t n = 0;
        struct err e = ERR_INIT;
        if (store_events_load(app->st, run, last, AUDIT_BACKLOG, &rows, &n, &e) == 0) {
            for (size_t i = 0; i < n && rows[i].id <= app->events->audit_after; i++) {
                char *t = audit_json(&rows[i]);
                http_stream_send(s, "audit", t, rows[i].id);
                free(t);
            }
        }
        event_rows_free(rows, n);
    }
    return 0;
}
