/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "manifest-dir.h"
#include "standalone-services.h"
#include "standalone.h"
#include "static-pod.h"

/* What standalone mode keeps of a pod in the set (its entry's data). */
typedef struct StandalonePod {
        char *source; /* the manifest that names it */
        bool wanted;  /* named by the manifests as last read */
} StandalonePod;

struct Standalone {
        StandaloneConfig config;
        PodSet *set;
        PodSource source;
        ManifestDir *manifests;
        Proxy *proxy;
        json_object *services; /* array of Service objects, as programmed */
        json_object *slices;   /* "namespace/name" → the EndpointSlice programmed */
        sd_event_source *refresh;
        void (*stopped)(void *userdata);
        void *stopped_userdata;
        bool stopping;
        bool reloaded; /* the manifests were read once */
};

static StandalonePod *standalone_pod(PodEntry *e) {
        return e->data;
}

static void standalone_pod_free(void *data) {
        StandalonePod *p = data;

        free(p->source);
        free(p);
}

/* --- Services and their endpoints -------------------------------------------------- */

/* The slice of service from the pods that run. */
static json_object *endpoint_slice(Standalone *s, json_object *service) {
        _cleanup_free_ EndpointPod *pods = NULL;
        size_t n = 0, allocated = 0;

        for (PodEntry *e = pod_set_first(s->set); e; e = pod_entry_next(e)) {
                if (!e->worker)
                        continue;
                if (n == allocated) {
                        EndpointPod *grown = reallocarray(pods, allocated = MAX(allocated * 2, 8u), sizeof(EndpointPod));
                        if (!grown)
                                return NULL;
                        pods = grown;
                }
                pods[n++] = (EndpointPod) { .pod = e->pod, .status = pod_entry_status(e) };
        }
        return service_endpoint_slice(service, pods, n, pod_set_runtime(s->set)->node_name);
}

static void write_status(Standalone *s);

/* Endpoints from the pods as they are now; the proxy programs what changed. */
static int refresh(sd_event_source *source, void *userdata) {
        Standalone *s = userdata;
        json_object *slices = json_object_new_object();
        bool changed = false;

        for (size_t i = 0; s->services && i < json_object_array_length(s->services); i++) {
                json_object *service = json_object_array_get_idx(s->services, i), *slice = endpoint_slice(s, service), *old;
                char key[512];

                if (!slice)
                        continue;
                service_key(service, key, sizeof(key));
                if (!json_object_object_get_ex(s->slices, key, &old) || !json_object_equal(old, slice))
                        changed |= s->proxy && proxy_slice_update(s->proxy, slice) > 0;
                json_object_object_add(slices, key, slice);
        }
        json_object_object_foreach(s->slices, key, old) {
                if (!json_object_object_get_ex(slices, key, NULL) && s->proxy)
                        changed |= proxy_slice_delete(s->proxy, old) > 0;
        }
        json_object_put(s->slices);
        s->slices = slices;
        if (s->proxy && changed) {
                int r = proxy_sync(s->proxy, PROXY_SYNC_CHANGES, NULL);
                if (r < 0)
                        log_error_errno(r, "standalone: program the Services: %m");
        }
        write_status(s);
        return 0;
}

static void schedule_refresh(Standalone *s) {
        if (!s->refresh && sd_event_add_defer(pod_set_runtime(s->set)->event, &s->refresh, refresh, s) < 0)
                return;
        (void) sd_event_source_set_enabled(s->refresh, SD_EVENT_ONESHOT);
}

static void set_services(Standalone *s, json_object *services) {
        for (size_t i = 0; s->services && s->proxy && i < json_object_array_length(s->services); i++)
                (void) proxy_service_delete(s->proxy, json_object_array_get_idx(s->services, i));
        for (size_t i = 0; s->proxy && i < json_object_array_length(services); i++)
                (void) proxy_service_update(s->proxy, json_object_array_get_idx(services, i));
        json_object_put(s->services);
        s->services = services;
        /* Before any container of the pods just read starts: their workers start from the loop. */
        if (s->config.services && service_store_replace(s->config.services, services) < 0)
                log_oom();
        schedule_refresh(s);
}

