/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/evp.h>

#include "image-digest.h"
#include "macro.h"

struct Sha256 {
        EVP_MD_CTX *ctx;
};

int sha256_new(Sha256 **ret) {
        Sha256 *h = calloc(1, sizeof(*h));

        if (!h)
                return -ENOMEM;
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
                sha256_free(h);
                return -ENOMEM;
        }
        *ret = h;
        return 0;
}

void sha256_free(Sha256 *h) {
        if (!h)
                return;
        EVP_MD_CTX_free(h->ctx);
        free(h);
}

void sha256_update(Sha256 *h, const void *data, size_t size) {
        if (size > 0)
                (void) EVP_DigestUpdate(h->ctx, data, size);
}

void sha256_final(Sha256 *h, char ret[static DIGEST_SHA256_STRLEN + 1]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char md[32];
        unsigned n = 0;

        (void) EVP_DigestFinal_ex(h->ctx, md, &n);
        memcpy(ret, "sha256:", 7);
        for (unsigned i = 0; i < 32; i++) {
                ret[7 + 2 * i] = hex[md[i] >> 4];
                ret[7 + 2 * i + 1] = hex[md[i] & 15];
        }
        ret[DIGEST_SHA256_STRLEN] = 0;
        (void) EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

int sha256_digest(const void *data, size_t size, char ret[static DIGEST_SHA256_STRLEN + 1]) {
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        int r = sha256_new(&h);

        if (r < 0)
                return r;
        sha256_update(h, data, size);
        sha256_final(h, ret);
        return 0;
}

int layer_chain_id(const char *parent, const char *diff_id, char ret[static DIGEST_SHA256_STRLEN + 1]) {
        _cleanup_free_ char *s = NULL;

        if (!parent) {
                if (strlen(diff_id) != DIGEST_SHA256_STRLEN)
                        return -EINVAL;
                memcpy(ret, diff_id, DIGEST_SHA256_STRLEN + 1);
                return 0;
        }
        if (asprintf(&s, "%s %s", parent, diff_id) < 0)
                return -ENOMEM;
        return sha256_digest(s, strlen(s), ret);
}
