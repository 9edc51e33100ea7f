/* Blue/green deployment of a model into a target folder: stage the model in the inactive slot,
 * flip the `current` symlink with rename(), check health, and flip back when it fails. A lock
 * file (flock) keeps two deploys or rollbacks of one target from interleaving. */
#include "executor/deploy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "executor/http.h"
#include "util/strbuf.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define COPY_CHUNK (128 * 1024)
#define HEALTH_INTERVAL_MS 500
#define HEALTH_ATTEMPT_MAX_MS 5000 /* one attempt's time limit, below the overall timeout */

static const char *other_slot(const char *slot)
{
    return strcmp(slot, "blue") ? "blue" : "green";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

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

/* The target folder, created when missing; it must be a folder. */
static int target_dir(const char *path, struct err *e)
{
    if (fs_mkdir_p(path, 0755, e) < 0)
        return -1;
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return err_set(e, "deploy target '%s' is not a folder", path);
    return 0;
}

/* Take the target's lock without waiting: a deploy that is already running may be in its
 * health check for a long while, and the engine retries a busy (transient) failure. */
static int lock_target(const char *target, int *fd_out, struct err *e)
{
    char *path = xasprintf("%s/.lock", target);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    int ret = 0;
    if (fd < 0) {
        ret = err_set(e, "cannot open lock file '%s': %s", path, strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            ret = err_set(e, "deploy target '%s' is busy: another deploy or rollback is running",
                          target);
            e->code = DEPLOY_ERR_BUSY;
        } else {
            ret = err_set(e, "cannot lock '%s': %s", path, strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    free(path);
    *fd_out = fd;
    return ret;
}

/* The live slot ("" when there is no current link). */
static int read_current(const char *target, char slot[8], struct err *e)
{
    char *path = xasprintf("%s/current", target);
    char buf[64];
    int ret = 0;
    slot[0] = '\0';
    ssize_t n = readlink(path, buf, sizeof(buf) - 1);
    if (n < 0) {
        if (errno == EINVAL)
            ret = err_set(e, "'%s' is not a symbolic link: not a deployment made by sluice", path);
        else if (errno != ENOENT)
            ret = err_set(e, "cannot read '%s': %s", path, strerror(errno));
        goto out;
    }
    buf[n] = '\0';
    if (strcmp(buf, "blue") && strcmp(buf, "green")) {
        ret = err_set(e, "'%s' points to '%s', not to 'blue' or 'green'", path, buf);
        goto out;
    }
    strcpy(slot, buf);
out:
    free(path);
    return ret;
}

/* Make current point at slot, atomically: a new link under a temporary name renamed over the
 * old one, so current never disappears. The caller holds the lock, so the name is ours. */
static int point_current(const char *target, const char *slot, struct err *e)
{
    char *tmp = xasprintf("%s/.current.tmp", target);
    char *cur = xasprintf("%s/current", target);
    int ret = 0;
    if (unlink(tmp) < 0 && errno != ENOENT)
        ret = err_set(e, "cannot remove '%s': %s", tmp, strerror(errno));
    else if (symlink(slot, tmp) < 0)
        ret = err_set(e, "cannot create symbolic link '%s': %s", tmp, strerror(errno));
    else if (rename(tmp, cur) < 0) {
        ret = err_set(e, "cannot switch '%s' to '%s': %s", cur, slot, strerror(errno));
        unlink(tmp);
    } else {
        sync_dir(target);
    }
    free(tmp);
    free(cur);
    return ret;
}

static int remove_current(const char *target, struct err *e)
{
    char *cur = xasprintf("%s/current", target);
    int ret = 0;
    if (unlink(cur) < 0 && errno != ENOENT)
        ret = err_set(e, "cannot remove '%s': %s", cur, strerror(errno));
    else
        sync_dir(target);
    free(cur);
    return ret;
}

/* Remove path and everything under it, without following symbolic links. */
static int remove_tree(const char *path, struct err *e)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : err_set(e, "cannot stat '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return err_set(e, "cannot remove '%s': %s", path, strerror(errno));
        return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return err_set(e, "cannot open folder '%s': %s", path, strerror(errno));
    int ret = 0;
    struct strbuf child = STRBUF_INIT;
    struct dirent *de;
    while (!ret && (errno = 0, de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        strbuf_reset(&child);
        strbuf_addf(&child, "%s/%s", path, de->d_name);
        ret = remove_tree(child.buf, e);
    }
    if (!ret && errno)
        ret = err_set(e, "cannot read folder '%s': %s", path, strerror(errno));
    closedir(d);
    strbuf_release(&child);
    if (!ret && rmdir(path) < 0)
        ret = err_set(e, "cannot remove folder '%s': %s", path, strerror(errno));
    return ret;
}

static int copy_file(const char *src, const char *dst, mode_t mode, struct err *e)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (in < 0)
        return err_set(e, "cannot open '%s': %s", src, strerror(errno));
    /* Executable bits are kept; the rest is normalised, so that a read-only artifact from the
     * store does not make a slot the next deploy cannot clear. */
    mode_t m = (mode & 0111) ? 0755 : 0644;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, m);
    char *buf = NULL;
    int ret = -1;
    if (out < 0) {
        err_set(e, "cannot create '%s': %s", dst, strerror(errno));
        goto out;
    }
    buf = xmalloc(COPY_CHUNK);
    for (;;) {
        ssize_t n = read(in, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err_set(e, "cannot read '%s': %s", src, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (write_all(out, buf, (size_t)n) < 0) {
            err_set(e, "cannot write '%s': %s", dst, strerror(errno));
            goto out;
        }
    }
    /* The model must be on disk before current can point at it. */
    if (fsync(out) < 0) {
        err_set(e, "cannot write '%s': %s", dst, strerror(errno));
        goto out;
    }
    ret = 0;
out:
    free(buf);
    if (out >= 0 && close(out) < 0 && !ret)
        ret = err_set(e, "cannot write '%s': %s", dst, strerror(errno));
    close(in);
    return ret;
}

/* Copy src (a file, a folder copied recursively, or a symbolic link copied as a link) to dst.
 * top: follow src when it is itself a link (the model given may be a link to the store). */
static int copy_tree(const char *src, const char *dst, bool top, struct err *e)
{
    struct stat st;
    if ((top ? stat(src, &st) : lstat(src, &st)) < 0)
        return err_set(e, "cannot stat '%s': %s", src, strerror(errno));
    if (S_ISREG(st.st_mode))
        return copy_file(src, dst, st.st_mode, e);
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlink(src, target, sizeof(target) - 1);
        if (n < 0)
            return err_set(e, "cannot read link '%s': %s", src, strerror(errno));
        target[n] = '\0';
        if (symlink(target, dst) < 0)
            return err_set(e, "cannot create symbolic link '%s': %s", dst, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return err_set(e, "cannot deploy '%s': not a file, folder or symbolic link", src);

    if (mkdir(dst, 0755) < 0)
        return err_set(e, "cannot create folder '%s': %s", dst, strerror(errno));
    DIR *d = opendir(src);
    if (!d)
        return err_set(e, "cannot open folder '%s': %s", src, strerror(errno));
    int ret = 0;
    struct strbuf from = STRBUF_INIT, to = STRBUF_INIT;
    struct dirent *de;
    while (!ret && (errno = 0, de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        strbuf_reset(&from);
        strbuf_reset(&to);
        strbuf_addf(&from, "%s/%s", src, de->d_name);
        strbuf_addf(&to, "%s/%s", dst, de->d_name);
        ret = copy_tree(from.buf, to.buf, false, e);
    }
    if (!ret && errno)
        ret = err_set(e, "cannot read folder '%s': %s", src, strerror(errno));
    closedir(d);
    strbuf_release(&from);
    strbuf_release(&to);
    if (!ret)
        sync_dir(dst);
    return ret;
}

/* The name the model gets inside a slot: the last component of its path. */
static char *model_name(const char *model, struct err *e)
{
    size_t len = strlen(model);
    while (len > 1 && model[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && model[start - 1] != '/')
        start--;
    char *name = xstrndup(model + start, len - start);
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "/")) {
        err_set(e, "model path '%s' does not end in a name", model);
        goto fail;
    }
    if (!strcmp(name, "VERSION")) {
        err_set(e, "model '%s' cannot be called 'VERSION': the slot's label file has that name",
                model);
        goto fail;
    }
    return name;
fail:
    free(name);
    return NULL;
}

static int write_version(const char *slot_dir, const char *version, struct err *e)
{
    char *tmp = xasprintf("%s/VERSION.tmp", slot_dir);
    char *path = xasprintf("%s/VERSION", slot_dir);
    int ret = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        err_set(e, "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, version, strlen(version)) < 0 || write_all(fd, "\n", 1) < 0 ||
        fsync(fd) < 0) {
        err_set(e, "cannot write '%s': %s", tmp, strerror(errno));
        close(fd);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        err_set(e, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        goto out;
    }
    sync_dir(slot_dir);
    ret = 0;
out:
    if (ret)
        unlink(tmp);
    free(tmp);
    free(path);
    return ret;
}

/* Whether TARGET/SLOT holds a complete model (its VERSION file exists). */
static bool slot_has_model(const char *target, const char *slot)
{
    char *path = xasprintf("%s/%s/VERSION", target, slot);
    struct stat st;
    bool ok = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return ok;
}

/* The VERSION label of TARGET/SLOT into out (truncated to size); "" when it has none. */
static int slot_version(const char *target, const char *slot, char *out, size_t size,
                        struct err *e)
{
    char *path = xasprintf("%s/%s/VERSION", target, slot);
    struct strbuf sb = STRBUF_INIT;
    int ret = 0;
    int rc = strbuf_read_file(&sb, path, size - 1);
    out[0] = '\0';
    if (rc == -1 && errno != ENOENT) {
        ret = err_set(e, "cannot read '%s': %s", path, strerror(errno));
    } else if (rc != -1) {
        size_t n = strcspn(sb.buf, "\n");
        memcpy(out, sb.buf, n);
        out[n] = '\0';
    }
    strbuf_release(&sb);
    free(path);
    return ret;
}

/* Empty the slot and fill it with the model and its VERSION file, VERSION last. */
static int stage_slot(const struct deploy_options *opt, const char *slot, const char *name,
                      struct err *e)
{
    char *dir = xasprintf("%s/%s", opt->target, slot);
    char *version = xasprintf("%s/VERSION", dir);
    char *dst = xasprintf("%s/%s", dir, name);
    int ret = -1;
    /* VERSION goes first, so that a crash while clearing leaves no slot that looks complete.
     * Only in a real folder: through a symbolic link it would delete someone else's file. */
    struct stat st;
    if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && unlink(version) < 0 && errno != ENOENT) {
        err_set(e, "cannot remove '%s': %s", version, strerror(errno));
        goto out;
    }
    if (remove_tree(dir, e))
        goto out;
    if (mkdir(dir, 0755) < 0) {
        err_set(e, "cannot create folder '%s': %s", dir, strerror(errno));
        goto out;
    }
    if (copy_tree(opt->model, dst, true, e) || write_version(dir, opt->version, e))
        goto out;
    sync_dir(opt->target);
    ret = 0;
out:
    free(dir);
    free(version);
    free(dst);
    return ret;
}

/* Keep asking url until it answers 2xx, or timeout_ms has passed, or every connection was
 * refused for refused_ms (a slow or failing server is waited for, an absent one is not). On
 * failure e says why the last attempt failed. */
static int health_wait(const char *url, int64_t timeout_ms, int64_t refused_ms, FILE *progress,
                       struct err *e)
{
    if (http_init(e))
        return -1;
    int64_t start = now_ms(), deadline = start + timeout_ms, refused_since = -1;
    for (int attempt = 1;; attempt++) {
        int64_t sent = now_ms(), left = deadline - sent;
        long per = (long)(left < HEALTH_ATTEMPT_MAX_MS ? left : HEALTH_ATTEMPT_MAX_MS);
        if (per < 200)
            per = 200;
        long status = 0;
        struct err he = ERR_INIT;
        if (http_get_status(url, per, &status, &he) == 0) {
            if (status >= 200 && status < 300)
                return 0;
            err_set(&he, "HTTP status %ld", status);
        }
        if (he.code != HTTP_ERR_CONNECT)
            refused_since = -1;
        else if (refused_since < 0)
            refused_since = sent;
        if (progress) {
            fprintf(progress, "health check '%s': attempt %d: %s\n", url, attempt, he.msg);
            fflush(progress);
        }
        int64_t now = now_ms();
        const char *s = attempt == 1 ? "" : "s";
        if (refused_since >= 0 && now - refused_since >= refused_ms &&
            now + HEALTH_INTERVAL_MS < deadline)
            return err_set(e, "%s (%d attempt%s in %.1f s; refused for %.1f s: nothing listens)",
                           he.msg, attempt, s, (double)(now - start) / 1000,
                           (double)(now - refused_since) / 1000);
        if (now + HEALTH_INTERVAL_MS >= deadline)
            return err_set(e, "%s (%d attempt%s in %.1f s)", he.msg, attempt, s,
                           (double)(now - start) / 1000);
        sleep_ms(HEALTH_INTERVAL_MS);
    }
}

static bool valid_version(const char *v)
{
    if (!v || !*v)
        return false;
    for (; *v; v++)
        if (*v == '\n' || *v == '\r')
            return false;
    return true;
}

int deploy_run(const struct deploy_options *opt, struct deploy_result *res, struct err *e)
{
    memset(res, 0, sizeof(*res));
    if (!opt->target || !*opt->target)
        return err_set(e, "no deploy target");
    if (!opt->model || !*opt->model)
        return err_set(e, "no model to deploy");
    if (!valid_version(opt->version))
        return err_set(e, "bad version label '%s': it must be one non-empty line",
                       opt->version ? opt->version : "");
    struct stat st;
    if (stat(opt->model, &st) < 0)
        return err_set(e, "cannot deploy model '%s': %s", opt->model, strerror(errno));
    /* Without libcurl the check could never pass: say so before touching the deployment. */
    if (opt->health && *opt->health && http_init(e))
        return -1;
    /* The artifact store names files by digest: the step's output name is what servers load. */
    char *name = model_name(opt->name && *opt->name ? opt->name : opt->model, e);
    if (!name)
        return -1;

    int lock = -1, ret = -1;
    char prev[8];
    if (target_dir(opt->target, e) || lock_target(opt->target, &lock, e) ||
        read_current(opt->target, prev, e))
        goto out;
    const char *slot = prev[0] ? other_slot(prev) : "blue";
    if (stage_slot(opt, slot, name, e) || point_current(opt->target, slot, e))
        goto out;
    snprintf(res->slot, sizeof(res->slot), "%s", slot);
    snprintf(res->previous, sizeof(res->previous), "%s", prev);

    if (opt->health && *opt->health) {
        int64_t timeout =
            opt->health_timeout_ms > 0 ? opt->health_timeout_ms : DEPLOY_DEFAULT_HEALTH_TIMEOUT_MS;
        int64_t refused = opt->refused_ms > 0 ? opt->refused_ms : DEPLOY_DEFAULT_REFUSED_MS;
        struct err he = ERR_INIT;
        if (health_wait(opt->health, timeout, refused, opt->progress, &he)) {
            struct err re = ERR_INIT;
            int rc =
                prev[0] ? point_current(opt->target, prev, &re) : remove_current(opt->target, &re);
            if (rc) {
                err_set(e, "health check '%s' failed: %s; rolling back failed: %s", opt->health,
                        he.msg, re.msg);
                goto out;
            }
            res->rolled_back = true;
            /* The failed version must not become what `sluice rollback` returns to. */
            char *version = xasprintf("%s/%s/VERSION", opt->target, slot);
            unlink(version);
            free(version);
            char label[256];
            struct err ve = ERR_INIT; /* no label is said as no label */
            if (prev[0] && slot_version(opt->target, prev, label, sizeof(label), &ve) == 0 &&
                label[0])
                err_set(e, "health check '%s' failed: %s; rolled back to version '%s' (slot '%s')",
                        opt->health, he.msg, label, prev);
            else if (prev[0])
                err_set(e, "health check '%s' failed: %s; rolled back to slot '%s'", opt->health,
                        he.msg, prev);
            else
                err_set(e,
                        "health check '%s' failed: %s; rolled back: nothing was deployed "
                        "before, 'current' removed",
                        opt->health, he.msg);
            e->code = DEPLOY_ERR_HEALTH;
            goto out;
        }
    }
    ret = 0;
out:
    if (lock >= 0)
        close(lock);
    free(name);
    return ret;
}

int deploy_rollback(const char *target, char *slot_out, size_t size, struct err *e)
{
    struct stat st;
    if (stat(target, &st) < 0)
        return err_set(e, "cannot open deploy target '%s': %s", target, strerror(errno));
    int lock = -1, ret = -1;
    char cur[8];
    if (lock_target(target, &lock, e) || read_current(target, cur, e))
        goto out;
    if (!cur[0]) {
        err_set(e, "nothing is deployed in '%s'", target);
        goto out;
    }
    const char *other = other_slot(cur);
    if (!slot_has_model(target, other)) {
        err_set(e, "no previous version to roll back to in '%s': slot '%s' holds no model", target,
                other);
        goto out;
    }
    if (point_current(target, other, e))
        goto out;
    if (slot_out && size)
        snprintf(slot_out, size, "%s", other);
    ret = 0;
out:
    if (lock >= 0)
        close(lock);
    return ret;
}

int deploy_current(const char *target, struct deploy_state *st, struct err *e)
{
    memset(st, 0, sizeof(*st));
    if (read_current(target, st->slot, e))
        return -1;
    if (!st->slot[0])
        return 0;
    return slot_version(target, st->slot, st->version, sizeof(st->version), e);
}
