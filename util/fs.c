/* Small file-system helpers shared by the parts that lay out folders. */
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xalloc.h"

/* mkdir p, creating missing parents first: from the bottom up, so that the common case (only
 * the last folder or two are new) costs a mkdir per new folder plus one, not one per
 * component of the path. On failure, p is the folder that could not be created. */
static int mkdir_up(char *p, mode_t mode)
{
    if (mkdir(p, mode) == 0 || errno == EEXIST)
        return 0;
    char *slash = strrchr(p, '/');
    if (errno != ENOENT || !slash || slash == p)
        return -1;
    *slash = '\0';
    if (mkdir_up(p, mode) < 0)
        return -1; /* p now names the parent that failed */
    *slash = '/';
    return mkdir(p, mode) == 0 || errno == EEXIST ? 0 : -1;
}

int fs_mkdir_p(const char *path, mode_t mode, struct err *e)
{
    char *p = xstrdup(path);
    int rc = 0;
    if (mkdir_up(p, mode) < 0)
        rc = err_set(e, "cannot create folder '%s': %s", p, strerror(errno));
    free(p);
    return rc;
}

int fs_open_regular(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat own;
    if (!st)
        st = &own;
    if (fstat(fd, st) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return -2;
    }
    /* O_NONBLOCK means nothing for a regular file's reads, but say what is meant */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}
