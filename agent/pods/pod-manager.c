/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "container-spec.h"
#include "json-util.h"
#include "kube-watch.h"
#include "log.h"
#include "macro.h"
#include "pod-manager.h"
#include "pull-secrets.h"
#include "static-pod.h"

/* What the manager keeps of a pod in the set (its entry's data). */
typedef struct ApiPod {
        PodManager *manager;
        PodEntry *entry;
        json_object *objects; /* what its volumes need, fetched */
        unsigned fetching;
        bool deleted_from_api, removing;
        bool awaiting_sync; /* seen in the first list: admitted once it is complete */
        bool waiting_for_services; /* ready to start once the Services have been listed */
} ApiPod;

/* A pod's status on its way to the API: one PATCH in flight, the latest status after
 * it. Keyed by namespace/name (a mirror pod's status is its static pod's), for the pod
 * of that uid. */
typedef struct StatusReport {
        PodManager *manager;
        char *namespace, *name;
        char *uid;      /* of the pending status's pod */
        char *sent_uid; /* of the request's */
        json_object *pending;
        KubeRequest *request;
        struct StatusReport *next;
} StatusReport;

struct PodManager {
        KubeClient *client;
        PodSet *set;
        PodSource source;
        KubeWatch *watch;
        sd_event_source *reaper;
        bool synced; /* the first list is complete */
        StatusReport *reports;
        KubeWatchHandler mirror_pods;
        void *mirror_pods_userdata;
};

static void api_pod_free(void *data) {
        ApiPod *a = data;

        json_object_put(a->objects);
        free(a);
}

/* The manager's entry of that uid, not another source's. */
static PodEntry *api_entry(PodManager *m, const char *uid) {
        PodEntry *e = uid ? pod_set_get(m->set, uid) : NULL;

        return e && e->source == &m->source ? e : NULL;
}

/* Pods leave the set once they are removing and no fetch of theirs is in flight:
 * decided from the loop, after their workers' callbacks (a worker reports its final
 * status after it terminated). */
static int reap(sd_event_source *s, void *userdata) {
        PodManager *m = userdata;

        for (PodEntry *e = pod_set_first(m->set); e; e = pod_entry_next(e)) {
                ApiPod *a = e->data;
                if (e->source == &m->source && a->removing && a->fetching == 0)
                        pod_set_remove(e);
        }
        return 0;
}

static void schedule_reap(PodManager *m) {
        if (!m->reaper)
                (void) sd_event_add_defer(pod_set_runtime(m->set)->event, &m->reaper, reap, m);
        (void) sd_event_source_set_enabled(m->reaper, SD_EVENT_ONESHOT);
}

/* --- status and events ------------------------------------------------------------- */

static void status_report_free(StatusReport *r) {
        if (r->request)
                kube_request_cancel(r->request);
        json_object_put(r->pending);
        free(r->namespace);
        free(r->name);
        free(r->uid);
        free(r->sent_uid);
        free(r);
}

static void status_report_remove(StatusReport *r) {
        for (StatusReport **p = &r->manager->reports; *p; p = &(*p)->next)
                if (*p == r) {
                        *p = r->next;
                        break;
                }
        status_report_free(r);
}

static void send_status(StatusReport *r);

static void status_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                        void *userdata) {
        StatusReport *r = userdata;
        /* 404: the pod is gone; 409 or 422: another pod of that name (the uid differs). */
        bool gone = error >= 0 && (status == 404 || status == 409 || status == 422);

        r->request = NULL;
        if (error < 0 || (status >= 300 && !gone))
                log_warning("pod %s/%s: report status: %s", r->namespace, r->name,
                            error < 0 ? message : kube_status_message(body) ?: "failed");
        if (gone && r->pending && r->sent_uid && streq(r->uid, r->sent_uid))
                json_object_put(TAKE_PTR(r->pending));
        if (r->pending)
                send_status(r);
        else
                status_report_remove(r);
}

