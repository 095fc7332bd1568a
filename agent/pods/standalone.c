/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "manifest.h"
#include "standalone.h"

#define NODEPORT_MIN 30000
#define NODEPORT_MAX 32767

typedef struct StaticPod {
        char *uid, *source;
        json_object *pod, *status;
        PodWorker *worker;
        bool wanted, gone;
        struct StaticPod *next;
} StaticPod;

struct Standalone {
        StandaloneConfig config;
        PodRuntime rt;
        Proxy *proxy;
        StaticPod *pods;
        json_object *services; /* array of Service objects, as programmed */
        json_object *slices;   /* "namespace/name" → the EndpointSlice programmed */
        sd_event_source *inotify, *reload, *refresh;
        void (*stopped)(void *userdata);
        void *stopped_userdata;
        bool stopping;
};

static uint64_t fnv1a(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
        return h;
}

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

static StaticPod *find_pod(Standalone *s, const char *uid) {
        for (StaticPod *p = s->pods; p; p = p->next)
                if (streq(p->uid, uid))
                        return p;
        return NULL;
}

static StaticPod *pod_of_worker(Standalone *s, PodWorker *w) {
        for (StaticPod *p = s->pods; p; p = p->next)
                if (p->worker == w)
                        return p;
        return NULL;
}

static void static_pod_free(StaticPod *p) {
        pod_worker_free(p->worker);
        json_object_put(p->pod);
        json_object_put(p->status);
        free(p->uid);
        free(p->source);
        free(p);
}

/* --- Services and their endpoints -------------------------------------------------- */

static bool labels_match(json_object *selector, json_object *labels) {
        if (!selector || !json_object_is_type(selector, json_type_object) || json_object_object_length(selector) == 0)
                return false;
        json_object_object_foreach(selector, key, value) {
                json_object *v;
                if (!json_object_object_get_ex(labels, key, &v) ||
                    !streq(json_object_get_string(v) ?: "", json_object_get_string(value) ?: ""))
                        return false;
        }
        return true;
}

static bool pod_ready(json_object *status) {
        json_object *conditions = json_object_object_get(status, "conditions");

        for (size_t i = 0; conditions && i < json_object_array_length(conditions); i++) {
                json_object *c = json_object_array_get_idx(conditions, i);
                if (streq(json_get_string(c, "type", NULL) ?: "", "Ready"))
                        return streq(json_get_string(c, "status", NULL) ?: "", "True");
        }
        return false;
}

/* targetPort: a number, or a container port's name in the pod. */
static int target_port(json_object *service_port, json_object *pod) {
        json_object *target = json_object_object_get(service_port, "targetPort");
        json_object *containers = json_object_object_get(json_object_object_get(pod, "spec"), "containers");

        if (!target)
                return json_object_get_int(json_object_object_get(service_port, "port"));
        if (json_object_is_type(target, json_type_int))
                return json_object_get_int(target);
        for (size_t i = 0; containers && i < json_object_array_length(containers); i++) {
                json_object *ports = json_object_object_get(json_object_array_get_idx(containers, i), "ports");
                for (size_t k = 0; ports && k < json_object_array_length(ports); k++) {
                        json_object *p = json_object_array_get_idx(ports, k);
                        if (streq(json_get_string(p, "name", NULL) ?: "", json_object_get_string(target)))
                                return json_object_get_int(json_object_object_get(p, "containerPort"));
                }
        }
        return atoi(json_object_get_string(target));
}

/* The EndpointSlice the API server's controller would make for service from the local
 * pods (one port set: the first matching pod's target ports). */
