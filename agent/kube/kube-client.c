/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>

#include "buffer.h"
#include "config.h"
#include "curl-event.h"
#include "json-util.h"
#include "kube-client.h"
#include "log.h"
#include "macro.h"
#include "rate-limit.h"

#define RESPONSE_MAX_SIZE (256 * 1024 * 1024)
#define LINE_MAX_SIZE (64 * 1024 * 1024)

struct KubeRequest {
        KubeClient *client;
        CURL *easy;
        struct curl_slist *headers;
        char *body;
        char *buf; /* the response, or the unfinished line of a stream */
        size_t size, allocated;
        bool too_large;
        bool stopped;
        KubeResponseHandler done;
        KubeLineHandler on_line;
        void *userdata;
        char error[CURL_ERROR_SIZE];
        KubeRequest *next;
        bool queued;            /* waiting for the rate limit, not yet handed to libcurl */
        KubeRequest *queue_next;
};

struct KubeClient {
        sd_event *event;
        CurlEvent *curl;
        char *server;
        struct curl_blob ca, cert, key;
        char *authorization; /* "Authorization: Bearer …" */
        KubeRequest *requests;
        RateLimit limit;
        KubeRequest *queue, **queue_tail; /* in the order they were made */
        sd_event_source *throttle;        /* due when the queue's first may go */
};

static uint64_t now_usec(KubeClient *c) {
        uint64_t t = 0;

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &t);
        return t;
}

void kube_client_set_rate_limit(KubeClient *c, unsigned qps, unsigned burst) {
        rate_limit_init(&c->limit, qps ?: KUBE_API_QPS, burst ?: KUBE_API_BURST, now_usec(c));
}

const char *kube_client_server(const KubeClient *client) {
        return client->server;
}

sd_event *kube_client_event(const KubeClient *client) {
        return client->event;
}

const char *kube_status_message(json_object *body) {
        json_object *m;

        if (body && json_object_object_get_ex(body, "message", &m))
                return json_object_get_string(m);
        return NULL;
}

static void request_free(KubeRequest *r) {
        KubeClient *c = r->client;

        for (KubeRequest **p = &c->requests; *p; p = &(*p)->next)
                if (*p == r) {
                        *p = r->next;
                        break;
                }
        if (r->queued) {
                for (KubeRequest **p = &c->queue; *p; p = &(*p)->queue_next)
                        if (*p == r) {
                                *p = r->queue_next;
                                if (!*p)
                                        c->queue_tail = p;
                                break;
                        }
        } else
                curl_event_remove(c->curl, r->easy);
        curl_easy_cleanup(r->easy);
        curl_slist_free_all(r->headers);
        free(r->body);
        free(r->buf);
        free(r);
}

void kube_request_cancel(KubeRequest *request) {
        if (request)
                request_free(request);
}

static bool buf_append(KubeRequest *r, const char *data, size_t n, size_t max) {
        int e = buffer_append(&r->buf, &r->size, &r->allocated, data, n, max);

        r->too_large = r->too_large || e == -E2BIG;
        return e >= 0;
}

static size_t on_body(char *data, size_t one, size_t n, void *userdata) {
        KubeRequest *r = userdata;

        return buf_append(r, data, one * n, RESPONSE_MAX_SIZE) ? n : 0;
}

/* Splits a stream into lines and hands each parsed line on. */
static size_t on_stream(char *data, size_t one, size_t n, void *userdata) {
        KubeRequest *r = userdata;
        char *start, *nl;

        if (!buf_append(r, data, one * n, LINE_MAX_SIZE))
                return 0;
        start = r->buf;
        while ((nl = memchr(start, '\n', r->size - (size_t) (start - r->buf)))) {
                json_object *line;

                *nl = 0;
                line = json_tokener_parse(start);
                if (line) {
                        int stop = r->on_line(r->client, line, r->userdata);
                        json_object_put(line);
                        if (stop < 0) {
                                r->stopped = true;
                                return 0; /* aborts the transfer; done reports -ECANCELED */
                        }
                } else
                        log_warning("%s: ignoring a watch event that is not JSON", r->client->server);
                start = nl + 1;
        }
        r->size -= (size_t) (start - r->buf);
        memmove(r->buf, start, r->size);
        return n;
}