static void send_status(StatusReport *r) {
        _cleanup_(json_object_putp) json_object *patch = json_object_new_object(), *status = TAKE_PTR(r->pending);
        _cleanup_free_ char *path = NULL;
        json_object *meta;

        if (!patch || !status || !r->uid || asprintf(&path, "/api/v1/namespaces/%s/pods/%s/status", r->namespace, r->name) < 0) {
                status_report_remove(r);
                return;
        }
        /* As kubelet's: the patch names the pod's uid, which a pod of the same name made
         * since refuses. */
        free(r->sent_uid);
        r->sent_uid = strdup(r->uid);
        meta = json_object_new_object();
        json_object_object_add(meta, "uid", json_object_new_string(r->uid));
        json_object_object_add(patch, "metadata", meta);
        json_object_object_add(patch, "status", json_object_get(status));
        if (kube_client_request(r->manager->client, "PATCH", path, json_object_to_json_string(patch),
                                "application/strategic-merge-patch+json", status_done, r, &r->request) < 0)
                status_report_remove(r);
}

void pod_manager_report_status(PodManager *m, const char *namespace, const char *name, const char *uid,
                               json_object *status) {
        StatusReport *r;

        for (r = m->reports; r; r = r->next)
                if (streq(r->namespace, namespace) && streq(r->name, name))
                        break;
        if (!r) {
                r = calloc(1, sizeof(StatusReport));
                if (!r)
                        return;
                *r = (StatusReport) { .manager = m, .namespace = strdup(namespace), .name = strdup(name), .next = m->reports };
                m->reports = r;
                if (!r->namespace || !r->name) {
                        status_report_remove(r);
                        return;
                }
        }
        if (!r->uid || !streq(r->uid, uid)) {
                free(r->uid);
                r->uid = strdup(uid);
        }
        json_object_put(TAKE_PTR(r->pending));
        if (json_object_deep_copy(status, &r->pending, NULL) < 0 || !r->uid) {
                if (!r->request)
                        status_report_remove(r);
                return;
        }
        if (!r->request)
                send_status(r);
}

static void on_status(PodEntry *e, json_object *status, void *userdata) {
        ApiPod *a = e->data;

        pod_set_report(e->set);
        if (!a->deleted_from_api)
                pod_manager_report_status(a->manager, e->namespace, e->name, e->uid, status);
}

static void event_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                       void *userdata) {
        if (error < 0 || status >= 300)
                log_warning("event not recorded: %s", error < 0 ? message : kube_status_message(body) ?: "failed");
}

void pod_manager_event(PodManager *m, PodEntry *e, const char *type, const char *reason, const char *message) {
        const char *node_name = pod_set_runtime(m->set)->node_name;
        _cleanup_(json_object_putp) json_object *ev = json_object_new_object();
        json_object *meta = json_object_new_object(), *object = json_object_new_object(), *source = json_object_new_object();
        _cleanup_free_ char *name = NULL, *path = NULL;
        struct timespec ts;
        char stamp[32];
        struct tm tm;

        if (!ev)
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
        json_object_object_add(source, "host", json_object_new_string(node_name));
        json_object_object_add(ev, "source", source);
        json_object_object_add(ev, "firstTimestamp", json_object_new_string(stamp));
        json_object_object_add(ev, "lastTimestamp", json_object_new_string(stamp));
        json_object_object_add(ev, "count", json_object_new_int(1));
        json_object_object_add(ev, "reportingComponent", json_object_new_string("kubelet"));
        json_object_object_add(ev, "reportingInstance", json_object_new_string(node_name));
        (void) kube_client_request(m->client, "POST", path, json_object_to_json_string(ev), "application/json",
                                   event_done, NULL, NULL);
}

static void on_event(PodEntry *e, const char *type, const char *reason, const char *message, void *userdata) {
        pod_manager_event(userdata, e, type, reason, message);
}

/* --- ending ------------------------------------------------------------------------ */

static void delete_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                        void *userdata) {
        if (error < 0 || (status >= 300 && status != 404 && status != 409))
                log_warning("pod delete: %s", error < 0 ? message : kube_status_message(body) ?: "failed");
}

/* kubelet's last word on a pod deleted through the API: the object goes, grace 0. */
static void delete_pod_object(ApiPod *a) {
        PodEntry *e = a->entry;
        _cleanup_free_ char *path = NULL, *body = NULL;

        if (asprintf(&path, "/api/v1/namespaces/%s/pods/%s", e->namespace, e->name) < 0 ||
            asprintf(&body, "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"gracePeriodSeconds\":0,"
                            "\"preconditions\":{\"uid\":\"%s\"}}", e->uid) < 0)
                return;
        (void) kube_client_request(a->manager->client, "DELETE", path, body, "application/json", delete_done, NULL, NULL);
}

