/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Image manifests and indexes as registries serve them: OCI image manifest and index
 * (image-spec v1.0/1.1) and Docker's schema 2 manifest and manifest list. Docker schema 1
 * (deprecated, unsigned by now) is refused by name. Pure parsing, no I/O. */

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* The Accept header for manifests, most wanted first. */
#define MANIFEST_ACCEPT MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST

/* Manifests larger than this are refused before parsing (containerd's limit). */
#define MANIFEST_SIZE_MAX (4 * 1024 * 1024)

typedef struct Descriptor {
        char *media_type;
        char *digest; /* valid per digest_is_valid() */
        uint64_t size;
        /* index entries only; NULL when absent */
        char *os, *architecture, *variant;
} Descriptor;

typedef enum ManifestKind {
        MANIFEST_IMAGE, /* config + layers */
        MANIFEST_INDEX, /* manifests for several platforms */
} ManifestKind;

typedef struct Manifest {
        ManifestKind kind;
        char *media_type; /* the document's mediaType, else the Content-Type, else inferred */
        Descriptor config; /* MANIFEST_IMAGE */
        Descriptor *layers;
        size_t n_layers;
        Descriptor *manifests; /* MANIFEST_INDEX */
        size_t n_manifests;
} Manifest;

/* Parses a manifest or index; content_type (the HTTP Content-Type, or the descriptor's
 * media type, NULL if unknown) is used when the document names none. On -EINVAL,
 * *ret_error says what is wrong, naming the field. -EPROTONOSUPPORT for schema 1. */
int manifest_parse(const char *json, size_t size, const char *content_type, Manifest **ret, char **ret_error);
void manifest_free(Manifest *m);
static inline void manifest_freep(Manifest **p) {
        manifest_free(*p);
}

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

/* The index entry for platform p: os and architecture equal, and the variant equal when
 * both name one (arm64's "v8" is its default). The first such entry wins, as in
 * containerd. NULL when none fits. */
const Descriptor *manifest_select_platform(const Manifest *index, const Platform *p);
