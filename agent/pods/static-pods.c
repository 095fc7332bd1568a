/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "manifest-dir.h"
#include "static-pod.h"
#include "static-pods.h"

/* Retries of the mirror pods' requests: 1 s doubling to 20 s, as kubelet's pod workers
 * back off; 1 s again after a success. */
#define RETRY_MIN_USEC (1000 * 1000ULL)
#define RETRY_MAX_USEC (20 * 1000 * 1000ULL)

/* What the source keeps of a pod in the set (its entry's data). */
typedef struct StaticPod {
        char *path; /* the manifest that names it */
        bool wanted; /* named by the manifests as last read */
        bool rejected; /* by kubelet's admission: it stays Failed, without a worker */
} StaticPod;

/* The mirror pod of a static pod's name, as the API holds it. */
typedef struct Mirror {
        StaticPods *owner;
        char *namespace, *name;
        json_object *pod;    /* as last known (the watch, our create); NULL: none */
        char *deleted_uid;   /* the one deleted last: what the watch says of it later is stale */
        char *reported_uid;  /* the mirror pod the static pod's status last went to */
        KubeRequest *request; /* a create, get or delete in flight */
        struct Mirror *next;
} Mirror;

struct StaticPods {
        KubeClient *client;
        PodSet *set;
        PodManager *manager;
        PodSource source;
        ManifestDir *manifests;
        json_object *refused; /* path → what was refused in it at the last reading, logged once */
        json_object *refusing; /* the same, of the reading under way */
        Mirror *mirrors;
        char *node_uid;        /* of the Node, the mirror pods' owner */
        KubeRequest *node_request;
        sd_event_source *sync, *retry;
        uint64_t retry_usec;
        bool loaded; /* the manifests were read: a mirror pod without a static pod is an orphan */
};

static StaticPod *static_pod(PodEntry *e) {
        return e->data;
}

static void static_pod_free(void *data) {
        StaticPod *p = data;

        free(p->path);
        free(p);
}

static const char *node_name(StaticPods *sp) {
        return pod_set_runtime(sp->set)->node_name;
}

/* The entries of this source named namespace/name: the one whose worker runs (kubelet
 * runs one static pod of a name at a time), if any, and whether there is any. */
static PodEntry *running_entry(StaticPods *sp, const char *namespace, const char *name, bool *ret_any) {
        PodEntry *running = NULL;
        bool any = false;

        for (PodEntry *e = pod_set_first(sp->set); e; e = pod_entry_next(e)) {
                if (e->source != &sp->source || !streq(e->namespace, namespace) || !streq(e->name, name))
                        continue;
                any = true;
                if (e->worker && !e->ended)
                        running = e;
        }
        if (ret_any)
                *ret_any = any;
        return running;
}

/* --- the loop's side: syncs and retries ------------------------------------------------ */

static void schedule_sync(StaticPods *sp) {
        (void) sd_event_source_set_enabled(sp->sync, SD_EVENT_ONESHOT);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        schedule_sync(userdata);
        return 0;
}

/* A request failed: everything is looked at again after the back-off. */
static void schedule_retry(StaticPods *sp) {
        int enabled = SD_EVENT_OFF;

        (void) sd_event_source_get_enabled(sp->retry, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void) sd_event_source_set_time_relative(sp->retry, sp->retry_usec);
        (void) sd_event_source_set_enabled(sp->retry, SD_EVENT_ONESHOT);
        sp->retry_usec = MIN(sp->retry_usec * 2, RETRY_MAX_USEC);
}

static void request_succeeded(StaticPods *sp) {
        sp->retry_usec = RETRY_MIN_USEC;
}

/* --- mirror pods ------------------------------------------------------------------------ */

static Mirror *mirror_get(StaticPods *sp, const char *namespace, const char *name, bool make) {
        Mirror *m;

        for (m = sp->mirrors; m; m = m->next)
                if (streq(m->namespace, namespace) && streq(m->name, name))
                        return m;
        if (!make || !(m = calloc(1, sizeof(Mirror))))
                return NULL;
        *m = (Mirror) { .owner = sp, .namespace = strdup(namespace), .name = strdup(name), .next = sp->mirrors };
        if (!m->namespace || !m->name) {
                free(m->namespace);
                free(m->name);
                free(m);
                return NULL;
        }
        sp->mirrors = m;
        return m;
}

static void mirror_free(Mirror *m) {
        if (m->request)
                kube_request_cancel(m->request);
        json_object_put(m->pod);
        free(m->namespace);
        free(m->name);
        free(m->deleted_uid);
        free(m->reported_uid);
        free(m);
}

