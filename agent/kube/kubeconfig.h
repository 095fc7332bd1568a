/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* What the API client needs from a kubeconfig: the current context's cluster and user,
 * resolved, with every file read and every *-data field decoded. Client certificates,
 * bearer tokens and token files are supported; exec and auth-provider plugins are not.
 * TLS is always verified: insecure-skip-tls-verify is refused. */
typedef struct KubeConfig {
        char *context;   /* the context used */
        char *server;    /* https://host:port */
        char *namespace; /* the context's namespace, or NULL */
        char *ca;        /* PEM, or NULL for the system's trust store */
        size_t ca_size;
        char *client_cert; /* PEM */
        size_t client_cert_size;
        char *client_key; /* PEM */
        size_t client_key_size;
        char *token;
} KubeConfig;

/* Parses a kubeconfig from memory. `origin` names it in messages and is the directory
 * relative file paths are resolved against (like kubectl: the kubeconfig's own
 * directory). `context` overrides current-context when not NULL. On failure *ret_error
 * says where and what ("admin.kubeconfig:7: users[0].user.client-key-data: invalid
 * base64"), and the return is -EINVAL, -ENOENT (a named file is missing) or -ENOMEM. */
int kubeconfig_parse(const char *text, size_t size, const char *origin, const char *context,
                     KubeConfig **ret, char **ret_error);

/* Reads and parses the file at path. */
int kubeconfig_load(const char *path, const char *context, KubeConfig **ret, char **ret_error);

void kubeconfig_free(KubeConfig *c);
static inline void kubeconfig_freep(KubeConfig **c) {
        kubeconfig_free(*c);
}
