/* SPDX-License-Identifier: Apache-2.0 */
/* The registry client: pulls as state machines on the event loop (see registry.h).
 *
 *   reference ──GET manifests/<tag|digest>──> index? ──GET manifests/<digest>──> manifest
 *             ──GET blobs/<digest> (config + layers, max_parallel at once)──> BLOBS_DIR
 *
 * A 401 on any request is answered from its WWW-Authenticate: Bearer (a token from the
 * realm, with basic credentials if we have some, cached per realm/service/scope) or
 * Basic; the request then starts again. What a repository asked for is remembered, so
 * the next pull sends the right Authorization at once (warm pulls cost one request). */
#include <fcntl.h>
#include <json-c/json.h>
#include <sys/stat.h>

#include "base64.h"
#include "error.h"
#include "fileio.h"
#include "image-ref.h"
#include "json-util.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "registry-internal.h"

#define MAX_PARALLEL_DEFAULT 4
#define TOKEN_LIFETIME_DEFAULT_SEC 60
#define AUTH_ATTEMPTS_MAX 2

typedef struct BlobJob {
        RegistryPull *pull;
        unsigned index;
        const Descriptor *desc; /* in pull->manifest */
        Transfer *transfer;
        RegistryBlobState state;
        bool started, finished, wake;
} BlobJob;

struct RegistryPull {
        RegistryClient *client;
        RegistryPull *prev, *next;
        ImageRef *ref;
        char *reference; /* normalised */
        char *blobs_dir;
        char *dir_key; /* identifies BLOBS_DIR/sha256 among pulls: "dev:ino" */
        int dir_fd;
        const AuthFile *credentials;
        RegistryPullCallbacks cb;
        void *userdata;
        sd_event_source *defer; /* starts the pull */
        sd_event_source *wake;  /* blobs another pull fetched for us are there */

        /* endpoints: the registry's mirrors, then the registry */
        char **endpoints;
        size_t n_endpoints, endpoint;
        char *base_url; /* "https://registry-1.docker.io" */
        const HostSettings *settings; /* the endpoint's, or NULL */
        char *authorization; /* "Authorization: …" for the endpoint, or NULL */

        /* a token being fetched, and the transfers waiting for it */
        Transfer *token;
        char *token_key;
        Transfer **waiting;
        size_t n_waiting;

        Transfer *manifest_transfer;
        char *child_digest; /* being fetched: the platform's manifest, from an index */
        char *digest; /* what the reference resolved to */
        char *index_media_type;
        char *manifest_digest;
        uint64_t manifest_size;
        Manifest *manifest;

        BlobJob *jobs;
        size_t n_jobs, next_job, n_finished;
        unsigned active;

        unsigned blobs_fetched, blobs_present, requests;
        uint64_t bytes_fetched;
        bool finished;
};

static void job_start(BlobJob *j);
static void pull_schedule(RegistryPull *p);

/* --- client ------------------------------------------------------------------------------ */

static void host_settings_done(HostSettings *h) {
        free(h->host);
        free(h->ca_file);
        strv_free(h->mirrors);
}

const HostSettings *registry_host_settings(const RegistryClient *c, const char *host) {
        for (size_t i = 0; i < c->n_hosts; i++)
                if (strcasecmp(c->hosts[i].host, host) == 0)
                        return c->hosts + i;
        return NULL;
}

static void pull_free(RegistryPull *p);

void registry_client_free(RegistryClient *c) {
        if (!c)
                return;
        while (c->pulls)
                pull_free(c->pulls);
        while (c->transfers)
                transfer_free(c->transfers);
        curl_event_free(c->curl);
        sd_event_unref(c->event);
        for (size_t i = 0; i < c->n_hosts; i++)
                host_settings_done(c->hosts + i);
        free(c->hosts);
        free(c->ca_file);
        registry_cache_clear(c);
        free(c);
        curl_global_cleanup();
}

static char **strv_copy(const char *const *l) {
        size_t n = 0;
        char **copy;

        while (l && l[n])
                n++;
        copy = calloc(n + 1, sizeof(char *));
        if (!copy)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!(copy[i] = strdup(l[i]))) {
                        strv_free(copy);
                        return NULL;
                }
        return copy;
}

