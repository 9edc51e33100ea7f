/* Content-addressed artifacts: digests of files and folders, and the store they live in. */
#include "executor/artifact.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/fs.h"
#include "util/xalloc.h"

static int hash_file(const char *path, char hex[DIGEST_HEX_LEN + 1], int64_t *size,
                     struct err *e)
{
    /* A FIFO in an output's place must not block the engine: it is refused, like a device. */
    int fd = fs_open_regular(path, NULL);
    if (fd == -2)
        return err_set(e, "'%s' is not a regular file or a folder", path);
    if (fd < 0)
        return err_set(e, "cannot read '%s': %s", path, strerror(errno));
    struct sha256 *h = sha256_new();
    static unsigned char buf[1 << 16];
    int64_t total = 0;
    ssize_t n;
    int rc = 0;
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = err_set(e, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        sha256_update(h, buf, (size_t)n);
        total += n;
    }
    close(fd);
    if (rc == 0) {
        sha256_final(h, hex);
        *size = total;
    }
    sha256_free(h);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef int (*entry_cb)(const char *root, const char *rel, void *ctx, struct err *e);

/* Call fn for each entry of the folder root/rel in name order, with the entry's path relative
 * to root; stops at the first failure. */
static int each_entry(const char *root, const char *rel, entry_cb fn, void *ctx,
                      struct err *e)
{
    char *path = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
    DIR *d = opendir(path);
    if (!d) {
        err_set(e, "cannot read folder '%s': %s", path, strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    char **names = NULL;
    size_t n = 0, alloc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        XGROW(names, alloc, n + 1);
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *r = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
        rc = fn(root, r, ctx, e);
        free(r);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

struct manifest {
    struct strbuf *sb;  /* the manifest lines, in path order */
    int64_t *size;      /* sum of file sizes */
    int depth;          /* of the folder being read */
};

/* The manifest line of root/r, and those of its entries when it is a folder. */
static int manifest_entry(const char *root, const char *r, void *ctx, struct err *e)
{
    struct manifest *m = ctx;
    char *full = xasprintf("%s/%s", root, r);
    struct stat stt;
    int rc = 0;
    if (lstat(full, &stt) < 0) {
        rc = err_set(e, "cannot stat '%s': %s", full, strerror(errno));
    } else if (S_ISLNK(stt.st_mode)) {
        char target[4096];
        ssize_t tl = readlink(full, target, sizeof(target) - 1);
        target[tl < 0 ? 0 : tl] = '\0';
        strbuf_addf(m->sb, "l %s %s\n", r, target);
    } else if (S_ISDIR(stt.st_mode)) {
        strbuf_addf(m->sb, "d %s\n", r);
        if (m->depth >= 64)
            rc = err_set(e, "folder '%s' nests too deeply", root);
        m->depth++;
        if (rc == 0)
            rc = each_entry(root, r, manifest_entry, m, e);
        m->depth--;
    } else if (S_ISREG(stt.st_mode)) {
        char hex[DIGEST_HEX_LEN + 1];
        int64_t fsz = 0;
        rc = hash_file(full, hex, &fsz, e);
        if (rc == 0) {
            strbuf_addf(m->sb, "f %s %s %lld\n", r, hex, (long long)fsz);
            *m->size += fsz;
        }
    }
    free(full);
    return rc;
}

/* The next component of path *p, skipping empty and "." ones: its start, and its length in
 * *len; NULL at the end. */
static const char *next_part(const char **p, size_t *len)
{
    for (;;) {
        const char *c = *p + strspn(*p, "/");
        size_t n = strcspn(c, "/");
        *p = c + n;
        if (!n)
            return NULL;
        if (n == 1 && *c == '.')
            continue;
        *len = n;
        return c;
    }
}

enum cover { COVER_NONE, COVER_SAME, COVER_PARENT };

/* Whether the declared output d names the relative path rel, lies inside it, or neither. */
static enum cover covers(const char *rel, const char *d)
{
    for (;;) {
        size_t la = 0, lb = 0;
        const char *a = next_part(&rel, &la), *b = next_part(&d, &lb);
        if (!a)
            return b ? COVER_PARENT : COVER_SAME;
        if (!b || la != lb || memcmp(a, b, la))
            return COVER_NONE;
    }
}

struct undeclared {
    const char *const *declared;
    size_t ndeclared;
    char **names;  /* the first max found */
    size_t max;
    size_t count;  /* found in all */
};

/* root/r unless a declared output names it; the entries of a folder that holds one. */
static int undeclared_entry(const char *root, const char *r, void *ctx, struct err *e)
{
    struct undeclared *u = ctx;
    enum cover c = COVER_NONE;
    for (size_t k = 0; k < u->ndeclared && c != COVER_SAME; k++) {
        enum cover ck = covers(r, u->declared[k]);
        c = ck != COVER_NONE ? ck : c;
    }
    char *full = xasprintf("%s/%s", root, r);
    struct stat st;
    bool is_dir = stat(full, &st) == 0 && S_ISDIR(st.st_mode);
    free(full);
    /* only along a declared path: as deep as the deepest output, no deeper */
    if (c == COVER_PARENT && is_dir)
        return each_entry(root, r, undeclared_entry, u, e);
    if (c != COVER_SAME && u->count++ < u->max)
        u->names[u->count - 1] = is_dir ? xasprintf("%s/", r) : xstrdup(r);
    return 0;
}

long artifact_undeclared(const char *out, const char *const *declared, size_t ndeclared,
                         char **names, size_t max, struct err *e)
{
    struct undeclared u = {declared, ndeclared, names, max, 0};
    struct stat st;
    if (lstat(out, &st) < 0 && errno == ENOENT)
        return 0;
    if (each_entry(out, "", undeclared_entry, &u, e) < 0) {
        for (size_t i = 0; i < u.count && i < max; i++)
            free(names[i]);
        return -1;
    }
    return (long)u.count;
}

int artifact_hash(const char *path, char hex[DIGEST_HEX_LEN + 1], int64_t *size, bool *is_dir,
                  struct err *e)
{
    struct stat stt;
    if (stat(path, &stt) < 0)
        return err_set(e, "cannot stat '%s': %s", path, strerror(errno));
    *size = 0;
    if (!S_ISDIR(stt.st_mode)) {
        *is_dir = false;
        return hash_file(path, hex, size, e); /* which refuses anything but a regular file */
    }
    *is_dir = true;
    struct strbuf sb = STRBUF_INIT;
    struct manifest m = {&sb, size, 0};
    int rc = each_entry(path, "", manifest_entry, &m, e);
    if (rc == 0)
        sha256_hex(sb.buf, sb.len, hex);
    strbuf_release(&sb);
    return rc;
}

char *artifact_path(const char *home, const char *hex)
{
    return xasprintf("%s/artifacts/sha256/%.2s/%s", home, hex, hex + 2);
}

static int copy_file(const char *from, const char *to, struct err *e)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return err_set(e, "cannot read '%s': %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return err_set(e, "cannot write '%s': %s", to, strerror(errno));
    }
    char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            rc = err_set(e, "cannot write '%s': %s", to, strerror(errno));
            break;
        }
    }
    if (n < 0)
        rc = err_set(e, "cannot read '%s': %s", from, strerror(errno));
    close(in);
    close(out);
    return rc;
}

/* Link (or, with copy, copy) the tree at from to to, which does not exist yet. At depth 0 a
 * symbolic link is followed, as artifact_hash follows it: the artifact is what it names (inside
 * a folder, a link stays a link, as the folder's manifest records it). */
static int place(const char *from, const char *to, int depth, bool copy, struct err *e)
{
    struct stat stt;
    if ((depth == 0 ? stat(from, &stt) : lstat(from, &stt)) < 0)
        return err_set(e, "cannot stat '%s': %s", from, strerror(errno));
    if (S_ISLNK(stt.st_mode)) {
        char target[4096];
        ssize_t tl = readlink(from, target, sizeof(target) - 1);
        if (tl < 0)
            return err_set(e, "cannot read link '%s': %s", from, strerror(errno));
        target[tl] = '\0';
        if (symlink(target, to) < 0)
            return err_set(e, "cannot create link '%s': %s", to, strerror(errno));
        return 0;
    }
    if (S_ISDIR(stt.st_mode)) {
        if (depth > 64)
            return err_set(e, "folder '%s' nests too deeply", from);
        if (mkdir(to, 0755) < 0)
            return err_set(e, "cannot create folder '%s': %s", to, strerror(errno));
        DIR *d = opendir(from);
        if (!d)
            return err_set(e, "cannot read folder '%s': %s", from, strerror(errno));
        struct dirent *de;
        int rc = 0;
        while (rc == 0 && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char *f = xasprintf("%s/%s", from, de->d_name);
            char *t = xasprintf("%s/%s", to, de->d_name);
            rc = place(f, t, depth + 1, copy, e);
            free(f);
            free(t);
        }
        closedir(d);
        return rc;
    }
    if (copy || link(from, to) < 0) {
        if (!copy && errno != EXDEV && errno != EPERM && errno != EMLINK)
            return err_set(e, "cannot link '%s' to '%s': %s", from, to, strerror(errno));
        if (copy_file(from, to, e) < 0)
            return -1;
    }
    /* Read-only: a later step's input is this very inode; it must not be edited in place. */
    chmod(to, 0444);
    return 0;
}

int artifact_store(const char *home, const char *path, const char *hex, bool is_dir,
                   struct err *e)
{
    (void)is_dir;
    char *dest = artifact_path(home, hex);
    int rc = 0;
    if (access(dest, F_OK) == 0)
        goto out;
    char *parent = xstrdup(dest);
    *strrchr(parent, '/') = '\0';
    rc = fs_mkdir_p(parent, 0755, e);
    if (rc == 0) {
        /* Build under a temporary name, then rename: a crash never leaves half an artifact
         * under its digest. */
        char *tmp = xasprintf("%s.tmp.%d", dest, (int)getpid());
        /* An output that is a link names something that is not the step's own (a file of the
         * user's, maybe): it is copied, never linked and made read-only in place. */
        struct stat lst;
        bool copy = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
        rc = place(path, tmp, 0, copy, e);
        if (rc == 0 && rename(tmp, dest) < 0) {
            if (errno == ENOTEMPTY || errno == EEXIST)
                rc = 0; /* another engine stored the same content first */
            else
                rc = err_set(e, "cannot rename '%s': %s", tmp, strerror(errno));
        }
        free(tmp);
    }
    free(parent);
out:
    free(dest);
    return rc;
}
