/* SPDX-License-Identifier: Apache-2.0 */
#include <json-c/linkhash.h>

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
        Committed *committed;
        struct lh_table *dirty; /* keys of Services to rebuild at the next sync */
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

static void free_key(struct lh_entry *e) {
        free(lh_entry_k(e));
}

int proxy_new(const ProxyConfig *config, Proxy **ret) {
        Proxy *p = calloc(1, sizeof(Proxy));

        if (!p)
                return -ENOMEM;
        p->config = *config;
        p->dirty = lh_kchar_table_new(64, free_key);
        if (!p->dirty || committed_new(&p->committed) < 0) {
                proxy_free(p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

/* Marks a Service for rebuilding; returns 1 (something changed) or -ENOMEM. */
static int mark_dirty(Proxy *p, const char *service) {
        char *key;

        if (lh_table_lookup_ex(p->dirty, service, NULL))
                return 1;
        key = strdup(service);
        if (!key || lh_table_insert(p->dirty, key, NULL) < 0) {
                free(key);
                return -ENOMEM;
        }
        return 1;
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
        committed_free(p->committed);
        if (p->dirty)
                lh_table_free(p->dirty);
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

/* Removes the Service with this key; 1 if there was one (now dirty), 0 if not. */
static int remove_service(Proxy *p, const char *key) {
        return list_remove(&p->services, key, service_key, free_service) ? mark_dirty(p, key) : 0;
}

int proxy_service_update(Proxy *p, json_object *o) {
        _cleanup_free_ char *error = NULL;
        char key[SERVICE_NAME_MAX];
        Service *s;
        int r;

        r = service_parse(o, &s, &error);
        if (r == -EAFNOSUPPORT)
                return remove_service(p, object_name(o, key));
        if (r < 0) {
                log_warning("proxy: skipping %s", error ?: "a Service that cannot be parsed");
                return remove_service(p, object_name(o, key));
        }
        r = mark_dirty(p, s->key);
        if (r >= 0)
                r = list_put(&p->services, s, service_key, free_service);
        if (r < 0) {
                service_free(s);
                return r;
        }
        return 1;
}

int proxy_service_delete(Proxy *p, json_object *o) {
        char key[SERVICE_NAME_MAX];

        return remove_service(p, object_name(o, key));
}

/* Marks the Service the slice with this key belongs to now, before it changes. */
static int mark_slice_service(Proxy *p, const char *slice) {
        ssize_t i = list_find(&p->slices, slice, slice_key);

        return i < 0 ? 0 : mark_dirty(p, ((const EndpointSlice *) p->slices.items[i])->service);
}

static int remove_slice(Proxy *p, const char *key) {
        int r = mark_slice_service(p, key);

        if (r < 0)
                return r;
        return list_remove(&p->slices, key, slice_key, free_slice);
}

int proxy_slice_update(Proxy *p, json_object *o) {
        _cleanup_free_ char *error = NULL;
        char key[SERVICE_NAME_MAX];
        EndpointSlice *s;
        int r;

        r = endpoint_slice_parse(o, &s, &error);
        if (r == -EAFNOSUPPORT)
                return remove_slice(p, object_name(o, key));
        if (r < 0) {
                log_warning("proxy: skipping %s", error ?: "an EndpointSlice that cannot be parsed");
                return remove_slice(p, object_name(o, key));
        }
        r = mark_slice_service(p, s->key); /* it may have moved to another Service */
        if (r >= 0)
                r = mark_dirty(p, s->service);
        if (r >= 0)
                r = list_put(&p->slices, s, slice_key, free_slice);
        if (r < 0) {
                endpoint_slice_free(s);
                return r;
        }
        return 1;
}

int proxy_slice_delete(Proxy *p, json_object *o) {
        char key[SERVICE_NAME_MAX];

        return remove_slice(p, object_name(o, key));
}

int proxy_sync(Proxy *p, ProxySyncMode mode, FILE *dump) {
        _cleanup_free_ char **dirty = NULL;
        UdpFlows before = {}, after = {};
        struct lh_entry *e;
        ProxyStats stats;
        size_t n_dirty = 0;
        int r;

        if (mode == PROXY_SYNC_DUMP)
                return proxy_ruleset_sync(&p->config, NULL, (Service *const *) p->services.items, p->services.n,
                                          (EndpointSlice *const *) p->slices.items, p->slices.n, NULL, 0, dump, NULL,
                                          NULL, NULL);

        dirty = malloc((size_t) (p->dirty->count + 1) * sizeof(char *));
        if (!dirty)
                return -ENOMEM;
        lh_foreach(p->dirty, e)
                dirty[n_dirty++] = lh_entry_k(e);
        r = proxy_ruleset_sync(&p->config, p->committed, (Service *const *) p->services.items, p->services.n,
                               (EndpointSlice *const *) p->slices.items, p->slices.n,
                               mode == PROXY_SYNC_CHANGES ? dirty : NULL, n_dirty, NULL, &stats, &before, &after);
        if (r >= 0) {
                /* Only now: the keys in dirty belong to the table. */
                lh_table_free(p->dirty);
                p->dirty = lh_kchar_table_new(64, free_key);
                if (!p->dirty)
                        r = -ENOMEM;
        }
        if (r < 0)
                goto out;
        if (!stats.partial || stats.messages > 0)
                log_debug("proxy: %s sync: %zu service ports built (%zu without endpoints), %zu endpoints; "
                          "sent %zu chains, %zu elements in %zu messages",
                          stats.partial ? "partial" : "full", stats.service_ports, stats.without_endpoints,
                          stats.endpoints, stats.chains_sent, stats.elements_sent, stats.messages);

        udp_flows_finish(&before);
        udp_flows_finish(&after);
        r = conntrack_clear_stale_udp(&before, &after);
        if (r < 0)
                log_warning_errno(r, "proxy: delete stale UDP conntrack entries: %m");
        else if (r > 0)
                log_debug("proxy: deleted %d stale UDP conntrack entries", r);
        r = 0;
out:
        udp_flows_done(&before);
        udp_flows_done(&after);
        return r;
}