int registry_client_new(sd_event *event, const RegistryOptions *o, RegistryClient **ret) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        int r;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;
        c = calloc(1, sizeof(RegistryClient));
        if (!c) {
                curl_global_cleanup();
                return -ENOMEM;
        }
        c->event = sd_event_ref(event);
        c->auth = o->auth;
        c->max_parallel = o->max_parallel ?: MAX_PARALLEL_DEFAULT;
        if (o->platform) {
                r = platform_parse(o->platform, &c->platform);
                if (r < 0)
                        return log_error_errno(r, "platform '%s': not os/architecture[/variant]", o->platform);
        } else
                platform_host(&c->platform);
        if (o->ca_file && !(c->ca_file = strdup(o->ca_file)))
                return -ENOMEM;
        if (o->n_hosts > 0) {
                c->hosts = calloc(o->n_hosts, sizeof(HostSettings));
                if (!c->hosts)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < o->n_hosts; i++) {
                const RegistryHostConfig *h = o->hosts + i;
                HostSettings *s = c->hosts + c->n_hosts++;

                s->plain_http = h->plain_http;
                s->host = strdup(h->host);
                s->mirrors = strv_copy(h->mirrors);
                if (!s->host || !s->mirrors || (h->ca_file && !(s->ca_file = strdup(h->ca_file))))
                        return -ENOMEM;
        }
        r = curl_event_new(event, "registry-client-timer", transfer_on_done, c, &c->curl);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

/* --- pulls: life cycle ------------------------------------------------------------------- */

static const char *endpoint_host(const RegistryPull *p) {
        return p->endpoints[p->endpoint];
}

static void pull_release_transfer(RegistryPull *p, Transfer **t) {
        if (!*t)
                return;
        p->requests += (*t)->requests;
        for (size_t i = 0; i < p->n_waiting; i++)
                if (p->waiting[i] == *t)
                        p->waiting[i] = NULL;
        transfer_free(*t);
        *t = NULL;
}

static void wake_waiters(RegistryClient *c, const char *dir_key, const char *digest, const RegistryPull *except);

static void pull_free(RegistryPull *p) {
        RegistryClient *c = p->client;

        LIST_REMOVE(c->pulls, p);
        sd_event_source_disable_unref(p->defer);
        sd_event_source_disable_unref(p->wake);
        pull_release_transfer(p, &p->manifest_transfer);
        pull_release_transfer(p, &p->token);
        for (size_t i = 0; i < p->n_jobs; i++)
                if (p->jobs[i].transfer) {
                        pull_release_transfer(p, &p->jobs[i].transfer);
                        /* pulls waiting for this blob fetch it themselves now */
                        wake_waiters(c, p->dir_key, p->jobs[i].desc->digest, p);
                }
        free(p->jobs);
        free(p->waiting);
        free(p->token_key);
        manifest_free(p->manifest);
        free(p->digest);
        free(p->index_media_type);
        free(p->manifest_digest);
        free(p->child_digest);
        strv_free(p->endpoints);
        free(p->base_url);
        erase_and_free(p->authorization);
        if (p->dir_fd >= 0)
                close(p->dir_fd);
        free(p->dir_key);
        free(p->blobs_dir);
        free(p->reference);
        image_ref_free(p->ref);
        free(p);
}

static int on_pull_free(sd_event_source *s, void *userdata) {
        pull_free(userdata);
        return 0;
}

/* A finished pull: its transfers stop now, the pull itself goes from the loop, once
 * whatever called pull_fail() or pull_succeed() has returned (and may still look at
 * p->finished). Should even that fail, the client frees it. */
static void pull_retire(RegistryPull *p) {
        pull_release_transfer(p, &p->manifest_transfer);
        pull_release_transfer(p, &p->token);
        for (size_t i = 0; i < p->n_jobs; i++)
                if (p->jobs[i].transfer) {
                        pull_release_transfer(p, &p->jobs[i].transfer);
                        wake_waiters(p->client, p->dir_key, p->jobs[i].desc->digest, p);
                }
        p->wake = sd_event_source_disable_unref(p->wake);
        p->defer = sd_event_source_disable_unref(p->defer);
        if (sd_event_add_defer(p->client->event, &p->defer, on_pull_free, p) < 0)
                log_debug("pull %s: freed with the client", p->reference);
}

void registry_pull_cancel(RegistryPull *p) {
        if (p)
                pull_free(p);
}

static void pull_failed(RegistryPull *p, int error, const char *message) {
        if (p->finished)
                return;
        p->finished = true;
        log_debug("%s", message ?: "pull failed");
        p->cb.done(error, message ?: "pull failed: out of memory", NULL, p->userdata);
        pull_retire(p);
}

/* The pull's reference in front of the message, which is formatted as error_set() does
 * ("%m" the error's text). */