/* --- status ------------------------------------------------------------------------- */

static int compare_names(const void *a, const void *b) {
        return strcmp(json_get_string(*(json_object *const *) a, "metadata", "name", NULL) ?: "",
                      json_get_string(*(json_object *const *) b, "metadata", "name", NULL) ?: "");
}

static void write_status(Standalone *s) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *pods = json_object_new_array(), *services = json_object_new_array();
        const char *text;

        for (PodEntry *e = pod_set_first(s->set); e; e = pod_entry_next(e)) {
                json_object *pod = NULL;
                if (json_object_deep_copy(e->pod, &pod, NULL) < 0)
                        continue;
                json_object_object_add(json_object_object_get(pod, "metadata"), "uid", json_object_new_string(e->uid));
                if (pod_entry_status(e))
                        json_object_object_add(pod, "status", json_object_get(pod_entry_status(e)));
                json_object_array_add(pods, pod);
        }
        for (size_t i = 0; s->services && i < json_object_array_length(s->services); i++) {
                json_object *service = json_object_get(json_object_array_get_idx(s->services, i)), *slice;
                char key[512];

                service_key(service, key, sizeof(key));
                if (json_object_object_get_ex(s->slices, key, &slice))
                        json_object_object_add(service, "endpoints", json_object_get(json_object_object_get(slice, "endpoints")));
                json_object_array_add(services, service);
        }
        json_object_array_sort(pods, compare_names);
        json_object_object_add(o, "node", json_object_new_string(pod_set_runtime(s->set)->node_name));
        json_object_object_add(o, "pods", pods);
        json_object_object_add(o, "services", services);
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        (void) write_file_replace(s->config.status_path, text, strlen(text), 0644);
        pod_set_report(s->set);
}

/* --- pods --------------------------------------------------------------------------- */

static void on_status(PodEntry *e, json_object *status, void *userdata) {
        schedule_refresh(userdata);
}

static void maybe_stopped(Standalone *s) {
        if (!s->stopping || !s->stopped || pod_set_first(s->set))
                return;
        s->stopped(s->stopped_userdata);
        s->stopped = NULL;
}

static void on_terminated(PodEntry *e, void *userdata) {
        Standalone *s = userdata;

        log_info("pod %s/%s: stopped and removed", e->namespace, e->name);
        pod_set_remove(e);
        schedule_refresh(s);
        maybe_stopped(s);
}

static void want_pod(Standalone *s, json_object *pod, const char *source) {
        json_object *meta = json_object_object_get(pod, "metadata");
        _cleanup_free_ char *uid = NULL, *error = NULL;
        StandalonePod *p;
        PodEntry *e;
        int r;

        if (!json_get_string(meta, "name", NULL)) {
                log_error("%s: a Pod without metadata.name", source);
                return;
        }
        uid = static_pod_uid(pod, pod_set_runtime(s->set)->node_name, source);
        if (!uid)
                return;
        if (!json_object_object_get(meta, "namespace"))
                json_object_object_add(meta, "namespace", json_object_new_string("default"));
        e = pod_set_get(s->set, uid);
        if (e) {
                standalone_pod(e)->wanted = true;
                return;
        }
        json_object_object_add(meta, "uid", json_object_new_string(uid));
        p = calloc(1, sizeof(StandalonePod));
        if (!p)
                return;
        *p = (StandalonePod) { .source = strdup(source), .wanted = true };
        r = pod_set_add(s->set, &s->source, pod, p, &e);
        if (r < 0) {
                log_error_errno(r, "pod %s/%s (%s): %m", json_get_string(meta, "namespace", NULL),
                                json_get_string(meta, "name", NULL), source);
                return;
        }
        if (!pod_set_admit(e))
                return; /* it stays, Failed, until its manifest changes or goes */
        r = pod_set_start(e, NULL, &error);
        if (r < 0) {
                if (error)
                        log_error("%s (%s)", error, source);
                else
                        log_error_errno(r, "pod %s/%s (%s): %m", e->namespace, e->name, source);
                pod_set_remove(e);
        }
}

