/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

/* sha256 digests as the image spec writes them ("sha256:<64 hex>"), computed while data
 * streams through (OpenSSL's EVP, which uses the CPU's SHA extensions). */

#define DIGEST_SHA256_STRLEN (7 + 64) /* "sha256:" + hex, without the NUL */

typedef struct Sha256 Sha256;

int sha256_new(Sha256 **ret);
void sha256_free(Sha256 *h);
void sha256_update(Sha256 *h, const void *data, size_t size);
/* Writes "sha256:<hex>" (DIGEST_SHA256_STRLEN + 1 bytes) and resets h for reuse. */
void sha256_final(Sha256 *h, char ret[static DIGEST_SHA256_STRLEN + 1]);

/* The digest of a whole buffer. */
int sha256_digest(const void *data, size_t size, char ret[static DIGEST_SHA256_STRLEN + 1]);

/* A layer's chain ID (image-spec config.md): the first layer's is its diffID, each
 * further one sha256("<parent chain ID> <diffID>"). parent is NULL for the first. */
int layer_chain_id(const char *parent, const char *diff_id, char ret[static DIGEST_SHA256_STRLEN + 1]);

static inline void sha256_freep(Sha256 **p) {
        if (*p)
                sha256_free(*p);
}
