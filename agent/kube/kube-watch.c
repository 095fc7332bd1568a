/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <sys/random.h>

#include "json-util.h"
#include "kube-watch.h"
#include "log.h"

#define LIST_PAGE_SIZE 500
#define BACKOFF_MIN_USEC (500 * 1000ULL)
#define BACKOFF_MAX_USEC (30 * 1000 * 1000ULL)
#define WATCH_TIMEOUT_MIN_SEC 300 /* client-go: 5 to 10 minutes */
#define KEY_MAX 512

struct KubeWatch {
        KubeClient *client;
        char *path;
        char *field_selector;
        KubeWatchHandler handler;
        void *userdata;

        json_object *objects; /* key -> object */
        json_object *listed;  /* keys seen by the list in progress */
        char *resource_version;
        KubeRequest *request;
        sd_event_source *retry;
        uint64_t backoff_usec;
        bool relist;
};

const char *kube_event_to_string(KubeEvent e) {
        static const char *const names[] = {
                [KUBE_ADDED] = "ADDED", [KUBE_MODIFIED] = "MODIFIED",
                [KUBE_DELETED] = "DELETED", [KUBE_SYNCED] = "SYNCED",
                [KUBE_FAILED] = "FAILED",
        };
        return names[e];
}

const char *kube_object_key(json_object *object, char *buf, size_t size) {
        const char *ns = json_get_string(object, "metadata", "namespace", NULL);
        const char *name = json_get_string(object, "metadata", "name", NULL);

        if (!name)
                return NULL;
        if (ns)
                snprintf(buf, size, "%s/%s", ns, name);
        else
                snprintf(buf, size, "%s", name);
        return buf;
}

json_object *kube_watch_objects(KubeWatch *w) {
        return w->objects;
}

static void start_list(KubeWatch *w, const char *continue_token);
static void start_watch(KubeWatch *w);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        KubeWatch *w = userdata;

        if (w->relist || !w->resource_version)
                start_list(w, NULL);
        else
                start_watch(w);
        return 0;
}

static void retry_later(KubeWatch *w) {
        uint64_t now, jitter = 0;

        w->backoff_usec = w->backoff_usec ? MIN(w->backoff_usec * 2, BACKOFF_MAX_USEC) : BACKOFF_MIN_USEC;
        (void) getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK);
        sd_event_now(kube_client_event(w->client), CLOCK_MONOTONIC, &now);
        /* ±20 %, so many nodes that lost the server together do not return together. */
        now += w->backoff_usec * 8 / 10 + jitter % (w->backoff_usec * 4 / 10 + 1);
        if (sd_event_source_set_time(w->retry, now) < 0 || sd_event_source_set_enabled(w->retry, SD_EVENT_ONESHOT) < 0)
                log_error("watch %s: cannot schedule a retry", w->path);
}

static void set_resource_version(KubeWatch *w, json_object *object) {
        const char *rv = json_get_string(object, "metadata", "resourceVersion", NULL);
        char *copy;

        if (!rv || !(copy = strdup(rv)))
                return;
        free(w->resource_version);
        w->resource_version = copy;
}

/* What is remembered of an object: its metadata's name, namespace, uid and
 * resourceVersion — enough to tell a change and to report it gone; the whole object
 * would cost 10⁴ objects × tens of kilobytes. */
static json_object *metadata_of(json_object *object) {
        static const char *const fields[] = { "name", "namespace", "uid", "resourceVersion" };
        json_object *stub = json_object_new_object(), *metadata = json_object_new_object(), *m, *v;

        if (!stub || !metadata) {
                json_object_put(stub);
                json_object_put(metadata);
                return json_object_get(object);
        }
        if (json_object_object_get_ex(object, "metadata", &m))
                for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                        if (json_object_object_get_ex(m, fields[i], &v))
                                json_object_object_add(metadata, fields[i], json_object_get(v));
        json_object_object_add(stub, "metadata", metadata);
        return stub;
}

/* Records object and reports it as added or modified (nothing if it is unchanged). */
static void upsert(KubeWatch *w, json_object *object) {
        char key[KEY_MAX];
        json_object *old;
        const char *old_rv, *rv;

        if (!kube_object_key(object, key, sizeof(key)))
                return;
        if (json_object_object_get_ex(w->objects, key, &old)) {
                old_rv = json_get_string(old, "metadata", "resourceVersion", NULL);
                rv = json_get_string(object, "metadata", "resourceVersion", NULL);
                if (old_rv && rv && streq(old_rv, rv))
                        return;
        } else
                old = NULL;
        json_object_object_add(w->objects, key, metadata_of(object));
        w->handler(w, old ? KUBE_MODIFIED : KUBE_ADDED, object, w->userdata);
}