static bool pod_known(const char *uid, void *userdata) {
        Standalone *s = userdata;

        return pod_set_get(s->set, uid) != NULL;
}

/* What the manifests say now: pods no file names any more are stopped, new ones
 * started. A file that does not parse keeps what it had. */
static void on_manifests(const ManifestFile *files, size_t n_files, void *userdata) {
        Standalone *s = userdata;
        json_object *services;

        if (s->stopping)
                return;
        services = json_object_new_array();
        if (!services)
                return;
        for (PodEntry *e = pod_set_first(s->set); e; e = pod_entry_next(e))
                standalone_pod(e)->wanted = false;
        for (size_t i = 0; i < n_files; i++) {
                if (!files[i].objects) {
                        for (PodEntry *e = pod_set_first(s->set); e; e = pod_entry_next(e))
                                if (standalone_pod(e)->source && streq(standalone_pod(e)->source, files[i].path))
                                        standalone_pod(e)->wanted = true;
                        continue;
                }
                for (json_object **o = files[i].objects; *o; o++) {
                        const char *kind = json_get_string(*o, "kind", NULL) ?: "";
                        if (streq(kind, "Pod"))
                                want_pod(s, *o, files[i].path);
                        else if (streq(kind, "Service"))
                                json_object_array_add(services, json_object_get(*o));
                        else
                                log_warning("%s: kind '%s' is not run in standalone mode (Pod and Service are)",
                                            files[i].path, kind);
                }
        }
        for (PodEntry *e = pod_set_first(s->set); e; e = pod_entry_next(e))
                if (!standalone_pod(e)->wanted && e->worker && !e->ended)
                        pod_worker_terminate(e->worker, -1);
                else if (!standalone_pod(e)->wanted && !e->worker)
                        pod_set_remove(e);
        /* Pods whose manifests went while no agent ran: their hostPorts go. */
        if (!s->reloaded && pod_set_runtime(s->set)->host_ports)
                (void) host_ports_retain(pod_set_runtime(s->set)->host_ports, pod_known, s);
        s->reloaded = true;
        for (size_t i = 0; i < json_object_array_length(services); i++)
                service_complete(json_object_array_get_idx(services, i), services, s->config.service_cidr);
        set_services(s, services);
        pod_set_report(s->set);
}

int standalone_new(const StandaloneConfig *config, PodSet *set, Standalone **ret, char **ret_error) {
        _cleanup_(standalone_freep) Standalone *s = calloc(1, sizeof(Standalone));
        int r;

        if (!s)
                return error_set(ret_error, -ENOMEM, "%m");
        s->config = *config;
        s->set = set;
        s->source = (PodSource) {
                .status_changed = on_status,
                .terminated = on_terminated, /* events: the worker logs them; without an API server there is nowhere else */
                .free_data = standalone_pod_free,
                .userdata = s,
        };
        s->slices = json_object_new_object();
        if (!s->slices)
                return error_set(ret_error, -ENOMEM, "%m");
        if (config->proxy) {
                r = proxy_new(config->proxy, &s->proxy);
                if (r < 0)
                        return error_set(ret_error, r, "the Services' proxy: %m");
        }
        r = manifest_dir_new(pod_set_runtime(set)->event, config->manifest_dir, on_manifests, s, &s->manifests, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

void standalone_stop(Standalone *s, void (*done)(void *userdata), void *userdata) {
        s->stopping = true;
        s->stopped = done;
        s->stopped_userdata = userdata;
        for (PodEntry *e = pod_set_first(s->set); e; e = pod_entry_next(e))
                if (e->worker && !e->ended)
                        pod_worker_terminate(e->worker, -1);
                else
                        pod_set_remove(e);
        maybe_stopped(s);
}

/* The pods stay in the set, which frees them. */
void standalone_free(Standalone *s) {
        if (s->manifests)
                manifest_dir_free(s->manifests);
        sd_event_source_disable_unref(s->refresh);
        if (s->proxy)
                proxy_free(s->proxy);
        json_object_put(s->services);
        json_object_put(s->slices);
        free(s);
}
