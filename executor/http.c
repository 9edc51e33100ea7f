/* HTTP over libcurl loaded at run time: the only file that includes <curl/curl.h>, and only
 * for its types and constants; every libcurl function is reached through a pointer from
 * dlsym(), so that sluice starts without libcurl and says what to install when it is missing. */
#include "executor/http.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Keep the enumerators of the pre-7.85 CURLOPT_PROTOCOLS bitmask usable without warnings: they
 * are the fallback when the libcurl found at run time is older than the headers. */
#define CURL_DISABLE_DEPRECATION
#include <curl/curl.h>

#define CURL_SONAME "libcurl.so.4"
#define STATUS_BODY_CAP (1 << 20) /* body bytes http_get_status reads before it stops */
#define MAX_REDIRECTS 10L

/* The libcurl entry points sluice uses. */
static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *curl);
    const char *(*easy_strerror)(CURLcode code);
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static struct err load_err; /* code 0 once libcurl is loaded and initialised */

/* ISO C has no conversion from void * to a function pointer; POSIX guarantees that dlsym's
 * result can be stored in one, and memcpy says so without a cast the compiler may warn about. */
static int load_symbol(void *lib, const char *name, void *fnptr, size_t size)
{
    void *sym = dlsym(lib, name);
    if (!sym || size != sizeof(sym))
        return err_set(&load_err, "libcurl (%s) lacks '%s': install libcurl4-openssl-dev",
                       CURL_SONAME, name);
    memcpy(fnptr, &sym, sizeof(sym));
    return 0;
}

#define LOAD(lib, field, name) load_symbol(lib, name, &api.field, sizeof(api.field))

static void load_curl(void)
{
    void *lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        err_set(&load_err, "libcurl is not installed (%s): install libcurl4-openssl-dev",
                CURL_SONAME);
        return;
    }
    /* The library stays loaded for the life of the process: easy handles may come and go. */
    if (LOAD(lib, global_init, "curl_global_init") || LOAD(lib, easy_init, "curl_easy_init") ||
        LOAD(lib, easy_setopt, "curl_easy_setopt") ||
        LOAD(lib, easy_perform, "curl_easy_perform") ||
        LOAD(lib, easy_getinfo, "curl_easy_getinfo") ||
        LOAD(lib, easy_cleanup, "curl_easy_cleanup") ||
        LOAD(lib, easy_strerror, "curl_easy_strerror"))
        return;
    CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        err_set(&load_err, "cannot initialise libcurl: %s", api.easy_strerror(rc));
}

int http_init(struct err *e)
{
    pthread_once(&load_once, load_curl);
    if (load_err.code) {
        if (e)
            *e = load_err;
        return -1;
    }
    return 0;
}

/* Typed setters: curl_easy_setopt is variadic, so each value must have exactly the type the
 * option expects (long, pointer, curl_off_t), which the call sites cannot get wrong this way. */
static CURLcode set_long(CURL *c, CURLoption opt, long v)
{
    return api.easy_setopt(c, opt, v);
}

static CURLcode set_ptr(CURL *c, CURLoption opt, const void *v)
{
    return api.easy_setopt(c, opt, v);
}

static CURLcode set_off(CURL *c, CURLoption opt, curl_off_t v)
{
    return api.easy_setopt(c, opt, v);
}

static bool has_http_scheme(const char *url)
{
    return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8);
}

double http_clock_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool http_progress_due(double *last)
{
    double now = http_clock_s();
    if (now - *last < 1.0)
        return false;
    *last = now;
    return true;
}

