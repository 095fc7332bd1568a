/* SPDX-License-Identifier: Apache-2.0 */
/* One HTTP transfer of the registry client: a manifest or token into memory, or a blob
 * into a temporary file beside its final place, hashed as it streams. Transport errors
 * and 408/429/5xx answers are retried with backoff; a blob whose connection broke is
 * resumed with a Range request where it stopped (at once when the attempt made
 * progress). The owner (registry.c) answers 401s and decides what the result means. */
#include <ctype.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "config.h"
#include "error.h"
#include "image-ref.h"
#include "buffer.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "registry-internal.h"

#define FAILURES_MAX 5                /* consecutive attempts without progress */
#define BACKOFF_FIRST_USEC (100 * 1000ULL)
#define BACKOFF_MAX_USEC (5 * 1000 * 1000ULL)
#define ERROR_BODY_MAX (64 * 1024)
#define TOKEN_SIZE_MAX (1024 * 1024)
#define BLOB_BUFFER_SIZE (512 * 1024L)
#define WRITE_BUFFER_SIZE (1024 * 1024) /* libcurl hands 16 KiB at a time: fewer writes */
#define WRITEBACK_CHUNK (8ULL * 1024 * 1024)

/* The first reason an attempt fails stands (formatted as error_set() does, "%m" the
 * error's text); the transfer reports it once curl is done with the attempt. */
