/* The graphviz gatekeeper: libgvc and libcgraph are dlopen()ed on first use and their entry
 * points looked up by name; <graphviz/gvc.h> is included for the types only. Loading them
 * at exec would cost every `sluice shim` a dozen shared libraries it never uses. */
#include "util/gv.h"

#include <dlfcn.h>
#include <graphviz/gvc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#ifndef GVC_SONAME /* overridable, to try the message for a missing graphviz */
#define GVC_SONAME "libgvc.so.6"
#endif
#define CGRAPH_SONAME "libcgraph.so.6"

static struct {
    bool tried, ok;
    char why[512]; /* why graphviz cannot be used, when !ok */
    GVC_t *ctx;    /* one context for the process: see gv_load */
    GVC_t *(*context)(void);
    int (*layout)(GVC_t *, graph_t *, const char *);
    int (*render_data)(GVC_t *, graph_t *, const char *, char **, unsigned int *);
    void (*free_render_data)(char *);
    int (*free_layout)(GVC_t *, graph_t *);
    Agraph_t *(*memread)(const char *);
    int (*close)(Agraph_t *);
    agusererrf (*set_errf)(agusererrf);
    int (*reset_errors)(void);
} gv;

/* graphviz reports through agerr(); with a user function set, each message arrives in
 * pieces ("Error", ": ", text), collected here instead of going to stderr. The level is
 * dropped: the caller says whether it failed. */
static struct strbuf gv_msgs = STRBUF_INIT;

static int collect_msg(char *s)
{
    static bool after_level;
    if (!strcmp(s, "Error") || !strcmp(s, "Warning")) {
        after_level = true;
        return 0;
    }
    if (after_level && !strcmp(s, ": ")) {
        after_level = false;
        return 0;
    }
    after_level = false;
    strbuf_addstr(&gv_msgs, s);
    return 0;
}

/* Look up a symbol into a function pointer (a conversion POSIX guarantees for dlsym). */
static bool sym(void *lib, const char *name, void *fnp)
{
    void *p = dlsym(lib, name);
    if (!p) {
        snprintf(gv.why, sizeof(gv.why), "graphviz cannot be used: %s", dlerror());
        return false;
    }
    memcpy(fnp, &p, sizeof(p));
    return true;
}

/* Load the libraries and make the context once per process, and never free them: graphviz
 * 2.42's pango plugin caches a pointer to the last font it measured, which a context owns,
 * so a second context after gvFreeContext() reads freed memory (ASan sees it). It also
 * spares the web server reading the plugin configuration on every render. */
static bool gv_load(void)
{
    if (gv.tried)
        return gv.ok;
    gv.tried = true;
    void *gvc = dlopen(GVC_SONAME, RTLD_NOW | RTLD_LOCAL);
    void *cgraph = gvc ? dlopen(CGRAPH_SONAME, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!gvc || !cgraph) {
        snprintf(gv.why, sizeof(gv.why), "graphviz is not installed (%s): install libgraphviz-dev",
                 dlerror());
        return false;
    }
    gv.ok = sym(gvc, "gvContext", &gv.context) && sym(gvc, "gvLayout", &gv.layout) &&
            sym(gvc, "gvRenderData", &gv.render_data) &&
            sym(gvc, "gvFreeRenderData", &gv.free_render_data) &&
            sym(gvc, "gvFreeLayout", &gv.free_layout) && sym(cgraph, "agmemread", &gv.memread) &&
            sym(cgraph, "agclose", &gv.close) && sym(cgraph, "agseterrf", &gv.set_errf) &&
            sym(cgraph, "agreseterrors", &gv.reset_errors);
    if (!gv.ok)
        return false;
    gv.set_errf(collect_msg);
    gv.ctx = gv.context();
    if (!gv.ctx) {
        snprintf(gv.why, sizeof(gv.why), "cannot start graphviz: %.*s", (int)gv_msgs.len,
                 gv_msgs.buf);
        strbuf_reset(&gv_msgs);
        gv.ok = false;
    }
    return gv.ok;
}

/* Set e to the formatted message followed by graphviz's own messages, made one line. */
static int gv_fail(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int gv_fail(struct err *e, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    char *m = gv_msgs.buf;
    size_t n = gv_msgs.len;
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    for (size_t i = 0; i < n; i++)
        if (m[i] == '\n')
            m[i] = ' ';
    if (n)
        err_set(e, "%s: %.*s", what, (int)n, m);
    else
        err_set(e, "%s", what);
    strbuf_reset(&gv_msgs);
    return -1;
}

int gv_render(const char *dot, size_t len, const char *format, struct strbuf *out, struct err *e)
{
    if (!gv_load())
        return err_set(e, "%s", gv.why);
    strbuf_reset(&gv_msgs);
    gv.reset_errors();

    int rc = -1;
    bool laid_out = false;
    char *data = NULL;
    unsigned int n = 0;
    char *text = xstrndup(dot, len); /* agmemread wants a C string */
    GVC_t *ctx = gv.ctx;
    Agraph_t *g = gv.memread(text);
    if (!g) {
        gv_fail(e, "cannot parse the graph");
        goto out;
    }
    if (gv.layout(ctx, g, "dot")) {
        gv_fail(e, "graphviz 'dot' layout failed");
        goto out;
    }
    laid_out = true;
    if (gv.render_data(ctx, g, format, &data, &n) || !data) {
        gv_fail(e, "graphviz cannot render the graph as '%s'", format);
        if (data)
            gv.free_render_data(data);
        goto out;
    }
    strbuf_add(out, data, n);
    gv.free_render_data(data);
    rc = 0;
out:
    if (laid_out)
        gv.free_layout(ctx, g);
    if (g)
        gv.close(g);
    free(text);
    strbuf_reset(&gv_msgs);
    return rc;
}

/* graphviz and its font stack (fontconfig, pango, cairo) keep memory until exit by design,
 * and the sanitizer builds would report it as leaks of sluice's. LeakSanitizer asks the
 * program for its default suppressions through this hook; they name only those libraries, so
 * a leak of sluice's own is still reported. Outside sanitizer builds nothing calls these. */
const char *__lsan_default_suppressions(void);
__attribute__((used, visibility("default"))) const char *__lsan_default_suppressions(void)
{
    return "leak:libgvc.so\n"
           "leak:libcgraph.so\n"
           "leak:libcdt.so\n"
           "leak:libgvplugin_\n"
           "leak:libfontconfig.so\n"
           "leak:libpango\n"
           "leak:libcairo.so\n"
           "leak:libglib-2.0.so\n"
           "leak:libgobject-2.0.so\n"
           "leak:libharfbuzz.so\n";
}

/* ...and without a "Suppressions used" table on stderr after every render. */
const char *__lsan_default_options(void);
__attribute__((used, visibility("default"))) const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}

void gv_add_quoted(struct strbuf *sb, const char *s)
{
    strbuf_addch(sb, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            strbuf_addch(sb, '\\');
        if (*s == '\n')
            strbuf_addstr(sb, "\\n");
        else
            strbuf_addch(sb, *s);
    }
    strbuf_addch(sb, '"');
}
