/* SPDX-License-Identifier: Apache-2.0 */
/* The registry client (see registry-client.h): one RegistryPull is a small state
 * machine of HTTP requests on a curl multi handle that sd-event drives.
 *
 *   manifest ──401──> token ──> manifest again
 *      │ an index: the manifest for this platform, by digest
 *      v
 *   config + layer blobs, `parallel` at once; a failed transfer is retried after
 *   0.5, 1, 2, 4 s, resuming from what was written (Range) when the server allows
 *      v
 *   unpack and record (store_import_manifest), then done */
#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/file.h>

#include "base64.h"
#include "fileio.h"
#include "image-digest.h"
#include "image-manifest.h"
#include "image-ref.h"
#include "image-store-private.h"
#include "log.h"
#include "macro.h"
#include "registry-client.h"

#define ATTEMPTS_MAX 5
#define BODY_MAX MANIFEST_SIZE_MAX
#define PARALLEL_DEFAULT 4

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

static const char accept_manifests[] = "Accept: " MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST;

typedef enum RequestKind {
        REQUEST_MANIFEST,
        REQUEST_TOKEN,
        REQUEST_BLOB,
} RequestKind;

typedef struct BlobJob {
        RegistryPull *pull;
        char *digest;
        int64_t size;
        BlobWriter *writer;
        unsigned attempts;
        sd_event_source *retry;
        bool running, done;
} BlobJob;

typedef struct Request Request;

struct RegistryPull {
        ImageStore *store;
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        RegistryOptions o;
        int lock_fd;

        ImageRef *ref;
        char *name;     /* the normalised reference */
        char *base_url; /* scheme://host/v2/<path> */
        char *userpwd;  /* basic credentials for this registry */
        char *authorization;
        bool token_tried;

        char *manifest_digest;
        char *manifest_ref; /* what the current manifest request asks for */
        BlobJob *jobs;
        size_t n_jobs, running;

        Request *requests;
        bool finished;
        RegistryPullDone done;
        void *userdata;
};

struct Request {
        RegistryPull *pull;
        Request *next, *prev;
        RequestKind kind;
        CURL *easy;
        struct curl_slist *headers;
        char *url;
        BlobJob *job;
        int64_t resume_from;
        bool body_started;
        long status;
        char *www_authenticate, *docker_digest;
        char *body;
        size_t body_len;
        int write_error;
        char errbuf[CURL_ERROR_SIZE];
};

static void pull_fail(RegistryPull *p, int r, const char *format, ...) _printf_(3, 4);
static int start_manifest(RegistryPull *p, const char *reference);
static void start_blobs(RegistryPull *p);

/* --- curl on sd-event ---------------------------------------------------------------- */