#define pull_fail(p, r, format, ...)                                                                 \
        ({                                                                                           \
                _cleanup_free_ char *_message = NULL;                                                \
                int _r = error_set(&_message, r, "pull %s: " format, (p)->reference, ##__VA_ARGS__); \
                pull_failed(p, _r, _message);                                                        \
        })

static void pull_succeed(RegistryPull *p) {
        RegistryPullResult result;

        if (p->finished)
                return;
        p->finished = true;
        /* the transfers still counted are done: add their requests */
        pull_release_transfer(p, &p->manifest_transfer);
        pull_release_transfer(p, &p->token);
        result = (RegistryPullResult) {
                .reference = p->reference,
                .digest = p->digest,
                .index_media_type = p->index_media_type,
                .manifest_digest = p->manifest_digest,
                .manifest_media_type = p->manifest->media_type,
                .manifest_size = p->manifest_size,
                .config_digest = p->manifest->config.digest,
                .blobs_fetched = p->blobs_fetched,
                .blobs_present = p->blobs_present,
                .bytes_fetched = p->bytes_fetched,
                .requests = p->requests,
        };
        p->cb.done(0, NULL, &result, p->userdata);
        pull_retire(p);
}

/* --- authentication ---------------------------------------------------------------------- */

static int credentials_for(const RegistryPull *p, RegistryCredentials *ret) {
        const AuthFile *f = p->credentials ?: p->client->auth;

        return auth_file_lookup(f, endpoint_host(p), p->ref->path, ret);
}

static int set_authorization(RegistryPull *p, const char *scheme, const char *value) {
        char *a;

        if (asprintf(&a, "Authorization: %s %s", scheme, value) < 0)
                return -ENOMEM;
        erase_and_free(p->authorization);
        p->authorization = a;
        return 0;
}

static int set_basic(RegistryPull *p, const RegistryCredentials *creds) {
        _cleanup_free_ char *plain = NULL, *encoded = NULL;
        int r;

        if (asprintf(&plain, "%s:%s", creds->username, creds->password) < 0)
                return -ENOMEM;
        encoded = base64_encode(plain, strlen(plain));
        explicit_bzero(plain, strlen(plain));
        if (!encoded)
                return -ENOMEM;
        r = set_authorization(p, "Basic", encoded);
        explicit_bzero(encoded, strlen(encoded));
        return r;
}

static char *repo_key(const RegistryPull *p) {
        char *k;

        return asprintf(&k, "%s/%s", endpoint_host(p), p->ref->path) < 0 ? NULL : k;
}

/* What this repository needed last time, sent before being asked. */
static int authorization_from_cache(RegistryPull *p) {
        _cleanup_free_ char *key = repo_key(p);
        const RepoAuth *a;
        RegistryCredentials creds;

        if (!key)
                return -ENOMEM;
        a = repo_auth_find(p->client, key);
        if (!a)
                return 0;
        if (a->basic)
                return credentials_for(p, &creds) >= 0 && creds.username ? set_basic(p, &creds) : 0;
        if (a->token_key) {
                TokenEntry *e = token_find(p->client, a->token_key);

                if (e)
                        return set_authorization(p, "Bearer", e->token);
        }
        return 0;
}

static void restart_with_authorization(RegistryPull *p, Transfer *t) {
        int r = transfer_set_authorization(t, p->authorization);

        if (r >= 0)
                r = transfer_restart(t);
        if (r < 0)
                pull_fail(p, r, "%s: restart: %m", t->what);
}

static void on_token_done(Transfer *t, int error, const char *message, void *userdata) {
        RegistryPull *p = userdata;
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_free_ char *key = NULL, *rkey = NULL;
        json_object *v;
        const char *token = NULL;
        int64_t lifetime = TOKEN_LIFETIME_DEFAULT_SEC;
        size_t n;
        int r;

        if (error < 0) {
                pull_fail(p, error, "%s", message);
                return;
        }
        root = json_tokener_parse(t->buf ?: "");
        if (root && json_object_is_type(root, json_type_object)) {
                if ((json_object_object_get_ex(root, "token", &v) || json_object_object_get_ex(root, "access_token", &v)) &&
                    json_object_is_type(v, json_type_string))
                        token = json_object_get_string(v);
                if (json_object_object_get_ex(root, "expires_in", &v) && json_object_is_type(v, json_type_int) &&
                    json_object_get_int64(v) > 0)
                        lifetime = MIN(json_object_get_int64(v), 24 * 3600);
        }
        if (isempty(token)) {
                pull_fail(p, -EPROTO, "%s: no token in the answer", t->what);
                return;
        }
        key = TAKE_PTR(p->token_key);
        rkey = repo_key(p);
        r = set_authorization(p, "Bearer", token);
        if (r >= 0 && key)
                r = token_put(p->client, key, token, (uint64_t) MAX(lifetime, TOKEN_LIFETIME_DEFAULT_SEC));
        if (r >= 0 && key && rkey)
                r = repo_auth_put(p->client, rkey, false, key);
        pull_release_transfer(p, &p->token);
        if (r < 0) {
                pull_fail(p, r, "token: out of memory");
                return;
        }
        /* everything that waited for it starts again */
        n = p->n_waiting;
        p->n_waiting = 0;
        for (size_t i = 0; i < n && !p->finished; i++)
                if (p->waiting[i])
                        restart_with_authorization(p, p->waiting[i]);
}

static int token_request(RegistryPull *p, const AuthChallenge *ch, const RegistryCredentials *creds,
                         bool have_creds) {
        RegistryClient *c = p->client;
        _cleanup_free_ char *scope = NULL, *url = NULL, *what = NULL, *realm_host = NULL;
        char *esc_service = NULL, *esc_scope = NULL;
        const HostSettings *rs;
        const char *h;
        bool plain;
        int r;

        if (ch->scope)
                scope = strdup(ch->scope);
        else if (asprintf(&scope, "repository:%s:pull", p->ref->path) < 0)
                scope = NULL;
        if (!scope)
                return -ENOMEM;
        free(p->token_key);
        if (asprintf(&p->token_key, "%s\n%s\n%s\n%s", ch->realm, ch->service ?: "", scope,
                     have_creds && creds->username ? creds->username : "") < 0) {
                p->token_key = NULL;
                return -ENOMEM;
        }
        /* the realm's own settings, else those of the registry that sent us there */
        h = strstr(ch->realm, "://");
        h = h ? h + 3 : ch->realm;
        realm_host = strndup(h, strcspn(h, "/?#"));
        if (!realm_host)
                return -ENOMEM;
        rs = registry_host_settings(c, realm_host);
        plain = (rs && rs->plain_http) || (p->settings && p->settings->plain_http);
        if (!strneq(ch->realm, "https://", 8) && !(plain && strneq(ch->realm, "http://", 7))) {
                pull_fail(p, -EPROTO, "token realm '%s': not https (plain HTTP only for registries configured so)",
                          ch->realm);
                return -EPROTO;
        }
        esc_service = curl_easy_escape(NULL, ch->service ?: "", 0);
        esc_scope = curl_easy_escape(NULL, scope, 0);
        if (!esc_service || !esc_scope ||
            asprintf(&url, "%s%cscope=%s%s%s", ch->realm, strchr(ch->realm, '?') ? '&' : '?', esc_scope,
                     ch->service ? "&service=" : "", ch->service ? esc_service : "") < 0)
                url = NULL;
        curl_free(esc_service);
        curl_free(esc_scope);
        if (!url || asprintf(&what, "token from %s", ch->realm) < 0)
                return -ENOMEM;
        r = transfer_new(c, TRANSFER_TOKEN, url,
                         rs && rs->ca_file                                         ? rs->ca_file
                         : p->settings && strcasecmp(realm_host, endpoint_host(p)) == 0 ? p->settings->ca_file
                                                                                    : c->ca_file,
                         plain, what, &p->token);
        if (r < 0)
                return r;
        if (have_creds && creds->username) {
                r = transfer_set_basic_credentials(p->token, creds->username, creds->password);
                if (r < 0)
                        return r;
        }
        return transfer_start(p->token, on_token_done, NULL, p);
}

/* t got a 401: answer the challenge, then start t again. */
static void pull_authenticate(RegistryPull *p, Transfer *t, const char *message) {
        AuthChallenge *challenges = NULL;
        const AuthChallenge *bearer, *basic;
        RegistryCredentials creds = {};
        bool have_creds;
        size_t n = 0;
        Transfer **w;
        int r;

        if (++t->auth_attempts > AUTH_ATTEMPTS_MAX) {
                pull_fail(p, -EACCES, "%s (credentials refused)", message);
                return;
        }
        if (!t->www_authenticate || www_authenticate_parse(t->www_authenticate, &challenges, &n) < 0) {
                pull_fail(p, -EACCES, "%s, without a usable WWW-Authenticate", message);
                return;
        }
        have_creds = credentials_for(p, &creds) >= 0;
        bearer = auth_challenge_find(challenges, n, "bearer");
        basic = auth_challenge_find(challenges, n, "basic");
        if (bearer && bearer->realm) {
                if (have_creds && creds.registry_token) {
                        r = set_authorization(p, "Bearer", creds.registry_token);
                        if (r < 0)
                                goto oom;
                        restart_with_authorization(p, t);
                        goto finish;
                }
                w = reallocarray(p->waiting, p->n_waiting + 1, sizeof(Transfer *));
                if (!w)
                        goto oom;
                p->waiting = w;
                p->waiting[p->n_waiting++] = t;
                if (!p->token) {
                        r = token_request(p, bearer, &creds, have_creds);
                        if (r == -EPROTO) /* failed the pull already */
                                goto finish;
                        if (r < 0) {
                                pull_fail(p, r, "token from %s: %m", bearer->realm);
                                goto finish;
                        }
                }
        } else if (basic) {
                _cleanup_free_ char *key = repo_key(p);

                if (!have_creds || !creds.username) {
                        pull_fail(p, -EACCES, "%s: authentication required, and no credentials for %s", message,
                                  endpoint_host(p));
                        goto finish;
                }
                if (!key || set_basic(p, &creds) < 0 || repo_auth_put(p->client, key, true, NULL) < 0)
                        goto oom;
                restart_with_authorization(p, t);
        } else
                pull_fail(p, -EACCES, "%s: no Bearer or Basic challenge in '%s'", message, t->www_authenticate);
finish:
        auth_challenges_free(challenges, n);
        return;
oom:
        auth_challenges_free(challenges, n);
        pull_fail(p, -ENOMEM, "authenticate: out of memory");
}

/* A blob already in BLOBS_DIR (a manifest), whole. */
static int read_blob(int dir_fd, const char *digest, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = openat(dir_fd, digest + 7, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -EIO;
                n += (size_t) k;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

/* --- blobs ------------------------------------------------------------------------------- */

static void job_report(BlobJob *j) {
        RegistryPull *p = j->pull;
        RegistryBlobProgress b;

        if (!p->cb.progress)
                return;
        b = (RegistryBlobProgress) {
                .digest = j->desc->digest,
                .media_type = j->desc->media_type,
                .index = j->index,
                .count = (unsigned) p->n_jobs,
                .size = (uint64_t) j->desc->size,
                .done = j->state == REGISTRY_BLOB_PRESENT || j->state == REGISTRY_BLOB_DONE ? (uint64_t) j->desc->size
                        : j->transfer                                                        ? j->transfer->offset
                                                                                             : 0,
                .state = j->state,
        };
        p->cb.progress(&b, p->userdata);
}

static void job_finish(BlobJob *j) {
        RegistryPull *p = j->pull;

        if (j->finished)
                return;
        j->finished = true;
        p->n_finished++;
        job_report(j);
}

static int on_pull_wake(sd_event_source *s, void *userdata);

/* Blobs of pulls into the same directory that waited for this one: they look again, from
 * the loop (never from inside another pull's callbacks). */
static void wake_waiters(RegistryClient *c, const char *dir_key, const char *digest, const RegistryPull *except) {
        for (RegistryPull *p = c->pulls; p; p = p->next) {
                bool any = false;

                if (p == except || p->finished || !streq(p->dir_key, dir_key))
                        continue;
                for (size_t i = 0; i < p->n_jobs; i++) {
                        BlobJob *j = p->jobs + i;

                        if (j->state == REGISTRY_BLOB_WAITING && !j->finished && streq(j->desc->digest, digest))
                                j->wake = any = true;
                }
                if (any && !p->wake && sd_event_add_defer(c->event, &p->wake, on_pull_wake, p) < 0)
                        log_warning("pull %s: cannot wake it; it waits for its blobs forever", p->reference);
        }
}

static void pull_check_complete(RegistryPull *p) {
        if (p->finished || !p->manifest || p->n_finished < p->n_jobs)
                return;
        pull_succeed(p);
}

static int on_pull_wake(sd_event_source *s, void *userdata) {
        RegistryPull *p = userdata;

        p->wake = sd_event_source_disable_unref(p->wake);
        for (size_t i = 0; i < p->n_jobs && !p->finished; i++)
                if (p->jobs[i].wake) {
                        p->jobs[i].wake = false;
                        job_start(p->jobs + i);
                }
        if (!p->finished)
                pull_schedule(p);
        if (!p->finished)
                pull_check_complete(p);
        return 0;
}

static void on_blob_progress(Transfer *t, void *userdata) {
        BlobJob *j = userdata;

        j->state = t->retry ? REGISTRY_BLOB_RETRYING : REGISTRY_BLOB_FETCHING;
        job_report(j);
}

static void on_blob_done(Transfer *t, int error, const char *message, void *userdata) {
        BlobJob *j = userdata;
        RegistryPull *p = j->pull;
        _cleanup_free_ char *digest = NULL;

        if (error == -EACCES && t->status == 401) {
                pull_authenticate(p, t, message); /* stays active, restarts later */
                return;
        }
        if (error < 0) {
                pull_fail(p, error, "%s", message);
                return;
        }
        p->active--;
        p->blobs_fetched++;
        p->bytes_fetched += t->expected;
        j->state = REGISTRY_BLOB_DONE;
        pull_release_transfer(p, &j->transfer);
        digest = strdup(j->desc->digest);
        job_finish(j);
        if (digest)
                wake_waiters(p->client, p->dir_key, digest, NULL);
        pull_schedule(p);
        if (!p->finished)
                pull_check_complete(p);
}

/* Is another transfer fetching this blob into the same directory? */
static bool blob_in_flight(const RegistryClient *c, const BlobJob *me) {
        for (const RegistryPull *p = c->pulls; p; p = p->next) {
                if (p->finished || !streq(p->dir_key, me->pull->dir_key))
                        continue;
                for (size_t i = 0; i < p->n_jobs; i++) {
                        const BlobJob *j = p->jobs + i;

                        if (j != me && j->transfer && streq(j->desc->digest, me->desc->digest))
                                return true;
                }
        }
        return false;
}

static void job_start(BlobJob *j) {
        RegistryPull *p = j->pull;
        _cleanup_free_ char *url = NULL, *what = NULL;
        int r;

        j->started = true;
        if (blob_present(p->dir_fd, j->desc->digest, (uint64_t) j->desc->size)) {
                /* (also when another pull just fetched it for us) */
                p->blobs_present++;
                j->state = REGISTRY_BLOB_PRESENT;
                job_finish(j);
                return;
        }
        if (blob_in_flight(p->client, j)) {
                j->state = REGISTRY_BLOB_WAITING;
                job_report(j);
                return;
        }
        if (asprintf(&url, "%s/v2/%s/blobs/%s", p->base_url, p->ref->path, j->desc->digest) < 0 ||
            asprintf(&what, "blob %s", j->desc->digest) < 0) {
                pull_fail(p, -ENOMEM, "blob %s: out of memory", j->desc->digest);
                return;
        }
        r = transfer_new(p->client, TRANSFER_BLOB, url, p->settings ? p->settings->ca_file ?: p->client->ca_file : p->client->ca_file,
                         p->settings && p->settings->plain_http, what, &j->transfer);
        if (r >= 0)
                r = transfer_set_blob(j->transfer, p->dir_fd, j->desc->digest, (uint64_t) j->desc->size);
        if (r == -EOPNOTSUPP) {
                pull_fail(p, r, "blob %s: only sha256 digests are supported", j->desc->digest);
                return;
        }
        if (r >= 0)
                r = transfer_set_authorization(j->transfer, p->authorization);
        if (r >= 0)
                r = transfer_start(j->transfer, on_blob_done, on_blob_progress, j);
        if (r < 0) {
                pull_fail(p, r, "blob %s: %m", j->desc->digest);
                return;
        }
        j->state = REGISTRY_BLOB_FETCHING;
        p->active++;
        job_report(j);
}

static void pull_schedule(RegistryPull *p) {
        while (!p->finished && p->active < p->client->max_parallel && p->next_job < p->n_jobs) {
                BlobJob *j = p->jobs + p->next_job++;

                if (!j->started) /* those present were started (and finished) at once */
                        job_start(j);
        }
}

/* --- manifests --------------------------------------------------------------------------- */

static int manifest_request(RegistryPull *p, const char *tag_or_digest);

static void pull_start_blobs(RegistryPull *p) {
        Manifest *m = p->manifest;

        p->n_jobs = 1 + m->n_layers;
        p->jobs = calloc(p->n_jobs, sizeof(BlobJob));
        if (!p->jobs) {
                pull_fail(p, -ENOMEM, "out of memory");
                return;
        }
        for (size_t i = 0; i < p->n_jobs; i++)
                p->jobs[i] = (BlobJob) {
                        .pull = p,
                        .index = (unsigned) i,
                        .desc = i == 0 ? &m->config : m->layers + i - 1,
                };
        /* blobs already here finish at once, without taking a slot */
        for (size_t i = 0; i < p->n_jobs && !p->finished; i++)
                if (blob_present(p->dir_fd, p->jobs[i].desc->digest, (uint64_t) p->jobs[i].desc->size))
                        job_start(p->jobs + i);
        pull_schedule(p);
        if (!p->finished)
                pull_check_complete(p);
}

/* The image manifest for our platform: verified, stored, parsed. */
static void on_image_manifest(RegistryPull *p, const char *body, size_t size, const char *content_type,
                              const char *digest) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = manifest_parse(body, size, content_type, &p->manifest, &error);
        if (r < 0) {
                pull_fail(p, r, "manifest %s: %s", digest, error ?: strerror(-r));
                return;
        }
        if (p->manifest->kind != MANIFEST_IMAGE) {
                pull_fail(p, -EMEDIUMTYPE, "manifest %s: an index inside an index", digest);
                return;
        }
        if (!media_type_is_image_config(p->manifest->config.media_type)) {
                pull_fail(p, -EMEDIUMTYPE, "manifest %s: config of type %s: not a container image", digest,
                          p->manifest->config.media_type);
                return;
        }
        p->manifest_digest = strdup(digest);
        p->manifest_size = size;
        if (!p->manifest_digest) {
                pull_fail(p, -ENOMEM, "out of memory");
                return;
        }
        r = blob_store(p->dir_fd, digest, body, size);
        if (r < 0) {
                pull_fail(p, r, "manifest %s: store in %s: %m", digest, p->blobs_dir);
                return;
        }
        pull_start_blobs(p);
}

/* What the reference resolved to: an index (then this platform's manifest is next) or
 * the image manifest itself. */
static void on_top_manifest(RegistryPull *p, const char *body, size_t size, const char *content_type,
                            const char *digest) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *error = NULL, *child_body = NULL;
        const Descriptor *d;
        size_t child_size;
        int r;

        p->digest = strdup(digest);
        if (!p->digest) {
                pull_fail(p, -ENOMEM, "out of memory");
                return;
        }
        r = manifest_parse(body, size, content_type, &m, &error);
        if (r < 0) {
                pull_fail(p, r, "manifest %s: %s", p->ref->tag ?: digest, error ?: strerror(-r));
                return;
        }
        if (m->kind == MANIFEST_IMAGE) {
                on_image_manifest(p, body, size, content_type, digest);
                return;
        }
        r = blob_store(p->dir_fd, digest, body, size);
        if (r < 0) {
                pull_fail(p, r, "index %s: store in %s: %m", digest, p->blobs_dir);
                return;
        }
        p->index_media_type = strdup(m->media_type);
        if (!p->index_media_type) {
                pull_fail(p, -ENOMEM, "out of memory");
                return;
        }
        d = manifest_select_platform(m, &p->client->platform);
        if (!d) {
                _cleanup_free_ char *have = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&have, &len);

                for (size_t i = 0; f && i < m->n_manifests; i++)
                        fprintf(f, "%s%s/%s%s%s", i ? ", " : "", m->manifests[i].os ?: "?",
                                m->manifests[i].architecture ?: "?", m->manifests[i].variant ? "/" : "",
                                m->manifests[i].variant ?: "");
                if (f)
                        fclose(f);
                pull_fail(p, -ENOENT, "index %s: no manifest for %s/%s%s%s (it has: %s)", digest,
                          p->client->platform.os, p->client->platform.architecture,
                          *p->client->platform.variant ? "/" : "", p->client->platform.variant,
                          have && *have ? have : "none");
                return;
        }
        if (!digest_is_sha256(d->digest)) {
                pull_fail(p, -EOPNOTSUPP, "manifest %s: only sha256 digests are supported", d->digest);
                return;
        }
        /* already here (a warm pull): no request */
        if (blob_present(p->dir_fd, d->digest, (uint64_t) d->size) &&
            read_blob(p->dir_fd, d->digest, MANIFEST_SIZE_MAX, &child_body, &child_size) >= 0) {
                _cleanup_free_ char *mt = strdup(d->media_type);

                on_image_manifest(p, child_body, child_size, mt, d->digest);
                return;
        }
        p->child_digest = strdup(d->digest);
        if (!p->child_digest) {
                pull_fail(p, -ENOMEM, "out of memory");
                return;
        }
        p->manifest_size = (uint64_t) d->size;
        r = manifest_request(p, d->digest);
        if (r < 0)
                pull_fail(p, r, "manifest %s: %m", d->digest);
}