/* Reports the object gone: the server's last version of it (a watch's DELETED), or
 * what is remembered (after a relist that no longer has it). */
static void remove_object(KubeWatch *w, const char *key, json_object *last) {
        json_object *old;

        if (!json_object_object_get_ex(w->objects, key, &old))
                return;
        json_object_get(old);
        json_object_object_del(w->objects, key);
        w->handler(w, KUBE_DELETED, last ?: old, w->userdata);
        json_object_put(old);
}

/* After a complete list: whatever was known but not listed is gone. */
static void reconcile(KubeWatch *w) {
        _cleanup_strv_free_ char **gone = calloc((size_t) json_object_object_length(w->objects) + 1, sizeof(char *));
        size_t n = 0;

        if (!gone) {
                log_oom();
                return;
        }
        json_object_object_foreach(w->objects, key, value) {
                (void) value;
                if (!json_object_object_get_ex(w->listed, key, NULL) && !(gone[n++] = strdup(key)))
                        break;
        }
        for (size_t i = 0; i < n && gone[i]; i++)
                remove_object(w, gone[i], NULL);
}

static void on_list(KubeClient *c, int error, const char *message, long status, json_object *body, void *userdata) {
        KubeWatch *w = userdata;
        json_object *items;
        const char *continue_token;

        w->request = NULL;
        if (error < 0 || status != 200) {
                if (error < 0)
                        log_warning_errno(error, "list %s on %s: %s", w->path, kube_client_server(c), message);
                else
                        log_warning("list %s on %s: HTTP %ld: %s", w->path, kube_client_server(c), status,
                                    kube_status_message(body) ?: "no message");
                /* 410 on a page: the continue token expired; start the list over. */
                json_object_put(w->listed);
                w->listed = NULL;
                w->relist = true;
                retry_later(w);
                w->handler(w, KUBE_FAILED, body, w->userdata);
                return;
        }

        if (json_object_object_get_ex(body, "items", &items) && json_object_is_type(items, json_type_array))
                for (size_t i = 0; i < json_object_array_length(items); i++) {
                        json_object *item = json_object_array_get_idx(items, i);
                        char key[KEY_MAX];

                        if (kube_object_key(item, key, sizeof(key)))
                                json_object_object_add(w->listed, key, NULL);
                        upsert(w, item);
                }

        continue_token = json_get_string(body, "metadata", "continue", NULL);
        if (!isempty(continue_token)) {
                start_list(w, continue_token);
                return;
        }

        reconcile(w);
        json_object_put(w->listed);
        w->listed = NULL;
        set_resource_version(w, body);
        w->relist = false;
        w->backoff_usec = 0;
        w->handler(w, KUBE_SYNCED, NULL, w->userdata);
        start_watch(w);
}

/* Appends "&name=value" with value URL-encoded. */
static int query_add(char **query, const char *name, const char *value) {
        _cleanup_free_ char *escaped = curl_easy_escape(NULL, value, 0);
        char *q;

        if (!escaped || asprintf(&q, "%s&%s=%s", *query ?: "", name, escaped) < 0)
                return -ENOMEM;
        free(*query);
        *query = q;
        return 0;
}

static int request_path(KubeWatch *w, const char *params, char **ret) {
        _cleanup_free_ char *query = strdup(params);

        if (!query)
                return -ENOMEM;
        if (w->field_selector && query_add(&query, "fieldSelector", w->field_selector) < 0)
                return -ENOMEM;
        return asprintf(ret, "%s?%s", w->path, query) < 0 ? -ENOMEM : 0;
}

static void start_list(KubeWatch *w, const char *continue_token) {
        _cleanup_free_ char *params = NULL, *path = NULL;
        int r;

        if (!continue_token) {
                json_object_put(w->listed);
                w->listed = json_object_new_object();
        }
        if (asprintf(&params, "limit=%d", LIST_PAGE_SIZE) < 0 || !w->listed ||
            (continue_token && query_add(&params, "continue", continue_token) < 0) ||
            request_path(w, params, &path) < 0) {
                log_oom();
                retry_later(w);
                return;
        }
        r = kube_client_request(w->client, "GET", path, NULL, NULL, on_list, w, &w->request);
        if (r < 0) {
                log_error_errno(r, "list %s: %m", w->path);
                retry_later(w);
        }
}

