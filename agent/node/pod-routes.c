/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "kube-watch.h"
#include "link.h"
#include "log.h"
#include "macro.h"
#include "node-routes.h"
#include "pod-routes.h"
#include "vxlan.h"

struct PodRoutes {
        KubeClient *client;
        char *node_name;
        PodRoutesMode mode;
        struct in_addr node_ip;
        bool have_node_ip;
        KubeWatch *watch;
        bool synced; /* the first list is in: the table is complete */
        RouteNode *nodes;
        size_t n_nodes;
        struct nl_sock *sk;
        sd_event_source *timer, *pending; /* the resync, and a sync after changes */
        bool have_vxlan;
        int vxlan_ifindex;
        uint8_t vxlan_mac[6];
        bool vxlan_failed; /* logged once */
        KubeRequest *annotate_request;
};

/* --- Node objects ------------------------------------------------------------------- */

static bool backend_data_mac(const char *text, uint8_t ret[static 6]) {
        _cleanup_(json_object_putp) json_object *data = json_tokener_parse(text);
        json_object *vni = json_get(data, "VNI");
        const char *mac = json_get_string(data, "VtepMAC", NULL);

        return json_object_is_type(vni, json_type_int) && json_object_get_int64(vni) == VXLAN_VNI && mac &&
               mac_parse(mac, ret) >= 0;
}

int route_node_parse(json_object *node, RouteNode *ret) {
        const char *name = json_get_string(node, "metadata", "name", NULL);
        const char *cidr = json_get_string(node, "spec", "podCIDR", NULL);
        const char *data = json_get_string(node, "metadata", "annotations", POD_ROUTES_BACKEND_DATA, NULL);
        json_object *addresses = json_get(json_get(node, "status"), "addresses");
        RouteNode n = {};

        if (!name)
                return -EINVAL;
        n.name = strdup(name);
        if (!n.name)
                return -ENOMEM;
        n.have_pod_cidr = cidr && ipv4_prefix_parse(cidr, &n.pod_cidr) >= 0;
        for (size_t i = 0; i < json_array_length(addresses) && !n.have_ip; i++) {
                json_object *a = json_object_array_get_idx(addresses, i);
                const char *type = json_get_string(a, "type", NULL), *address = json_get_string(a, "address", NULL);

                n.have_ip = type && address && streq(type, "InternalIP") && inet_pton(AF_INET, address, &n.ip) == 1;
        }
        n.have_vtep_mac = data && backend_data_mac(data, n.vtep_mac);
        *ret = n;
        return 0;
}

void route_node_done(RouteNode *n) {
        free(n->name);
        *n = (RouteNode) {};
}

PodRouteKind pod_route_kind(PodRoutesMode mode, bool on_link) {
        switch (mode) {
        case POD_ROUTES_HOST_GW:
                return on_link ? POD_ROUTE_HOST_GW : POD_ROUTE_NONE;
        case POD_ROUTES_VXLAN:
                return POD_ROUTE_VXLAN;
        default:
                return on_link ? POD_ROUTE_HOST_GW : POD_ROUTE_VXLAN;
        }
}

static RouteNode *find_node(PodRoutes *p, const char *name) {
        for (size_t i = 0; i < p->n_nodes; i++)
                if (streq(p->nodes[i].name, name))
                        return &p->nodes[i];
        return NULL;
}

/* --- this node's VTEP ---------------------------------------------------------------- */

static void on_annotated(KubeClient *c, int error, const char *message, long status, json_object *body,
                         void *userdata) {
        PodRoutes *p = userdata;

        p->annotate_request = NULL;
        if (error < 0 || status != 200)
                log_warning("pod routes: node %s: publish the VTEP MAC: %s", p->node_name,
                            error < 0 ? message : kube_status_message(body) ?: "refused");
}

