/* The web server's pieces without a client: the security checks, URL decoding, routing and
 * the checks http_server_dispatch makes before a handler runs (fake requests, fake handlers),
 * the log reader's UTF-8 care, and the JSON values the documents use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "store/doc.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "web/api.h"
#include "web/security.h"
#include "web/server.h"

/* ---- security ---- */

static void test_host_check(void **state)
{
    (void)state;
    assert_true(security_host_ok("127.0.0.1:8080", "127.0.0.1", 8080));
    assert_true(security_host_ok("localhost:8080", "127.0.0.1", 8080));
    assert_true(security_host_ok("LocalHost:8080", "127.0.0.1", 8080));
    assert_true(security_host_ok("[::1]:8080", "127.0.0.1", 8080));
    assert_true(security_host_ok("10.0.0.5:80", "10.0.0.5", 80));
    assert_false(security_host_ok("10.0.0.5:80", "127.0.0.1", 80));
    assert_false(security_host_ok("127.0.0.1", "127.0.0.1", 8080));
    assert_false(security_host_ok("127.0.0.1:8081", "127.0.0.1", 8080));
    assert_false(security_host_ok("127.0.0.1:08080x", "127.0.0.1", 8080));
    assert_false(security_host_ok("evil.example:8080", "127.0.0.1", 8080));
    assert_false(security_host_ok("127.0.0.1.evil.example:8080", "127.0.0.1", 8080));
    assert_false(security_host_ok(":8080", "127.0.0.1", 8080));
    assert_false(security_host_ok(NULL, "127.0.0.1", 8080));
    /* a wildcard bind does not make every name acceptable */
    assert_false(security_host_ok("0.0.0.0:8080", "0.0.0.0", 8080));
    assert_false(security_host_ok("evil.example:8080", "0.0.0.0", 8080));
}

static void test_origin_check(void **state)
{
    (void)state;
    assert_true(security_origin_ok(NULL, "127.0.0.1", 8080));
    assert_true(security_origin_ok("http://127.0.0.1:8080", "127.0.0.1", 8080));
    assert_true(security_origin_ok("http://localhost:8080", "127.0.0.1", 8080));
    assert_false(security_origin_ok("null", "127.0.0.1", 8080));
    assert_false(security_origin_ok("https://127.0.0.1:8080", "127.0.0.1", 8080));
    assert_false(security_origin_ok("http://127.0.0.1:9090", "127.0.0.1", 8080));
    assert_false(security_origin_ok("http://evil.example:8080", "127.0.0.1", 8080));
    assert_false(security_origin_ok("http://", "127.0.0.1", 8080));
}

static void test_url_decode(void **state)
{
    (void)state;
    char *s = security_url_decode("a%2Fb%2e+c", 10, false);
    assert_string_equal(s, "a/b.+c");
    free(s);
    s = security_url_decode("a+b%20c", 7, true);
    assert_string_equal(s, "a b c");
    free(s);
    assert_null(security_url_decode("a%00b", 5, false)); /* an encoded NUL */
    assert_null(security_url_decode("a%2", 3, false));
    assert_null(security_url_decode("a%zz", 4, false));
    /* decoded once only: %252e stays %2e */
    s = security_url_decode("%252e", 5, false);
    assert_string_equal(s, "%2e");
    free(s);
}

static void test_path_check(void **state)
{
    (void)state;
    assert_true(security_path_ok("/"));
    assert_true(security_path_ok("/static/app.js"));
    assert_true(security_path_ok("/runs/"));
    assert_true(security_path_ok("/a/..b/c."));
    assert_false(security_path_ok("static/app.js"));
    assert_false(security_path_ok("/static/../x"));
    assert_false(security_path_ok("/static/.."));
    assert_false(security_path_ok("/./x"));
    assert_false(security_path_ok("/static//x"));
    assert_false(security_path_ok("/a\\..\\b"));
    assert_false(security_path_ok("/a\nb"));
}

static void test_equal_and_token_file(void **state)
{
    (void)state;
    assert_true(security_equal("abc", "abc"));
    assert_false(security_equal("abc", "abd"));
    assert_false(security_equal("abc", "abcd"));
    char dir[] = "/tmp/sluice-test-web.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *tok = NULL, *again = NULL;
    struct err e = ERR_INIT;
    assert_int_equal(security_token_load(dir, &tok, &e), 0);
    assert_int_equal(strlen(tok), 64);
    char *path = xasprintf("%s/token", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(security_token_load(dir, &again, &e), 0);
    assert_string_equal(tok, again); /* kept across serves */
    free(again);
    again = NULL;
    chmod(path, 0644);
    assert_int_equal(security_token_load(dir, &again, &e), -1);
    assert_non_null(strstr(e.msg, "readable by others"));
    assert_null(again);
    unlink(path);
    rmdir(dir);
    free(path);
    free(tok);
}

/* ---- dispatch ---- */

static int calls;

static int h_echo(struct http_req *req, struct http_resp *resp)
{
    calls++;
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "%s|%zu", req->path, req->nparams);
    for (size_t i = 0; i < req->nparams; i++)
        strbuf_addf(&sb, "|%s", req->params[i]);
    http_resp_text(resp, 200, "text/plain", sb.buf);
    strbuf_release(&sb);
    return 0;
}

