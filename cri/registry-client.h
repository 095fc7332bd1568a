/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdio.h>
#include <systemd/sd-event.h>

#include "image-store.h"

/* Pulls from registries speaking the Distribution v2 API into the image store, on
 * libcurl's multi interface driven by sd-event: the manifest (an index resolved to
 * linux/<this machine's architecture>), then the config and layer blobs, several at
 * once, each hashed while it streams into the store and checked against its digest;
 * a broken transfer is resumed with a Range request and retried with backoff; then the
 * layers are unpacked (layer-unpack.h) and the reference recorded.
 *
 * Authentication: anonymous; Bearer tokens from the realm a 401's WWW-Authenticate names
 * (service and scope passed on, with basic credentials when there are any); Basic.
 * Credentials come from a docker config.json or a Kubernetes .dockerconfigjson
 * ({"auths": {"<registry>": {"auth": base64("user:password")}}}).
 *
 * Registries are spoken to over HTTPS (verified against ca_file or the system's CAs),
 * except those named insecure, over plain HTTP (containerd's --plain-http, per host). */

typedef struct RegistryOptions {
        char **insecure;       /* host[:port] to use plain HTTP with, NULL-terminated */
        const char *auth_file; /* docker config.json / .dockerconfigjson, or NULL */
        const char *ca_file;   /* CA bundle for TLS (else the system's) */
        unsigned parallel;     /* blobs fetched at once; 0: 4 */
        FILE *progress;        /* one line per blob fetched, or NULL */
} RegistryOptions;

typedef struct RegistryPull RegistryPull;

/* Called once with the outcome: r is 0 and ref the normalised reference pulled, or r
 * is -errno and error says what failed (naming the registry, blob or layer). It must
 * not free the pull (free it later, e.g. from a defer event source). */
typedef void (*RegistryPullDone)(RegistryPull *pull, int r, const char *error, const char *ref, void *userdata);

/* Starts a pull. The store's exclusive lock is held until it is done. */
int registry_pull_start(ImageStore *s, sd_event *event, const char *reference, const RegistryOptions *o,
                        RegistryPullDone done, void *userdata, RegistryPull **ret, char **ret_error);
/* Cancels a pull in flight (its callback is not called) or frees a finished one. */
void registry_pull_free(RegistryPull *p);
sd_event *registry_pull_event(const RegistryPull *p);

/* A pull on an event loop of its own, until done; *ret_ref the normalised reference. */
int registry_pull(ImageStore *s, const char *reference, const RegistryOptions *o, char **ret_ref, char **ret_error);

/* A parameter of a WWW-Authenticate challenge (`Bearer realm="…",service="…"`), quoted
 * or not; NULL when absent. */
char *www_authenticate_param(const char *challenge, const char *key);

static inline void registry_pull_freep(RegistryPull **p) {
        if (*p)
                registry_pull_free(*p);
}
