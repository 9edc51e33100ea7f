/* The server's insides, shared by web/server.c (the server's life), web/conn.c (connections
 * and streams) and web/route.c (the checks and the route table). Private to those three files:
 * handlers see only web/server.h. */
#ifndef SLUICE_WEB_SERVER_INT_H
#define SLUICE_WEB_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "web/server.h"

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t keepalive;     /* SSE keep-alive comments */
    struct http_server_config cfg;
    char *host;
    char *token;
    int port;
    const struct http_route *routes;
    size_t nroutes;
    void *app;
    struct http_conn *conns;  /* every open connection */
    int nconns;
    int handles;              /* the server's own open handles */
    bool closing;
    void (*done)(void *data);
    void *done_data;
};

/* web/conn.c */
void conn_on_connection(uv_stream_t *ls, int status); /* the listener's connection callback */
void conn_on_keepalive(uv_timer_t *t);                /* srv->keepalive: a comment per stream */
void conn_close_all(struct http_server *srv);         /* start closing every open connection */

/* web/server.c */
/* Free srv and call its done callback once it is closing and its last handle and connection
 * are gone; called from every close callback. */
void server_maybe_done(struct http_server *srv);

#endif