static void on_terminated(PodEntry *e, void *userdata) {
        ApiPod *a = e->data;

        log_info("pod %s/%s: stopped and removed", e->namespace, e->name);
        if (!a->deleted_from_api && json_object_object_get(json_object_object_get(e->pod, "metadata"), "deletionTimestamp"))
                delete_pod_object(a);
        a->removing = true;
        schedule_reap(a->manager);
        pod_set_report(e->set);
}

/* --- starting ---------------------------------------------------------------------- */

static void start_worker(ApiPod *a) {
        _cleanup_free_ char *error = NULL;
        PodEntry *e = a->entry;
        ServiceStore *services = pod_set_runtime(a->manager->set)->services;
        int r;

        /* kubelet's rule: a pod from the API server gets its containers only once the
         * Services have been read, or KUBERNETES_SERVICE_HOST could be missing. */
        if (services && !service_store_synced(services)) {
                if (!a->waiting_for_services)
                        log_info("pod %s/%s: waiting for the Services' first list (their variables)", e->namespace,
                                 e->name);
                a->waiting_for_services = true;
                return;
        }
        a->waiting_for_services = false;
        r = pod_set_start(e, a->objects, &error);
        if (r < 0 && error)
                log_error("%s", error);
        else if (r < 0)
                log_error_errno(r, "pod %s/%s: start: %m", e->namespace, e->name);
}

/* An object a pod's volumes need. A failure is retried a few times a second apart:
 * right after a pod is bound, the Node authorizer may not know of it yet and refuse the
 * node its service account token ("no relationship found"), as kubelet's mounts retry. */
#define FETCH_ATTEMPTS 20

typedef struct Fetch {
        ApiPod *pod;
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
        ApiPod *a = f->pod;

        fetch_free(f);
        if (--a->fetching == 0 && !a->removing)
                start_worker(a);
        else
                schedule_reap(a->manager);
}

static int on_fetch_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Fetch *f = userdata;

        f->retry = sd_event_source_disable_unref(f->retry);
        if (f->pod->removing || fetch_send(f) < 0)
                fetch_finished(f);
        return 0;
}

static void fetch_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                       void *userdata) {
        Fetch *f = userdata;
        ApiPod *a = f->pod;
        json_object *value = body;

        if (error >= 0 && status == 201 && body) /* a TokenRequest: its status has the token */
                value = json_object_object_get(body, "status");
        if (error >= 0 && status < 300 && value) {
                json_object_object_add(a->objects, f->key, json_object_get(value));
                fetch_finished(f);
                return;
        }
        if (f->optional && status == 404) {
                fetch_finished(f);
                return;
        }
        if (++f->attempt < FETCH_ATTEMPTS && !a->removing &&
            sd_event_add_time_relative(pod_set_runtime(a->manager->set)->event, &f->retry, CLOCK_MONOTONIC, 500 * 1000, 0, on_fetch_retry,
                                       f) >= 0)
                return;
        log_warning("pod %s/%s: %s: %s (HTTP %ld)", a->entry->namespace, a->entry->name, f->key,
                    error < 0 ? message : kube_status_message(body) ?: "failed", status);
        fetch_finished(f);
}

static int fetch_send(Fetch *f) {
        PodEntry *e = f->pod->entry;
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
                if (r < 0)
                        return -ENOMEM;
                r = asprintf(&body, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\",\"spec\":"
                                    "{\"expirationSeconds\":3607,\"boundObjectRef\":{\"apiVersion\":\"v1\","
                                    "\"kind\":\"Pod\",\"name\":\"%s\",\"uid\":\"%s\"}}}", e->name, e->uid);
        }
        if (r < 0)
                return -ENOMEM;
        r = kube_client_request(f->pod->manager->client, method, path, body, body ? "application/json" : NULL, fetch_done, f,
                                NULL);
        if (r < 0)
                log_warning("pod %s/%s: %s: %s", e->namespace, e->name, f->key, strerror(-r));
        return r;
}

static void need(void *userdata, const char *kind, const char *name, bool optional) {
        ApiPod *a = userdata;
        Fetch *f = calloc(1, sizeof(Fetch));

        if (!f)
                return;
        *f = (Fetch) { .pod = a, .kind = strdup(kind), .name = strdup(name), .optional = optional };
        if (!f->kind || !f->name || asprintf(&f->key, "%s/%s", kind, name) < 0 ||
            json_object_object_get_ex(a->objects, f->key, NULL)) {
                fetch_free(f);
                return;
        }
        json_object_object_add(a->objects, f->key, NULL); /* asked once */
        if (fetch_send(f) < 0) {
                fetch_free(f);
                return;
        }
        a->fetching++;
}