/* The Node shows this node's VTEP MAC, for the others' FDB and neighbour entries. */
static void publish_vtep(PodRoutes *p, const RouteNode *self) {
        _cleanup_(json_object_putp) json_object *patch = NULL;
        _cleanup_free_ char *path = NULL;
        char mac[18], data[64];
        int r;

        if (!self || (self->have_vtep_mac && memcmp(self->vtep_mac, p->vxlan_mac, 6) == 0) || p->annotate_request)
                return;
        mac_format(p->vxlan_mac, mac);
        snprintf(data, sizeof(data), "{\"VNI\":%d,\"VtepMAC\":\"%s\"}", VXLAN_VNI, mac);
        patch = json_object_new_object();
        json_object *metadata = json_object_new_object(), *annotations = json_object_new_object();
        json_object_object_add(annotations, POD_ROUTES_BACKEND_DATA, json_object_new_string(data));
        json_object_object_add(metadata, "annotations", annotations);
        json_object_object_add(patch, "metadata", metadata);
        if (asprintf(&path, "/api/v1/nodes/%s", p->node_name) < 0) {
                log_oom();
                return;
        }
        r = kube_client_request(p->client, "PATCH", path, json_object_to_json_string(patch),
                                "application/merge-patch+json", on_annotated, p, &p->annotate_request);
        if (r < 0)
                log_warning_errno(r, "pod routes: node %s: publish the VTEP MAC: %m", p->node_name);
        else
                log_info("pod routes: node %s: VTEP %s on %s", p->node_name, mac, VXLAN_LINK);
}

/* The tunnel, made the first time a node is reached through it; with this node's pod
 * CIDR (once known) on it and its MAC on the Node. false while it cannot be had. */
static bool ensure_vxlan(PodRoutes *p, const RouteNode *self) {
        int r;

        if (!p->have_vxlan) {
                if (!p->have_node_ip) {
                        if (!p->vxlan_failed)
                                log_error("pod routes: VXLAN needs this node's InternalIP (--node-ip)");
                        p->vxlan_failed = true;
                        return false;
                }
                r = vxlan_ensure(p->sk, p->node_ip, &p->vxlan_ifindex, p->vxlan_mac);
                if (r < 0) {
                        if (!p->vxlan_failed)
                                log_error_errno(r, "pod routes: VXLAN link %s: %m", VXLAN_LINK);
                        p->vxlan_failed = true;
                        return false;
                }
                p->have_vxlan = true;
                p->vxlan_failed = false;
        }
        if (self && self->have_pod_cidr) {
                r = vxlan_set_address(p->sk, p->vxlan_ifindex, &self->pod_cidr);
                if (r < 0)
                        log_warning_errno(r, "pod routes: address of %s: %m", VXLAN_LINK);
        }
        publish_vtep(p, self);
        return true;
}

/* --- the sync ------------------------------------------------------------------------ */

static void warn_node(RouteNode *n, const char *format, ...) _printf_(2, 3);
static void warn_node(RouteNode *n, const char *format, ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;

        if (n->warned)
                return;
        n->warned = true;
        va_start(ap, format);
        if (vasprintf(&text, format, ap) >= 0)
                log_warning("pod routes: node %s: %s", n->name, text);
        va_end(ap);
}

static void apply_routes(PodRoutes *p, const NodeRoute *desired, size_t n_desired) {
        _cleanup_free_ NodeRoute *present = NULL, *del = NULL, *add = NULL;
        char cidr[IPV4_PREFIX_STRLEN], via[INET_ADDRSTRLEN];
        size_t n_present = 0, n_del, n_add;
        int r;

        r = node_routes_list(p->sk, &present, &n_present);
        if (r < 0) {
                log_warning_errno(r, "pod routes: list the routes: %m");
                return;
        }
        del = calloc(MAX(n_present, 1), sizeof(NodeRoute));
        add = calloc(MAX(n_desired, 1), sizeof(NodeRoute));
        if (!del || !add) {
                log_oom();
                return;
        }
        node_routes_diff(desired, n_desired, present, n_present, del, &n_del, add, &n_add);
        for (size_t i = 0; i < n_del; i++) {
                r = node_route_delete(p->sk, &del[i]);
                ipv4_prefix_to_string(&del[i].dst, cidr);
                if (r < 0)
                        log_warning_errno(r, "pod routes: delete the route to %s: %m", cidr);
                else
                        log_info("pod routes: route to %s removed", cidr);
        }
        for (size_t i = 0; i < n_add; i++) {
                r = node_route_replace(p->sk, &add[i]);
                ipv4_prefix_to_string(&add[i].dst, cidr);
                inet_ntop(AF_INET, &add[i].gateway, via, sizeof(via));
                if (r < 0)
                        log_warning_errno(r, "pod routes: route to %s via %s: %m", cidr, via);
                else
                        log_info("pod routes: route to %s via %s%s", cidr, via, add[i].onlink ? " (VXLAN)" : "");
        }
}