static int on_watch_line(KubeClient *c, json_object *line, void *userdata) {
        KubeWatch *w = userdata;
        const char *type = json_get_string(line, "type", NULL);
        json_object *object;
        char key[KEY_MAX];

        if (!type || !json_object_object_get_ex(line, "object", &object))
                return 0;
        if (streq(type, "ERROR")) {
                json_object *code;
                /* 410 Gone: our resourceVersion is too old to resume from. */
                if (json_object_object_get_ex(object, "code", &code) && json_object_get_int(code) == 410)
                        log_info("watch %s: %s; listing again", w->path, kube_status_message(object) ?: "410 Gone");
                else
                        log_warning("watch %s: %s", w->path, kube_status_message(object) ?: "error event");
                w->relist = true;
                return -1;
        }

        set_resource_version(w, object);
        w->backoff_usec = 0;
        if (streq(type, "ADDED") || streq(type, "MODIFIED"))
                upsert(w, object);
        else if (streq(type, "DELETED") && kube_object_key(object, key, sizeof(key)))
                remove_object(w, key, object);
        /* BOOKMARK: only the resourceVersion moves. */
        return 0;
}

static void on_watch_done(KubeClient *c, int error, const char *message, long status, json_object *body,
                          void *userdata) {
        KubeWatch *w = userdata;

        w->request = NULL;
        if (w->relist) {
                start_list(w, NULL);
                return;
        }
        if (error < 0) {
                log_warning_errno(error, "watch %s on %s: %s; resuming from resourceVersion %s", w->path,
                                  kube_client_server(c), message, w->resource_version);
                retry_later(w);
                w->handler(w, KUBE_FAILED, NULL, w->userdata);
                return;
        }
        if (status != 200) {
                log_warning("watch %s on %s: HTTP %ld; listing again", w->path, kube_client_server(c), status);
                w->relist = true;
                retry_later(w);
                w->handler(w, KUBE_FAILED, NULL, w->userdata);
                return;
        }
        /* The server ended the watch (its timeout): carry on from where it stopped. */
        start_watch(w);
}

static void start_watch(KubeWatch *w) {
        _cleanup_free_ char *rv = NULL, *params = NULL, *path = NULL;
        unsigned jitter = 0;
        int r;

        (void) getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK);
        if (query_add(&rv, "resourceVersion", w->resource_version) < 0 ||
            asprintf(&params, "watch=1&allowWatchBookmarks=true&timeoutSeconds=%u%s",
                     WATCH_TIMEOUT_MIN_SEC + jitter % WATCH_TIMEOUT_MIN_SEC, rv) < 0 ||
            request_path(w, params, &path) < 0) {
                log_oom();
                retry_later(w);
                return;
        }
        r = kube_client_stream(w->client, path, on_watch_line, on_watch_done, w, &w->request);
        if (r < 0) {
                log_error_errno(r, "watch %s: %m", w->path);
                retry_later(w);
        }
}

int kube_watch_new(KubeClient *client, const char *path, const char *field_selector, KubeWatchHandler handler,
                   void *userdata, KubeWatch **ret) {
        _cleanup_(kube_watch_freep) KubeWatch *w = calloc(1, sizeof(KubeWatch));
        int r;

        if (!w)
                return -ENOMEM;
        w->client = client;
        w->handler = handler;
        w->userdata = userdata;
        w->path = strdup(path);
        w->objects = json_object_new_object();
        if (!w->path || !w->objects || (field_selector && !(w->field_selector = strdup(field_selector))))
                return -ENOMEM;
        r = sd_event_add_time(kube_client_event(client), &w->retry, CLOCK_MONOTONIC, UINT64_MAX, 0, on_retry, w);
        if (r < 0)
                return r;
        start_list(w, NULL);
        *ret = TAKE_PTR(w);
        return 0;
}

void kube_watch_free(KubeWatch *w) {
        if (!w)
                return;
        kube_request_cancel(w->request);
        sd_event_source_disable_unref(w->retry);
        json_object_put(w->objects);
        json_object_put(w->listed);
        free(w->resource_version);
        free(w->field_selector);
        free(w->path);
        free(w);
}
