/* Small file-system helpers shared by the parts that lay out folders. */
#ifndef SLUICE_FS_H
#define SLUICE_FS_H

#include <sys/types.h>

#include "util/err.h"

/* mkdir -p: create path and every missing parent with mode (less the umask). An existing
 * folder is fine. Returns 0, or -1 with e set: "cannot create folder 'a/b': Permission denied". */
int fs_mkdir_p(const char *path, mode_t mode, struct err *e);

#endif
