/* The HTTP/1.1 server's life: configuration with its defaults, the listening socket, and a
 * close that waits for every connection (web/conn.c) to be gone before freeing the server. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "util/xalloc.h"
#include "web/server_int.h"

#define KEEPALIVE_MS 15000 /* SSE comment lines, so proxies keep the stream */

/* A client that goes away while its answer is written must not kill the server with SIGPIPE:
 * writes then fail with EPIPE instead. A handler rather than SIG_IGN, because a caught signal
 * goes back to its default across exec, so the steps the engine starts are not affected. */
static void on_sigpipe(int sig)
{
    (void)sig;
}

static int64_t env_ms(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    long long n = strtoll(v, &end, 10);
    return *end || n <= 0 ? dflt : (int64_t)n;
}

/* A listening socket bound to host:port (created here rather than by libuv, so that a bind
 * error leaves no handle to close on a loop that is not running yet). */
static int listen_socket(const char *host, int port, int *bound_port, struct err *e)
{
    struct sockaddr_storage addr;
    socklen_t alen;
    memset(&addr, 0, sizeof(addr));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        alen = sizeof(*a4);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        alen = sizeof(*a6);
    } else {
        return err_set(e, "'%s' is not an IP address", host);
    }
    if (port < 0 || port > 65535)
        return err_set(e, "'%d' is not a port number", port);
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return err_set(e, "cannot create a socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, alen) < 0 || listen(fd, 128) < 0) {
        int saved = errno;
        close(fd);
        return err_set(e, "cannot listen on '%s:%d': %s", host, port, strerror(saved));
    }
    socklen_t blen = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &blen);
    *bound_port = addr.ss_family == AF_INET6 ? ntohs(a6->sin6_port) : ntohs(a4->sin_port);
    return fd;
}

struct http_server *http_server_new(void *loop, const struct http_server_config *cfg,
                                    const struct http_route *routes, size_t nroutes, void *app,
                                    struct err *e)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPIPE, &sa, NULL);

    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->host = xstrdup(cfg->host ? cfg->host : "127.0.0.1");
    srv->token = cfg->token ? xstrdup(cfg->token) : NULL;
    srv->cfg.host = srv->host;
    srv->cfg.token = srv->token;
    srv->routes = routes;
    srv->nroutes = nroutes;
    srv->app = app;
    struct http_server_config *c = &srv->cfg;
    if (!c->max_header_bytes)
        c->max_header_bytes = HTTP_MAX_HEADER_BYTES;
    if (!c->max_body_bytes)
        c->max_body_bytes = HTTP_MAX_BODY_BYTES;
    if (!c->header_timeout_ms)
        c->header_timeout_ms = env_ms("SLUICE_HTTP_HEADER_TIMEOUT_MS", HTTP_HEADER_TIMEOUT_MS);
    if (!c->request_timeout_ms)
        c->request_timeout_ms = env_ms("SLUICE_HTTP_REQUEST_TIMEOUT_MS", HTTP_REQUEST_TIMEOUT_MS);
    if (!c->idle_timeout_ms)
        c->idle_timeout_ms = env_ms("SLUICE_HTTP_IDLE_TIMEOUT_MS", HTTP_IDLE_TIMEOUT_MS);
    if (!c->max_conns)
        c->max_conns = (int)env_ms("SLUICE_HTTP_MAX_CONNS", HTTP_MAX_CONNS);

    int fd = listen_socket(srv->host, cfg->port, &srv->port, e);
    if (fd < 0)
        goto fail;
    uv_tcp_init(srv->loop, &srv->listener);
    srv->listener.data = srv;
    srv->handles = 1;
    int rc = uv_tcp_open(&srv->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 128, conn_on_connection);
    if (rc < 0)
        BUG("cannot listen on a bound socket: %s", uv_strerror(rc));
    uv_timer_init(srv->loop, &srv->keepalive);
    srv->keepalive.data = srv;
    srv->handles++;
    uv_timer_start(&srv->keepalive, conn_on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);
    return srv;
fail:
    free(srv->host);
    free(srv->token);
    free(srv);
    return NULL;
}

int http_server_port(const struct http_server *srv)
{
    return srv->port;
}

const char *http_server_host(const struct http_server *srv)
{
    return srv->host;
}

void server_maybe_done(struct http_server *srv)
{
    if (!srv->closing || srv->handles > 0 || srv->conns)
        return;
    void (*done)(void *) = srv->done;
    void *data = srv->done_data;
    free(srv->host);
    free(srv->token);
    free(srv);
    if (done)
        done(data);
}

static void on_server_handle_closed(uv_handle_t *h)
{
    struct http_server *srv = h->data;
    srv->handles--;
    server_maybe_done(srv);
}

void http_server_close(struct http_server *srv, void (*done)(void *data), void *data)
{
    if (srv->closing)
        return;
    srv->closing = true;
    srv->done = done;
    srv->done_data = data;
    uv_close((uv_handle_t *)&srv->listener, on_server_handle_closed);
    uv_close((uv_handle_t *)&srv->keepalive, on_server_handle_closed);
    conn_close_all(srv);
}
