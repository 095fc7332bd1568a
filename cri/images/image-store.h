/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

/* The content-addressed image store under one root directory (docs/images.md):
 *
 *   blobs/sha256/<hex>          manifests, configs, layer blobs, each verified on the way in
 *   layers/<chain-id hex>/      a layer unpacked (overlay form), shared by every image
 *                               whose layers up to it are the same
 *   images/<manifest hex>.json  an image: its manifest, config, layers and chain IDs
 *   refs.json                   normalised reference -> manifest digest
 *   containers/<id>/            a container's rootfs: upper/, work/, the chain IDs it holds
 *   tmp/                        blobs on their way in
 *   lock                        flock(2): shared to read, exclusive to change
 *   pulls.lock                  flock(2): shared while a pull fetches into blobs/
 *
 * Images are found by reference ("busybox" finds docker.io/library/busybox:latest), by
 * manifest or config digest, or by a unique prefix (4+ hex digits) of either. What no
 * image and no container holds is removed by image_store_prune() (and by remove).
 *
 * Every function returns 0 or -errno; on failure *ret_error names the image, layer,
 * blob or entry at fault. */

typedef struct ImageStore ImageStore;

typedef struct ImageStoreOptions {
        uint64_t max_entry_size; /* largest file in a layer; 0: LAYER_MAX_ENTRY_SIZE_DEFAULT */
} ImageStoreOptions;

typedef struct ImageLayerInfo {
        char *digest, *diff_id, *chain_id, *media_type;
        int64_t size;
} ImageLayerInfo;

typedef struct ImageInfo {
        char *manifest_digest, *config_digest, *media_type;
        char *os, *architecture;
        int64_t size; /* of its layer blobs */
        ImageLayerInfo *layers;
        size_t n_layers;
        char **references; /* NULL-terminated, sorted */
} ImageInfo;

/* Makes the root and its directories when missing; removes temporaries a crash left. */
int image_store_open(const char *root, const ImageStoreOptions *o, ImageStore **ret, char **ret_error);
void image_store_free(ImageStore *s);
const char *image_store_root(const ImageStore *s);

/* Imports every image of an OCI image layout (directory, or tar of one) or a `docker
 * save` archive (tar, or directory of one). name (optional) names the image when the
 * source has one, or picks the one whose ref.name is name's tag; otherwise the names
 * come from the source (io.containerd.image.name, a ref.name that is a full reference,
 * docker's RepoTags). ret_refs (optional) receives the references made. */
int image_store_import(ImageStore *s, const char *path, const char *name, char ***ret_refs, char **ret_error);

/* Pulls (cri/images/registry/image-manager.h) fetch into the store's blobs/ (image_store_blobs_dir())
 * without its lock, holding a lease: while any is held, sweeps (rm, prune, after an
 * import) keep every blob, so nothing a pull fetched or found present goes before its
 * image is recorded. The lease is the fd (flock LOCK_SH on pulls.lock; close it to end
 * the lease); -EAGAIN while a sweep is removing blobs (try again a moment later). */
int image_store_pull_lease(ImageStore *s, int *ret_fd, char **ret_error);
char *image_store_blobs_dir(const ImageStore *s);
/* Then, with the store's exclusive lock (waiting for it), as an import does: the
 * manifest's config and layers (in blobs/ already, verified) checked, the layers
 * unpacked unless there, the record written and reference pointed at it. Slow (the
 * unpack): the agent calls it in a child process. Nothing is swept on failure: the
 * blobs stay for a retry, until the next rm or prune. */
int image_store_import_pulled(ImageStore *s, const char *manifest_digest, const char *reference, char **ret_error);

/* All images, sorted by their first reference. */
int image_store_list(ImageStore *s, ImageInfo ***ret, size_t *ret_n, char **ret_error);
int image_store_get(ImageStore *s, const char *ref_or_id, ImageInfo **ret, char **ret_error);
/* The same without waiting: -EAGAIN while the store is being changed (an import, an
 * unpack, a prune), for callers on an event loop. */
int image_store_try_get(ImageStore *s, const char *ref_or_id, ImageInfo **ret, char **ret_error);
/* The image config's "config" (Entrypoint, Cmd, Env, WorkingDir, User, …). */
int image_store_get_config(ImageStore *s, const ImageInfo *image, json_object **ret, char **ret_error);
/* Removes a reference (or, given an ID, all of the image's) and then what is unused. */
int image_store_remove(ImageStore *s, const char *ref_or_id, char **ret_error);

typedef struct ImagePruneStats {
        unsigned images, blobs, layers;
        uint64_t bytes; /* of blobs */
} ImagePruneStats;
/* Removes images without references, then blobs and layers no image or container holds. */
int image_store_prune(ImageStore *s, ImagePruneStats *ret, char **ret_error);

/* A container's root filesystem: an overlayfs on target with the image's layers as
 * lowerdirs and containers/<id>/upper and work, made on create, gone on remove. While
 * it exists its layers stay, whatever happens to the image. */
int image_rootfs_create(ImageStore *s, const char *ref_or_id, const char *container_id, const char *target,
                        char **ret_error);
/* Unmounts target (when mounted) and removes the container's upper and work. */
int image_rootfs_remove(ImageStore *s, const char *container_id, const char *target, char **ret_error);

json_object *image_info_to_json(const ImageInfo *image);
void image_info_free(ImageInfo *image);
void image_info_list_free(ImageInfo **images, size_t n);

static inline void image_store_freep(ImageStore **p) {
        if (*p)
                image_store_free(*p);
}
static inline void image_info_freep(ImageInfo **p) {
        if (*p)
                image_info_free(*p);
}