static void pull_next_endpoint(RegistryPull *p, int error, const char *message);

static void on_manifest_done(Transfer *t, int error, const char *message, void *userdata) {
        RegistryPull *p = userdata;
        char got[DIGEST_SHA256_STRLEN + 1];
        _cleanup_free_ char *body = NULL, *content_type = NULL;
        size_t size;
        int r;

        if (error == -EACCES && t->status == 401) {
                pull_authenticate(p, t, message);
                return;
        }
        if (error < 0) {
                pull_next_endpoint(p, error, message);
                return;
        }
        r = sha256_digest(t->buf ?: "", t->size, got);
        if (r < 0) {
                pull_fail(p, r, "out of memory");
                return;
        }
        /* asked by digest: it must be that */
        if (p->child_digest || p->ref->digest) {
                const char *want = p->child_digest ?: p->ref->digest;

                if (!streq(got, want)) {
                        pull_fail(p, -EBADMSG, "manifest %s: digest mismatch (got %s)", want, got);
                        return;
                }
                if (p->child_digest && t->size != p->manifest_size) {
                        pull_fail(p, -EBADMSG, "manifest %s: %zu bytes, its descriptor says %llu", want, t->size,
                                  (unsigned long long) p->manifest_size);
                        return;
                }
        }
        /* the transfer goes, its body stays */
        body = TAKE_PTR(t->buf);
        size = t->size;
        content_type = TAKE_PTR(t->content_type);
        pull_release_transfer(p, &p->manifest_transfer);
        if (p->child_digest)
                on_image_manifest(p, body ?: "", size, content_type, got);
        else
                on_top_manifest(p, body ?: "", size, content_type, got);
}