static json_object *endpoint_slice(Standalone *s, json_object *service) {
        json_object *slice = json_object_new_object(), *meta = json_object_new_object(), *labels = json_object_new_object();
        json_object *endpoints = json_object_new_array(), *ports = json_object_new_array();
        json_object *spec = json_object_object_get(service, "spec"), *service_ports = json_object_object_get(spec, "ports");
        const char *name = json_get_string(service, "metadata", "name", NULL) ?: "";
        bool have_ports = false;
        char slice_name[300];

        snprintf(slice_name, sizeof(slice_name), "%s-stevedore", name);
        json_object_object_add(meta, "name", json_object_new_string(slice_name));
        json_object_object_add(meta, "namespace",
                               json_object_new_string(json_get_string(service, "metadata", "namespace", NULL) ?: "default"));
        json_object_object_add(labels, "kubernetes.io/service-name", json_object_new_string(name));
        json_object_object_add(meta, "labels", labels);
        json_object_object_add(slice, "metadata", meta);
        json_object_object_add(slice, "addressType", json_object_new_string("IPv4"));
        for (StaticPod *p = s->pods; p; p = p->next) {
                json_object *endpoint, *addresses, *conditions;
                const char *ip = json_get_string(p->status, "podIP", NULL);

                if (!p->worker || p->gone || !ip ||
                    !streq(json_get_string(p->pod, "metadata", "namespace", NULL) ?: "default",
                           json_get_string(service, "metadata", "namespace", NULL) ?: "default") ||
                    !labels_match(json_object_object_get(spec, "selector"),
                                  json_object_object_get(json_object_object_get(p->pod, "metadata"), "labels")))
                        continue;
                if (!have_ports) {
                        for (size_t i = 0; service_ports && i < json_object_array_length(service_ports); i++) {
                                json_object *sp = json_object_array_get_idx(service_ports, i), *port = json_object_new_object();
                                if (json_get_string(sp, "name", NULL))
                                        json_object_object_add(port, "name", json_object_new_string(json_get_string(sp, "name", NULL)));
                                json_object_object_add(port, "port", json_object_new_int(target_port(sp, p->pod)));
                                json_object_object_add(port, "protocol",
                                                       json_object_new_string(json_get_string(sp, "protocol", NULL) ?: "TCP"));
                                json_object_array_add(ports, port);
                        }
                        have_ports = true;
                }
                endpoint = json_object_new_object();
                addresses = json_object_new_array();
                conditions = json_object_new_object();
                json_object_array_add(addresses, json_object_new_string(ip));
                json_object_object_add(endpoint, "addresses", addresses);
                json_object_object_add(conditions, "ready", json_object_new_boolean(pod_ready(p->status)));
                json_object_object_add(conditions, "serving", json_object_new_boolean(pod_ready(p->status)));
                json_object_object_add(conditions, "terminating", json_object_new_boolean(false));
                json_object_object_add(endpoint, "conditions", conditions);
                json_object_object_add(endpoint, "nodeName", json_object_new_string(s->rt.node_name));
                json_object_array_add(endpoints, endpoint);
        }
        json_object_object_add(slice, "endpoints", endpoints);
        json_object_object_add(slice, "ports", ports);
        return slice;
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

                snprintf(key, sizeof(key), "%s/%s", json_get_string(service, "metadata", "namespace", NULL) ?: "default",
                         json_get_string(service, "metadata", "name", NULL) ?: "");
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
        if (!s->refresh && sd_event_add_defer(s->rt.event, &s->refresh, refresh, s) < 0)
                return;
        (void) sd_event_source_set_enabled(s->refresh, SD_EVENT_ONESHOT);
}

/* A free address of the service CIDR for service (the same one each time, if free),
 * skipping the network address and .1 (the API server's kubernetes Service). */
static char *allocate_cluster_ip(Standalone *s, json_object *services, const char *key) {
        uint32_t base = ntohl(s->config.service_cidr.addr.s_addr);
        uint32_t size = s->config.service_cidr.prefixlen >= 31 ? 1 : (UINT32_C(1) << (32 - s->config.service_cidr.prefixlen)) - 3;
        uint64_t h = fnv1a(key);

        for (uint32_t attempt = 0; attempt < size; attempt++) {
                struct in_addr a = { htonl(base + 2 + (uint32_t) ((h + attempt) % size)) };
                char text[INET_ADDRSTRLEN];
                bool taken = false;

                inet_ntop(AF_INET, &a, text, sizeof(text));
                for (size_t i = 0; i < json_object_array_length(services); i++)
                        taken |= streq(json_get_string(json_object_array_get_idx(services, i), "spec", "clusterIP", NULL) ?: "", text);
                if (!taken)
                        return strdup(text);
        }
        return NULL;
}

static int allocate_node_port(json_object *services, const char *key, unsigned index) {
        uint64_t h = fnv1a(key) + index;

        for (int attempt = 0; attempt <= NODEPORT_MAX - NODEPORT_MIN; attempt++) {
                int port = NODEPORT_MIN + (int) ((h + (uint64_t) attempt) % (NODEPORT_MAX - NODEPORT_MIN + 1));
                bool taken = false;

                for (size_t i = 0; i < json_object_array_length(services); i++) {
                        json_object *ports = json_object_object_get(json_object_object_get(json_object_array_get_idx(services, i), "spec"), "ports");
                        for (size_t k = 0; ports && k < json_object_array_length(ports); k++)
                                taken |= json_object_get_int(json_object_object_get(json_object_array_get_idx(ports, k), "nodePort")) == port;
                }
                if (!taken)
                        return port;
        }
        return 0;
}

