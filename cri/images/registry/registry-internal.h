/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by registry.c (pulls, authentication), registry-cache.c (tokens and what each
 * repository needed) and registry-transfer.c (HTTP transfers); nothing else includes it. */

#include <curl/curl.h>

#include "curl-event.h"
#include "image-digest.h"
#include "image-manifest.h"
#include "registry.h"

/* A token from a Bearer realm, cached per realm + service + scope. */
typedef struct TokenEntry {
        char *key;
        char *token;
        uint64_t expires; /* CLOCK_MONOTONIC µs */
        struct TokenEntry *next;
} TokenEntry;

/* What a host + repository asked for last time, so the next pull sends it at once. */
typedef struct RepoAuth {
        char *key;  /* "host/path" */
        bool basic;
        char *token_key; /* bearer: the TokenEntry key */
        struct RepoAuth *next;
} RepoAuth;

typedef struct HostSettings {
        char *host;
        bool plain_http;
        char *ca_file;
        char **mirrors;
} HostSettings;

typedef struct Transfer Transfer;

struct RegistryClient {
        sd_event *event;
        CurlEvent *curl;
        HostSettings *hosts;
        size_t n_hosts;
        char *ca_file;
        const AuthFile *auth;
        Platform platform;
        unsigned max_parallel;
        TokenEntry *tokens;
        RepoAuth *repo_auth;
        Transfer *transfers; /* every live one */
        RegistryPull *pulls;
};

typedef enum TransferKind {
        TRANSFER_MANIFEST, /* into memory, at most MANIFEST_SIZE_MAX */
        TRANSFER_TOKEN,    /* into memory */
        TRANSFER_BLOB,     /* into a file, verified against its digest and size */
} TransferKind;

/* error 0: the response was 2xx (and a blob is verified and in place). Otherwise -errno
 * and a message: an HTTP error after retries (status set, www_authenticate for a 401),
 * a transport error after retries (status 0), or a verification failure (-EBADMSG). */
typedef void (*TransferDone)(Transfer *t, int error, const char *message, void *userdata);
typedef void (*TransferProgress)(Transfer *t, void *userdata);

struct Transfer {
        RegistryClient *client;
        TransferKind kind;
        char *url;
        char *what; /* "manifest latest", "blob sha256:…": names it in messages */
        CURL *easy;
        struct curl_slist *headers;
        char *authorization; /* "Authorization: …" or NULL */
        char *username, *password; /* basic credentials for a token endpoint */
        bool plain_http_ok;
        char errbuf[CURL_ERROR_SIZE];

        /* the response of the current attempt */
        long status;
        char *www_authenticate, *content_type, *content_range;
        bool body_started;

        /* memory sink (manifests, tokens; error bodies of all kinds) */
        char *buf;
        size_t size, allocated, max_size;

        /* blob sink */
        int dir_fd; /* borrowed: BLOBS_DIR/sha256 */
        int fd;
        char *tmp_name; /* when O_TMPFILE is not supported */
        Sha256 *hash;
        char *digest;
        uint64_t expected, offset, attempt_start;
        char *wbuf; /* bytes received, hashed, not yet written */
        size_t wbuf_size;
        uint64_t written, flushed; /* in the file; handed to write-back */

        int error; /* set by a callback that aborted the transfer */
        char *message;
        unsigned failures;
        unsigned requests;
        unsigned auth_attempts; /* the owner's: 401s answered */
        bool active;
        sd_event_source *retry;

        TransferDone done;
        TransferProgress progress;
        void *userdata;
        Transfer *prev, *next;
};

/* url and what are copied; ca_file (NULL: the system's CAs) is used at once. plain_http
 * allows http:// (and redirects to it); otherwise only https is spoken. */
int transfer_new(RegistryClient *c, TransferKind kind, const char *url, const char *ca_file, bool plain_http,
                 const char *what, Transfer **ret);
/* Blob transfers: where the verified file goes and what it must be. */
int transfer_set_blob(Transfer *t, int dir_fd, const char *digest, uint64_t size);
int transfer_set_authorization(Transfer *t, const char *authorization);
int transfer_set_basic_credentials(Transfer *t, const char *username, const char *password);
/* Starts (or restarts, after a 401 answered with new credentials) the transfer. */
int transfer_start(Transfer *t, TransferDone done, TransferProgress progress, void *userdata);
/* Starts it again with the same callbacks (after a 401 answered with new credentials). */
int transfer_restart(Transfer *t);
void transfer_free(Transfer *t);
static inline void transfer_freep(Transfer **p) {
        if (*p)
                transfer_free(*p);
}
void transfer_on_done(CURL *easy, CURLcode result, void *userdata);

/* Stores a small blob (a manifest) that is already in memory and verified: a temporary
 * file linked into place, unless it is there. */
int blob_store(int dir_fd, const char *digest, const void *data, size_t size);
/* Whether dir_fd holds the blob whole: there and of its size. */
bool blob_present(int dir_fd, const char *digest, uint64_t size);

const HostSettings *registry_host_settings(const RegistryClient *c, const char *host);

/* registry-cache.c. A token still valid under key, or NULL. */
TokenEntry *token_find(RegistryClient *c, const char *key);
/* Caches a token for lifetime_sec (less a margin). */
int token_put(RegistryClient *c, const char *key, const char *token, uint64_t lifetime_sec);
/* Remembers how host/path authenticates: basic, or a bearer token under token_key. */
int repo_auth_put(RegistryClient *c, const char *key, bool basic, const char *token_key);
const RepoAuth *repo_auth_find(const RegistryClient *c, const char *key);
/* Forgets every token (their text wiped) and every repository's authentication. */
void registry_cache_clear(RegistryClient *c);
