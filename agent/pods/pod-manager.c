/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json-util.h"
#include "kube-watch.h"
#include "log.h"
#include "macro.h"
#include "pod-manager.h"
#include "pull-secrets.h"

typedef struct PodEntry {
        PodManager *manager;
        char *uid, *namespace, *name;
        json_object *pod, *objects;
        PodWorker *worker;
        unsigned fetching;
        bool patching, deleted_from_api, removing;
        json_object *pending_status;
        struct PodEntry *next;
} PodEntry;

struct PodManager {
        KubeClient *client;
        PodRuntime rt;
        KubeWatch *watch;
        PodEntry *entries;
        sd_event_source *reaper;
        PodsChanged pods_changed;
        void *userdata;
};

static PodEntry *find(PodManager *m, const char *uid) {
        for (PodEntry *e = m->entries; e; e = e->next)
                if (streq(e->uid, uid))
                        return e;
        return NULL;
}

static PodEntry *entry_of(PodManager *m, PodWorker *w) {
        for (PodEntry *e = m->entries; e; e = e->next)
                if (e->worker == w)
                        return e;
        return NULL;
}

static void entry_free(PodEntry *e) {
        pod_worker_free(e->worker);
        json_object_put(e->pod);
        json_object_put(e->objects);
        json_object_put(e->pending_status);
        free(e->uid);
        free(e->namespace);
        free(e->name);
        free(e);
}

/* --- status and events ------------------------------------------------------------- */

static void send_status(PodEntry *e);

static void status_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                        void *userdata) {
        PodEntry *e = userdata;

        e->patching = false;
        if (error < 0 || (status >= 300 && status != 404))
                log_warning("pod %s/%s: report status: %s", e->namespace, e->name,
                            error < 0 ? message : kube_status_message(body) ?: "failed");
        if (e->pending_status && status != 404)
                send_status(e);
}

static void send_status(PodEntry *e) {
        _cleanup_(json_object_putp) json_object *patch = json_object_new_object(), *status = TAKE_PTR(e->pending_status);
        _cleanup_free_ char *path = NULL;

        if (!patch || !status || asprintf(&path, "/api/v1/namespaces/%s/pods/%s/status", e->namespace, e->name) < 0)
                return;
        json_object_object_add(patch, "status", json_object_get(status));
        if (kube_client_request(e->manager->client, "PATCH", path, json_object_to_json_string(patch),
                                "application/strategic-merge-patch+json", status_done, e, NULL) >= 0)
                e->patching = true;
}

static void report_pods(PodManager *m) {
        unsigned running = 0, total = 0;

        if (!m->pods_changed)
                return;
        for (PodEntry *e = m->entries; e; e = e->next) {
                if (!e->worker || e->removing)
                        continue;
                total++;
                if (streq(json_get_string(pod_worker_status(e->worker), "phase", NULL) ?: "", "Running"))
                        running++;
        }
        m->pods_changed(running, total, m->userdata);
}

static void on_status(PodWorker *w, json_object *status, void *userdata) {
        PodEntry *e = entry_of(userdata, w);

        report_pods(userdata);

        if (!e || e->deleted_from_api)
                return;
        json_object_put(e->pending_status);
        e->pending_status = NULL;
        if (json_object_deep_copy(status, &e->pending_status, NULL) < 0)
                return;
        if (!e->patching)
                send_status(e);
}

static void event_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                       void *userdata) {
        if (error < 0 || status >= 300)
                log_warning("event not recorded: %s", error < 0 ? message : kube_status_message(body) ?: "failed");
}