static void finish(KubeRequest *r, CURLcode code) {
        KubeClient *c = r->client;
        _cleanup_(json_object_putp) json_object *body = NULL;
        long status = 0;
        int error = 0;
        const char *message = NULL;

        if (code != CURLE_OK) {
                error = r->stopped                       ? -ECANCELED
                        : code == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                        : code == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
                        : code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CONNECT_ERROR ? -EPROTO
                        : r->too_large ? -EFBIG
                                       : -ECONNRESET;
                message = *r->error ? r->error : curl_easy_strerror(code);
        } else {
                curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
                if (!r->on_line && r->buf)
                        body = json_tokener_parse(r->buf);
        }
        if (r->done)
                r->done(c, error, message, status, body, r->userdata);
        request_free(r);
}

static void on_done(CURL *easy, CURLcode result, void *userdata) {
        KubeRequest *r = NULL;

        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &r);
        finish(r, result);
}

static bool blob_set(struct curl_blob *b, const char *data, size_t size) {
        if (!data)
                return true;
        b->data = malloc(size);
        if (!b->data)
                return false;
        memcpy(b->data, data, size);
        b->len = size;
        b->flags = CURL_BLOB_NOCOPY; /* the client owns it and outlives every handle */
        return true;
}

int kube_client_new(sd_event *event, const KubeConfig *config, KubeClient **ret) {
        _cleanup_(kube_client_freep) KubeClient *c = calloc(1, sizeof(KubeClient));
        int r;

        if (!c)
                return -ENOMEM;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                free(TAKE_PTR(c));
                return -EIO;
        }
        c->event = sd_event_ref(event);
        c->server = strdup(config->server);
        if (!c->server || !blob_set(&c->ca, config->ca, config->ca_size) ||
            !blob_set(&c->cert, config->client_cert, config->client_cert_size) ||
            !blob_set(&c->key, config->client_key, config->client_key_size))
                return -ENOMEM;
        /* Servers end in no slash: paths are appended as they are. */
        if (*c->server && c->server[strlen(c->server) - 1] == '/')
                c->server[strlen(c->server) - 1] = 0;
        if (config->token && asprintf(&c->authorization, "Authorization: Bearer %s", config->token) < 0)
                return -ENOMEM;

        r = curl_event_new(event, "kube-client-timer", on_done, c, &c->curl);
        if (r < 0)
                return r;
        c->queue_tail = &c->queue;
        rate_limit_init(&c->limit, KUBE_API_QPS, KUBE_API_BURST, now_usec(c));
        *ret = TAKE_PTR(c);
        return 0;
}

void kube_client_free(KubeClient *c) {
        if (!c)
                return;
        while (c->requests)
                request_free(c->requests);
        curl_event_free(c->curl);
        sd_event_source_disable_unref(c->throttle);
        sd_event_unref(c->event);
        free(c->server);
        free(c->ca.data);
        free(c->cert.data);
        free(c->key.data);
        erase_and_free(c->authorization);
        free(c);
        curl_global_cleanup();
}

static int request_new(KubeClient *c, const char *method, const char *path, KubeRequest **ret) {
        _cleanup_free_ char *url = NULL;
        KubeRequest *r = calloc(1, sizeof(KubeRequest));

        if (!r || asprintf(&url, "%s%s", c->server, path) < 0) {
                free(r);
                return -ENOMEM;
        }
        r->client = c;
        r->easy = curl_easy_init();
        if (!r->easy) {
                free(r);
                return -ENOMEM;
        }
        r->headers = curl_slist_append(NULL, "Accept: application/json");
        if (c->authorization)
                r->headers = curl_slist_append(r->headers, c->authorization);

        curl_easy_setopt(r->easy, CURLOPT_URL, url);
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
        curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->error);
        curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "stevedore/" STEVEDORE_VERSION);
        curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        /* A dead peer on an idle watch is noticed by keepalive, not by waiting forever. */
        curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPIDLE, 30L);
        curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPINTVL, 10L);
        if (c->ca.data)
                curl_easy_setopt(r->easy, CURLOPT_CAINFO_BLOB, &c->ca);
        if (c->cert.data) {
                curl_easy_setopt(r->easy, CURLOPT_SSLCERT_BLOB, &c->cert);
                curl_easy_setopt(r->easy, CURLOPT_SSLCERTTYPE, "PEM");
                curl_easy_setopt(r->easy, CURLOPT_SSLKEY_BLOB, &c->key);
                curl_easy_setopt(r->easy, CURLOPT_SSLKEYTYPE, "PEM");
        }
        *ret = r;
        return 0;
}