/* What the API server's allocators would have set: clusterIP(s), nodePorts. */
static void complete_service(Standalone *s, json_object *service, json_object *services) {
        json_object *meta = json_object_object_get(service, "metadata"), *spec = json_object_object_get(service, "spec");
        const char *type = json_get_string(spec, "type", NULL) ?: "ClusterIP";
        json_object *ports = json_object_object_get(spec, "ports"), *ips;
        char key[512];

        if (!json_object_object_get(meta, "namespace"))
                json_object_object_add(meta, "namespace", json_object_new_string("default"));
        snprintf(key, sizeof(key), "%s/%s", json_get_string(meta, "namespace", NULL), json_get_string(meta, "name", NULL) ?: "");
        if (!json_get_string(spec, "clusterIP", NULL)) {
                _cleanup_free_ char *ip = allocate_cluster_ip(s, services, key);
                if (ip) {
                        json_object_object_add(spec, "clusterIP", json_object_new_string(ip));
                        ips = json_object_new_array();
                        json_object_array_add(ips, json_object_new_string(ip));
                        json_object_object_add(spec, "clusterIPs", ips);
                }
        }
        if (!streq(type, "NodePort") && !streq(type, "LoadBalancer"))
                return;
        for (size_t i = 0; ports && i < json_object_array_length(ports); i++) {
                json_object *port = json_object_array_get_idx(ports, i);
                if (!json_object_object_get(port, "nodePort"))
                        json_object_object_add(port, "nodePort", json_object_new_int(allocate_node_port(services, key, (unsigned) i)));
        }
}

static void set_services(Standalone *s, json_object *services) {
        for (size_t i = 0; s->services && s->proxy && i < json_object_array_length(s->services); i++)
                (void) proxy_service_delete(s->proxy, json_object_array_get_idx(s->services, i));
        for (size_t i = 0; s->proxy && i < json_object_array_length(services); i++)
                (void) proxy_service_update(s->proxy, json_object_array_get_idx(services, i));
        json_object_put(s->services);
        s->services = services;
        schedule_refresh(s);
}

/* --- status ------------------------------------------------------------------------- */

static int compare_names(const void *a, const void *b) {
        return strcmp(json_get_string(*(json_object *const *) a, "metadata", "name", NULL) ?: "",
                      json_get_string(*(json_object *const *) b, "metadata", "name", NULL) ?: "");
}

static void report_pods(Standalone *s) {
        unsigned running = 0, total = 0;

        if (!s->config.pods_changed)
                return;
        for (StaticPod *p = s->pods; p; p = p->next) {
                if (p->gone)
                        continue;
                total++;
                if (streq(json_get_string(p->status, "phase", NULL) ?: "", "Running"))
                        running++;
        }
        s->config.pods_changed(running, total, s->config.userdata);
}

static void write_status(Standalone *s) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *pods = json_object_new_array(), *services = json_object_new_array();
        const char *text;

        for (StaticPod *p = s->pods; p; p = p->next) {
                json_object *pod = NULL;
                if (p->gone || json_object_deep_copy(p->pod, &pod, NULL) < 0)
                        continue;
                json_object_object_add(json_object_object_get(pod, "metadata"), "uid", json_object_new_string(p->uid));
                if (p->status)
                        json_object_object_add(pod, "status", json_object_get(p->status));
                json_object_array_add(pods, pod);
        }
        for (size_t i = 0; s->services && i < json_object_array_length(s->services); i++) {
                json_object *service = json_object_get(json_object_array_get_idx(s->services, i)), *slice;
                char key[512];

                snprintf(key, sizeof(key), "%s/%s", json_get_string(service, "metadata", "namespace", NULL) ?: "default",
                         json_get_string(service, "metadata", "name", NULL) ?: "");
                if (json_object_object_get_ex(s->slices, key, &slice))
                        json_object_object_add(service, "endpoints", json_object_get(json_object_object_get(slice, "endpoints")));
                json_object_array_add(services, service);
        }
        json_object_array_sort(pods, compare_names);
        json_object_object_add(o, "node", json_object_new_string(s->rt.node_name));
        json_object_object_add(o, "pods", pods);
        json_object_object_add(o, "services", services);
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        (void) write_file_replace(s->config.status_path, text, strlen(text), 0644);
        report_pods(s);
}

/* --- pods --------------------------------------------------------------------------- */

static void on_status(PodWorker *w, json_object *status, void *userdata) {
        Standalone *s = userdata;
        StaticPod *p = pod_of_worker(s, w);

        if (!p)
                return;
        json_object_put(p->status);
        p->status = json_object_get(status);
        schedule_refresh(s);
}

static void on_event(PodWorker *w, const char *type, const char *reason, const char *message, void *userdata) {
        /* The worker logs them; without an API server there is nowhere else to put them. */
}