#define transfer_abort(t, r, format, ...)                                                \
        ({                                                                               \
                if (!(t)->error)                                                         \
                        (t)->error = error_set(&(t)->message, r, format, ##__VA_ARGS__); \
        })

/* --- headers and body -------------------------------------------------------------------- */

static void reset_response(Transfer *t) {
        t->status = 0;
        t->www_authenticate = (free(t->www_authenticate), NULL);
        t->content_type = (free(t->content_type), NULL);
        t->content_range = (free(t->content_range), NULL);
        t->body_started = false;
        t->size = 0;
        if (t->buf)
                t->buf[0] = 0;
        t->errbuf[0] = 0;
}

static void header_value(const char *line, size_t n, size_t name_len, char **slot) {
        const char *v = line + name_len;
        size_t m = n - name_len;

        while (m > 0 && (*v == ' ' || *v == '\t'))
                v++, m--;
        while (m > 0 && (v[m - 1] == '\r' || v[m - 1] == '\n' || v[m - 1] == ' '))
                m--;
        free(*slot);
        *slot = strndup(v, m);
}

static size_t on_header(char *line, size_t one, size_t n, void *userdata) {
        Transfer *t = userdata;
        static const struct {
                const char *name;
                size_t offset;
        } wanted[] = {
                { "www-authenticate:", offsetof(Transfer, www_authenticate) },
                { "content-type:", offsetof(Transfer, content_type) },
                { "content-range:", offsetof(Transfer, content_range) },
        };

        n *= one;
        /* A status line starts each response (redirects and 100 Continue included):
         * what came before belonged to another one. */
        if (n > 5 && strneq(line, "HTTP/", 5)) {
                const char *sp = memchr(line, ' ', n);

                reset_response(t);
                if (sp)
                        t->status = strtol(sp + 1, NULL, 10);
                return n;
        }
        for (size_t i = 0; i < ELEMENTSOF(wanted); i++) {
                size_t len = strlen(wanted[i].name);

                if (n >= len && strncasecmp(line, wanted[i].name, len) == 0) {
                        header_value(line, n, len, (char **) ((char *) t + wanted[i].offset));
                        break;
                }
        }
        return n;
}

static bool buf_append(Transfer *t, const char *data, size_t n, size_t max) {
        return buffer_append(&t->buf, &t->size, &t->allocated, data, n, max) >= 0;
}

/* An unnamed file in dir_fd (O_TMPFILE), or where the file system has none a named
 * temporary (*ret_name set; the caller removes it on failure). */
static int tmp_file_open(int dir_fd, const char *digest, int *ret_fd, char **ret_name) {
        _cleanup_free_ char *name = NULL;
        uint64_t rnd;
        int fd;

        fd = openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) {
                *ret_fd = fd;
                *ret_name = NULL;
                return 0;
        }
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                return -errno;
        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                rnd = (uint64_t) getpid() << 32 ^ (uint64_t) (uintptr_t) ret_fd;
        if (asprintf(&name, ".tmp-%.16s-%016llx", digest + 7, (unsigned long long) rnd) < 0)
                return -ENOMEM;
        fd = openat(dir_fd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        *ret_name = TAKE_PTR(name);
        return 0;
}

/* fsync, then the file under its digest's hex (EEXIST is fine: the same content). */
static int tmp_file_commit(int dir_fd, int fd, const char *tmp_name, const char *digest) {
        char path[64];

        if (fdatasync(fd) < 0)
                return -errno;
        if (tmp_name)
                return renameat(dir_fd, tmp_name, dir_fd, digest + 7) < 0 ? -errno : 0;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, path, dir_fd, digest + 7, AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int blob_file_open(Transfer *t) {
        free(t->tmp_name);
        t->tmp_name = NULL;
        if (!t->wbuf && t->expected > 0) {
                t->wbuf = malloc(WRITE_BUFFER_SIZE);
                if (!t->wbuf)
                        return -ENOMEM;
        }
        return tmp_file_open(t->dir_fd, t->digest, &t->fd, &t->tmp_name);
}

bool blob_present(int dir_fd, const char *digest, uint64_t size) {
        struct stat st;

        return digest_is_sha256(digest) && fstatat(dir_fd, digest + 7, &st, 0) == 0 && S_ISREG(st.st_mode) &&
               (uint64_t) st.st_size == size;
}

int blob_store(int dir_fd, const char *digest, const void *data, size_t size) {
        _cleanup_free_ char *tmp_name = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (blob_present(dir_fd, digest, size))
                return 0;
        r = tmp_file_open(dir_fd, digest, &fd, &tmp_name);
        if (r < 0)
                return r;
        for (size_t done = 0; done < size;) {
                ssize_t w = write(fd, (const char *) data + done, size - done);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        r = -errno;
                        goto fail;
                }
                done += (size_t) w;
        }
        r = tmp_file_commit(dir_fd, fd, tmp_name, digest);
        if (r >= 0)
                return 0;
fail:
        if (tmp_name)
                (void) unlinkat(dir_fd, tmp_name, 0);
        return r;
}

static int write_all(int fd, const char *data, size_t size) {
        for (size_t done = 0; done < size;) {
                ssize_t w = write(fd, data + done, size - done);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                done += (size_t) w;
        }
        return 0;
}

/* Writes what the buffer holds, and starts write-back of every full chunk written
 * since: the final fdatasync() then waits for little, and the loop is not held while
 * a whole layer goes to the disk. */
static int blob_flush(Transfer *t) {
        int r;

        if (t->wbuf_size > 0) {
                r = write_all(t->fd, t->wbuf, t->wbuf_size);
                if (r < 0)
                        return r;
                t->written += t->wbuf_size;
                t->wbuf_size = 0;
        }
        if (t->written - t->flushed >= WRITEBACK_CHUNK) {
                (void) sync_file_range(t->fd, (off64_t) t->flushed, (off64_t) (t->written - t->flushed),
                                       SYNC_FILE_RANGE_WRITE);
                t->flushed = t->written;
        }
        return 0;
}

/* Starts the blob's bytes again from zero (the server ignored our Range). */
static int blob_restart(Transfer *t) {
        char ignored[DIGEST_SHA256_STRLEN + 1];

        if (ftruncate(t->fd, 0) < 0 || lseek(t->fd, 0, SEEK_SET) < 0)
                return -errno;
        sha256_final(t->hash, ignored); /* resets it */
        t->offset = t->attempt_start = 0;
        t->wbuf_size = 0;
        t->written = t->flushed = 0;
        return 0;
}

/* The first bytes of a 2xx body: does it continue where we are? */
static int blob_body_start(Transfer *t) {
        unsigned long long start;
        int r;

        if (t->fd < 0) {
                r = blob_file_open(t);
                if (r < 0) {
                        transfer_abort(t, r, "%s: create a temporary file: %m", t->what);
                        return r;
                }
        }
        if (t->status == 206) {
                if (!t->content_range || sscanf(t->content_range, "bytes %llu-", &start) != 1 ||
                    start != t->offset) {
                        transfer_abort(t, -EPROTO, "%s: asked for bytes from %llu, got range '%s'", t->what,
                                       (unsigned long long) t->offset, t->content_range ?: "(none)");
                        return -EPROTO;
                }
                return 0;
        }
        if (t->offset > 0) {
                log_debug("%s: the server sent the whole blob again (no Range support)", t->what);
                r = blob_restart(t);
                if (r < 0) {
                        transfer_abort(t, r, "%s: restart the temporary file: %m", t->what);
                        return r;
                }
        }
        return 0;
}

static size_t on_body(char *data, size_t one, size_t n, void *userdata) {
        Transfer *t = userdata;
        size_t total = one * n;

        if (!t->body_started) {
                t->body_started = true;
                if (t->status == 0) /* no status line seen: curl knows */
                        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
                if (t->kind == TRANSFER_BLOB && t->status >= 200 && t->status < 300 && blob_body_start(t) < 0)
                        return 0;
        }
        if (t->status < 200 || t->status >= 300) {
                /* an error's body: kept for its message, the rest dropped */
                (void) buf_append(t, data, MIN(total, ERROR_BODY_MAX - MIN(t->size, ERROR_BODY_MAX)), ERROR_BODY_MAX);
                return total;
        }
        if (t->kind != TRANSFER_BLOB) {
                if (!buf_append(t, data, total, t->max_size)) {
                        if (t->size + total > t->max_size)
                                transfer_abort(t, -EFBIG, "%s: larger than %zu bytes", t->what, t->max_size);
                        else
                                transfer_abort(t, -ENOMEM, "%s: out of memory", t->what);
                        return 0;
                }
                return total;
        }
        if (t->offset + total > t->expected) {
                transfer_abort(t, -EBADMSG, "%s: larger than the %llu bytes of its descriptor", t->what,
                               (unsigned long long) t->expected);
                return 0;
        }
        if (t->wbuf_size + total > WRITE_BUFFER_SIZE) {
                int r = blob_flush(t);
                if (r < 0) {
                        transfer_abort(t, r, "%s: write: %m", t->what);
                        return 0;
                }
        }
        if (total >= WRITE_BUFFER_SIZE) {
                int r = write_all(t->fd, data, total);
                if (r < 0) {
                        transfer_abort(t, r, "%s: write: %m", t->what);
                        return 0;
                }
                t->written += total;
        } else {
                memcpy(t->wbuf + t->wbuf_size, data, total);
                t->wbuf_size += total;
        }
        sha256_update(t->hash, data, total);
        t->offset += total;
        if (t->progress)
                t->progress(t, t->userdata);
        return total;
}

/* --- life cycle -------------------------------------------------------------------------- */

void transfer_free(Transfer *t) {
        RegistryClient *c;

        if (!t)
                return;
        c = t->client;
        LIST_REMOVE(c->transfers, t);
        if (t->active)
                curl_event_remove(c->curl, t->easy);
        if (t->easy)
                curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
        sd_event_source_disable_unref(t->retry);
        if (t->fd >= 0)
                close(t->fd);
        if (t->tmp_name)
                (void) unlinkat(t->dir_fd, t->tmp_name, 0);
        free(t->tmp_name);
        sha256_free(t->hash);
        free(t->wbuf);
        free(t->digest);
        free(t->url);
        free(t->what);
        erase_and_free(t->authorization);
        free(t->username);
        erase_and_free(t->password);
        free(t->www_authenticate);
        free(t->content_type);
        free(t->content_range);
        free(t->buf);
        free(t->message);
        free(t);
}

int transfer_new(RegistryClient *c, TransferKind kind, const char *url, const char *ca_file, bool plain_http,
                 const char *what, Transfer **ret) {
        _cleanup_(transfer_freep) Transfer *t = calloc(1, sizeof(Transfer));
        const char *protocols = plain_http ? "http,https" : "https";

        if (!t)
                return -ENOMEM;
        t->client = c;
        t->fd = -EBADF;
        t->dir_fd = -EBADF;
        t->kind = kind;
        t->max_size = kind == TRANSFER_TOKEN ? TOKEN_SIZE_MAX : MANIFEST_SIZE_MAX;
        LIST_PREPEND(c->transfers, t);
        t->url = strdup(url);
        t->what = strdup(what);
        t->easy = curl_easy_init();
        if (!t->url || !t->what || !t->easy)
                return -ENOMEM;

        curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
        curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
        curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
        curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "stevedore/" STEVEDORE_VERSION);
        curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, protocols);
        curl_easy_setopt(t->easy, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
        /* blobs are often redirected to storage; credentials never follow to another host
         * (libcurl drops our Authorization header there) */
        curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(t->easy, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYHOST, 2L);
        if (ca_file)
                curl_easy_setopt(t->easy, CURLOPT_CAINFO, ca_file);
        curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
        /* a stalled connection (no byte for 30 s) is dropped, then resumed */
        curl_easy_setopt(t->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(t->easy, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(t->easy, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
        curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
        if (kind == TRANSFER_BLOB)
                curl_easy_setopt(t->easy, CURLOPT_BUFFERSIZE, BLOB_BUFFER_SIZE);
        *ret = TAKE_PTR(t);
        return 0;
}

int transfer_set_blob(Transfer *t, int dir_fd, const char *digest, uint64_t size) {
        int r;

        if (!digest_is_sha256(digest))
                return -EOPNOTSUPP;
        t->dir_fd = dir_fd;
        t->expected = size;
        t->digest = strdup(digest);
        if (!t->digest)
                return -ENOMEM;
        r = sha256_new(&t->hash);
        return r;
}

int transfer_set_authorization(Transfer *t, const char *authorization) {
        char *a = NULL;

        if (authorization && !(a = strdup(authorization)))
                return -ENOMEM;
        erase_and_free(t->authorization);
        t->authorization = a;
        return 0;
}

int transfer_set_basic_credentials(Transfer *t, const char *username, const char *password) {
        t->username = strdup(username);
        t->password = strdup(password);
        if (!t->username || !t->password)
                return -ENOMEM;
        curl_easy_setopt(t->easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
        curl_easy_setopt(t->easy, CURLOPT_USERNAME, t->username);
        curl_easy_setopt(t->easy, CURLOPT_PASSWORD, t->password);
        return 0;
}

static int attempt_start(Transfer *t) {
        struct curl_slist *h = NULL;
        int r;
        char range[64];

        reset_response(t);
        t->error = 0;
        t->message = (free(t->message), NULL);
        t->attempt_start = t->offset;
        if (t->kind == TRANSFER_MANIFEST)
                h = curl_slist_append(h, "Accept: " MANIFEST_ACCEPT);
        else
                h = curl_slist_append(h, "Accept: */*");
        if (h && t->authorization)
                h = curl_slist_append(h, t->authorization);
        if (h && t->kind == TRANSFER_BLOB && t->offset > 0) {
                snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long) t->offset);
                h = curl_slist_append(h, range);
        }
        if (!h)
                return -ENOMEM;
        curl_slist_free_all(t->headers);
        t->headers = h;
        curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
        r = curl_event_add(t->client->curl, t->easy);
        if (r < 0)
                return r;
        t->active = true;
        return 0;
}

int transfer_start(Transfer *t, TransferDone done, TransferProgress progress, void *userdata) {
        t->done = done;
        t->progress = progress;
        t->userdata = userdata;
        return attempt_start(t);
}

int transfer_restart(Transfer *t) {
        if (t->active || t->retry)
                return -EBUSY;
        return attempt_start(t);
}

/* --- outcomes ---------------------------------------------------------------------------- */

static void complete(Transfer *t, int error, const char *message) {
        t->done(t, error, message, t->userdata);
}

#define complete_fmt(t, r, format, ...)                                      \
        ({                                                                    \
                _cleanup_free_ char *_message = NULL;                         \
                int _r = error_set(&_message, r, format, ##__VA_ARGS__);      \
                complete(t, _r, _message ?: "out of memory");                 \
        })

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Transfer *t = userdata;
        int r;

        t->retry = sd_event_source_disable_unref(t->retry);
        r = attempt_start(t);
        if (r < 0)
                complete_fmt(t, r, "%s: restart: %m", t->what);
        return 0;
}

/* An attempt failed in a way worth another; reason is what went wrong. */
static void retry_or_fail(Transfer *t, int error, const char *reason) {
        bool progress = t->offset > t->attempt_start;
        uint64_t delay = 0, now;
        int r;

        if (progress)
                t->failures = 0;
        t->failures++;
        if (t->failures > FAILURES_MAX) {
                complete_fmt(t, error, "%s: %s (%u attempts)", t->what, reason, t->failures);
                return;
        }
        /* an attempt that moved on is resumed at once; the others back off */
        if (!progress)
                delay = MIN(BACKOFF_FIRST_USEC << (t->failures - 1), BACKOFF_MAX_USEC);
        if (t->kind == TRANSFER_BLOB && t->offset > 0)
                log_info("%s: %s; resuming at byte %llu of %llu", t->what, reason, (unsigned long long) t->offset,
                         (unsigned long long) t->expected);
        else
                log_info("%s: %s; retrying in %llu ms", t->what, reason, (unsigned long long) (delay / 1000));
        sd_event_now(t->client->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(t->client->event, &t->retry, CLOCK_MONOTONIC, now + delay, 1000, on_retry, t);
        if (r < 0) {
                complete_fmt(t, r, "%s: %s", t->what, reason);
                return;
        }
        if (t->progress)
                t->progress(t, t->userdata);
}

static bool curl_code_retryable(CURLcode code) {
        switch (code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return true;
        default:
                return false;
        }
}

static int curl_code_errno(CURLcode code) {
        switch (code) {
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
                return -EHOSTUNREACH;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
                return -EPROTO;
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EPROTONOSUPPORT;
        default:
                return -ECONNRESET;
        }
}

/* "HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)" from the registry's error body. */
static char *http_error(const Transfer *t) {
        json_object *root = t->size > 0 ? json_tokener_parse(t->buf) : NULL, *errors, *e, *v;
        const char *code = NULL, *message = NULL;
        char *s;

        if (root && json_object_object_get_ex(root, "errors", &errors) &&
            json_object_is_type(errors, json_type_array) && json_object_array_length(errors) > 0 &&
            (e = json_object_array_get_idx(errors, 0)) && json_object_is_type(e, json_type_object)) {
                if (json_object_object_get_ex(e, "code", &v) && json_object_is_type(v, json_type_string))
                        code = json_object_get_string(v);
                if (json_object_object_get_ex(e, "message", &v) && json_object_is_type(v, json_type_string))
                        message = json_object_get_string(v);
        }
        if (code || message) {
                if (asprintf(&s, "HTTP %ld (%s%s%s)", t->status, code ?: "", code && message ? ": " : "",
                             message ?: "") < 0)
                        s = NULL;
        } else if (asprintf(&s, "HTTP %ld", t->status) < 0)
                s = NULL;
        json_object_put(root);
        return s;
}

/* A complete blob: is it what its digest says? Then into place. */
static void blob_finish(Transfer *t) {
        char got[DIGEST_SHA256_STRLEN + 1];
        int r;

        sha256_final(t->hash, got);
        if (!streq(got, t->digest)) {
                complete_fmt(t, -EBADMSG, "%s: digest mismatch (got %s)", t->what, got);
                return;
        }
        if (t->fd < 0) { /* an empty blob: no body came */
                r = blob_file_open(t);
                if (r < 0) {
                        complete_fmt(t, r, "%s: create a temporary file: %m", t->what);
                        return;
                }
        }
        r = blob_flush(t);
        if (r < 0) {
                complete_fmt(t, r, "%s: write: %m", t->what);
                return;
        }
        r = tmp_file_commit(t->dir_fd, t->fd, t->tmp_name, t->digest);
        if (r < 0) {
                complete_fmt(t, r, "%s: into place: %m", t->what);
                return;
        }
        t->tmp_name = (free(t->tmp_name), NULL); /* renamed: nothing to remove */
        complete(t, 0, NULL);
}

static void transfer_finished(Transfer *t, CURLcode code) {
        _cleanup_free_ char *reason = NULL;

        if (t->error) {
                complete(t, t->error, t->message ?: "out of memory");
                return;
        }
        if (code != CURLE_OK && t->kind == TRANSFER_BLOB && t->status >= 200 && t->status < 300 &&
            t->offset == t->expected && t->expected > 0) {
                /* the connection broke after the last byte: nothing left to resume */
                blob_finish(t);
                return;
        }
        if (code != CURLE_OK) {
                const char *m = *t->errbuf ? t->errbuf : curl_easy_strerror(code);

                if (curl_code_retryable(code))
                        retry_or_fail(t, curl_code_errno(code), m);
                else
                        complete_fmt(t, curl_code_errno(code), "%s: %s%s", t->what, m,
                                     code == CURLE_SSL_CONNECT_ERROR && strstr(m, "wrong version number")
                                             ? " (a plain HTTP registry? it must be configured as insecure)"
                                             : "");
                return;
        }
        if (t->status == 0)
                curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
        if (t->status >= 200 && t->status < 300) {
                if (t->kind != TRANSFER_BLOB) {
                        complete(t, 0, NULL);
                        return;
                }
                if (t->offset < t->expected) {
                        /* the server ended the body early: as a broken connection */
                        if (asprintf(&reason, "body ended after %llu of %llu bytes", (unsigned long long) t->offset,
                                     (unsigned long long) t->expected) < 0)
                                reason = NULL;
                        retry_or_fail(t, -ECONNRESET, reason ?: "body ended early");
                        return;
                }
                blob_finish(t);
                return;
        }
        reason = http_error(t);
        if (t->status == 408 || t->status == 429 || t->status >= 500) {
                retry_or_fail(t, -EIO, reason ?: "server error");
                return;
        }
        complete_fmt(t,
                     t->status == 401 || t->status == 403 ? -EACCES
                     : t->status == 404                   ? -ENOENT
                                                          : -EPROTO,
                     "%s: %s", t->what, reason ?: "HTTP error");
}

void transfer_on_done(CURL *easy, CURLcode result, void *userdata) {
        Transfer *t = NULL;

        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);
        curl_event_remove(t->client->curl, easy);
        t->active = false;
        t->requests++;
        transfer_finished(t, result);
}
