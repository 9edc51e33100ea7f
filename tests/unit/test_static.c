/* Unit tests of web/static.c: page addresses answer the HTML shell, embedded files their
 * bytes with the right type, validators give 304, anything else 404. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "web/assets.h"
#include "web/static.h"

/* Run the handler on a GET of path, with an optional If-None-Match header. */
static void get(const char *path, const char *inm, struct http_resp *resp)
{
    struct http_header hdr[1] = {{"if-none-match", inm}};
    struct http_req req = {0};
    req.verb = HTTP_VERB_GET;
    req.method = "GET";
    req.target = path;
    req.path = path;
    req.query = "";
    req.headers = hdr;
    req.nheaders = inm ? 1 : 0;
    req.body = "";
    http_resp_init(resp);
    assert_int_equal(static_handle(&req, resp), 0);
}

static const struct asset *find(const char *path)
{
    for (size_t i = 0; i < assets_count; i++)
        if (!strcmp(assets[i].path, path))
            return &assets[i];
    return NULL;
}

static void test_assets_embedded(void **state)
{
    (void)state;
    const char *need[] = {"/static/index.html", "/static/app.js", "/static/style.css"};
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        const struct asset *a = find(need[i]);
        assert_non_null(a);
        assert_true(a->len > 100);
        assert_int_equal(a->data[a->len], 0);
        assert_int_equal(strlen(a->etag), 18); /* quotes around 16 hex digits */
    }
    assert_null(assets[assets_count].path);
    /* the shell loads only external code and style: the CSP forbids inline ones */
    const struct asset *shell = find("/static/index.html");
    const char *html = (const char *)shell->data;
    assert_non_null(strstr(html, "<script src=\"/static/app.js\""));
    assert_non_null(strstr(html, "href=\"/static/style.css\""));
    assert_null(strstr(html, "<style"));
    assert_null(strstr(html, "onclick="));
    assert_null(strstr(html, "<script>"));
}

static void test_pages_answer_the_shell(void **state)
{
    (void)state;
    const struct asset *shell = find("/static/index.html");
    const char *pages[] = {"/", "/runs", "/runs/12", "/compare", "/models", "/models/tumour",
                           "/catalog", "/catalog/tumours", "/lineage/9f2c", "/pipelines",
                           "/pipelines/tumour-classifier"};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        struct http_resp resp;
        get(pages[i], NULL, &resp);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.content_type, "text/html; charset=utf-8");
        assert_ptr_equal(resp.body_ref, shell->data);
        assert_int_equal(resp.body_ref_len, shell->len);
        assert_non_null(strstr(resp.headers.buf, "ETag: \""));
        assert_non_null(strstr(resp.headers.buf, "Cache-Control: no-cache\r\n"));
        http_resp_release(&resp);
    }
}

static void test_unknown_is_404(void **state)
{
    (void)state;
    const char *bad[] = {"/nope", "/runs/1/2", "/compare/x", "/lineage", "/static/",
                         "/static/nope.js", "/static/../sluice.db", "/models/a/b", "/runsx",
                         "/static/app.js/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_resp resp;
        get(bad[i], NULL, &resp);
        assert_int_equal(resp.status, 404);
        assert_null(resp.body_ref);
        http_resp_release(&resp);
    }
}

static void test_static_files(void **state)
{
    (void)state;
    struct http_resp resp;
    get("/static/app.js", NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "text/javascript; charset=utf-8");
    assert_ptr_equal(resp.body_ref, find("/static/app.js")->data);
    http_resp_release(&resp);
    get("/static/style.css", NULL, &resp);
    assert_string_equal(resp.content_type, "text/css; charset=utf-8");
    http_resp_release(&resp);
    get("/static/favicon.svg", NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "image/svg+xml");
    http_resp_release(&resp);
}

static void test_etag_gives_304(void **state)
{
    (void)state;
    const struct asset *a = find("/static/app.js");
    char list[128], weak[64];
    snprintf(list, sizeof(list), "\"0000000000000000\", %s", a->etag);
    snprintf(weak, sizeof(weak), "W/%s", a->etag);
    const char *match[] = {a->etag, list, weak, "*"};
    for (size_t i = 0; i < sizeof(match) / sizeof(match[0]); i++) {
        struct http_resp resp;
        get("/static/app.js", match[i], &resp);
        assert_int_equal(resp.status, 304);
        assert_null(resp.body_ref);
        assert_int_equal(resp.body.len, 0);
        http_resp_release(&resp);
    }
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "%.10s\"", a->etag); /* a prefix of the tag is no match */
    const char *miss[] = {"\"0000000000000000\"", prefix, ""};
    for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++) {
        struct http_resp resp;
        get("/static/app.js", miss[i], &resp);
        assert_int_equal(resp.status, 200);
        http_resp_release(&resp);
    }
}

static void test_content_types(void **state)
{
    (void)state;
    assert_string_equal(static_content_type("/static/a.html"), "text/html; charset=utf-8");
    assert_string_equal(static_content_type("/static/chart.js"), "text/javascript; charset=utf-8");
    assert_string_equal(static_content_type("/static/x.png"), "image/png");
    assert_string_equal(static_content_type("/static/noext"), "application/octet-stream");
    assert_string_equal(static_content_type("/static.d/noext"), "application/octet-stream");
    assert_string_equal(static_content_type("/static/x.exe"), "application/octet-stream");
}

static void test_is_page(void **state)
{
    (void)state;
    assert_true(static_is_page("/"));
    assert_true(static_is_page("/lineage/abc"));
    assert_false(static_is_page(""));
    assert_false(static_is_page("/api/runs"));
    assert_false(static_is_page("/runs/"));
    assert_false(static_is_page("/models//x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assets_embedded), cmocka_unit_test(test_pages_answer_the_shell),
        cmocka_unit_test(test_unknown_is_404),  cmocka_unit_test(test_static_files),
        cmocka_unit_test(test_etag_gives_304),  cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_is_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