static const char *mirror_uid(Mirror *m) {
        return json_get_string(m->pod, "metadata", "uid", NULL);
}

static void mirror_set(Mirror *m, json_object *pod) {
        json_object_put(m->pod);
        m->pod = pod ? json_object_get(pod) : NULL;
}

/* The static pod's status to its mirror pod, if the mirror is its own. */
static void report_status(Mirror *m, PodEntry *e) {
        StaticPods *sp = m->owner;
        json_object *status = pod_entry_status(e);
        const char *uid = mirror_uid(m);

        if (!status || !uid || !mirror_pod_of(m->pod, e->pod) ||
            json_get(json_get(m->pod, "metadata"), "deletionTimestamp"))
                return;
        pod_manager_report_status(sp->manager, m->namespace, m->name, uid, status);
        if (!m->reported_uid || !streq(m->reported_uid, uid)) {
                free(m->reported_uid);
                m->reported_uid = strdup(uid);
        }
}

static void on_get_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                        void *userdata) {
        Mirror *m = userdata;

        m->request = NULL;
        if (error >= 0 && status == 200 && body)
                mirror_set(m, body);
        else if (error >= 0 && status == 404)
                mirror_set(m, NULL);
        else {
                log_warning("pod %s/%s: look up its mirror pod: %s", m->namespace, m->name,
                            error < 0 ? message : kube_status_message(body) ?: "failed");
                schedule_retry(m->owner);
        }
        schedule_sync(m->owner);
}

static void on_create_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                           void *userdata) {
        Mirror *m = userdata;
        StaticPods *sp = m->owner;
        _cleanup_free_ char *path = NULL;

        m->request = NULL;
        if (error >= 0 && status == 201 && body) {
                log_info("pod %s/%s: mirror pod created", m->namespace, m->name);
                request_succeeded(sp);
                mirror_set(m, body);
        } else if (error >= 0 && status == 409) {
                /* One is there that the watch has not shown yet: its hash decides. */
                if (asprintf(&path, "/api/v1/namespaces/%s/pods/%s", m->namespace, m->name) >= 0)
                        (void) kube_client_request(sp->client, "GET", path, NULL, NULL, on_get_done, m, &m->request);
        } else {
                log_warning("pod %s/%s: create its mirror pod: %s", m->namespace, m->name,
                            error < 0 ? message : kube_status_message(body) ?: "failed");
                /* A Node made again has another UID, which NodeRestriction checks. */
                if (error >= 0 && status == 403) {
                        free(sp->node_uid);
                        sp->node_uid = NULL;
                }
                schedule_retry(sp);
        }
        schedule_sync(sp);
}

static void mirror_create(Mirror *m, PodEntry *e) {
        StaticPods *sp = m->owner;
        _cleanup_(json_object_putp) json_object *mirror = mirror_pod_new(e->pod, node_name(sp), sp->node_uid);
        _cleanup_free_ char *path = NULL;

        if (!mirror || asprintf(&path, "/api/v1/namespaces/%s/pods", m->namespace) < 0)
                return;
        if (kube_client_request(sp->client, "POST", path, json_object_to_json_string_ext(mirror, JSON_C_TO_STRING_PLAIN),
                                "application/json", on_create_done, m, &m->request) < 0)
                schedule_retry(sp);
}

static void on_delete_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                           void *userdata) {
        Mirror *m = userdata;

        m->request = NULL;
        /* 404: gone already; 409: the uid precondition failed, another one is there. */
        if (error >= 0 && (status < 300 || status == 404 || status == 409)) {
                if (status < 300)
                        log_info("pod %s/%s: mirror pod %s deleted", m->namespace, m->name, m->deleted_uid ?: "");
                request_succeeded(m->owner);
                if (m->pod && m->deleted_uid && streq(mirror_uid(m) ?: "", m->deleted_uid))
                        mirror_set(m, NULL);
        } else {
                log_warning("pod %s/%s: delete its mirror pod: %s", m->namespace, m->name,
                            error < 0 ? message : kube_status_message(body) ?: "failed");
                schedule_retry(m->owner);
        }
        schedule_sync(m->owner);
}

/* As kubelet's DeleteMirrorPod: grace 0, only the one of that uid. */
static void mirror_delete(Mirror *m) {
        _cleanup_free_ char *path = NULL, *body = NULL;
        const char *uid = mirror_uid(m);

        if (!uid)
                return;
        free(m->deleted_uid);
        m->deleted_uid = strdup(uid);
        if (!m->deleted_uid || asprintf(&path, "/api/v1/namespaces/%s/pods/%s", m->namespace, m->name) < 0 ||
            asprintf(&body, "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"gracePeriodSeconds\":0,"
                            "\"preconditions\":{\"uid\":\"%s\"}}", uid) < 0)
                return;
        if (kube_client_request(m->owner->client, "DELETE", path, body, "application/json", on_delete_done, m,
                                &m->request) < 0)
                schedule_retry(m->owner);
}

