/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* The JSON documents of images, as registries, OCI layouts and `docker save` write them:
 * OCI image index and manifest, Docker schema2 manifest list and manifest (schema 1 is
 * refused by name), the image config's rootfs, and docker-archive's manifest.json; and
 * the choice of a platform's manifest from an index. Parsers of outside input, no I/O:
 * every field is checked, every error names what is wrong. */

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* The Accept header for manifests, most wanted first. */
#define MANIFEST_ACCEPT MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST

#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define ANNOTATION_CONTAINERD_NAME "io.containerd.image.name"

/* Manifests, indexes and configs are small; anything bigger is refused. */
#define MANIFEST_SIZE_MAX (4 * 1024 * 1024)

typedef struct Descriptor {
        char *media_type; /* may be NULL in an index or docker archive */
        char *digest;     /* sha256 only */
        int64_t size;     /* never negative */
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
        char *media_type; /* the document's, else the Content-Type's, else inferred */
        /* MANIFEST_IMAGE */
        Descriptor config;
        Descriptor *layers;
        size_t n_layers;
        /* MANIFEST_INDEX */
        Descriptor *manifests;
        size_t n_manifests;
} Manifest;

/* Either kind, told by mediaType; when the document has none, by content_type (the HTTP
 * Content-Type or the descriptor's media type; NULL if unknown), else by its fields
 * (allowed in OCI). -EBADMSG with *ret_error naming the field; -EPROTONOSUPPORT for
 * Docker schema 1. */
int manifest_parse(const char *json, size_t size, const char *content_type, Manifest **ret, char **ret_error);
void manifest_free(Manifest *m);

bool media_type_is_index(const char *mt);
bool media_type_is_manifest(const char *mt);
bool media_type_is_image_config(const char *mt);

/* A platform as "os/architecture[/variant]". */
typedef struct Platform {
        char os[32], architecture[32], variant[32];
} Platform;

/* This machine's (uname, in the GOARCH names images use: amd64, arm64/v8, arm/v7, …). */
void platform_host(Platform *ret);
/* Parses "linux/amd64", "linux/arm64/v8"; -EINVAL otherwise. */
int platform_parse(const char *s, Platform *ret);
/* "linux/arm64/v8" */
char *platform_to_string(const Platform *p);

/* The index entry for platform p: os and architecture equal, and the variant equal when
 * both name one (arm64's "v8" is its default); with no variant asked for, the first of
 * any variant. The first such entry wins, as in containerd. NULL when none fits. */
const Descriptor *manifest_select_platform(const Manifest *index, const Platform *p);

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