static int manifest_request(RegistryPull *p, const char *tag_or_digest) {
        _cleanup_free_ char *url = NULL, *what = NULL;
        int r;

        if (asprintf(&url, "%s/v2/%s/manifests/%s", p->base_url, p->ref->path, tag_or_digest) < 0 ||
            asprintf(&what, "manifest %s", tag_or_digest) < 0)
                return -ENOMEM;
        pull_release_transfer(p, &p->manifest_transfer);
        r = transfer_new(p->client, TRANSFER_MANIFEST, url,
                         p->settings && p->settings->ca_file ? p->settings->ca_file : p->client->ca_file,
                         p->settings && p->settings->plain_http, what, &p->manifest_transfer);
        if (r >= 0)
                r = transfer_set_authorization(p->manifest_transfer, p->authorization);
        if (r >= 0)
                r = transfer_start(p->manifest_transfer, on_manifest_done, NULL, p);
        return r;
}

/* Starts on the current endpoint: its settings, what its repository needed last time,
 * the reference's manifest. */
static int endpoint_start(RegistryPull *p) {
        const char *host = endpoint_host(p);
        int r;

        p->settings = registry_host_settings(p->client, host);
        free(p->base_url);
        /* Docker Hub's API is not at its name */
        if (asprintf(&p->base_url, "%s://%s", p->settings && p->settings->plain_http ? "http" : "https",
                     streq(host, "docker.io") ? "registry-1.docker.io" : host) < 0) {
                p->base_url = NULL;
                return -ENOMEM;
        }
        p->authorization = erase_and_free(p->authorization);
        r = authorization_from_cache(p);
        if (r < 0)
                return r;
        p->child_digest = (free(p->child_digest), NULL);
        return manifest_request(p, p->ref->digest ?: p->ref->tag);
}