static void sync_routes(PodRoutes *p) {
        _cleanup_free_ NodeRoute *routes = calloc(MAX(p->n_nodes, 1), sizeof(NodeRoute));
        _cleanup_free_ VxlanPeer *peers = calloc(MAX(p->n_nodes, 1), sizeof(VxlanPeer));
        _cleanup_free_ PodRouteKind *kinds = calloc(MAX(p->n_nodes, 1), sizeof(PodRouteKind));
        _cleanup_free_ int *ifindexes = calloc(MAX(p->n_nodes, 1), sizeof(int));
        RouteNode *self = find_node(p, p->node_name);
        bool want_vxlan = p->mode == POD_ROUTES_VXLAN, vxlan = false;
        size_t n_routes = 0, n_peers = 0;
        char ip[INET_ADDRSTRLEN];

        if (!routes || !peers || !kinds || !ifindexes) {
                log_oom();
                return;
        }
        for (size_t i = 0; i < p->n_nodes; i++) {
                RouteNode *n = &p->nodes[i];
                bool on_link = false;
                int r;

                kinds[i] = POD_ROUTE_NONE;
                if (n == self || !n->have_pod_cidr || !n->have_ip)
                        continue;
                r = node_route_lookup(p->sk, n->ip, &ifindexes[i], &on_link);
                if (r < 0) {
                        warn_node(n, "no route to its InternalIP %s: %s", inet_ntop(AF_INET, &n->ip, ip, sizeof(ip)),
                                  strerror(-r));
                        continue;
                }
                kinds[i] = pod_route_kind(p->mode, on_link);
                if (kinds[i] == POD_ROUTE_NONE)
                        warn_node(n, "its InternalIP %s is on no link of this node: host-gw cannot reach it "
                                     "(--pod-routes auto or vxlan can)",
                                  inet_ntop(AF_INET, &n->ip, ip, sizeof(ip)));
                want_vxlan |= kinds[i] == POD_ROUTE_VXLAN;
        }
        if (want_vxlan)
                vxlan = ensure_vxlan(p, self);

        for (size_t i = 0; i < p->n_nodes; i++) {
                RouteNode *n = &p->nodes[i];

                if (kinds[i] == POD_ROUTE_HOST_GW)
                        routes[n_routes++] = (NodeRoute) {
                                .dst = n->pod_cidr, .gateway = n->ip, .ifindex = ifindexes[i] };
                else if (kinds[i] == POD_ROUTE_VXLAN && vxlan) {
                        if (!n->have_vtep_mac) {
                                warn_node(n, "no VTEP MAC in its %s annotation yet", POD_ROUTES_BACKEND_DATA);
                                continue;
                        }
                        /* flannel's layout: the remote pod CIDR's first address stands for
                         * its VTEP, reached on the link. */
                        peers[n_peers] = (VxlanPeer) { .vtep = n->pod_cidr.addr, .node = n->ip };
                        memcpy(peers[n_peers++].mac, n->vtep_mac, 6);
                        routes[n_routes++] = (NodeRoute) {
                                .dst = n->pod_cidr, .gateway = n->pod_cidr.addr, .ifindex = p->vxlan_ifindex,
                                .onlink = true };
                }
        }
        if (p->have_vxlan) {
                int r = vxlan_set_peers(p->sk, p->vxlan_ifindex, peers, n_peers);
                if (r < 0)
                        log_warning_errno(r, "pod routes: FDB and neighbour entries of %s: %m", VXLAN_LINK);
        }
        apply_routes(p, routes, n_routes);
}

static int on_pending(sd_event_source *s, void *userdata) {
        sync_routes(userdata);
        return 0;
}