static int on_throttle(sd_event_source *s, uint64_t usec, void *userdata);

/* The queue's first may go in `wait` µs. */
static int throttle_arm(KubeClient *c, uint64_t wait) {
        if (c->throttle) {
                (void) sd_event_source_set_time(c->throttle, now_usec(c) + wait);
                return sd_event_source_set_enabled(c->throttle, SD_EVENT_ONESHOT);
        }
        /* To the millisecond, not sd-event's default 250 ms: the wait is the rate's. */
        return sd_event_add_time_relative(c->event, &c->throttle, CLOCK_MONOTONIC, wait, 1000, on_throttle, c);
}

/* Hands the queue's requests to libcurl as the rate limit lets them go. */
static int on_throttle(sd_event_source *s, uint64_t usec, void *userdata) {
        KubeClient *c = userdata;

        while (c->queue) {
                KubeRequest *r = c->queue;
                uint64_t wait = rate_limit_take(&c->limit, now_usec(c));
                int e;

                if (wait > 0)
                        return throttle_arm(c, wait);
                c->queue = r->queue_next;
                if (!c->queue)
                        c->queue_tail = &c->queue;
                r->queued = false;
                e = curl_event_add(c->curl, r->easy);
                if (e < 0) {
                        if (r->done)
                                r->done(c, e, "cannot start the request", 0, NULL, r->userdata);
                        request_free(r);
                }
        }
        return 0;
}

static int request_start(KubeRequest *r) {
        KubeClient *c = r->client;
        uint64_t wait = 0;
        int e;

        if (!r->headers) {
                request_free(r);
                return -ENOMEM;
        }
        curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
        if (!c->queue)
                wait = rate_limit_take(&c->limit, now_usec(c));
        if (!c->queue && wait == 0) {
                /* Started from within one of libcurl's callbacks (a watch's line handler),
                 * it is added once the event loop is back (curl-event.h). */
                e = curl_event_add(c->curl, r->easy);
                if (e < 0) {
                        request_free(r);
                        return e;
                }
        } else {
                /* In line behind those already waiting (the timer is set then). */
                if (!c->queue) {
                        e = throttle_arm(c, wait);
                        if (e < 0) {
                                request_free(r);
                                return e;
                        }
                }
                r->queued = true;
                *c->queue_tail = r;
                c->queue_tail = &r->queue_next;
        }
        r->next = c->requests;
        c->requests = r;
        return 0;
}

int kube_client_request(KubeClient *c, const char *method, const char *path, const char *body,
                        const char *content_type, KubeResponseHandler done, void *userdata, KubeRequest **ret) {
        KubeRequest *r;
        int e;

        e = request_new(c, method, path, &r);
        if (e < 0)
                return e;
        r->done = done;
        r->userdata = userdata;
        curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
        if (body) {
                _cleanup_free_ char *header = NULL;

                r->body = strdup(body);
                if (!r->body || asprintf(&header, "Content-Type: %s", content_type ? content_type : "application/json") < 0) {
                        request_free(r);
                        return -ENOMEM;
                }
                r->headers = curl_slist_append(r->headers, header);
                curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
                curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(r->body));
        }
        e = request_start(r);
        if (e >= 0 && ret)
                *ret = r;
        return e;
}

int kube_client_stream(KubeClient *c, const char *path, KubeLineHandler on_line, KubeResponseHandler done,
                       void *userdata, KubeRequest **ret) {
        KubeRequest *r;
        int e;

        e = request_new(c, "GET", path, &r);
        if (e < 0)
                return e;
        r->on_line = on_line;
        r->done = done;
        r->userdata = userdata;
        curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_stream);
        curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
        e = request_start(r);
        if (e >= 0 && ret)
                *ret = r;
        return e;
}
