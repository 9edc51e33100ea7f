/* SHA-256 digests as lowercase hex: artifacts, pipeline versions, cache keys, downloads. The
 * one file of sluice that includes OpenSSL. A digest that OpenSSL cannot compute (it fails
 * only when it cannot allocate) is a BUG(), as running out of memory is for xmalloc. */
#ifndef SLUICE_SHA256_H
#define SLUICE_SHA256_H

#include <stddef.h>

#define DIGEST_HEX_LEN 64 /* hex digits of a SHA-256 digest */

/* SHA-256 of a memory buffer, as hex. */
void sha256_hex(const void *data, size_t len, char hex[DIGEST_HEX_LEN + 1]);

/* A digest computed piece by piece: sha256_new, sha256_update for each piece, sha256_final
 * for the hex of all of them, sha256_free (also when abandoned midway; NULL is fine). */
struct sha256;
struct sha256 *sha256_new(void);
void sha256_update(struct sha256 *h, const void *data, size_t len);
void sha256_final(struct sha256 *h, char hex[DIGEST_HEX_LEN + 1]);
void sha256_free(struct sha256 *h);

/* n bytes as 2n lowercase hex digits and a NUL: hex holds 2n + 1 chars. */
void hex_encode(const unsigned char *raw, size_t n, char *hex);

#endif