static void on_node_done(KubeClient *client, int error, const char *message, long status, json_object *body,
                         void *userdata) {
        StaticPods *sp = userdata;
        const char *uid = json_get_string(body, "metadata", "uid", NULL);

        sp->node_request = NULL;
        /* As kubelet: no mirror pods for a Node being deleted; until the Node is
         * registered, asked again a second later. */
        if (error >= 0 && status == 200 && uid && !json_get(json_get(body, "metadata"), "deletionTimestamp")) {
                free(sp->node_uid);
                sp->node_uid = strdup(uid);
                request_succeeded(sp);
                schedule_sync(sp);
                return;
        }
        if (error < 0 || status != 404)
                log_warning("static pods: node %s: %s", node_name(sp),
                            error < 0 ? message : status == 200 ? "being deleted" : kube_status_message(body) ?: "failed");
        else
                sp->retry_usec = RETRY_MIN_USEC;
        schedule_retry(sp);
}

static void lookup_node(StaticPods *sp) {
        _cleanup_free_ char *path = NULL;

        if (sp->node_request || asprintf(&path, "/api/v1/nodes/%s", node_name(sp)) < 0)
                return;
        if (kube_client_request(sp->client, "GET", path, NULL, NULL, on_node_done, sp, &sp->node_request) < 0)
                schedule_retry(sp);
}

/* kubelet's tryReconcileMirrorPods for one name, and deleteOrphanedMirrorPods. */
static void mirror_sync(Mirror *m) {
        StaticPods *sp = m->owner;
        bool any, deleting;
        PodEntry *e;

        if (m->request)
                return;
        e = running_entry(sp, m->namespace, m->name, &any);
        if (!e) {
                /* Another static pod of the name waits for its turn, or the manifests are
                 * not read yet: the mirror pod stays for now. */
                if (sp->loaded && !any && m->pod)
                        mirror_delete(m);
                return;
        }
        deleting = json_get(json_get(m->pod, "metadata"), "deletionTimestamp");
        /* One whose manifest is gone is stopping: its mirror pod stays until it has
         * stopped, and is not made again. */
        if (!static_pod(e)->wanted) {
                if (m->pod && deleting)
                        mirror_delete(m);
                return;
        }
        if (m->pod && (deleting || !mirror_pod_of(m->pod, e->pod))) {
                mirror_delete(m);
                return;
        }
        if (!m->pod) {
                if (sp->node_uid)
                        mirror_create(m, e);
                else
                        lookup_node(sp);
                return;
        }
        /* A mirror pod made again: the status as it is now, not only from its next change. */
        if (!m->reported_uid || !streq(m->reported_uid, mirror_uid(m) ?: ""))
                report_status(m, e);
}

static int on_sync(sd_event_source *s, void *userdata) {
        StaticPods *sp = userdata;

        for (PodEntry *e = pod_set_first(sp->set); e; e = pod_entry_next(e))
                if (e->source == &sp->source && e->worker && !e->ended)
                        (void) mirror_get(sp, e->namespace, e->name, true);
        for (Mirror *m = sp->mirrors; m; m = m->next)
                mirror_sync(m);
        /* Names with nothing left to do are forgotten. */
        for (Mirror **p = &sp->mirrors; *p;) {
                Mirror *m = *p;
                bool any;
                if (!m->pod && !m->request && (running_entry(sp, m->namespace, m->name, &any), !any)) {
                        *p = m->next;
                        mirror_free(m);
                } else
                        p = &m->next;
        }
        return 0;
}

/* The pod manager's watch: what the API holds of the mirror pods. */
static void on_mirror_pod(KubeWatch *w, KubeEvent event, json_object *pod, void *userdata) {
        StaticPods *sp = userdata;
        const char *namespace = json_get_string(pod, "metadata", "namespace", NULL) ?: "default";
        const char *name = json_get_string(pod, "metadata", "name", NULL), *uid = json_get_string(pod, "metadata", "uid", NULL);
        Mirror *m;

        if (!name || !uid)
                return;
        switch (event) {
        case KUBE_ADDED:
        case KUBE_MODIFIED:
                m = mirror_get(sp, namespace, name, true);
                if (!m || (m->deleted_uid && streq(m->deleted_uid, uid)))
                        return;
                mirror_set(m, pod);
                break;
        case KUBE_DELETED:
                m = mirror_get(sp, namespace, name, false);
                if (!m || !m->pod || !streq(mirror_uid(m) ?: "", uid))
                        return;
                mirror_set(m, NULL);
                break;
        default:
                return;
        }
        schedule_sync(sp);
}