static int h_fail(struct http_req *req, struct http_resp *resp)
{
    (void)req;
    (void)resp;
    calls++;
    return -1;
}

static const struct http_route routes[] = {
    {"GET", "/api/runs/:id", h_echo, 0},
    {"GET", "/api/runs/:id/steps/:step/log", h_echo, 0},
    {"POST", "/api/runs/:id/cancel", h_echo, HTTP_ROUTE_MUTATION},
    {"GET", "/api/broken", h_fail, 0},
    {"GET", "/static/", h_echo, HTTP_ROUTE_PREFIX},
};

struct fixture {
    uv_loop_t loop;
    struct http_server *srv;
    int port;
    char host[32];
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    struct http_server_config cfg = {.host = "127.0.0.1", .port = 0, .token = "s3cret-token-0123"};
    struct err e = ERR_INIT;
    f->srv = http_server_new(&f->loop, &cfg, routes, sizeof(routes) / sizeof(routes[0]), NULL, &e);
    if (!f->srv)
        return -1;
    f->port = http_server_port(f->srv);
    snprintf(f->host, sizeof(f->host), "127.0.0.1:%d", f->port);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    http_server_close(f->srv, NULL, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    free(f);
    return 0;
}

/* Dispatch one request; returns the status, body in *body (caller frees). */
static int request(struct fixture *f, enum http_verb verb, const char *target,
                   const struct http_header *extra, size_t nextra, char **body)
{
    struct http_header h[8];
    size_t n = 0;
    h[n++] = (struct http_header){"host", f->host};
    for (size_t i = 0; i < nextra; i++)
        h[n++] = extra[i];
    struct http_req req = {.verb = verb, .method = verb == HTTP_VERB_POST ? "POST" : "GET",
                           .target = target, .headers = h, .nheaders = n, .body = ""};
    struct http_resp resp;
    http_resp_init(&resp);
    http_server_dispatch(f->srv, &req, &resp);
    if (body)
        *body = xstrdup(resp.body.buf);
    int status = resp.status;
    if (status == 303) {
        assert_non_null(strstr(resp.headers.buf, "HttpOnly; SameSite=Strict"));
        assert_non_null(strstr(resp.headers.buf, "Location: /api/runs/1?a=b\r\n"));
    }
    http_resp_release(&resp);
    return status;
}

static void test_server_survives_sigpipe(void **state)
{
    (void)state;
    /* the server is running (setup): a write to a vanished client must not kill it, and a
     * handler (unlike SIG_IGN) is not inherited by the programs the engine starts */
    struct sigaction sa;
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
    assert_int_equal(raise(SIGPIPE), 0);
}

static void test_dispatch_routes(void **state)
{
    struct fixture *f = *state;
    char *body;
    calls = 0;
    assert_int_equal(request(f, HTTP_VERB_GET, "/api/runs/7?x=1", NULL, 0, &body), 200);
    assert_string_equal(body, "/api/runs/7|1|7");
    free(body);
    /* an encoded slash stays inside its segment */
    assert_int_equal(request(f, HTTP_VERB_GET, "/api/runs/7/steps/a%2Fb/log", NULL, 0, &body),
                     200);
    assert_string_equal(body, "/api/runs/7/steps/a/b/log|2|7|a/b");
    free(body);
    assert_int_equal(request(f, HTTP_VERB_HEAD, "/api/runs/7", NULL, 0, NULL), 200);
    assert_int_equal(request(f, HTTP_VERB_GET, "/api/runs", NULL, 0, NULL), 404);
    assert_int_equal(request(f, HTTP_VERB_GET, "/api/runs/7/cancel", NULL, 0, NULL), 405);
    assert_int_equal(request(f, HTTP_VERB_GET, "/api/broken", NULL, 0, &body), 500);
    assert_non_null(strstr(body, "\"error\""));
    free(body);
    assert_int_equal(calls, 4);
}

static void test_dispatch_traversal(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "/static/../etc/passwd", "/static/%2e%2e/etc/passwd", "/static/..%2fetc%2fpasswd",
        "/static/%2E%2E%2Fx", "/static/a%00", "/static//x", "/static/.%2e/x", "/static/a%5c..",
    };
    calls = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(request(f, HTTP_VERB_GET, bad[i], NULL, 0, NULL), 404);
    assert_int_equal(calls, 0);
    assert_int_equal(request(f, HTTP_VERB_GET, "/static/app.js", NULL, 0, NULL), 200);
}

