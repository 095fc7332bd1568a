/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

/* The JSON documents of images, as registries, OCI layouts and `docker save` write them:
 * OCI image index and manifest, Docker schema2 manifest list and manifest, the image
 * config's rootfs, and docker-archive's manifest.json. Parsers of outside input: every
 * field is checked, every error names what is wrong. */

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define ANNOTATION_CONTAINERD_NAME "io.containerd.image.name"

/* Manifests, indexes and configs are small; anything bigger is refused. */
#define MANIFEST_SIZE_MAX (4 * 1024 * 1024)

typedef struct Descriptor {
        char *media_type; /* may be NULL in an index or docker archive */
        char *digest;     /* sha256 only */
        int64_t size;
        char *os, *architecture, *variant; /* an index's platform, when given */
        char *ref_name;                    /* org.opencontainers.image.ref.name */
        char *image_name;                  /* io.containerd.image.name */
} Descriptor;

typedef enum ManifestKind {
        MANIFEST_IMAGE, /* OCI manifest or Docker schema2 manifest */
        MANIFEST_INDEX, /* OCI index or Docker manifest list */
} ManifestKind;

typedef struct Manifest {
        ManifestKind kind;
        char *media_type;
        /* MANIFEST_IMAGE */
        Descriptor config;
        Descriptor *layers;
        size_t n_layers;
        /* MANIFEST_INDEX */
        Descriptor *manifests;
        size_t n_manifests;
} Manifest;

/* Either kind, told by mediaType or, when it is absent (allowed in OCI), by the fields. */
int manifest_parse(const char *json, size_t size, Manifest **ret, char **ret_error);
void manifest_free(Manifest *m);

/* The entry of an index for os/architecture (variant ignored, as containerd's default
 * matcher does for amd64); -ENOENT when there is none. */
int manifest_select_platform(const Manifest *index, const char *os, const char *architecture, const Descriptor **ret,
                             char **ret_error);
/* This machine's platform in OCI spelling: "linux" and "amd64", "arm64", … */
const char *host_architecture(void);

/* An image config's rootfs.diff_ids (NULL-terminated, sha256 only), os and architecture. */
typedef struct ImageConfig {
        char **diff_ids;
        size_t n_diff_ids;
        char *os, *architecture;
        json_object *config; /* its "config" object (Entrypoint, Cmd, Env, …) or NULL */
} ImageConfig;

int image_config_parse(const char *json, size_t size, ImageConfig **ret, char **ret_error);
void image_config_free(ImageConfig *c);

/* docker-archive's manifest.json: one entry per image. */
typedef struct DockerArchiveImage {
        char *config;     /* a file name in the archive */
        char **repo_tags; /* NULL-terminated, may be empty */
        char **layers;    /* file names, NULL-terminated */
        size_t n_layers;
} DockerArchiveImage;

int docker_archive_manifest_parse(const char *json, size_t size, DockerArchiveImage **ret, size_t *ret_n,
                                  char **ret_error);
void docker_archive_images_free(DockerArchiveImage *images, size_t n);

static inline void manifest_freep(Manifest **p) {
        if (*p)
                manifest_free(*p);
}
static inline void image_config_freep(ImageConfig **p) {
        if (*p)
                image_config_free(*p);
}
