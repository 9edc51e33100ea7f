/* The artifact store: content-addressed copies of step outputs under
 * HOME/artifacts/sha256/ab/cdef… (hard links where possible), and their SHA-256 digests. */
#ifndef SLUICE_ARTIFACT_H
#define SLUICE_ARTIFACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/sha256.h"

/* Digest of a file, or of a folder: SHA-256 over its entries sorted by relative path, each as
 * "f PATH SHA256 SIZE\n", "d PATH\n" or "l PATH TARGET\n". Fills hex (65 bytes), *size (sum
 * of file sizes) and *is_dir. */
int artifact_hash(const char *path, char hex[DIGEST_HEX_LEN + 1], int64_t *size, bool *is_dir,
                  struct err *e);

/* The entries under the folder out that no declared output names or holds, sorted: a file as
 * "PATH", a folder with nothing declared in it as "PATH/" (not looked into). declared are the
 * step's outputs as written, relative to out. The first max go to names (the caller frees
 * each); returns how many there are in all (0 when out is gone), or -1 with e set. */
long artifact_undeclared(const char *out, const char *const *declared, size_t ndeclared,
                         char **names, size_t max, struct err *e);

/* The store path of a digest (caller frees): HOME/artifacts/sha256/ab/cdef… */
char *artifact_path(const char *home, const char *hex);

/* Put the file or folder at path into the store under its digest, unless already there: a
 * hard link (a copy across file systems), made read-only. The original stays in place. */
int artifact_store(const char *home, const char *path, const char *hex, bool is_dir,
                   struct err *e);

#endif
