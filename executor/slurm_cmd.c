/* Slurm's commands under uv_spawn (executor/slurm_cmd.h). */
#include "executor/slurm_cmd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "executor/slurm_int.h"
#include "store/store.h"
#include "util/xalloc.h"

static void on_cmd_closed(uv_handle_t *h)
{
    struct cmd *c = h->data;
    if (--c->open > 0)
        return;
    if (c->slot)
        *c->slot = NULL;
    if (c->done && !(c->quiet && *c->quiet)) /* after a close, nothing is reported */
        c->done(c);
    strbuf_release(&c->obuf);
    strbuf_release(&c->ebuf);
    for (size_t i = 0; i < c->nids; i++)
        free(c->ids[i]);
    free(c->ids);
    free(c);
}

static void cmd_close(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_cmd_closed);
}

static void on_cmd_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = xmalloc(suggested);
    buf->len = suggested;
}

static void on_cmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct cmd *c = s->data;
    if (n > 0)
        strbuf_add(s == (uv_stream_t *)&c->out ? &c->obuf : &c->ebuf, buf->base, (size_t)n);
    free(buf->base);
    if (n < 0)
        cmd_close((uv_handle_t *)s);
}

static void on_cmd_exit(uv_process_t *p, int64_t status, int term_signal)
{
    struct cmd *c = p->data;
    c->exited = true;
    c->status = status;
    c->term_signal = term_signal;
    uv_timer_stop(&c->timer);
    cmd_close((uv_handle_t *)&c->timer);
    cmd_close((uv_handle_t *)p);
}

static void on_cmd_timeout(uv_timer_t *t)
{
    struct cmd *c = t->data;
    c->timed_out = true;
    uv_process_kill(&c->proc, SIGKILL);
}

struct cmd *slurm_cmd_run(uv_loop_t *loop, char *const *argv, char *const *envp,
                          int64_t timeout_ms, void (*done)(struct cmd *c), void *data,
                          const bool *quiet, struct err *e)
{
    struct cmd *c = xcalloc(1, sizeof(*c));
    c->done = done;
    c->data = data;
    c->quiet = quiet;
    c->timeout_ms = timeout_ms;
    strbuf_init(&c->obuf);
    strbuf_init(&c->ebuf);
    uv_pipe_init(loop, &c->out, 0);
    uv_pipe_init(loop, &c->err, 0);
    c->out.data = c->err.data = c->proc.data = c;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->err},
    };
    uv_process_options_t o = {
        .exit_cb = on_cmd_exit,
        .file = argv[0],
        .args = (char **)argv,
        .env = (char **)envp,
        .stdio_count = 3,
        .stdio = stdio,
    };
    int rc = uv_spawn(loop, &c->proc, &o);
    if (rc < 0) {
        err_set(e, "cannot run '%s': %s", argv[0], uv_strerror(rc));
        /* Its handles are freed once closed, on the next loop turn; nothing is reported. */
        c->done = NULL;
        c->open = 3;
        uv_close((uv_handle_t *)&c->out, on_cmd_closed);
        uv_close((uv_handle_t *)&c->err, on_cmd_closed);
        uv_close((uv_handle_t *)&c->proc, on_cmd_closed);
        return NULL;
    }
    c->open = 4;
    c->started_ms = store_now_ms();
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_cmd_timeout, (uint64_t)timeout_ms, 0);
    uv_read_start((uv_stream_t *)&c->out, on_cmd_alloc, on_cmd_read);
    uv_read_start((uv_stream_t *)&c->err, on_cmd_alloc, on_cmd_read);
    return c;
}

bool slurm_cmd_ok(const struct cmd *c, bool *transient, char *msg, size_t msgsz)
{
    *transient = false;
    if (c->exited && !c->timed_out && c->status == 0 && !c->term_signal)
        return true;
    if (c->timed_out) {
        *transient = true;
        snprintf(msg, msgsz, "no answer after %llds", (long long)(c->timeout_ms / 1000));
        return false;
    }
    slurm_error_text(c->ebuf.len ? c->ebuf.buf : "", msg, msgsz);
    *transient = c->term_signal || slurm_error_transient(c->ebuf.len ? c->ebuf.buf : "");
    return false;
}
