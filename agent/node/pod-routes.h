/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent-config.h"
#include "cidr.h"
#include "kube-client.h"

/* Routes from this node to the pods of every other node, kept from a watch of the Node
 * objects, over netlink (docs/networking.md): for each other Node with a spec.podCIDR and
 * an InternalIP,
 *   host-gw: a route to its pod CIDR via its InternalIP, where that address is on a link
 *            of this node;
 *   VXLAN:   through the tunnel of netlink/vxlan.h, with the node's VTEP MAC read from its
 *            POD_ROUTES_BACKEND_DATA annotation (this node publishes its own there);
 *   auto:    host-gw where the InternalIP is on a link of this node, VXLAN elsewhere.
 * A Node deleted, or its pod CIDR or address changed, takes its old entries with it. The
 * kernel's state is compared with what the Nodes say at every change and every
 * POD_ROUTES_RESYNC_USEC, so what someone removed comes back. Only routes of the
 * agent's own protocol are touched (netlink/node-routes.h). Everything runs on the
 * client's event loop, in the calling thread's network namespace. */
typedef struct PodRoutes PodRoutes;

#define POD_ROUTES_RESYNC_USEC (30 * 1000 * 1000ULL)
/* {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}, as flannel's flannel.alpha.coreos.com/backend-data. */
#define POD_ROUTES_BACKEND_DATA "stevedore.io/backend-data"

typedef struct PodRoutesConfig {
        const char *node_name;
        const char *node_ip; /* this node's InternalIP: the tunnel's local end; NULL: no VXLAN */
        PodRoutesMode mode;  /* not POD_ROUTES_NONE */
} PodRoutesConfig;

int pod_routes_new(KubeClient *client, const PodRoutesConfig *config, PodRoutes **ret);
void pod_routes_free(PodRoutes *p);
static inline void pod_routes_freep(PodRoutes **p) {
        pod_routes_free(*p);
}

/* What a Node object says that routing needs. */
typedef struct RouteNode {
        char *name;
        bool have_pod_cidr, have_ip, have_vtep_mac;
        Ipv4Prefix pod_cidr;  /* spec.podCIDR (IPv4) */
        struct in_addr ip;    /* status.addresses' InternalIP */
        uint8_t vtep_mac[6];  /* POD_ROUTES_BACKEND_DATA's VtepMAC, for VNI 1 only */
        bool warned;          /* a problem with it was logged: not again at every resync */
} RouteNode;

/* -EINVAL for an object without a name; anything else it lacks or has wrong is left out. */
int route_node_parse(json_object *node, RouteNode *ret);
void route_node_done(RouteNode *n);

typedef enum PodRouteKind {
        POD_ROUTE_NONE, /* host-gw asked for, the node not on a link */
        POD_ROUTE_HOST_GW,
        POD_ROUTE_VXLAN,
} PodRouteKind;

/* The way to a node whose InternalIP is (or is not) on a link of this node. */
PodRouteKind pod_route_kind(PodRoutesMode mode, bool on_link);
