/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

#include "image-digest.h"

/* Unpacking one image layer (a tar, gzip- or zstd-compressed or not: told by its magic)
 * into a directory of its own, in overlayfs' form, and refusing whatever could reach
 * outside that directory. docs/images.md has the policy; in short, refused are:
 *   - names that are absolute or have a ".." component;
 *   - names whose parent path goes through a symlink (in a layer's own tree no tool
 *     makes one; through a symlink that leads out, it is the classic escape);
 *   - hardlinks whose target is absolute, has "..", goes through a symlink, or is not
 *     an earlier non-directory entry of the same layer;
 *   - character and block devices, except 0:0 (an overlay whiteout);
 *   - regular files larger than max_entry_size;
 *   - trusted.overlay.* xattrs are dropped (they would steer the overlay mount).
 * Whiteouts ".wh.NAME" become character devices 0:0, an opaque marker ".wh..wh..opq"
 * the xattr trusted.overlay.opaque=y on its directory. Modes, owners, mtimes, xattrs
 * and hardlinks are kept. Needs root (mknod, chown, trusted.* xattrs). */

#define LAYER_MAX_ENTRY_SIZE_DEFAULT (UINT64_C(16) << 30) /* 16 GiB */

typedef struct LayerUnpackOptions {
        const char *digest;      /* the blob's digest: verified when set, names the layer in errors */
        const char *diff_id;     /* the uncompressed tar's digest: verified when set */
        uint64_t max_entry_size; /* 0: LAYER_MAX_ENTRY_SIZE_DEFAULT */
} LayerUnpackOptions;

/* Reads the layer from fd (to its end) and unpacks it to dest, which must not exist:
 * into a temporary directory beside it (".tmp-…"), renamed to dest once everything is
 * in place and both digests checked, removed on any failure. 0 also when dest appeared
 * meanwhile. ret_diff_id (optional) receives the uncompressed digest. On failure
 * *ret_error names the layer and, where one is to blame, the entry:
 *   "layer sha256:…: entry '../evil': name leaves the layer ('..')". */
int layer_unpack(int fd, const char *dest, const LayerUnpackOptions *o,
                 char ret_diff_id[DIGEST_SHA256_STRLEN + 1], char **ret_error);


