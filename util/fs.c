/* Small file-system helpers shared by the parts that lay out folders. */
#include "util/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/xalloc.h"

int fs_mkdir_p(const char *path, mode_t mode, struct err *e)
{
    char *p = xstrdup(path);
    int rc = 0;
    /* Each '/' after the first character ends a parent; the end of the string ends path. */
    for (char *c = p;; c++) {
        if (*c && (*c != '/' || c == p))
            continue;
        char was = *c;
        *c = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            rc = err_set(e, "cannot create folder '%s': %s", p, strerror(errno));
            break;
        }
        *c = was;
        if (!was)
            break;
    }
    free(p);
    return rc;
}