void http_format_bytes(int64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%lld B", (long long)n);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* One transfer's state, shared by the callbacks. */
struct transfer {
    const char *url;
    const char *verb; /* for messages: "cannot VERB 'url'" */
    int fd;           /* -1: drop the body (health checks) */
    int64_t cap;      /* 0: none */
    int64_t written;  /* body bytes seen */
    bool over_cap;    /* stopped because the body passed cap */
    int write_errno;  /* nonzero: writing to fd failed */
    bool data_failed; /* on_data refused a chunk; data_err says why */
    struct err data_err;
    const struct http_options *opt; /* NULL for health checks */
    double started, last_progress;
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;
    /* Checked here as well as with CURLOPT_MAXFILESIZE_LARGE: that one only trusts the
     * Content-Length header, which a chunked or close-delimited response does not send. */
    if (t->cap && (int64_t)n > t->cap - t->written) {
        t->over_cap = true;
        return CURL_WRITEFUNC_ERROR;
    }
    if (t->fd >= 0 && write_all(t->fd, ptr, n) < 0) {
        t->write_errno = errno;
        return CURL_WRITEFUNC_ERROR;
    }
    t->written += (int64_t)n;
    if (t->opt && t->opt->on_data && t->opt->on_data(t->opt->data_ctx, ptr, n, &t->data_err)) {
        t->data_failed = true;
        return CURL_WRITEFUNC_ERROR;
    }
    return n;
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)ultotal;
    (void)ulnow;
    struct transfer *t = clientp;
    if (!http_progress_due(&t->last_progress))
        return 0;
    double now = t->last_progress;
    char have[32], total[32];
    http_format_bytes(dlnow, have, sizeof(have));
    double rate = (double)dlnow / (now - t->started);
    char speed[32];
    http_format_bytes((int64_t)rate, speed, sizeof(speed));
    if (dltotal > 0) {
        http_format_bytes(dltotal, total, sizeof(total));
        fprintf(t->opt->progress, "downloading '%s': %s of %s (%d%%), %s/s\n", t->url, have, total,
                (int)(100 * dlnow / dltotal), speed);
    } else {
        fprintf(t->opt->progress, "downloading '%s': %s, %s/s\n", t->url, have, speed);
    }
    fflush(t->opt->progress);
    return 0;
}

/* Restrict the first request and every redirect to http and https. The _STR options arrived in
 * libcurl 7.85 (Debian 12 has 7.88); an older library refuses them and gets the bitmask. */
