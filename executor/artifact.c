/* Content-addressed artifacts: digests of files and folders, and the store they live in. */
#include "executor/artifact.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/fs.h"
#include "util/xalloc.h"

static void to_hex(const unsigned char *md, char hex[DIGEST_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[DIGEST_HEX_LEN] = '\0';
}

void sha256_hex(const void *data, size_t len, char hex[DIGEST_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    to_hex(md, hex);
}

static int hash_file(const char *path, char hex[DIGEST_HEX_LEN + 1], int64_t *size,
                     struct err *e)
{
    /* A FIFO in an output's place must not block the engine: it is refused, like a device. */
    int fd = fs_open_regular(path, NULL);
    if (fd == -2)
        return err_set(e, "'%s' is not a regular file or a folder", path);
    if (fd < 0)
        return err_set(e, "cannot read '%s': %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
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
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        total += n;
    }
    close(fd);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (rc == 0) {
        to_hex(md, hex);
        *size = total;
    }
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append the manifest lines of folder root/rel (sorted) to sb. */
static int manifest(const char *root, const char *rel, struct strbuf *sb, int64_t *size,
                    int depth, struct err *e)
{
    if (depth > 64)
        return err_set(e, "folder '%s' nests too deeply", root);
    char *dirpath = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
    DIR *d = opendir(dirpath);
    if (!d) {
        err_set(e, "cannot read folder '%s': %s", dirpath, strerror(errno));
        free(dirpath);
        return -1;
    }
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
    qsort(names, n, sizeof(*names), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *r = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
        char *full = xasprintf("%s/%s", root, r);
        struct stat stt;
        if (lstat(full, &stt) < 0) {
            rc = err_set(e, "cannot stat '%s': %s", full, strerror(errno));
        } else if (S_ISLNK(stt.st_mode)) {
            char target[4096];
            ssize_t tl = readlink(full, target, sizeof(target) - 1);
            target[tl < 0 ? 0 : tl] = '\0';
            strbuf_addf(sb, "l %s %s\n", r, target);
        } else if (S_ISDIR(stt.st_mode)) {
            strbuf_addf(sb, "d %s\n", r);
            rc = manifest(root, r, sb, size, depth + 1, e);
        } else if (S_ISREG(stt.st_mode)) {
            char hex[DIGEST_HEX_LEN + 1];
            int64_t fsz = 0;
            rc = hash_file(full, hex, &fsz, e);
            if (rc == 0) {
                strbuf_addf(sb, "f %s %s %lld\n", r, hex, (long long)fsz);
                *size += fsz;
            }
        }
        free(r);
        free(full);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dirpath);
    return rc;
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
    int rc = manifest(path, "", &sb, size, 0, e);
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
