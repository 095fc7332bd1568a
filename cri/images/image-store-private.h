/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by image-store.c, image-import.c and image-rootfs.c only. */

#include <stdbool.h>
#include <sys/types.h>

#include "image-digest.h"
#include "image-store.h"

struct ImageStore {
        char *root;
        uint64_t max_entry_size;
};

/* flock(2) on the store's lock file; the fd is the lock, closing it unlocks. */
int store_lock(ImageStore *s, bool exclusive, int *ret_fd, char **ret_error);

/* root/<rel> */
char *store_path(const ImageStore *s, const char *rel);
/* root/blobs/sha256/<hex> and root/layers/<hex> from "sha256:<hex>" */
char *store_blob_path(const ImageStore *s, const char *digest);
char *store_layer_path(const ImageStore *s, const char *chain_id);

bool store_has_blob(const ImageStore *s, const char *digest);

/* A blob from a reader (returns bytes, 0 at the end, -errno) into blobs/, hashed as it
 * is written, synced, renamed into place. With expected set, a different digest is an
 * error naming `what` and both digests, and nothing is stored. */
typedef ssize_t (*BlobReader)(void *userdata, void *buf, size_t size);
int store_blob_write(ImageStore *s, BlobReader reader, void *userdata, const char *expected, const char *what,
                     char ret_digest[DIGEST_SHA256_STRLEN + 1], int64_t *ret_size, char **ret_error);
int store_blob_write_fd(ImageStore *s, int fd, const char *expected, const char *what,
                        char ret_digest[DIGEST_SHA256_STRLEN + 1], int64_t *ret_size, char **ret_error);
int store_blob_write_buffer(ImageStore *s, const void *data, size_t size, char ret_digest[DIGEST_SHA256_STRLEN + 1],
                            char **ret_error);
/* A small blob (manifest, config) whole, NUL-terminated. */
int store_blob_read(ImageStore *s, const char *digest, char **ret, size_t *ret_size, char **ret_error);

/* Frees what an ImageInfo holds, not the ImageInfo itself (one on the stack). */
void image_info_done(ImageInfo *i);

/* Writes images/<manifest hex>.json and points each of names at it in refs.json. */
int store_add_image(ImageStore *s, const ImageInfo *image, char **names, char **ret_error);

/* Removes blobs and layers no image or container holds, and temporaries. */
int store_sweep(ImageStore *s, ImagePruneStats *stats, char **ret_error);

/* Takes the store's lock (lock_operation: LOCK_SH or LOCK_EX, maybe | LOCK_NB, as flock(2)
 * wants it) and finds an image under it; *ret_lock holds the lock on success. */
int store_lock_find(ImageStore *s, int lock_operation, const char *ref_or_id, int *ret_lock, ImageInfo **ret,
                    char **ret_error);
