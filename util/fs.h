/* Small file-system helpers shared by the parts that lay out folders. */
#ifndef SLUICE_FS_H
#define SLUICE_FS_H

#include <sys/stat.h>
#include <sys/types.h>

#include "util/err.h"

/* mkdir -p: create path and every missing parent with mode (less the umask). An existing
 * folder is fine. Returns 0, or -1 with e set: "cannot create folder 'a/b': Permission denied". */
int fs_mkdir_p(const char *path, mode_t mode, struct err *e);

/* Open path for reading only if it is a regular file (links followed), for files a step made,
 * which may be anything: a FIFO is opened without waiting for a writer, then refused like a
 * device or a folder. Returns the fd (O_CLOEXEC; blocking reads), -1 with errno set when it
 * cannot be opened, or -2 when it is not a regular file. st, when given, receives its stat. */
int fs_open_regular(const char *path, struct stat *st);

#endif