static void on_event(PodWorker *w, const char *type, const char *reason, const char *message, void *userdata) {
        PodManager *m = userdata;
        PodEntry *e = entry_of(m, w);
        _cleanup_(json_object_putp) json_object *ev = json_object_new_object();
        json_object *meta = json_object_new_object(), *object = json_object_new_object(), *source = json_object_new_object();
        _cleanup_free_ char *name = NULL, *path = NULL;
        struct timespec ts;
        char stamp[32];
        struct tm tm;

        if (!e || !ev)
                return;
        clock_gettime(CLOCK_REALTIME, &ts);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&ts.tv_sec, &tm));
        if (asprintf(&name, "%s.%016llx", e->name, (unsigned long long) ts.tv_sec * 1000000000ULL + (unsigned long long) ts.tv_nsec) < 0 ||
            asprintf(&path, "/api/v1/namespaces/%s/events", e->namespace) < 0)
                return;
        json_object_object_add(meta, "name", json_object_new_string(name));
        json_object_object_add(meta, "namespace", json_object_new_string(e->namespace));
        json_object_object_add(ev, "metadata", meta);
        json_object_object_add(object, "kind", json_object_new_string("Pod"));
        json_object_object_add(object, "apiVersion", json_object_new_string("v1"));
        json_object_object_add(object, "namespace", json_object_new_string(e->namespace));
        json_object_object_add(object, "name", json_object_new_string(e->name));
        json_object_object_add(object, "uid", json_object_new_string(e->uid));
        json_object_object_add(ev, "involvedObject", object);
        json_object_object_add(ev, "reason", json_object_new_string(reason));
        json_object_object_add(ev, "message", json_object_new_string(message));
        json_object_object_add(ev, "type", json_object_new_string(type));
        json_object_object_add(source, "component", json_object_new_string("kubelet"));
        json_object_object_add(source, "host", json_object_new_string(m->rt.node_name));
        json_object_object_add(ev, "source", source);
        json_object_object_add(ev, "firstTimestamp", json_object_new_string(stamp));
        json_object_object_add(ev, "lastTimestamp", json_object_new_string(stamp));
        json_object_object_add(ev, "count", json_object_new_int(1));
        json_object_object_add(ev, "reportingComponent", json_object_new_string("kubelet"));
        json_object_object_add(ev, "reportingInstance", json_object_new_string(m->rt.node_name));
        (void) kube_client_request(m->client, "POST", path, json_object_to_json_string(ev), "application/json",
                                   event_done, NULL, NULL);
}

/* --- ending ------------------------------------------------------------------------ */

static void unlink_entry(PodManager *m, PodEntry *e) {
        for (PodEntry **p = &m->entries; *p; p = &(*p)->next)
                if (*p == e) {
                        *p = e->next;
                        return;
                }
}

/* Entries whose pod is gone are freed here, outside their workers' callbacks. */
static int reap(sd_event_source *s, void *userdata) {
        PodManager *m = userdata;

        for (PodEntry *e = m->entries, *next; e; e = next) {
                next = e->next;
                if (e->removing && !e->patching && e->fetching == 0) {
                        unlink_entry(m, e);
                        entry_free(e);
                }
        }
        return 0;
}

static void schedule_reap(PodManager *m) {
        if (!m->reaper)
                (void) sd_event_add_defer(m->rt.event, &m->reaper, reap, m);
        (void) sd_event_source_set_enabled(m->reaper, SD_EVENT_ONESHOT);
}

static void delete_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                        void *userdata) {
        if (error < 0 || (status >= 300 && status != 404 && status != 409))
                log_warning("pod delete: %s", error < 0 ? message : kube_status_message(body) ?: "failed");
}

/* kubelet's last word on a pod deleted through the API: the object goes, grace 0. */
static void delete_pod_object(PodEntry *e) {
        _cleanup_free_ char *path = NULL, *body = NULL;

        if (asprintf(&path, "/api/v1/namespaces/%s/pods/%s", e->namespace, e->name) < 0 ||
            asprintf(&body, "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"gracePeriodSeconds\":0,"
                            "\"preconditions\":{\"uid\":\"%s\"}}", e->uid) < 0)
                return;
        (void) kube_client_request(e->manager->client, "DELETE", path, body, "application/json", delete_done, NULL, NULL);
}

static void on_terminated(PodWorker *w, void *userdata) {
        PodManager *m = userdata;
        PodEntry *e = entry_of(m, w);

        if (!e)
                return;
        log_info("pod %s/%s: stopped and removed", e->namespace, e->name);
        if (!e->deleted_from_api && json_object_object_get(json_object_object_get(e->pod, "metadata"), "deletionTimestamp"))
                delete_pod_object(e);
        e->removing = true;
        schedule_reap(m);
        report_pods(m);
}