/* Admitted (pod-set.h), then what its volumes need is fetched and its worker starts; a
 * rejected pod stays Failed, as kubelet leaves it. */
static void admit_and_start(ApiPod *a) {
        PodEntry *e = a->entry;

        if (!pod_set_admit(e))
                return;
        log_info("pod %s/%s: bound to this node", e->namespace, e->name);
        a->fetching = 1; /* held while the requests go out */
        volumes_required(e->pod, need, a);
        container_env_required(e->pod, need, a);
        pull_secrets_required(e->pod, need, a);
        if (--a->fetching == 0)
                start_worker(a);
}

static int compare_creation(const void *x, const void *y) {
        PodEntry *a = *(PodEntry *const *) x, *b = *(PodEntry *const *) y;
        int c = strcmp(json_get_string(a->pod, "metadata", "creationTimestamp", NULL) ?: "",
                       json_get_string(b->pod, "metadata", "creationTimestamp", NULL) ?: "");

        return c != 0 ? c : strcmp(a->uid, b->uid);
}

/* The pods of the first list, the oldest first, as kubelet's HandlePodAdditions sorts
 * them: a pod running since before this agent keeps its hostPorts against a newer one. */
static void admit_listed(PodManager *m) {
        _cleanup_free_ PodEntry **listed = NULL;
        size_t n = 0;

        for (PodEntry *e = pod_set_first(m->set); e; e = pod_entry_next(e))
                n += e->source == &m->source;
        listed = calloc(MAX(n, (size_t) 1), sizeof(PodEntry *));
        if (!listed) {
                log_oom();
                return;
        }
        n = 0;
        for (PodEntry *e = pod_set_first(m->set); e; e = pod_entry_next(e))
                if (e->source == &m->source && ((ApiPod *) e->data)->awaiting_sync)
                        listed[n++] = e;
        qsort(listed, n, sizeof(PodEntry *), compare_creation);
        for (size_t i = 0; i < n; i++) {
                ApiPod *a = listed[i]->data;
                a->awaiting_sync = false;
                if (!a->removing)
                        admit_and_start(a);
        }
}

/* Of any source: the static pods' keep theirs. */
static bool pod_known(const char *uid, void *userdata) {
        PodManager *m = userdata;

        return pod_set_get(m->set, uid) != NULL;
}

/* A pod its node should keep: of any source, and not one of the API's that goes. */
static bool pod_kept(const char *uid, void *userdata) {
        PodManager *m = userdata;
        PodEntry *e = pod_set_get(m->set, uid);

        return e && !(e->source == &m->source && ((ApiPod *) e->data)->removing);
}

/* A pod first seen being deleted: what an earlier agent left running of it is stopped
 * first, as kubelet's pod workers stop it, and then its object goes (on_terminated). */
static void stop_deleted(ApiPod *a) {
        _cleanup_free_ char *error = NULL;
        PodEntry *e = a->entry;
        int r;

        if (pod_left_on_node(pod_set_runtime(a->manager->set), e->uid)) {
                r = pod_set_start(e, NULL, &error);
                if (r >= 0)
                        return;
                if (error)
                        log_error("%s", error);
                else
                        log_error_errno(r, "pod %s/%s: stop: %m", e->namespace, e->name);
        }
        delete_pod_object(a);
        a->removing = true;
        schedule_reap(a->manager);
}

static void pod_seen(PodManager *m, json_object *pod) {
        const char *uid = json_get_string(pod, "metadata", "uid", NULL);
        const char *phase = json_get_string(pod, "status", "phase", NULL) ?: "";
        bool deleting = json_get(json_get(pod, "metadata"), "deletionTimestamp"), finished;
        PodEntry *e = api_entry(m, uid);
        ApiPod *a;
        int r;

        if (!uid)
                return;
        if (e) {
                pod_set_update(e, pod);
                return;
        }
        a = calloc(1, sizeof(ApiPod));
        if (!a)
                return;
        *a = (ApiPod) { .manager = m, .objects = json_object_new_object() };
        r = pod_set_add(m->set, &m->source, pod, a, &e);
        if (r < 0) {
                log_error_errno(r, "pod %s: %m", uid);
                return;
        }
        a->entry = e;
        /* Finished pods stay finished: known, without a worker, so that their logs are
         * still served (kubectl logs of a completed Job's pod after an agent restart);
         * what an earlier agent left of them on the node is released. */
        finished = streq(phase, "Succeeded") || streq(phase, "Failed");
        if (finished)
                pod_release_leftovers(pod_set_runtime(m->set), pod);
        if (finished && !deleting)
                return;
        if (deleting) {
                stop_deleted(a);
                return;
        }
        if (!m->synced)
                a->awaiting_sync = true;
        else
                admit_and_start(a);
}

