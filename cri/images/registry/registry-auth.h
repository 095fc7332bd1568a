/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

/* What a registry asks for and what we may answer with: the WWW-Authenticate challenges
 * of a 401 (RFC 7235; the registry token flow of the distribution spec) and credentials
 * from a docker config.json or a Kubernetes pull secret. Pure parsing, no I/O. */

typedef struct AuthChallenge {
        char *scheme;  /* lower-cased: "bearer", "basic", … */
        char *realm;   /* Bearer: the token endpoint; Basic: a display name */
        char *service; /* Bearer: passed back to the token endpoint */
        char *scope;   /* Bearer: "repository:library/busybox:pull", may be NULL */
        char *error;   /* "invalid_token", "insufficient_scope", or NULL */
} AuthChallenge;

/* Parses a WWW-Authenticate header value into its challenges (several may share one
 * header, comma-separated). Parameters other than the above are skipped; a challenge
 * with a token68 instead of parameters is kept with its scheme only. -EINVAL when the
 * value is malformed. */
int www_authenticate_parse(const char *value, AuthChallenge **ret, size_t *ret_n);
void auth_challenges_free(AuthChallenge *c, size_t n);
/* The first challenge of that scheme ("bearer", "basic"), or NULL. */
const AuthChallenge *auth_challenge_find(const AuthChallenge *c, size_t n, const char *scheme);

/* Credentials for registries, from the JSON of:
 *   a docker config.json                {"auths": {"host": {"auth": base64("user:pass")}}}
 *                                       (or "username" and "password" instead of "auth")
 *   a Kubernetes .dockerconfigjson      the same
 *   a Kubernetes .dockercfg             {"host": {"auth": …}} (the map without "auths")
 *   a Kubernetes Secret object          kubernetes.io/dockerconfigjson or dockercfg
 *                                       type, its data base64-encoded as the API has it
 * Keys are matched as Docker and the kubelet do: "https://index.docker.io/v1/",
 * "index.docker.io" and "registry-1.docker.io" all mean docker.io; a scheme and a
 * trailing "/v1/" or "/v2/" are ignored; a key with a path ("host/team") matches the
 * repositories below it, the longest match winning over the bare host. */
typedef struct AuthFile AuthFile;

typedef struct RegistryCredentials {
        const char *username;
        const char *password;      /* both set, or a token: */
        const char *registry_token; /* "registrytoken": a bearer token to send as it is */
} RegistryCredentials;

/* On -EINVAL *ret_error (when given) says what is wrong; origin names the file or
 * secret in it. Several files can be merged by parsing into the same AuthFile: pass
 * *ret already set (or NULL for a new one); later entries win. */
int auth_file_parse(const char *json, size_t size, const char *origin, AuthFile **ret, char **ret_error);
int auth_file_load(const char *path, AuthFile **ret, char **ret_error);
void auth_file_free(AuthFile *f);
/* Credentials for a repository on a registry (domain as in a normalised reference:
 * "docker.io", "localhost:5000"; path "library/busybox"). -ENOENT when none match. */
int auth_file_lookup(const AuthFile *f, const char *domain, const char *path, RegistryCredentials *ret);
size_t auth_file_size(const AuthFile *f);

static inline void auth_file_freep(AuthFile **p) {
        auth_file_free(*p);
}