/* --- starting ---------------------------------------------------------------------- */

static void start_worker(PodEntry *e) {
        int r = pod_worker_new(&e->manager->rt, e->pod, e->objects, &e->worker);

        if (r < 0)
                log_error_errno(r, "pod %s/%s: start: %m", e->namespace, e->name);
}

/* An object a pod's volumes need. A failure is retried a few times a second apart:
 * right after a pod is bound, the Node authorizer may not know of it yet and refuse the
 * node its service account token ("no relationship found"), as kubelet's mounts retry. */
#define FETCH_ATTEMPTS 20

typedef struct Fetch {
        PodEntry *entry;
        char *kind, *name, *key;
        bool optional;
        unsigned attempt;
        sd_event_source *retry;
} Fetch;

static void fetch_free(Fetch *f) {
        sd_event_source_disable_unref(f->retry);
        free(f->kind);
        free(f->name);
        free(f->key);
        free(f);
}

static int fetch_send(Fetch *f);

static void fetch_finished(Fetch *f) {
        PodEntry *e = f->entry;

        fetch_free(f);
        if (--e->fetching == 0 && !e->removing)
                start_worker(e);
}

static int on_fetch_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Fetch *f = userdata;

        f->retry = sd_event_source_disable_unref(f->retry);
        if (f->entry->removing || fetch_send(f) < 0)
                fetch_finished(f);
        return 0;
}

static void fetch_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                       void *userdata) {
        Fetch *f = userdata;
        PodEntry *e = f->entry;
        json_object *value = body;

        if (error >= 0 && status == 201 && body) /* a TokenRequest: its status has the token */
                value = json_object_object_get(body, "status");
        if (error >= 0 && status < 300 && value) {
                json_object_object_add(e->objects, f->key, json_object_get(value));
                fetch_finished(f);
                return;
        }
        if (f->optional && status == 404) {
                fetch_finished(f);
                return;
        }
        if (++f->attempt < FETCH_ATTEMPTS && !e->removing &&
            sd_event_add_time_relative(e->manager->rt.event, &f->retry, CLOCK_MONOTONIC, 500 * 1000, 0, on_fetch_retry,
                                       f) >= 0)
                return;
        log_warning("pod %s/%s: %s: %s (HTTP %ld)", e->namespace, e->name, f->key,
                    error < 0 ? message : kube_status_message(body) ?: "failed", status);
        fetch_finished(f);
}

static int fetch_send(Fetch *f) {
        PodEntry *e = f->entry;
        _cleanup_free_ char *path = NULL, *body = NULL;
        const char *method = "GET";
        int r;

        if (streq(f->kind, "ConfigMap"))
                r = asprintf(&path, "/api/v1/namespaces/%s/configmaps/%s", e->namespace, f->name);
        else if (streq(f->kind, "Secret"))
                r = asprintf(&path, "/api/v1/namespaces/%s/secrets/%s", e->namespace, f->name);
        else {
                method = "POST";
                r = asprintf(&path, "/api/v1/namespaces/%s/serviceaccounts/%s/token", e->namespace, f->name);
                if (r >= 0)
                        r = asprintf(&body, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\",\"spec\":"
                                            "{\"expirationSeconds\":3607,\"boundObjectRef\":{\"apiVersion\":\"v1\","
                                            "\"kind\":\"Pod\",\"name\":\"%s\",\"uid\":\"%s\"}}}", e->name, e->uid);
        }
        if (r < 0)
                return -ENOMEM;
        r = kube_client_request(e->manager->client, method, path, body, body ? "application/json" : NULL, fetch_done, f,
                                NULL);
        if (r < 0)
                log_warning("pod %s/%s: %s: %s", e->namespace, e->name, f->key, strerror(-r));
        return r;
}

