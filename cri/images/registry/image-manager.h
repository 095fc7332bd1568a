/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <systemd/sd-event.h>

#include "image-store.h"
#include "registry.h"

/* Images made present for containers, as the kubelet's image manager does
 * (EnsureImageExists): per the container's imagePullPolicy, pulled by the registry
 * client into the image store's blobs/, then unpacked and recorded by the store
 * (image_store_import_pulled(), the code an import runs).
 *
 * Asynchronous on the caller's sd-event loop, so a pod worker never blocks it: the
 * fetch is libcurl transfers on the loop; the unpack runs in a child process watched
 * through its pidfd; the store's locks are only tried from the loop (a store busy with
 * another change is tried again 20 ms later), never waited for. While it pulls, an
 * ensure holds the store's pull lease, so no sweep takes the blobs it fetched or found
 * before its image is recorded (image-store.h). */

typedef enum ImagePullPolicy {
        IMAGE_PULL_IF_NOT_PRESENT, /* pulled when the store has no image of that reference */
        IMAGE_PULL_ALWAYS,         /* pulled every time (by tag: one request when nothing changed) */
        IMAGE_PULL_NEVER,          /* never pulled: missing is an error */
} ImagePullPolicy;

/* "Always", "IfNotPresent", "Never" (the API's spelling); -EINVAL otherwise. */
int image_pull_policy_from_string(const char *s, ImagePullPolicy *ret);
const char *image_pull_policy_to_string(ImagePullPolicy policy);
/* The API server's default for a container without one: Always when the tag is
 * "latest" (or none is given, which means latest), else IfNotPresent. */
ImagePullPolicy image_pull_policy_default(const char *reference);

typedef struct ImageManager ImageManager;
typedef struct ImageEnsure ImageEnsure;

typedef struct ImageEnsureResult {
        const char *reference;          /* normalised: "docker.io/library/busybox:latest" */
        const char *manifest_digest;    /* the image's record in the store */
        const char *config_digest;      /* the image ID */
        const RegistryPullResult *pull; /* what the pull did; NULL when present and not pulled */
} ImageEnsureResult;

typedef struct ImageEnsureCallbacks {
        /* optional: the pull's blobs, as the registry client reports them */
        void (*progress)(const RegistryBlobProgress *blob, void *userdata);
        /* Once, from the event loop, never from image_manager_ensure(). error is 0, or
         * -errno and a message naming the reference and what failed:
         *   "pull 10.0.0.1:5000/web:1: manifest 1: HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)"
         *   "image docker.io/library/web:1: not present, and the pull policy is Never"
         *   "docker.io/library/web:1: layer sha256:…: entry '../evil': …"
         * The ensure is freed when it returns. */
        void (*done)(int error, const char *message, const ImageEnsureResult *result, void *userdata);
} ImageEnsureCallbacks;

/* event, store and what options point to (credentials included) are borrowed: they
 * outlive the manager. One registry client is kept: its connections, tokens and what
 * each repository asked for serve every pull. */
int image_manager_new(sd_event *event, ImageStore *store, const RegistryOptions *options, ImageManager **ret);
/* Cancels every ensure still running (their done callbacks are not called). */
void image_manager_free(ImageManager *m);
static inline void image_manager_freep(ImageManager **p) {
        image_manager_free(*p);
}

/* Starts making reference (any form image_ref_parse() takes) present per policy.
 * credentials, when given, are used for this pull instead of the options' (a pod's
 * image pull secrets, parsed with auth_file_parse()); borrowed until done. ret may be
 * NULL. Only -ENOMEM is returned here; every other failure comes through done. */
int image_manager_ensure(ImageManager *m, const char *reference, ImagePullPolicy policy, const AuthFile *credentials,
                         const ImageEnsureCallbacks *callbacks, void *userdata, ImageEnsure **ret);
/* Stops it (an unpack in progress is killed; what it left is removed by the next
 * store open or sweep); its done callback is not called. Not from within its own
 * callbacks. */
void image_ensure_cancel(ImageEnsure *e);
