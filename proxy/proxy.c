/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"
#include "macro.h"
#include "proxy.h"

/* A growable list of parsed objects, found by their "namespace/name" key. */
typedef struct List {
        void **items;
        size_t n, allocated;
} List;

struct Proxy {
        ProxyConfig config;
        List services; /* Service * */
        List slices;   /* EndpointSlice * */
        UdpFlows udp;  /* as last committed */
};

static const char *service_key(const void *s) {
        return ((const Service *) s)->key;
}

static const char *slice_key(const void *s) {
        return ((const EndpointSlice *) s)->key;
}

static ssize_t list_find(const List *l, const char *key, const char *(*key_of)(const void *)) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(key_of(l->items[i]), key))
                        return (ssize_t) i;
        return -1;
}

/* Puts item in place of the one with its key (freed), or appends it. */
static int list_put(List *l, void *item, const char *(*key_of)(const void *), void (*free_item)(void *)) {
        ssize_t i = list_find(l, key_of(item), key_of);

        if (i >= 0) {
                free_item(l->items[i]);
                l->items[i] = item;
                return 0;
        }
        if (l->n == l->allocated) {
                size_t a = MAX(l->allocated * 2, (size_t) 64);
                void **p = realloc(l->items, a * sizeof(void *));
                if (!p)
                        return -ENOMEM;
                l->items = p;
                l->allocated = a;
        }
        l->items[l->n++] = item;
        return 0;
}

static int list_remove(List *l, const char *key, const char *(*key_of)(const void *), void (*free_item)(void *)) {
        ssize_t i = list_find(l, key, key_of);

        if (i < 0)
                return 0;
        free_item(l->items[i]);
        l->items[i] = l->items[--l->n];
        return 1;
}

static void free_service(void *s) {
        service_free(s);
}

static void free_slice(void *s) {
        endpoint_slice_free(s);
}

int proxy_new(const ProxyConfig *config, Proxy **ret) {
        Proxy *p = calloc(1, sizeof(Proxy));

        if (!p)
                return -ENOMEM;
        p->config = *config;
        *ret = p;
        return 0;
}

void proxy_free(Proxy *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->services.n; i++)
                service_free(p->services.items[i]);
        for (size_t i = 0; i < p->slices.n; i++)
                endpoint_slice_free(p->slices.items[i]);
        free(p->services.items);
        free(p->slices.items);
        udp_flows_done(&p->udp);
        free(p);
}

static const char *object_name(json_object *o, char buf[static SERVICE_NAME_MAX]) {
        json_object *m, *ns, *name;

        if (!json_object_object_get_ex(o, "metadata", &m) || !json_object_object_get_ex(m, "name", &name))
                return "(unnamed)";
        snprintf(buf, SERVICE_NAME_MAX, "%s/%s",
                 json_object_object_get_ex(m, "namespace", &ns) ? json_object_get_string(ns) : "default",
                 json_object_get_string(name));
        return buf;
}

int proxy_service_update(Proxy *p, json_object *o) {
        _cleanup_free_ char *error = NULL;
        char key[SERVICE_NAME_MAX];
        Service *s;
        int r;

        r = service_parse(o, &s, &error);
        if (r == -EAFNOSUPPORT)
                return list_remove(&p->services, object_name(o, key), service_key, free_service);
        if (r < 0) {
                log_warning("proxy: skipping %s", error ?: "a Service that cannot be parsed");
                return list_remove(&p->services, object_name(o, key), service_key, free_service);
        }
        r = list_put(&p->services, s, service_key, free_service);
        if (r < 0) {
                service_free(s);
                return r;
        }
        return 1;
}

int proxy_service_delete(Proxy *p, json_object *o) {
        char key[SERVICE_NAME_MAX];

        return list_remove(&p->services, object_name(o, key), service_key, free_service);
}

int proxy_slice_update(Proxy *p, json_object *o) {
        _cleanup_free_ char *error = NULL;
        char key[SERVICE_NAME_MAX];
        EndpointSlice *s;
        int r;

        r = endpoint_slice_parse(o, &s, &error);
        if (r == -EAFNOSUPPORT)
                return list_remove(&p->slices, object_name(o, key), slice_key, free_slice);
        if (r < 0) {
                log_warning("proxy: skipping %s", error ?: "an EndpointSlice that cannot be parsed");
                return list_remove(&p->slices, object_name(o, key), slice_key, free_slice);
        }
        r = list_put(&p->slices, s, slice_key, free_slice);
        if (r < 0) {
                endpoint_slice_free(s);
                return r;
        }
        return 1;
}

int proxy_slice_delete(Proxy *p, json_object *o) {
        char key[SERVICE_NAME_MAX];

        return list_remove(&p->slices, object_name(o, key), slice_key, free_slice);
}

int proxy_sync(Proxy *p, bool commit, FILE *dump) {
        UdpFlows udp = {};
        ProxyStats stats;
        int r;

        r = proxy_ruleset_apply(&p->config, (Service *const *) p->services.items, p->services.n,
                                (EndpointSlice *const *) p->slices.items, p->slices.n, commit, dump, &stats,
                                commit ? &udp : NULL);
        if (r < 0) {
                udp_flows_done(&udp);
                return r;
        }
        if (!commit)
                return 0;
        log_debug("proxy: synced %zu service ports (%zu without endpoints), %zu endpoints, %zu messages",
                  stats.service_ports, stats.without_endpoints, stats.endpoints, stats.messages);

        udp_flows_finish(&udp);
        r = conntrack_clear_stale_udp(&p->udp, &udp);
        if (r < 0)
                /* Kept as before, so that the next sync tries these entries again. */
                log_warning_errno(r, "proxy: delete stale UDP conntrack entries: %m");
        else {
                if (r > 0)
                        log_debug("proxy: deleted %d stale UDP conntrack entries", r);
                udp_flows_done(&p->udp);
                p->udp = udp;
                udp = (UdpFlows) {};
        }
        udp_flows_done(&udp);
        return 0;
}