static void maybe_stopped(Standalone *s) {
        if (!s->stopping || !s->stopped)
                return;
        for (StaticPod *p = s->pods; p; p = p->next)
                if (!p->gone)
                        return;
        s->stopped(s->stopped_userdata);
        s->stopped = NULL;
}

static void on_terminated(PodWorker *w, void *userdata) {
        Standalone *s = userdata;
        StaticPod *p = pod_of_worker(s, w);

        if (p) {
                p->gone = true;
                log_info("pod %s/%s: stopped and removed", json_get_string(p->pod, "metadata", "namespace", NULL),
                         json_get_string(p->pod, "metadata", "name", NULL));
        }
        schedule_refresh(s);
        maybe_stopped(s);
}

/* Pods that are gone are freed here, outside their workers' callbacks. */
static void reap(Standalone *s) {
        for (StaticPod **p = &s->pods; *p;) {
                StaticPod *pod = *p;
                if (pod->gone) {
                        *p = pod->next;
                        static_pod_free(pod);
                } else
                        p = &(*p)->next;
        }
}

static void want_pod(Standalone *s, json_object *pod, const char *source) {
        json_object *meta = json_object_object_get(pod, "metadata");
        _cleanup_free_ char *uid = NULL;
        StaticPod *p;
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
        p = find_pod(s, uid);
        if (p) {
                p->wanted = true;
                return;
        }
        json_object_object_add(meta, "uid", json_object_new_string(uid));
        p = calloc(1, sizeof(StaticPod));
        if (!p)
                return;
        *p = (StaticPod) { .uid = TAKE_PTR(uid), .source = strdup(source), .pod = json_object_get(pod), .wanted = true,
                           .next = s->pods };
        s->pods = p;
        r = pod_worker_new(&s->rt, pod, NULL, &p->worker);
        if (r < 0) {
                log_error_errno(r, "pod %s/%s (%s): %m", json_get_string(meta, "namespace", NULL),
                                json_get_string(meta, "name", NULL), source);
                p->gone = true;
        }
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
        reap(s);
        for (StaticPod *p = s->pods; p; p = p->next)
                p->wanted = false;
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
                        for (StaticPod *p = s->pods; p; p = p->next)
                                if (p->source && streq(p->source, path))
                                        p->wanted = true;
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
        for (StaticPod *p = s->pods; p; p = p->next)
                if (!p->wanted && p->worker && !p->gone)
                        pod_worker_terminate(p->worker, -1);
        for (size_t i = 0; i < json_object_array_length(services); i++)
                complete_service(s, json_object_array_get_idx(services, i), services);
        set_services(s, services);
        report_pods(s);
        return 0;
}

static int on_inotify(sd_event_source *source, const struct inotify_event *event, void *userdata) {
        Standalone *s = userdata;

        /* Changes that come together are read together. */
        (void) sd_event_source_set_enabled(s->reload, SD_EVENT_ONESHOT);
        return 0;
}

int standalone_new(const StandaloneConfig *config, const PodRuntime *runtime, Standalone **ret) {
        Standalone *s = calloc(1, sizeof(Standalone));
        int r;

        if (!s)
                return -ENOMEM;
        s->config = *config;
        s->rt = *runtime;
        s->rt.status_changed = on_status;
        s->rt.emit_event = on_event;
        s->rt.terminated = on_terminated;
        s->rt.userdata = s;
        s->slices = json_object_new_object();
        r = config->proxy ? proxy_new(config->proxy, &s->proxy) : 0;
        if (r >= 0)
                r = sd_event_add_defer(runtime->event, &s->reload, reload, s);
        if (r >= 0)
                r = sd_event_add_inotify(runtime->event, &s->inotify, config->manifest_dir,
                                         IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR,
                                         on_inotify, s);
        if (r < 0) {
                standalone_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void standalone_stop(Standalone *s, void (*done)(void *userdata), void *userdata) {
        s->stopping = true;
        s->stopped = done;
        s->stopped_userdata = userdata;
        for (StaticPod *p = s->pods; p; p = p->next)
                if (p->worker && !p->gone)
                        pod_worker_terminate(p->worker, -1);
                else
                        p->gone = true;
        maybe_stopped(s);
}

void standalone_free(Standalone *s) {
        while (s->pods) {
                StaticPod *p = s->pods;
                s->pods = p->next;
                static_pod_free(p);
        }
        sd_event_source_disable_unref(s->inotify);
        sd_event_source_disable_unref(s->reload);
        sd_event_source_disable_unref(s->refresh);
        if (s->proxy)
                proxy_free(s->proxy);
        json_object_put(s->services);
        json_object_put(s->slices);
        free(s);
}
