/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "error.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "manifest.h"
#include "standalone-services.h"
#include "standalone.h"

/* What standalone mode keeps of a pod in the set (its entry's data). */
typedef struct StaticPod {
        char *source; /* the manifest that names it */
        bool wanted;  /* named by the manifests as last read */
} StaticPod;

struct Standalone {
        StandaloneConfig config;
        PodSet *set;
        Proxy *proxy;
        json_object *services; /* array of Service objects, as programmed */
        json_object *slices;   /* "namespace/name" → the EndpointSlice programmed */
        sd_event_source *inotify, *reload, *refresh;
        void (*stopped)(void *userdata);
        void *stopped_userdata;
        bool stopping;
        bool reloaded; /* the manifests were read once */
};

/* A static pod's UID, as kubelet makes one from the pod's content: a changed manifest
 * is a new pod. */
static char *pod_uid(json_object *pod) {
        uint64_t a = fnv1a(json_object_to_json_string_ext(pod, JSON_C_TO_STRING_PLAIN)), b = fnv1a(json_get_string(pod, "metadata", "name", NULL) ?: "");
        char *uid = NULL;

        return asprintf(&uid, "%08x-%04x-%04x-%04x-%012llx", (unsigned) (a >> 32), (unsigned) (a >> 16) & 0xffff,
                        (unsigned) a & 0xffff, (unsigned) (b >> 48), (unsigned long long) b & 0xffffffffffffULL) < 0
                       ? NULL
                       : uid;
}

static StaticPod *static_pod(PodEntry *e) {
        return e->data;
}

static void static_pod_free(void *data) {
        StaticPod *p = data;

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
        StaticPod *p;
        PodEntry *e;
        int r;

        if (!json_get_string(meta, "name", NULL)) {
                log_error("%s: a Pod without metadata.name", source);
                return;
        }
        if (!json_object_object_get(meta, "namespace"))
                json_object_object_add(meta, "namespace", json_object_new_string("default"));
        uid = pod_uid(pod);
        if (!uid)
                return;
        e = pod_set_get(s->set, uid);
        if (e) {
                static_pod(e)->wanted = true;
                return;
        }
        json_object_object_add(meta, "uid", json_object_new_string(uid));
        p = calloc(1, sizeof(StaticPod));
        if (!p)
                return;
        *p = (StaticPod) { .source = strdup(source), .wanted = true };
        r = pod_set_add(s->set, pod, p, &e);
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

static bool is_manifest(const char *name) {
        size_t n = strlen(name);

        return name[0] != '.' && ((n > 5 && streq(name + n - 5, ".yaml")) || (n > 4 && streq(name + n - 4, ".yml")) ||
                                  (n > 5 && streq(name + n - 5, ".json")));
}

/* Reads every manifest; pods no file names any more are stopped, new ones started. A
 * file that does not parse keeps what it had: its error is logged with file:line. */
static int reload(sd_event_source *source, void *userdata) {
        Standalone *s = userdata;
        json_object *services = json_object_new_array();
        struct dirent **entries = NULL;
        int n;

        if (s->stopping) {
                json_object_put(services);
                return 0;
        }
        for (PodEntry *e = pod_set_first(s->set); e; e = pod_entry_next(e))
                static_pod(e)->wanted = false;
        n = scandir(s->config.manifest_dir, &entries, NULL, alphasort);
        if (n < 0)
                log_error_errno(-errno, "standalone: read %s: %m", s->config.manifest_dir);
        for (int i = 0; i < n; i++) {
                _cleanup_(manifest_objects_freep) json_object **objects = NULL;
                _cleanup_free_ char *path = NULL, *error = NULL;
                int r;

                if (!is_manifest(entries[i]->d_name) ||
                    asprintf(&path, "%s/%s", s->config.manifest_dir, entries[i]->d_name) < 0) {
                        free(entries[i]);
                        continue;
                }
                free(entries[i]);
                r = manifest_objects_load(path, &objects, &error);
                if (r < 0) {
                        log_error("manifest %s", error ?: strerror(-r));
                        for (PodEntry *e = pod_set_first(s->set); e; e = pod_entry_next(e))
                                if (static_pod(e)->source && streq(static_pod(e)->source, path))
                                        static_pod(e)->wanted = true;
                        continue;
                }
                for (json_object **o = objects; *o; o++) {
                        const char *kind = json_get_string(*o, "kind", NULL) ?: "";
                        if (streq(kind, "Pod"))
                                want_pod(s, *o, path);
                        else if (streq(kind, "Service"))
                                json_object_array_add(services, json_object_get(*o));
                        else
                                log_warning("%s: kind '%s' is not run in standalone mode (Pod and Service are)", path, kind);
                }
        }
        free(entries);
        for (PodEntry *e = pod_set_first(s->set); e; e = pod_entry_next(e))
                if (!static_pod(e)->wanted && e->worker && !e->ended)
                        pod_worker_terminate(e->worker, -1);
                else if (!static_pod(e)->wanted && !e->worker)
                        pod_set_remove(e);
        /* Pods whose manifests went while no agent ran: their hostPorts go. */
        if (!s->reloaded && pod_set_runtime(s->set)->host_ports)
                (void) host_ports_retain(pod_set_runtime(s->set)->host_ports, pod_known, s);
        s->reloaded = true;
        for (size_t i = 0; i < json_object_array_length(services); i++)
                service_complete(json_object_array_get_idx(services, i), services, s->config.service_cidr);
        set_services(s, services);
        pod_set_report(s->set);
        return 0;
}

static int on_inotify(sd_event_source *source, const struct inotify_event *event, void *userdata) {
        Standalone *s = userdata;

        /* Changes that come together are read together. */
        (void) sd_event_source_set_enabled(s->reload, SD_EVENT_ONESHOT);
        return 0;
}

static const PodSource static_source = {
        .status_changed = on_status,
        .terminated = on_terminated, /* events: the worker logs them; without an API server there is nowhere else */
        .free_data = static_pod_free,
};

int standalone_new(const StandaloneConfig *config, PodSet *set, const PodRuntime *runtime, Standalone **ret,
                   char **ret_error) {
        _cleanup_(standalone_freep) Standalone *s = calloc(1, sizeof(Standalone));
        int r;

        if (!s)
                return error_set(ret_error, -ENOMEM, "%m");
        s->config = *config;
        s->set = set;
        s->slices = json_object_new_object();
        if (!s->slices)
                return error_set(ret_error, -ENOMEM, "%m");
        r = pod_set_attach(set, runtime, &static_source, s);
        if (r < 0)
                return error_set(ret_error, r, "the pod set: %m");
        if (config->proxy) {
                r = proxy_new(config->proxy, &s->proxy);
                if (r < 0)
                        return error_set(ret_error, r, "the Services' proxy: %m");
        }
        r = sd_event_add_defer(runtime->event, &s->reload, reload, s);
        if (r < 0)
                return error_set(ret_error, r, "%m");
        r = sd_event_add_inotify(runtime->event, &s->inotify, config->manifest_dir,
                                 IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR,
                                 on_inotify, s);
        if (r < 0)
                return error_set(ret_error, r, "watch: %m");
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
        sd_event_source_disable_unref(s->inotify);
        sd_event_source_disable_unref(s->reload);
        sd_event_source_disable_unref(s->refresh);
        if (s->proxy)
                proxy_free(s->proxy);
        json_object_put(s->services);
        json_object_put(s->slices);
        free(s);
}
