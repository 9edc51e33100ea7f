/* SHA-256 through OpenSSL's EVP interface, and the hex sluice writes digests in. */
#include "util/sha256.h"

#include <openssl/evp.h>
#include <stdlib.h>

#include "util/xalloc.h"

struct sha256 {
    EVP_MD_CTX *ctx;
};

void hex_encode(const unsigned char *raw, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 15];
    }
    hex[2 * n] = '\0';
}

void sha256_hex(const void *data, size_t len, char hex[DIGEST_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != DIGEST_HEX_LEN / 2)
        BUG("cannot compute sha256: EVP_Digest failed");
    hex_encode(md, mdlen, hex);
}

struct sha256 *sha256_new(void)
{
    struct sha256 *h = xcalloc(1, sizeof(*h));
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        BUG("cannot compute sha256: EVP_DigestInit_ex failed");
    return h;
}

void sha256_update(struct sha256 *h, const void *data, size_t len)
{
    if (EVP_DigestUpdate(h->ctx, data, len) != 1)
        BUG("cannot compute sha256: EVP_DigestUpdate failed");
}

void sha256_final(struct sha256 *h, char hex[DIGEST_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &mdlen) != 1 || mdlen != DIGEST_HEX_LEN / 2)
        BUG("cannot compute sha256: EVP_DigestFinal_ex failed");
    hex_encode(md, mdlen, hex);
}

void sha256_free(struct sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}