/* The manifest could not be had here: the next mirror, or the registry, or give up. */
static void pull_next_endpoint(RegistryPull *p, int error, const char *message) {
        int r;

        if (error == -EBADMSG || p->child_digest || p->endpoint + 1 >= p->n_endpoints) {
                pull_fail(p, error, "%s", message);
                return;
        }
        log_info("pull %s: mirror %s: %s; trying %s", p->reference, endpoint_host(p), message,
                 p->endpoints[p->endpoint + 1]);
        p->endpoint++;
        r = endpoint_start(p);
        if (r < 0)
                pull_fail(p, r, "%s: %m", endpoint_host(p));
}

static int on_pull_begin(sd_event_source *s, void *userdata) {
        RegistryPull *p = userdata;
        _cleanup_free_ char *body = NULL;
        size_t size;
        int r;

        p->defer = sd_event_source_disable_unref(p->defer);
        /* by digest, and here already: no request at all */
        if (p->ref->digest && digest_is_sha256(p->ref->digest) &&
            read_blob(p->dir_fd, p->ref->digest, MANIFEST_SIZE_MAX, &body, &size) >= 0) {
                char got[DIGEST_SHA256_STRLEN + 1];

                if (sha256_digest(body, size, got) >= 0 && streq(got, p->ref->digest)) {
                        on_top_manifest(p, body, size, NULL, got);
                        return 0;
                }
        }
        r = endpoint_start(p);
        if (r < 0)
                pull_fail(p, r, "%s: %m", endpoint_host(p));
        return 0;
}