static void check_done(RegistryPull *p);

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        RegistryPull *p = userdata;
        int action = (revents & EPOLLIN ? CURL_CSELECT_IN : 0) | (revents & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                     (revents & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0), running;

        curl_multi_socket_action(p->multi, fd, action, &running);
        check_done(p);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        RegistryPull *p = userdata;
        int running;

        curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(p);
        return 0;
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userdata, void *socketp) {
        RegistryPull *p = userdata;
        sd_event_source *s = socketp;
        uint32_t events = (what == CURL_POLL_IN || what == CURL_POLL_INOUT ? EPOLLIN : 0) |
                          (what == CURL_POLL_OUT || what == CURL_POLL_INOUT ? EPOLLOUT : 0);

        if (what == CURL_POLL_REMOVE) {
                sd_event_source_disable_unref(s);
                curl_multi_assign(p->multi, fd, NULL);
                return 0;
        }
        if (s)
                return sd_event_source_set_io_events(s, events) < 0 ? -1 : 0;
        if (sd_event_add_io(p->event, &s, fd, events, on_io, p) < 0)
                return -1;
        curl_multi_assign(p->multi, fd, s);
        return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userdata) {
        RegistryPull *p = userdata;
        uint64_t now;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(p->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        sd_event_now(p->event, CLOCK_MONOTONIC, &now);
        if (sd_event_source_set_time(p->timer, now + (uint64_t) timeout_ms * 1000) < 0 ||
            sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

/* --- requests ------------------------------------------------------------------------ */

static void request_free(Request *r) {
        if (!r)
                return;
        if (r->easy) {
                curl_multi_remove_handle(r->pull->multi, r->easy);
                curl_easy_cleanup(r->easy);
        }
        if (r->prev)
                r->prev->next = r->next;
        else
                r->pull->requests = r->next;
        if (r->next)
                r->next->prev = r->prev;
        curl_slist_free_all(r->headers);
        free(r->url);
        free(r->www_authenticate);
        free(r->docker_digest);
        free(r->body);
        free(r);
}

static char *header_value(const char *line, size_t n, const char *name) {
        size_t k = strlen(name);
        const char *v, *end = line + n;

        if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
                return NULL;
        for (v = line + k + 1; v < end && (*v == ' ' || *v == '\t'); v++)
                ;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
        return strndup(v, (size_t) (end - v));
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
        Request *r = userdata;
        size_t len = size * n;
        char *v;

        if (len >= 5 && strneq(data, "HTTP/", 5)) {
                /* a new response (after a redirect or 100): forget the last one's */
                free(r->www_authenticate);
                free(r->docker_digest);
                r->www_authenticate = r->docker_digest = NULL;
        } else if ((v = header_value(data, len, "WWW-Authenticate"))) {
                free(r->www_authenticate);
                r->www_authenticate = v;
        } else if ((v = header_value(data, len, "Docker-Content-Digest"))) {
                free(r->docker_digest);
                r->docker_digest = v;
        }
        return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        Request *r = userdata;
        size_t len = size * n;
        long status = 0;

        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (r->job && (status == 200 || status == 206)) {
                if (!r->body_started) {
                        r->body_started = true;
                        /* Asked to resume but given the whole blob: start over. */
                        if (status == 200 && blob_writer_size(r->job->writer) > 0) {
                                r->write_error = blob_writer_reset(r->job->writer);
                                if (r->write_error < 0)
                                        return 0;
                        }
                }
                r->write_error = blob_writer_write(r->job->writer, data, len);
                return r->write_error < 0 ? 0 : len;
        }
        if (r->body_len + len > BODY_MAX) {
                r->write_error = -EFBIG;
                return 0;
        }
        {
                char *b = realloc(r->body, r->body_len + len + 1);
                if (!b) {
                        r->write_error = -ENOMEM;
                        return 0;
                }
                r->body = b;
                memcpy(r->body + r->body_len, data, len);
                r->body_len += len;
                r->body[r->body_len] = 0;
        }
        return len;
}

static bool is_insecure(const RegistryPull *p) {
        for (char **h = p->o.insecure; h && *h; h++)
                if (streq(*h, p->ref->domain))
                        return true;
        return false;
}

static int request_start(RegistryPull *p, RequestKind kind, const char *url, BlobJob *job, Request **ret) {
        Request *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        r->pull = p;
        r->kind = kind;
        r->job = job;
        r->next = p->requests;
        if (p->requests)
                p->requests->prev = r;
        p->requests = r;
        r->url = strdup(url);
        r->easy = curl_easy_init();
        if (!r->url || !r->easy) {
                request_free(r);
                return -ENOMEM;
        }
        curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
        curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
        curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
        curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(r->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(r->easy, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, 30L);
        /* A transfer that stalls (under 1 kB/s for 30 s) fails and is retried. */
        curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "stevedore");
        if (p->o.ca_file)
                curl_easy_setopt(r->easy, CURLOPT_CAINFO, p->o.ca_file);
        if (kind == REQUEST_MANIFEST)
                r->headers = curl_slist_append(r->headers, accept_manifests);
        if (kind != REQUEST_TOKEN && p->authorization)
                r->headers = curl_slist_append(r->headers, p->authorization);
        if ((kind == REQUEST_TOKEN || !p->authorization) && p->userpwd) {
                curl_easy_setopt(r->easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
                curl_easy_setopt(r->easy, CURLOPT_USERPWD, p->userpwd);
        }
        if (job && blob_writer_size(job->writer) > 0) {
                char range[64];
                r->resume_from = blob_writer_size(job->writer);
                snprintf(range, sizeof(range), "%" PRId64 "-", r->resume_from);
                curl_easy_setopt(r->easy, CURLOPT_RANGE, range);
        }
        curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
        if (curl_multi_add_handle(p->multi, r->easy) != CURLM_OK) {
                request_free(r);
                return -EIO;
        }
        if (ret)
                *ret = r;
        return 0;
}

/* --- the pull ------------------------------------------------------------------------- */

static void pull_finish(RegistryPull *p, int r, const char *error) {
        RegistryPullDone done = p->done;

        if (p->finished)
                return;
        p->finished = true;
        while (p->requests)
                request_free(p->requests);
        for (size_t i = 0; i < p->n_jobs; i++) {
                blob_writer_free(p->jobs[i].writer);
                p->jobs[i].writer = NULL;
                p->jobs[i].retry = sd_event_source_disable_unref(p->jobs[i].retry);
        }
        if (p->lock_fd >= 0) {
                if (r < 0) {
                        _cleanup_free_ char *e = NULL;
                        (void) store_sweep(p->store, NULL, &e); /* what a failed pull stored */
                }
                close(p->lock_fd);
                p->lock_fd = -EBADF;
        }
        if (done)
                done(p, r, error, r >= 0 ? p->name : NULL, p->userdata);
}

static void pull_fail(RegistryPull *p, int r, const char *format, ...) {
        _cleanup_free_ char *what = NULL, *message = NULL;
        va_list ap;

        errno = r < 0 ? -r : r;
        va_start(ap, format);
        if (vasprintf(&what, format, ap) < 0)
                what = NULL;
        va_end(ap);
        if (asprintf(&message, "pull %s: %s", p->name, what ?: strerror(-r)) < 0)
                message = NULL;
        pull_finish(p, r, message);
}

char *www_authenticate_param(const char *challenge, const char *key) {
        size_t k = strlen(key);

        for (const char *p = challenge; (p = strstr(p, key)); p++) {
                const char *v, *end;

                if (p > challenge && p[-1] != ' ' && p[-1] != ',')
                        continue;
                if (p[k] != '=')
                        continue;
                v = p + k + 1;
                if (*v == '"') {
                        end = strchr(++v, '"');
                        if (!end)
                                return NULL;
                } else
                        end = v + strcspn(v, ",");
                return strndup(v, (size_t) (end - v));
        }
        return NULL;
}

static int start_token(RegistryPull *p, const char *challenge) {
        _cleanup_free_ char *realm = www_authenticate_param(challenge, "realm"), *service = www_authenticate_param(challenge, "service"),
                            *scope = www_authenticate_param(challenge, "scope"), *url = NULL, *default_scope = NULL;
        CURL *esc = curl_easy_init();
        char *s1 = NULL, *s2 = NULL;
        int r;

        if (!esc)
                return -ENOMEM;
        if (!realm || !(strneq(realm, "https://", 8) || strneq(realm, "http://", 7))) {
                curl_easy_cleanup(esc);
                pull_fail(p, -EACCES, "authentication: no usable realm in '%s'", challenge);
                return -EACCES;
        }
        if (!scope && asprintf(&default_scope, "repository:%s:pull", p->ref->path) < 0) {
                curl_easy_cleanup(esc);
                return -ENOMEM;
        }
        s1 = service ? curl_easy_escape(esc, service, 0) : NULL;
        s2 = curl_easy_escape(esc, scope ?: default_scope, 0);
        r = asprintf(&url, "%s%sscope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?", s2 ?: "", s1 ? "&service=" : "",
                     s1 ?: "");
        curl_free(s1);
        curl_free(s2);
        curl_easy_cleanup(esc);
        if (r < 0)
                return -ENOMEM;
        return request_start(p, REQUEST_TOKEN, url, NULL, NULL);
}

/* A 401: Bearer -> fetch a token and try again; Basic -> try again with credentials. */
static void unauthorized(RegistryPull *p, Request *r) {
        const char *challenge = r->www_authenticate;

        if (p->token_tried || !challenge) {
                pull_fail(p, -EACCES, "GET %s: 401 Unauthorized%s", r->url,
                          p->token_tried ? " with the credentials given" : "");
                return;
        }
        p->token_tried = true;
        if (strncasecmp(challenge, "Bearer", 6) == 0) {
                int k = start_token(p, challenge);
                if (k < 0 && !p->finished)
                        pull_fail(p, k, "authentication: %m");
                return;
        }
        if (strncasecmp(challenge, "Basic", 5) == 0 && p->userpwd) {
                /* request_start sends them when there is no token */
                int k = p->manifest_digest ? (start_blobs(p), 0) : start_manifest(p, p->manifest_ref);
                if (k < 0)
                        pull_fail(p, k, "%m");
                return;
        }
        pull_fail(p, -EACCES, "GET %s: 401 Unauthorized and no credentials for %s", r->url, p->ref->domain);
}

static void token_done(RegistryPull *p, Request *r) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *t;
        int k;

        if (r->status != 200 || !r->body) {
                pull_fail(p, -EACCES, "token from %s: HTTP %ld", r->url, r->status);
                return;
        }
        o = json_tokener_parse(r->body);
        if (!o || !((json_object_object_get_ex(o, "token", &t) && json_object_is_type(t, json_type_string)) ||
                    (json_object_object_get_ex(o, "access_token", &t) && json_object_is_type(t, json_type_string)))) {
                pull_fail(p, -EACCES, "token from %s: no \"token\" in the answer", r->url);
                return;
        }
        free(p->authorization);
        if (asprintf(&p->authorization, "Authorization: Bearer %s", json_object_get_string(t)) < 0) {
                p->authorization = NULL;
                pull_fail(p, -ENOMEM, "%m");
                return;
        }
        k = p->manifest_digest ? (start_blobs(p), 0) : start_manifest(p, p->manifest_ref);
        if (k < 0)
                pull_fail(p, k, "%m");
}

static int start_manifest(RegistryPull *p, const char *reference) {
        _cleanup_free_ char *url = NULL;

        if (reference != p->manifest_ref) {
                free(p->manifest_ref);
                p->manifest_ref = strdup(reference);
                if (!p->manifest_ref)
                        return -ENOMEM;
        }
        if (asprintf(&url, "%s/manifests/%s", p->base_url, reference) < 0)
                return -ENOMEM;
        return request_start(p, REQUEST_MANIFEST, url, NULL, NULL);
}

static int add_job(RegistryPull *p, const Descriptor *d) {
        BlobJob *bigger;

        for (size_t i = 0; i < p->n_jobs; i++)
                if (streq(p->jobs[i].digest, d->digest))
                        return 0;
        if (store_has_blob(p->store, d->digest))
                return 0;
        bigger = reallocarray(p->jobs, p->n_jobs + 1, sizeof(BlobJob));
        if (!bigger)
                return -ENOMEM;
        p->jobs = bigger;
        p->jobs[p->n_jobs] = (BlobJob) { .pull = p, .digest = strdup(d->digest), .size = d->size };
        if (!p->jobs[p->n_jobs].digest)
                return -ENOMEM;
        p->n_jobs++;
        return 0;
}

static void manifest_done(RegistryPull *p, Request *r) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *error = NULL;
        char digest[DIGEST_SHA256_STRLEN + 1], stored[DIGEST_SHA256_STRLEN + 1];
        bool by_digest = strneq(p->manifest_ref, "sha256:", 7);
        int k;

        if (r->status == 404) {
                pull_fail(p, -ENOENT, "%s: manifest unknown (HTTP 404)", r->url);
                return;
        }
        if (r->status != 200 || !r->body) {
                pull_fail(p, -EIO, "GET %s: HTTP %ld%s%.200s", r->url, r->status, r->body ? ": " : "", r->body ?: "");
                return;
        }
        k = sha256_digest(r->body, r->body_len, digest);
        if (k < 0) {
                pull_fail(p, k, "%m");
                return;
        }
        if (by_digest && !streq(digest, p->manifest_ref)) {
                pull_fail(p, -EBADMSG, "manifest %s: digest mismatch: the content is %s", p->manifest_ref, digest);
                return;
        }
        if (!by_digest && r->docker_digest && digest_is_sha256(r->docker_digest) && !streq(r->docker_digest, digest)) {
                pull_fail(p, -EBADMSG, "manifest %s: the registry says %s, the content is %s", p->manifest_ref,
                          r->docker_digest, digest);
                return;
        }
        k = manifest_parse(r->body, r->body_len, &m, &error);
        if (k < 0) {
                pull_fail(p, k, "manifest %s: %s", digest, error ?: "invalid");
                return;
        }
        if (m->kind == MANIFEST_INDEX) {
                const Descriptor *d;

                if (by_digest && p->manifest_digest) {
                        pull_fail(p, -EBADMSG, "index %s points at another index", digest);
                        return;
                }
                k = manifest_select_platform(m, "linux", host_architecture(), &d, &error);
                if (k >= 0)
                        k = start_manifest(p, d->digest);
                if (k < 0)
                        pull_fail(p, k, "index %s: %s", digest, error ?: strerror(-k));
                return;
        }
        k = store_blob_write_buffer(p->store, r->body, r->body_len, stored, &error);
        if (k < 0) {
                pull_fail(p, k, "%s", error ?: strerror(-k));
                return;
        }
        p->manifest_digest = strdup(digest);
        if (!p->manifest_digest) {
                pull_fail(p, -ENOMEM, "%m");
                return;
        }
        k = add_job(p, &m->config);
        for (size_t i = 0; i < m->n_layers && k >= 0; i++)
                k = add_job(p, &m->layers[i]);
        if (k < 0) {
                pull_fail(p, k, "%m");
                return;
        }
        if (p->o.progress)
                fprintf(p->o.progress, "manifest %s: %zu layers, %zu blobs to fetch\n", digest, m->n_layers, p->n_jobs);
        start_blobs(p);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        BlobJob *j = userdata;

        j->retry = sd_event_source_disable_unref(j->retry);
        start_blobs(j->pull);
        return 0;
}

static void blob_done(RegistryPull *p, Request *r, CURLcode code) {
        BlobJob *j = r->job;
        _cleanup_free_ char *error = NULL;
        char digest[DIGEST_SHA256_STRLEN + 1];
        int64_t size;
        bool retry;
        int k;

        j->running = false;
        p->running--;
        if (r->write_error < 0) {
                pull_fail(p, r->write_error, "blob %s: writing: %s", j->digest, strerror(-r->write_error));
                return;
        }
        if (code == CURLE_OK && (r->status == 200 || r->status == 206)) {
                k = blob_writer_finish(j->writer, digest, &size, &error);
                blob_writer_free(j->writer);
                j->writer = NULL;
                if (k < 0) {
                        pull_fail(p, k, "%s", error ?: strerror(-k));
                        return;
                }
                j->done = true;
                if (p->o.progress)
                        fprintf(p->o.progress, "blob %.19s: %" PRId64 " bytes%s\n", j->digest, size,
                                j->attempts > 0 ? " (resumed)" : "");
                start_blobs(p);
                return;
        }
        if (code == CURLE_OK && r->status == 401) {
                unauthorized(p, r);
                return;
        }
        /* A broken or refused transfer, or a server error: again, later, from where it
         * broke off. Other client errors are final. */
        retry = code != CURLE_OK || r->status >= 500 || r->status == 429 || r->status == 408;
        if (!retry || ++j->attempts >= ATTEMPTS_MAX) {
                if (code != CURLE_OK)
                        pull_fail(p, -EIO, "blob %s: %s (%u attempts)", j->digest, *r->errbuf ? r->errbuf : curl_easy_strerror(code),
                                  j->attempts);
                else
                        pull_fail(p, -EIO, "blob %s: HTTP %ld from %s", j->digest, r->status, r->url);
                return;
        }
        log_info("pull %s: blob %.19s: %s after %" PRId64 " bytes, again in %u ms", p->name, j->digest,
                 code != CURLE_OK ? (*r->errbuf ? r->errbuf : curl_easy_strerror(code)) : "server error",
                 blob_writer_size(j->writer), 250u << j->attempts);
        k = sd_event_add_time_relative(p->event, &j->retry, CLOCK_MONOTONIC, (uint64_t) (250u << j->attempts) * 1000, 1000,
                                       on_retry, j);
        if (k < 0) {
                pull_fail(p, k, "timer: %m");
                return;
        }
        start_blobs(p);
}

/* Starts blob jobs up to `parallel`; once all are done, unpacks and records. */
static void start_blobs(RegistryPull *p) {
        bool all_done = true;

        for (size_t i = 0; i < p->n_jobs; i++) {
                BlobJob *j = &p->jobs[i];
                _cleanup_free_ char *url = NULL, *what = NULL, *error = NULL;
                int k;

                if (j->done)
                        continue;
                all_done = false;
                if (j->running || j->retry || p->running >= p->o.parallel)
                        continue;
                if (!j->writer) {
                        if (asprintf(&what, "blob %s", j->digest) < 0) {
                                pull_fail(p, -ENOMEM, "%m");
                                return;
                        }
                        k = store_blob_writer_new(p->store, j->digest, what, &j->writer, &error);
                        if (k < 0) {
                                pull_fail(p, k, "%s", error ?: strerror(-k));
                                return;
                        }
                }
                if (asprintf(&url, "%s/blobs/%s", p->base_url, j->digest) < 0) {
                        pull_fail(p, -ENOMEM, "%m");
                        return;
                }
                k = request_start(p, REQUEST_BLOB, url, j, NULL);
                if (k < 0) {
                        pull_fail(p, k, "GET %s: %m", url);
                        return;
                }
                j->running = true;
                p->running++;
        }
        if (all_done) {
                _cleanup_free_ char *error = NULL;
                char *names[] = { p->name, NULL };
                int k = store_import_manifest(p->store, p->manifest_digest, names, &error);

                if (k < 0)
                        pull_fail(p, k, "%s", error ?: strerror(-k));
                else
                        pull_finish(p, 0, NULL);
        }
}

static void check_done(RegistryPull *p) {
        CURLMsg *m;
        int left;

        while (!p->finished && (m = curl_multi_info_read(p->multi, &left))) {
                Request *r = NULL;

                if (m->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &r);
                curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &r->status);
                log_debug("pull %s: %s -> %ld (%s)", p->name, r->url, r->status, curl_easy_strerror(m->data.result));
                switch (r->kind) {
                case REQUEST_MANIFEST:
                        if (m->data.result != CURLE_OK)
                                pull_fail(p, -EIO, "GET %s: %s", r->url, *r->errbuf ? r->errbuf : curl_easy_strerror(m->data.result));
                        else if (r->status == 401)
                                unauthorized(p, r);
                        else
                                manifest_done(p, r);
                        break;
                case REQUEST_TOKEN:
                        if (m->data.result != CURLE_OK)
                                pull_fail(p, -EIO, "token from %s: %s", r->url,
                                          *r->errbuf ? r->errbuf : curl_easy_strerror(m->data.result));
                        else
                                token_done(p, r);
                        break;
                case REQUEST_BLOB:
                        blob_done(p, r, m->data.result);
                        break;
                }
                if (!p->finished)
                        request_free(r);
        }
}

/* Basic credentials for the registry from a docker config.json / .dockerconfigjson. */
static int load_credentials(RegistryPull *p, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *auths;
        int r;

        if (!p->o.auth_file)
                return 0;
        r = read_full_file(p->o.auth_file, 1024 * 1024, &text, NULL);
        if (r < 0)
                return store_error(ret_error, r, "auth file %s: %m", p->o.auth_file);
        o = json_tokener_parse(text);
        if (!o || !json_object_object_get_ex(o, "auths", &auths) || !json_object_is_type(auths, json_type_object))
                return store_error(ret_error, -EBADMSG, "auth file %s: no \"auths\" object", p->o.auth_file);
        json_object_object_foreach(auths, key, value) {
                const char *host = key;
                size_t n;
                json_object *a, *u, *pw;
                bool docker_hub;

                if (strneq(host, "https://", 8))
                        host += 8;
                else if (strneq(host, "http://", 7))
                        host += 7;
                n = strcspn(host, "/");
                docker_hub = (n == 15 && strneq(host, "index.docker.io", 15)) ||
                             (n == 20 && strneq(host, "registry-1.docker.io", 20));
                if (!(n == strlen(p->ref->domain) && strneq(host, p->ref->domain, n)) &&
                    !(docker_hub && streq(p->ref->domain, "docker.io")))
                        continue;
                if (json_object_object_get_ex(value, "auth", &a) && json_object_is_type(a, json_type_string)) {
                        const char *s = json_object_get_string(a);
                        char *decoded = NULL;
                        if (base64_decode(s, strlen(s), &decoded, NULL) < 0 || !strchr(decoded, ':')) {
                                free(decoded);
                                return store_error(ret_error, -EBADMSG, "auth file %s: \"auth\" for %s is not base64 of user:password",
                                                   p->o.auth_file, key);
                        }
                        p->userpwd = decoded;
                        return 0;
                }
                if (json_object_object_get_ex(value, "username", &u) && json_object_object_get_ex(value, "password", &pw)) {
                        if (asprintf(&p->userpwd, "%s:%s", json_object_get_string(u), json_object_get_string(pw)) < 0)
                                return -ENOMEM;
                        return 0;
                }
        }
        return 0;
}

void registry_pull_free(RegistryPull *p) {
        if (!p)
                return;
        p->done = NULL;
        pull_finish(p, -ECANCELED, NULL);
        for (size_t i = 0; i < p->n_jobs; i++)
                free(p->jobs[i].digest);
        free(p->jobs);
        if (p->multi)
                curl_multi_cleanup(p->multi);
        sd_event_source_disable_unref(p->timer);
        sd_event_unref(p->event);
        image_ref_free(p->ref);
        free(p->name);
        free(p->base_url);
        if (p->userpwd)
                explicit_bzero(p->userpwd, strlen(p->userpwd));
        free(p->userpwd);
        free(p->authorization);
        free(p->manifest_digest);
        free(p->manifest_ref);
        free(p);
        curl_global_cleanup();
}

int registry_pull_start(ImageStore *s, sd_event *event, const char *reference, const RegistryOptions *o,
                        RegistryPullDone done, void *userdata, RegistryPull **ret, char **ret_error) {
        _cleanup_(registry_pull_freep) RegistryPull *p = NULL;
        const char *host;
        int r;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;
        p = calloc(1, sizeof(*p));
        if (!p) {
                curl_global_cleanup();
                return -ENOMEM;
        }
        p->lock_fd = -EBADF;
        p->store = s;
        p->event = sd_event_ref(event);
        p->o = *o;
        if (p->o.parallel == 0)
                p->o.parallel = PARALLEL_DEFAULT;
        p->done = done;
        p->userdata = userdata;

        r = image_ref_parse(reference, &p->ref, ret_error);
        if (r < 0)
                return r;
        p->name = image_ref_to_string(p->ref);
        if (!p->name)
                return -ENOMEM;
        host = streq(p->ref->domain, "docker.io") ? "registry-1.docker.io" : p->ref->domain;
        if (asprintf(&p->base_url, "%s://%s/v2/%s", is_insecure(p) ? "http" : "https", host, p->ref->path) < 0)
                return -ENOMEM;
        r = load_credentials(p, ret_error);
        if (r < 0)
                return r;

        p->multi = curl_multi_init();
        if (!p->multi)
                return -ENOMEM;
        r = sd_event_add_time(event, &p->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_timer, p);
        if (r < 0)
                return store_error(ret_error, r, "timer: %m");
        curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
        curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
        curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
        curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);

        /* Jobs point back at the pull; the array no longer moves once blobs start. */
        /* Held until done: a prune cannot sweep blobs still on their way to an image. */
        r = store_lock(s, true, &p->lock_fd, ret_error);
        if (r < 0)
                return r;
        r = start_manifest(p, p->ref->digest ?: p->ref->tag);
        if (r < 0)
                return store_error(ret_error, r, "pull %s: %m", p->name);
        *ret = TAKE_PTR(p);
        return 0;
}

