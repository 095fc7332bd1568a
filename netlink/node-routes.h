/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"

struct nl_sock;

/* Routes to the pod CIDRs of other nodes, in the main table. Every one the agent makes
 * carries a routing protocol number of its own, NODE_ROUTE_PROTOCOL (as bird's or
 * zebra's routes carry theirs), so it lists, replaces and deletes its own routes only and
 * never one that an administrator or another program made. */

#define NODE_ROUTE_PROTOCOL 115

typedef struct NodeRoute {
        Ipv4Prefix dst;         /* a node's spec.podCIDR */
        struct in_addr gateway; /* host-gw: the node's InternalIP; VXLAN: its VTEP address */
        int ifindex;
        bool onlink; /* the gateway is taken as on the link without a route to it (VXLAN) */
} NodeRoute;

/* The routes of protocol NODE_ROUTE_PROTOCOL in the main table; *ret is malloc'ed. */
int node_routes_list(struct nl_sock *sk, NodeRoute **ret, size_t *ret_n);
/* Adds route, or replaces the one to the same destination. */
int node_route_replace(struct nl_sock *sk, const NodeRoute *route);
/* 0 also when it is already gone. */
int node_route_delete(struct nl_sock *sk, const NodeRoute *route);

/* What turns `present` into `desired`: ret_delete gets the present routes to a
 * destination that desired has no route to, ret_add the desired routes that present
 * does not hold as they are (added with node_route_replace, which takes the place of a
 * present route to the same destination: no moment without a route). The caller sizes
 * ret_delete for n_present and ret_add for n_desired. Pure: no netlink. */
void node_routes_diff(const NodeRoute *desired, size_t n_desired, const NodeRoute *present, size_t n_present,
                      NodeRoute *ret_delete, size_t *ret_n_delete, NodeRoute *ret_add, size_t *ret_n_add);

/* How this node reaches address a by the kernel's routes: ret_ifindex is the link it
 * leaves by, and *ret_on_link tells whether a is on that link (no gateway between), as
 * `ip route get` says. -ENETUNREACH without a route. */
int node_route_lookup(struct nl_sock *sk, struct in_addr a, int *ret_ifindex, bool *ret_on_link);