/* One sync for the changes of one loop iteration (a relist brings many). */
static void schedule_sync(PodRoutes *p) {
        if (p->synced)
                (void) sd_event_source_set_enabled(p->pending, SD_EVENT_ONESHOT);
}

static int on_resync(sd_event_source *s, uint64_t usec, void *userdata) {
        PodRoutes *p = userdata;

        schedule_sync(p);
        return sd_event_source_set_time(s, usec + POD_ROUTES_RESYNC_USEC);
}

/* --- the watch ----------------------------------------------------------------------- */

static void node_remove(PodRoutes *p, const char *name) {
        RouteNode *n = find_node(p, name);

        if (!n)
                return;
        route_node_done(n);
        *n = p->nodes[--p->n_nodes];
}

static void node_update(PodRoutes *p, json_object *object) {
        RouteNode parsed, *n, *grown;

        if (route_node_parse(object, &parsed) < 0)
                return;
        n = find_node(p, parsed.name);
        if (n) {
                /* A change of what routing uses may clear the problem: say it again if not. */
                parsed.warned = n->warned && n->have_pod_cidr == parsed.have_pod_cidr && n->have_ip == parsed.have_ip &&
                                n->ip.s_addr == parsed.ip.s_addr && n->have_vtep_mac == parsed.have_vtep_mac;
                route_node_done(n);
                *n = parsed;
                return;
        }
        grown = realloc(p->nodes, (p->n_nodes + 1) * sizeof(RouteNode));
        if (!grown) {
                route_node_done(&parsed);
                log_oom();
                return;
        }
        p->nodes = grown;
        p->nodes[p->n_nodes++] = parsed;
}

static void on_node(KubeWatch *w, KubeEvent event, json_object *object, void *userdata) {
        PodRoutes *p = userdata;
        const char *name = json_get_string(object, "metadata", "name", NULL);

        switch (event) {
        case KUBE_ADDED:
        case KUBE_MODIFIED:
                node_update(p, object);
                break;
        case KUBE_DELETED:
                if (name)
                        node_remove(p, name);
                break;
        case KUBE_SYNCED:
                p->synced = true;
                break;
        case KUBE_FAILED:
                return;
        }
        schedule_sync(p);
}

int pod_routes_new(KubeClient *client, const PodRoutesConfig *config, PodRoutes **ret) {
        _cleanup_(pod_routes_freep) PodRoutes *p = calloc(1, sizeof(PodRoutes));
        sd_event *event = kube_client_event(client);
        uint64_t now = 0;
        int r;

        if (!p)
                return -ENOMEM;
        p->client = client;
        p->mode = config->mode;
        p->node_name = strdup(config->node_name);
        if (!p->node_name)
                return -ENOMEM;
        p->have_node_ip = config->node_ip && inet_pton(AF_INET, config->node_ip, &p->node_ip) == 1;
        r = rtnl_open(&p->sk);
        if (r < 0)
                return log_error_errno(r, "pod routes: open rtnetlink socket: %m");
        r = sd_event_add_defer(event, &p->pending, on_pending, p);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(p->pending, SD_EVENT_OFF);
        (void) sd_event_now(event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(event, &p->timer, CLOCK_MONOTONIC, now + POD_ROUTES_RESYNC_USEC, 0, on_resync, p);
        if (r < 0)
                return r;
        /* Not one-shot: on_resync moves it on by a period each time. */
        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ON);
        r = kube_watch_new(client, "/api/v1/nodes", NULL, on_node, p, &p->watch);
        if (r < 0)
                return r;
        log_info("pod routes: %s, from the Node objects", pod_routes_mode_to_string(p->mode));
        *ret = TAKE_PTR(p);
        return 0;
}

void pod_routes_free(PodRoutes *p) {
        if (!p)
                return;
        kube_watch_free(p->watch);
        kube_request_cancel(p->annotate_request);
        sd_event_source_disable_unref(p->pending);
        sd_event_source_disable_unref(p->timer);
        for (size_t i = 0; i < p->n_nodes; i++)
                route_node_done(&p->nodes[i]);
        free(p->nodes);
        rtnl_close(p->sk);
        free(p->node_name);
        free(p);
}