/* --- the pods ---------------------------------------------------------------------------- */

static void on_status(PodEntry *e, json_object *status, void *userdata) {
        StaticPods *sp = userdata;
        Mirror *m = mirror_get(sp, e->namespace, e->name, false);

        pod_set_report(sp->set);
        if (m && !m->request && running_entry(sp, e->namespace, e->name, NULL) == e)
                report_status(m, e);
}

static void on_event(PodEntry *e, const char *type, const char *reason, const char *message, void *userdata) {
        StaticPods *sp = userdata;

        pod_manager_event(sp->manager, e, type, reason, message);
}

/* kubelet starts a static pod once the one of the same name before it has stopped, if
 * its admission lets it (hostPorts, against every source's pods). */
static void start_waiting(StaticPods *sp) {
        for (PodEntry *e = pod_set_first(sp->set); e; e = pod_entry_next(e)) {
                _cleanup_free_ char *error = NULL;
                int r;

                if (e->source != &sp->source || e->worker || e->ended || !static_pod(e)->wanted ||
                    static_pod(e)->rejected || running_entry(sp, e->namespace, e->name, NULL))
                        continue;
                if (!pod_set_admit(e)) {
                        static_pod(e)->rejected = true;
                        continue;
                }
                log_info("pod %s/%s: static pod from %s", e->namespace, e->name, static_pod(e)->path);
                r = pod_set_start(e, NULL, &error);
                if (r >= 0)
                        continue;
                if (error)
                        log_error("%s (%s)", error, static_pod(e)->path);
                else
                        log_error_errno(r, "pod %s/%s (%s): %m", e->namespace, e->name, static_pod(e)->path);
                pod_set_remove(e);
        }
}

static void on_terminated(PodEntry *e, void *userdata) {
        StaticPods *sp = userdata;

        log_info("pod %s/%s: stopped and removed", e->namespace, e->name);
        pod_set_remove(e);
        start_waiting(sp);
        schedule_sync(sp);
        pod_set_report(sp->set);
}

/* When the agent first read the pod: kubelet's config.seen, RFC 3339 in UTC. */
static void format_seen(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;
        size_t n;

        clock_gettime(CLOCK_REALTIME, &ts);
        n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", gmtime_r(&ts.tv_sec, &tm));
        snprintf(buf + n, size - n, ".%09ldZ", ts.tv_nsec);
}

/* A pod kubelet would not run: said once, not at every reading of its file. */
static void refuse(StaticPods *sp, const char *path, const char *name, const char *error) {
        _cleanup_free_ char *message = NULL;
        json_object *before = json_get(sp->refused, path), *now = json_get(sp->refusing, path);
        bool said = false;

        if (asprintf(&message, "pod %s: %s", name, error) < 0)
                return;
        if (!now) {
                now = json_object_new_array();
                if (!now || json_object_object_add(sp->refusing, path, now) < 0) {
                        json_object_put(now);
                        return;
                }
        }
        for (size_t i = 0; i < json_array_length(before); i++)
                said |= streq(json_object_get_string(json_object_array_get_idx(before, i)), message);
        if (!said)
                log_error("%s: %s", path, message);
        json_object_array_add(now, json_object_new_string(message));
}

static void want_pod(StaticPods *sp, json_object *manifest, const char *path) {
        _cleanup_(json_object_putp) json_object *pod = NULL;
        _cleanup_free_ char *uid = NULL, *error = NULL;
        char seen[64];
        StaticPod *p;
        PodEntry *e;
        int r;

        if (!json_get_string(manifest, "metadata", "name", NULL)) {
                log_error("%s: a Pod without metadata.name", path);
                return;
        }
        r = static_pod_check(manifest, &error);
        if (r < 0) {
                refuse(sp, path, json_get_string(manifest, "metadata", "name", NULL), error);
                return;
        }
        uid = static_pod_uid(manifest, node_name(sp), path);
        if (!uid)
                return;
        e = pod_set_get(sp->set, uid);
        if (e) {
                if (e->source == &sp->source)
                        static_pod(e)->wanted = true;
                return;
        }
        format_seen(seen, sizeof(seen));
        pod = static_pod_from_manifest(manifest, node_name(sp), path, seen);
        p = calloc(1, sizeof(StaticPod));
        if (!pod || !p) {
                free(p);
                return;
        }
        *p = (StaticPod) { .path = strdup(path), .wanted = true };
        r = pod_set_add(sp->set, &sp->source, pod, p, &e);
        if (r < 0)
                log_error_errno(r, "%s: pod %s: %m", path, json_get_string(pod, "metadata", "name", NULL));
}

