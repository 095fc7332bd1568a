/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

/* Image references per the distribution reference grammar
 * (github.com/distribution/reference), normalised as Docker and containerd do:
 *
 *   busybox                    -> docker.io/library/busybox:latest
 *   user/app:1.0               -> docker.io/user/app:1.0
 *   index.docker.io/x          -> docker.io/library/x:latest
 *   localhost:5000/x           -> localhost:5000/x:latest
 *   quay.io/a/b@sha256:<hex>   -> quay.io/a/b@sha256:<hex>     (no tag added)
 *   a:1@sha256:<hex>           -> docker.io/library/a:1@sha256:<hex>
 *
 * The first path component is a registry (domain) when it contains '.' or ':', is
 * "localhost", or has upper-case letters; otherwise the reference is on docker.io. */

typedef struct ImageRef {
        char *domain; /* "docker.io", "localhost:5000", "[::1]:5000" */
        char *path;   /* "library/busybox" */
        char *tag;    /* "latest"; NULL when only a digest was given */
        char *digest; /* "sha256:<64 hex>" or NULL */
} ImageRef;

/* Parses and normalises s. On failure returns -EINVAL and *ret_error (when given) names
 * the reference and what is wrong with it. */
int image_ref_parse(const char *s, ImageRef **ret, char **ret_error);
void image_ref_free(ImageRef *ref);

/* The normalised string: domain/path[:tag][@digest]. NULL on out of memory. */
char *image_ref_to_string(const ImageRef *ref);
/* domain/path, the repository without tag or digest. */
char *image_ref_repository(const ImageRef *ref);

/* Parses s and writes its normalised form; a convenience for callers that key by it. */
int image_ref_normalize(const char *s, char **ret, char **ret_error);

/* "sha256:<64 lower-case hex>" or "sha512:<128 lower-case hex>": the digests Docker and
 * containerd accept. */
bool digest_is_valid(const char *s);
/* Only sha256, the one algorithm the store keys by. */
bool digest_is_sha256(const char *s);

static inline void image_ref_freep(ImageRef **p) {
        if (*p)
                image_ref_free(*p);
}