static void on_pod(KubeWatch *w, KubeEvent event, json_object *pod, void *userdata) {
        PodManager *m = userdata;
        const char *uid = json_get_string(pod, "metadata", "uid", NULL);
        PodEntry *e;
        ApiPod *a;

        /* A mirror pod is its static pod's reflection, not a pod to run (kubelet's
         * IsMirrorPod). A DELETED one after a relist carries no annotations: every
         * deletion that is not of a pod run here is passed on too. */
        if ((event != KUBE_DELETED && pod_is_mirror(pod)) || (event == KUBE_DELETED && !api_entry(m, uid))) {
                if (m->mirror_pods)
                        m->mirror_pods(m->watch, event, pod, m->mirror_pods_userdata);
                return;
        }
        switch (event) {
        case KUBE_ADDED:
        case KUBE_MODIFIED:
                pod_seen(m, pod);
                break;
        case KUBE_DELETED:
                e = api_entry(m, uid);
                if (!e)
                        break;
                a = e->data;
                a->deleted_from_api = true;
                if (e->worker)
                        pod_worker_terminate(e->worker, 0);
                else {
                        a->removing = true;
                        schedule_reap(a->manager);
                }
                break;
        case KUBE_SYNCED:
                if (m->synced)
                        break;
                m->synced = true;
                admit_listed(m);
                /* Pods deleted while no agent ran are not in the list: what an earlier
                 * agent left of them is stopped and released, and their hostPorts go
                 * (kubelet's HandlePodCleanups). */
                pod_set_stop_orphans(m->set, pod_kept, m);
                if (pod_set_runtime(m->set)->host_ports)
                        (void) host_ports_retain(pod_set_runtime(m->set)->host_ports, pod_known, m);
                break;
        default:
                break;
        }
}

static void on_services_synced(void *userdata) {
        PodManager *m = userdata;

        for (PodEntry *e = pod_set_first(m->set); e; e = pod_entry_next(e)) {
                ApiPod *a = e->data;
                if (e->source == &m->source && a->waiting_for_services && !a->removing)
                        start_worker(a);
        }
}

int pod_manager_new(KubeClient *client, PodSet *set, PodManager **ret) {
        _cleanup_free_ char *selector = NULL;
        _cleanup_free_ PodManager *m = calloc(1, sizeof(PodManager));
        int r;

        if (!m)
                return -ENOMEM;
        m->client = client;
        m->set = set;
        m->source = (PodSource) {
                .status_changed = on_status,
                .emit_event = on_event,
                .terminated = on_terminated,
                .free_data = api_pod_free,
                .userdata = m,
        };
        if (asprintf(&selector, "spec.nodeName=%s", pod_set_runtime(set)->node_name) < 0)
                return -ENOMEM;
        r = kube_watch_new(client, "/api/v1/pods", selector, on_pod, m, &m->watch);
        if (r < 0)
                return r;
        if (pod_set_runtime(set)->services)
                service_store_on_synced(pod_set_runtime(set)->services, on_services_synced, m);
        *ret = TAKE_PTR(m);
        return 0;
}

/* The pods stay in the set, which frees them. */
void pod_manager_free(PodManager *m) {
        if (!m)
                return;
        kube_watch_free(m->watch);
        if (pod_set_runtime(m->set)->services)
                service_store_on_synced(pod_set_runtime(m->set)->services, NULL, NULL);
        sd_event_source_disable_unref(m->reaper);
        while (m->reports) {
                StatusReport *r = m->reports;
                m->reports = r->next;
                status_report_free(r);
        }
        free(m);
}

void pod_manager_on_mirror_pods(PodManager *m, KubeWatchHandler handler, void *userdata) {
        m->mirror_pods = handler;
        m->mirror_pods_userdata = userdata;
}