static CURLcode restrict_protocols(CURL *c)
{
    CURLcode rc = set_ptr(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rc == CURLE_UNKNOWN_OPTION) {
        rc = set_long(c, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
        if (rc == CURLE_OK)
            rc = set_long(c, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
        return rc;
    }
    if (rc == CURLE_OK)
        rc = set_ptr(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    return rc;
}

/* The options every request shares. */
static CURLcode configure(CURL *c, const char *url, struct transfer *t, char *errbuf,
                          long connect_timeout_ms, long timeout_ms)
{
    CURLcode rc;
    if ((rc = set_ptr(c, CURLOPT_URL, url)) || (rc = restrict_protocols(c)) ||
        (rc = set_long(c, CURLOPT_FOLLOWLOCATION, 1L)) ||
        (rc = set_long(c, CURLOPT_MAXREDIRS, MAX_REDIRECTS)) ||
        /* no SIGALRM for DNS timeouts: sluice has its own signal handling */
        (rc = set_long(c, CURLOPT_NOSIGNAL, 1L)) ||
        (rc = set_ptr(c, CURLOPT_USERAGENT, "sluice/0.1")) ||
        (rc = set_ptr(c, CURLOPT_ERRORBUFFER, errbuf)))
        return rc;
    /* A function pointer cannot go through set_ptr's void * without a conversion ISO C lacks. */
    if ((rc = api.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body)) ||
        (rc = set_ptr(c, CURLOPT_WRITEDATA, t)))
        return rc;
    if (connect_timeout_ms > 0 && (rc = set_long(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms)))
        return rc;
    if (timeout_ms > 0 && (rc = set_long(c, CURLOPT_TIMEOUT_MS, timeout_ms)))
        return rc;
    return CURLE_OK;
}

static bool curl_code_transient(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST: /* a resolver outage as often as a typo: retries are few */
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR: /* also what a reset during the handshake looks like */
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static bool status_transient(long status)
{
    return status == 408 || status == 429 || (status >= 500 && status != 501 && status != 505);
}

/* Fill e (and res->transient) from a failed transfer. */
static void explain_failure(CURLcode rc, const struct transfer *t, const char *errbuf,
                            struct http_result *res, struct err *e)
{
    const char *why = errbuf[0] ? errbuf : api.easy_strerror(rc);
    res->transient = false;
    if (t->over_cap || rc == CURLE_FILESIZE_EXCEEDED) {
        err_set(e, "download of '%s' is larger than the size cap of %lld bytes", t->url,
                (long long)t->cap);
    } else if (t->data_failed) {
        err_set(e, "%s", t->data_err.msg);
    } else if (t->write_errno) {
        err_set(e, "cannot write the download of '%s': %s", t->url, strerror(t->write_errno));
    } else if (rc == CURLE_HTTP_RETURNED_ERROR) {
        err_set(e, "'%s' answered HTTP status %ld", res->effective_url, res->status);
        res->transient = status_transient(res->status);
    } else if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
        /* The first address was checked to be http(s), so a redirect led elsewhere; libcurl
         * has already made the refused address the effective one. */
        if (strcmp(res->effective_url, t->url))
            err_set(e, "refused a redirect of '%s' to '%s': only http and https are allowed",
                    t->url, res->effective_url);
        else
            err_set(e, "refused a redirect of '%s': only http and https are allowed: %s", t->url,
                    why);
    } else if (rc == CURLE_TOO_MANY_REDIRECTS) {
        err_set(e, "too many redirects from '%s' (more than %ld)", t->url, MAX_REDIRECTS);
    } else {
        err_set(e, "cannot %s '%s': %s", t->verb, t->url, why);
        res->transient = curl_code_transient(rc);
    }
}

static void read_info(CURL *c, struct http_result *res)
{
    long status = 0;
    char *eff = NULL;
    if (api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
        res->status = status;
    if (api.easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
        snprintf(res->effective_url, sizeof(res->effective_url), "%s", eff);
}

int http_fetch(const char *url, int fd, const struct http_options *opt, struct http_result *res,
               struct err *e)
{
    static const struct http_options defaults = HTTP_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    memset(res, 0, sizeof(*res));
    snprintf(res->effective_url, sizeof(res->effective_url), "%s", url);
    if (!has_http_scheme(url))
        return err_set(e, "not an http or https address '%s'", url);
    if (http_init(e))
        return -1;
    CURL *c = api.easy_init();
    if (!c)
        return err_set(e, "cannot create a libcurl handle for '%s'", url);

    int ret = -1;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct transfer t = {
        .url = url, .verb = "download", .fd = fd, .cap = opt->max_size, .opt = opt};
    t.started = t.last_progress = http_clock_s();
    CURLcode rc = configure(c, url, &t, errbuf, opt->connect_timeout_ms, opt->timeout_ms);
    if (!rc)
        rc = set_long(c, CURLOPT_FAILONERROR, 1L);
    if (!rc && opt->max_size > 0)
        rc = set_off(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opt->max_size);
    if (!rc && opt->progress) {
        if (!(rc = api.easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress)) &&
            !(rc = set_ptr(c, CURLOPT_XFERINFODATA, &t)))
            rc = set_long(c, CURLOPT_NOPROGRESS, 0L);
    }
    if (rc) {
        err_set(e, "cannot set up the download of '%s': %s", url, api.easy_strerror(rc));
        goto out;
    }

    rc = api.easy_perform(c);
    read_info(c, res);
    res->size = t.written;
    if (rc != CURLE_OK) {
        explain_failure(rc, &t, errbuf, res, e);
        goto out;
    }
    ret = 0;
out:
    api.easy_cleanup(c);
    return ret;
}

int http_get_status(const char *url, long timeout_ms, long *status, struct err *e)
{
    *status = 0;
    if (!has_http_scheme(url))
        return err_set(e, "not an http or https address '%s'", url);
    if (http_init(e))
        return -1;
    CURL *c = api.easy_init();
    if (!c)
        return err_set(e, "cannot create a libcurl handle for '%s'", url);

    int ret = -1;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct transfer t = {.url = url, .verb = "reach", .fd = -1, .cap = STATUS_BODY_CAP};
    CURLcode rc = configure(c, url, &t, errbuf, timeout_ms, timeout_ms);
    if (rc) {
        err_set(e, "cannot set up the request to '%s': %s", url, api.easy_strerror(rc));
        goto out;
    }
    rc = api.easy_perform(c);
    struct http_result res = {0};
    snprintf(res.effective_url, sizeof(res.effective_url), "%s", url);
    read_info(c, &res);
    /* A body past the cap still came with a status, which is all a health check wants. */
    if (rc != CURLE_OK && !(t.over_cap && res.status > 0)) {
        explain_failure(rc, &t, errbuf, &res, e);
        if (e && rc == CURLE_COULDNT_CONNECT)
            e->code = HTTP_ERR_CONNECT;
        goto out;
    }
    *status = res.status;
    ret = 0;
out:
    api.easy_cleanup(c);
    return ret;
}
