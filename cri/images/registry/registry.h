/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "registry-auth.h"

/* The registry client: pulls images over the Distribution v2 API on libcurl's multi
 * interface, driven by the caller's sd-event loop (no threads, nothing blocks).
 *
 * A pull resolves a reference to a manifest (an index or manifest list is resolved to
 * this machine's platform), then fetches the config and layer blobs a few at once,
 * sha256-verifying each while it streams, into BLOBS_DIR/sha256/<hex> (a temporary file,
 * fsync'd and linked into place once verified: a blob there is always whole and
 * correct). Blobs already there are not fetched: pulling an image already present costs
 * one request (the tag's manifest), or none for a reference by digest.
 *
 * BLOBS_DIR may be an OCI layout's blobs/ (then write its index.json with
 * registry_layout_add() when the pull is done) or the image store's own blob directory,
 * so that nothing is copied (docs/images.md). */

typedef struct RegistryClient RegistryClient;
typedef struct RegistryPull RegistryPull;

/* Settings for one registry (or mirror), by the name references use for it. */
typedef struct RegistryHostConfig {
        const char *host;      /* "localhost:5000", "docker.io", "[::1]:5000" */
        bool plain_http;       /* http:// instead of https:// (an "insecure registry") */
        const char *ca_file;   /* PEM bundle to verify its TLS with, instead of the system's */
        const char *const *mirrors; /* NULL-terminated hosts tried before this one, in order */
} RegistryHostConfig;

typedef struct RegistryOptions {
        const RegistryHostConfig *hosts;
        size_t n_hosts;
        const char *ca_file;    /* for registries without their own; NULL: the system's CAs */
        const AuthFile *auth;   /* credentials (borrowed: must outlive the client); may be NULL */
        const char *platform;   /* "linux/amd64"; NULL: this machine's */
        unsigned max_parallel;  /* blobs fetched at once per pull; 0: 4 */
} RegistryOptions;

/* TLS is always verified (against ca_file or the system's CAs) except for plain_http
 * hosts, which are spoken to in plain HTTP: as containerd, localhost is not special. */
int registry_client_new(sd_event *event, const RegistryOptions *options, RegistryClient **ret);
/* Cancels every pull still running (their done callbacks are not called). */
void registry_client_free(RegistryClient *c);
static inline void registry_client_freep(RegistryClient **p) {
        registry_client_free(*p);
}

typedef enum RegistryBlobState {
        REGISTRY_BLOB_PRESENT,  /* already in BLOBS_DIR: not fetched */
        REGISTRY_BLOB_WAITING,  /* another pull is fetching the same blob into BLOBS_DIR */
        REGISTRY_BLOB_FETCHING, /* bytes arrived (done of size) */
        REGISTRY_BLOB_RETRYING, /* an attempt failed; the next resumes where it stopped */
        REGISTRY_BLOB_DONE,     /* verified and in place */
} RegistryBlobState;

typedef struct RegistryBlobProgress {
        const char *digest;
        const char *media_type;
        unsigned index; /* 0: the config, 1…n: the layers in order */
        unsigned count; /* config + layers */
        uint64_t size, done;
        RegistryBlobState state;
} RegistryBlobProgress;

typedef struct RegistryPullResult {
        const char *reference;       /* normalised: "127.0.0.1:5000/kubia:latest" */
        const char *digest;          /* what the reference resolved to (an index's or the
                                      * manifest's): the repo digest, "repo@digest" */
        const char *index_media_type; /* the index's or list's, NULL if the reference named a manifest */
        const char *manifest_digest; /* the image manifest for this platform */
        const char *manifest_media_type;
        uint64_t manifest_size;
        const char *config_digest;
        unsigned blobs_fetched, blobs_present; /* config and layers */
        uint64_t bytes_fetched;
        unsigned requests;           /* HTTP requests made, token requests included */
} RegistryPullResult;

typedef struct RegistryPullCallbacks {
        /* optional; called often while bytes arrive */
        void (*progress)(const RegistryBlobProgress *blob, void *userdata);
        /* once, from the event loop, never from registry_pull() itself. error is 0 or
         * -errno with a message naming the reference and the object:
         *   "pull 127.0.0.1:5000/kubia:latest: blob sha256:…: digest mismatch (got sha256:…)"
         * The pull is freed when it returns. Every blob and manifest the pull completed
         * stays in BLOBS_DIR (also after a failure: content-addressed, a later pull uses
         * them); a blob that failed leaves nothing. */
        void (*done)(int error, const char *message, const RegistryPullResult *result, void *userdata);
} RegistryPullCallbacks;

/* Starts pulling reference (any form image_ref_parse() takes) into blobs_dir (created
 * if missing). credentials, when given, are used for this pull instead of the client's
 * (a pod's pull secrets); borrowed until done. ret may be NULL. */
int registry_pull(RegistryClient *c, const char *reference, const char *blobs_dir, const AuthFile *credentials,
                  const RegistryPullCallbacks *callbacks, void *userdata, RegistryPull **ret);
/* Stops a pull; its done callback is not called. Not from within its own callbacks. */
void registry_pull_cancel(RegistryPull *p);

/* Writes or updates an OCI image layout in dir: oci-layout, and index.json with a
 * descriptor of the manifest annotated org.opencontainers.image.ref.name (and
 * containerd's io.containerd.image.name) = ref_name, replacing an entry of the same
 * name. The blobs must be in dir/blobs already. */
int registry_layout_add(const char *dir, const char *ref_name, const char *media_type, const char *digest,
                        uint64_t size);