/* What the manifests say now: pods no file names any more are stopped, new ones start
 * (once the one of their name has stopped). A file that does not parse keeps what it
 * had. */
static void on_manifests(const ManifestFile *files, size_t n_files, void *userdata) {
        StaticPods *sp = userdata;

        sp->refusing = json_object_new_object();
        if (!sp->refusing)
                return;
        for (PodEntry *e = pod_set_first(sp->set); e; e = pod_entry_next(e))
                if (e->source == &sp->source)
                        static_pod(e)->wanted = false;
        for (size_t i = 0; i < n_files; i++) {
                if (!files[i].objects) {
                        json_object *refused = json_get(sp->refused, files[i].path);
                        for (PodEntry *e = pod_set_first(sp->set); e; e = pod_entry_next(e))
                                if (e->source == &sp->source && static_pod(e)->path && streq(static_pod(e)->path, files[i].path))
                                        static_pod(e)->wanted = true;
                        if (refused)
                                json_object_object_add(sp->refusing, files[i].path, json_object_get(refused));
                        continue;
                }
                for (json_object **o = files[i].objects; *o; o++) {
                        const char *kind = json_get_string(*o, "kind", NULL) ?: "";
                        if (streq(kind, "Pod"))
                                want_pod(sp, *o, files[i].path);
                        else
                                log_warning("%s: kind '%s' is not run as a static pod (Pods are; the rest belongs in the API)",
                                            files[i].path, kind);
                }
        }
        for (PodEntry *e = pod_set_first(sp->set); e; e = pod_entry_next(e)) {
                if (e->source != &sp->source || static_pod(e)->wanted)
                        continue;
                if (e->worker && !e->ended)
                        pod_worker_terminate(e->worker, -1);
                else if (!e->worker)
                        pod_set_remove(e);
        }
        json_object_put(sp->refused);
        sp->refused = TAKE_PTR(sp->refusing);
        start_waiting(sp);
        sp->loaded = true;
        schedule_sync(sp);
        pod_set_report(sp->set);
}

int static_pods_new(const char *manifest_dir, KubeClient *client, PodSet *set, PodManager *manager, StaticPods **ret,
                    char **ret_error) {
        _cleanup_(static_pods_freep) StaticPods *sp = calloc(1, sizeof(StaticPods));
        sd_event *event = pod_set_runtime(set)->event;
        int r;

        if (!sp)
                return error_set(ret_error, -ENOMEM, "%m");
        *sp = (StaticPods) { .client = client, .set = set, .manager = manager, .retry_usec = RETRY_MIN_USEC };
        sp->source = (PodSource) {
                .status_changed = on_status,
                .emit_event = on_event,
                .terminated = on_terminated,
                .free_data = static_pod_free,
                .userdata = sp,
        };
        r = sd_event_add_defer(event, &sp->sync, on_sync, sp);
        if (r >= 0)
                r = sd_event_source_set_enabled(sp->sync, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &sp->retry, CLOCK_MONOTONIC, RETRY_MIN_USEC, 0, on_retry, sp);
        if (r >= 0)
                r = sd_event_source_set_enabled(sp->retry, SD_EVENT_OFF);
        if (r < 0)
                return error_set(ret_error, r, "%m");
        r = manifest_dir_new(event, manifest_dir, on_manifests, sp, &sp->manifests, ret_error);
        if (r < 0)
                return r;
        pod_manager_on_mirror_pods(manager, on_mirror_pod, sp);
        *ret = TAKE_PTR(sp);
        return 0;
}

void static_pods_free(StaticPods *sp) {
        if (sp->manifests) {
                pod_manager_on_mirror_pods(sp->manager, NULL, NULL);
                manifest_dir_free(sp->manifests);
        }
        while (sp->mirrors) {
                Mirror *m = sp->mirrors;
                sp->mirrors = m->next;
                mirror_free(m);
        }
        if (sp->node_request)
                kube_request_cancel(sp->node_request);
        sd_event_source_disable_unref(sp->sync);
        sd_event_source_disable_unref(sp->retry);
        json_object_put(sp->refused);
        free(sp->node_uid);
        free(sp);
}
