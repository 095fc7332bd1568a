/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>

#include "json-util.h"
#include "kube-watch.h"
#include "log.h"
#include "service-store.h"

struct ServiceStore {
        json_object *namespaces; /* namespace → {name → Service, as kept} */
        KubeWatch *watch;
        bool synced;
        void (*synced_callback)(void *userdata);
        void *userdata;
};

int service_store_new(ServiceStore **ret) {
        ServiceStore *s = calloc(1, sizeof(ServiceStore));

        if (!s || !(s->namespaces = json_object_new_object())) {
                free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

void service_store_free(ServiceStore *s) {
        if (!s)
                return;
        kube_watch_free(s->watch);
        json_object_put(s->namespaces);
        free(s);
}

static void copy_field(json_object *from, json_object *to, const char *key) {
        json_object *v;

        if (json_object_object_get_ex(from, key, &v))
                json_object_object_add(to, key, json_object_get(v));
}

/* What is kept of a Service (see the header). */
static json_object *kept(json_object *service, const char *namespace) {
        json_object *k = json_object_new_object(), *meta = json_object_new_object(), *spec = json_object_new_object(),
                    *ports = json_object_new_array(), *from = json_get(service, "spec");

        if (!k || !meta || !spec || !ports) {
                json_object_put(k);
                json_object_put(meta);
                json_object_put(spec);
                json_object_put(ports);
                return NULL;
        }
        json_object_object_add(k, "metadata", meta);
        json_object_object_add(k, "spec", spec);
        copy_field(json_get(service, "metadata"), meta, "name");
        json_object_object_add(meta, "namespace", json_object_new_string(namespace));
        copy_field(from, spec, "type");
        copy_field(from, spec, "clusterIP");
        copy_field(from, spec, "clusterIPs");
        json_object_object_add(spec, "ports", ports);
        for (size_t i = 0; i < json_array_length(json_get(from, "ports")); i++) {
                json_object *port = json_object_array_get_idx(json_get(from, "ports"), i), *p = json_object_new_object();

                if (!p) {
                        json_object_put(k);
                        return NULL;
                }
                copy_field(port, p, "name");
                copy_field(port, p, "port");
                copy_field(port, p, "protocol");
                json_object_array_add(ports, p);
        }
        return k;
}

static void put(ServiceStore *s, json_object *service) {
        const char *name = json_get_string(service, "metadata", "name", NULL);
        const char *namespace = json_get_string(service, "metadata", "namespace", NULL) ?: "default";
        json_object *names = json_get(s->namespaces, namespace), *k;

        if (!name || !(k = kept(service, namespace))) {
                if (name)
                        log_oom();
                return;
        }
        if (!names) {
                names = json_object_new_object();
                if (!names) {
                        json_object_put(k);
                        log_oom();
                        return;
                }
                json_object_object_add(s->namespaces, namespace, names);
        }
        json_object_object_add(names, name, k);
}

static void drop(ServiceStore *s, json_object *service) {
        const char *name = json_get_string(service, "metadata", "name", NULL);
        const char *namespace = json_get_string(service, "metadata", "namespace", NULL) ?: "default";
        json_object *names = json_get(s->namespaces, namespace);

        if (!name || !names)
                return;
        json_object_object_del(names, name);
        if (json_object_object_length(names) == 0)
                json_object_object_del(s->namespaces, namespace);
}

static void mark_synced(ServiceStore *s) {
        if (s->synced)
                return;
        s->synced = true;
        if (s->synced_callback)
                s->synced_callback(s->userdata);
}

static void on_service(KubeWatch *w, KubeEvent event, json_object *service, void *userdata) {
        ServiceStore *s = userdata;

        switch (event) {
        case KUBE_ADDED:
        case KUBE_MODIFIED:
                put(s, service);
                break;
        case KUBE_DELETED:
                drop(s, service);
                break;
        case KUBE_SYNCED:
                mark_synced(s);
                break;
        case KUBE_FAILED:
                /* The watch logged why and retries; until the first list, pods wait. */
                break;
        }
}

int service_store_watch(ServiceStore *s, KubeClient *client) {
        if (s->watch)
                return -EBUSY;
        /* As kubelet's informer: headless Services give no variables. */
        return kube_watch_new(client, "/api/v1/services", "spec.clusterIP!=None", on_service, s, &s->watch);
}

int service_store_replace(ServiceStore *s, json_object *services) {
        json_object *namespaces = json_object_new_object(), *old = s->namespaces;

        if (!namespaces)
                return -ENOMEM;
        s->namespaces = namespaces;
        for (size_t i = 0; i < json_array_length(services); i++)
                put(s, json_object_array_get_idx(services, i));
        json_object_put(old);
        mark_synced(s);
        return 0;
}

bool service_store_synced(ServiceStore *s) {
        return s->synced;
}

void service_store_on_synced(ServiceStore *s, void (*synced)(void *userdata), void *userdata) {
        s->synced_callback = synced;
        s->userdata = userdata;
}

json_object *service_store_namespace(ServiceStore *s, const char *namespace) {
        return json_get(s->namespaces, namespace);
}

json_object *service_store_get(ServiceStore *s, const char *namespace, const char *name) {
        return json_get(service_store_namespace(s, namespace), name);
}