static void test_dispatch_host_token_origin(void **state)
{
    struct fixture *f = *state;
    calls = 0;
    struct http_header evil = {"host", "evil.example:1"};
    struct http_req req = {.verb = HTTP_VERB_GET, .method = "GET", .target = "/api/runs/1",
                           .headers = &evil, .nheaders = 1, .body = ""};
    struct http_resp resp;
    http_resp_init(&resp);
    http_server_dispatch(f->srv, &req, &resp);
    assert_int_equal(resp.status, 421);
    http_resp_release(&resp);

    assert_int_equal(request(f, HTTP_VERB_POST, "/api/runs/1/cancel", NULL, 0, NULL), 401);
    struct http_header bearer = {"authorization", "Bearer s3cret-token-0123"};
    struct http_header wrong = {"authorization", "Bearer s3cret-token-0124"};
    struct http_header cookie = {"cookie", "x=1; sluice_session=s3cret-token-0123"};
    struct http_header origin_bad = {"origin", "http://evil.example"};
    char own[64];
    snprintf(own, sizeof(own), "http://localhost:%d", f->port);
    struct http_header origin_ok = {"origin", own};
    assert_int_equal(request(f, HTTP_VERB_POST, "/api/runs/1/cancel", &wrong, 1, NULL), 401);
    assert_int_equal(calls, 0);
    assert_int_equal(request(f, HTTP_VERB_POST, "/api/runs/1/cancel", &bearer, 1, NULL), 200);
    assert_int_equal(request(f, HTTP_VERB_POST, "/api/runs/1/cancel", &cookie, 1, NULL), 200);
    struct http_header both[2] = {bearer, origin_bad};
    assert_int_equal(request(f, HTTP_VERB_POST, "/api/runs/1/cancel", both, 2, NULL), 403);
    both[1] = origin_ok;
    assert_int_equal(request(f, HTTP_VERB_POST, "/api/runs/1/cancel", both, 2, NULL), 200);
    assert_int_equal(calls, 3);
    /* the printed address: cookie set, token dropped from the address */
    assert_int_equal(request(f, HTTP_VERB_GET, "/api/runs/1?token=s3cret-token-0123&a=b", NULL,
                             0, NULL),
                     303);
    assert_int_equal(request(f, HTTP_VERB_GET, "/api/runs/1?token=nope", NULL, 0, NULL), 401);
}

static void test_query(void **state)
{
    (void)state;
    struct http_req req = {.query = "a=1&b=x%20y+z&c&token=t&a=2"};
    char *v = http_req_query(&req, "b");
    assert_string_equal(v, "x y z");
    free(v);
    v = http_req_query(&req, "a"); /* the first one */
    assert_string_equal(v, "1");
    free(v);
    v = http_req_query(&req, "c");
    assert_string_equal(v, "");
    free(v);
    assert_null(http_req_query(&req, "d"));
}

/* ---- logs and values ---- */

static void test_log_read_utf8(void **state)
{
    (void)state;
    char path[] = "/tmp/sluice-test-log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "ab\xc3\xa9z"; /* "abéz" */
    assert_int_equal(write(fd, text, 5), 5);
    close(fd);
    struct strbuf sb = STRBUF_INIT;
    int64_t size, start;
    /* a slice ending inside 'é' stops before it, while the log may grow */
    assert_int_equal(api_log_read(path, 0, 3, false, &sb, &size, &start), 0);
    assert_int_equal(sb.len, 2);
    assert_int_equal(size, 5);
    strbuf_reset(&sb);
    assert_int_equal(api_log_read(path, 2, 10, false, &sb, &size, &start), 0);
    assert_string_equal(sb.buf, "\xc3\xa9z");
    strbuf_reset(&sb);
    assert_int_equal(api_log_read(path, -2, 10, true, &sb, &size, &start), 0);
    assert_int_equal(start, 3);
    strbuf_reset(&sb);
    assert_int_equal(api_log_read("/nonexistent/log", 0, 10, true, &sb, &size, &start), 0);
    assert_int_equal(size, 0);
    strbuf_release(&sb);
    unlink(path);

    json_t *j = api_utf8_string("ok\xff\xc3", 4);
    assert_string_equal(json_string_value(j), "ok\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);
}

static void test_doc_values(void **state)
{
    (void)state;
    json_t *j = doc_param("6");
    assert_true(json_is_integer(j));
    json_decref(j);
    j = doc_param("0.25");
    assert_true(json_is_real(j));
    json_decref(j);
    j = doc_param("true");
    assert_true(json_is_true(j));
    json_decref(j);
    j = doc_param("007");
    assert_string_equal(json_string_value(j), "007");
    json_decref(j);
    j = doc_time(0);
    assert_true(json_is_null(j));
    json_decref(j);
    j = doc_time(1795540800000LL);
    assert_string_equal(json_string_value(j), "2026-11-24T17:20:00Z");
    json_decref(j);
    j = json_pack("[f]", 0.93);
    char *s = doc_dumps(j, false);
    assert_string_equal(s, "[0.93]");
    free(s);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_check),
        cmocka_unit_test(test_origin_check),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_path_check),
        cmocka_unit_test(test_equal_and_token_file),
        cmocka_unit_test_setup_teardown(test_server_survives_sigpipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_traversal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_host_token_origin, setup, teardown),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_log_read_utf8),
        cmocka_unit_test(test_doc_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