static void need(void *userdata, const char *kind, const char *name, bool optional) {
        PodEntry *e = userdata;
        Fetch *f = calloc(1, sizeof(Fetch));

        if (!f)
                return;
        *f = (Fetch) { .entry = e, .kind = strdup(kind), .name = strdup(name), .optional = optional };
        if (!f->kind || !f->name || asprintf(&f->key, "%s/%s", kind, name) < 0 ||
            json_object_object_get_ex(e->objects, f->key, NULL)) {
                fetch_free(f);
                return;
        }
        json_object_object_add(e->objects, f->key, NULL); /* asked once */
        if (fetch_send(f) < 0) {
                fetch_free(f);
                return;
        }
        e->fetching++;
}

static void pod_seen(PodManager *m, json_object *pod) {
        const char *uid = json_get_string(pod, "metadata", "uid", NULL);
        const char *phase = json_get_string(pod, "status", "phase", NULL) ?: "";
        PodEntry *e = uid ? find(m, uid) : NULL;

        if (!uid)
                return;
        if (e) {
                json_object_put(e->pod);
                e->pod = json_object_get(pod);
                if (e->worker)
                        pod_worker_update(e->worker, pod);
                return;
        }
        /* Finished pods stay finished; one deleted before it ever ran just goes. */
        if (streq(phase, "Succeeded") || streq(phase, "Failed"))
                return;
        e = calloc(1, sizeof(PodEntry));
        if (!e)
                return;
        *e = (PodEntry) {
                .manager = m,
                .uid = strdup(uid),
                .namespace = strdup(json_get_string(pod, "metadata", "namespace", NULL) ?: "default"),
                .name = strdup(json_get_string(pod, "metadata", "name", NULL) ?: ""),
                .pod = json_object_get(pod),
                .objects = json_object_new_object(),
                .next = m->entries,
        };
        m->entries = e;
        if (json_object_object_get(json_object_object_get(pod, "metadata"), "deletionTimestamp")) {
                delete_pod_object(e);
                e->removing = true;
                schedule_reap(m);
                return;
        }
        log_info("pod %s/%s: bound to this node", e->namespace, e->name);
        e->fetching = 1; /* held while the requests go out */
        volumes_required(pod, need, e);
        pull_secrets_required(pod, need, e);
        if (--e->fetching == 0)
                start_worker(e);
}

static void on_pod(KubeWatch *w, KubeEvent event, json_object *pod, void *userdata) {
        PodManager *m = userdata;
        const char *uid = json_get_string(pod, "metadata", "uid", NULL);
        PodEntry *e;

        switch (event) {
        case KUBE_ADDED:
        case KUBE_MODIFIED:
                pod_seen(m, pod);
                break;
        case KUBE_DELETED:
                e = uid ? find(m, uid) : NULL;
                if (!e)
                        break;
                e->deleted_from_api = true;
                if (e->worker)
                        pod_worker_terminate(e->worker, 0);
                else {
                        e->removing = true;
                        schedule_reap(m);
                }
                break;
        default:
                break;
        }
}

int pod_manager_new(KubeClient *client, const PodRuntime *runtime, PodsChanged pods_changed, void *userdata,
                    PodManager **ret) {
        _cleanup_free_ char *selector = NULL;
        PodManager *m = calloc(1, sizeof(PodManager));
        int r;

        if (!m)
                return -ENOMEM;
        m->client = client;
        m->rt = *runtime;
        m->rt.status_changed = on_status;
        m->rt.emit_event = on_event;
        m->rt.terminated = on_terminated;
        m->rt.userdata = m;
        m->pods_changed = pods_changed;
        m->userdata = userdata;
        if (asprintf(&selector, "spec.nodeName=%s", runtime->node_name) < 0) {
                free(m);
                return -ENOMEM;
        }
        r = kube_watch_new(client, "/api/v1/pods", selector, on_pod, m, &m->watch);
        if (r < 0) {
                free(m);
                return r;
        }
        *ret = m;
        return 0;
}

void pod_manager_free(PodManager *m) {
        if (!m)
                return;
        kube_watch_free(m->watch);
        while (m->entries) {
                PodEntry *e = m->entries;
                m->entries = e->next;
                entry_free(e);
        }
        sd_event_source_disable_unref(m->reaper);
        free(m);
}