int registry_pull(RegistryClient *c, const char *reference, const char *blobs_dir, const AuthFile *credentials,
                  const RegistryPullCallbacks *callbacks, void *userdata, RegistryPull **ret) {
        _cleanup_free_ char *error = NULL, *sha_dir = NULL;
        const HostSettings *s;
        RegistryPull *p;
        struct stat st;
        size_t n = 0;
        int r;

        p = calloc(1, sizeof(RegistryPull));
        if (!p)
                return -ENOMEM;
        p->client = c;
        p->dir_fd = -EBADF;
        LIST_PREPEND(c->pulls, p);
        p->credentials = credentials;
        p->cb = *callbacks;
        p->userdata = userdata;

        r = image_ref_parse(reference, &p->ref, &error);
        if (r < 0) {
                log_error("pull %s: %s", reference, error ?: strerror(-r));
                goto fail;
        }
        if (p->ref->digest && !digest_is_sha256(p->ref->digest)) {
                r = log_error_errno(EOPNOTSUPP, "pull %s: only sha256 digests are supported", reference);
                goto fail;
        }
        p->reference = image_ref_to_string(p->ref);
        p->blobs_dir = strdup(blobs_dir);
        if (!p->reference || !p->blobs_dir || asprintf(&sha_dir, "%s/sha256", blobs_dir) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        r = mkdir_p(sha_dir, 0755);
        if (r < 0) {
                log_error_errno(r, "pull %s: create %s: %m", p->reference, sha_dir);
                goto fail;
        }
        p->dir_fd = open(sha_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (p->dir_fd < 0 || fstat(p->dir_fd, &st) < 0) {
                r = log_error_errno(errno, "pull %s: open %s: %m", p->reference, sha_dir);
                goto fail;
        }
        if (asprintf(&p->dir_key, "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino) < 0) {
                p->dir_key = NULL;
                r = -ENOMEM;
                goto fail;
        }

        s = registry_host_settings(c, p->ref->domain);
        while (s && s->mirrors[n])
                n++;
        p->endpoints = calloc(n + 2, sizeof(char *));
        if (!p->endpoints) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < n; i++)
                if (!(p->endpoints[p->n_endpoints++] = strdup(s->mirrors[i]))) {
                        r = -ENOMEM;
                        goto fail;
                }
        if (!(p->endpoints[p->n_endpoints++] = strdup(p->ref->domain))) {
                r = -ENOMEM;
                goto fail;
        }

        /* from the loop: done is never called from here */
        r = sd_event_add_defer(c->event, &p->defer, on_pull_begin, p);
        if (r < 0)
                goto fail;
        if (ret)
                *ret = p;
        return 0;
fail:
        pull_free(p);
        return r;
}