sd_event *registry_pull_event(const RegistryPull *p) {
        return p->event;
}

typedef struct SyncPull {
        int r;
        char *error, *ref;
} SyncPull;

static void sync_done(RegistryPull *pull, int r, const char *error, const char *ref, void *userdata) {
        SyncPull *s = userdata;

        s->r = r;
        s->error = error ? strdup(error) : NULL;
        s->ref = ref ? strdup(ref) : NULL;
        (void) sd_event_exit(registry_pull_event(pull), 0);
}

int registry_pull(ImageStore *s, const char *reference, const RegistryOptions *o, char **ret_ref, char **ret_error) {
        _cleanup_(registry_pull_freep) RegistryPull *p = NULL;
        sd_event *event = NULL;
        SyncPull result = { .r = -EIO };
        int r;

        r = sd_event_new(&event);
        if (r < 0)
                return r;
        r = registry_pull_start(s, event, reference, o, sync_done, &result, &p, ret_error);
        if (r >= 0)
                r = sd_event_loop(event);
        registry_pull_free(TAKE_PTR(p));
        sd_event_unref(event);
        if (r < 0) {
                free(result.error);
                free(result.ref);
                return r;
        }
        if (result.r < 0) {
                if (ret_error)
                        *ret_error = result.error;
                else
                        free(result.error);
                free(result.ref);
                return result.r;
        }
        free(result.error);
        if (ret_ref)
                *ret_ref = result.ref;
        else
                free(result.ref);
        return 0;
}
