/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>

#include "cidr.h"

/* A node's pod network: a bridge holding the first address of the pod CIDR, and per pod
 * a network namespace bound at <run_dir>/netns/<pod UID> with eth0 (one end of a veth
 * pair whose other end is on the bridge), an address from the pod CIDR and a default
 * route via the bridge. Everything happens in the calling thread's network namespace. */

#define POD_NETWORK_MAX_CLUSTER_CIDRS 8

typedef struct PodNetworkConfig {
        const char *state_dir; /* IPAM state lives below it */
        const char *run_dir;   /* netns/ below it */
        const char *bridge;    /* default "cni0" */
        Ipv4Prefix pod_cidr;
        /* Destinations not masqueraded (cluster and service CIDRs); the pod CIDR if none. */
        Ipv4Prefix cluster_cidrs[POD_NETWORK_MAX_CLUSTER_CIDRS];
        size_t n_cluster_cidrs;
        bool masquerade; /* program egress masquerading */
        /* Bytes an encapsulation between nodes adds (VXLAN's 50): taken off the pods' MTU,
         * which is otherwise that of the link the default route leaves by. */
        unsigned mtu_overhead;
} PodNetworkConfig;

typedef struct PodNetworkResult {
        struct in_addr address;
        unsigned prefixlen;
        struct in_addr gateway;
        unsigned mtu;
        char netns_path[PATH_MAX];
        char host_veth[IFNAMSIZ];
        bool adopted; /* it existed already, complete, and was kept */
} PodNetworkResult;

typedef struct PodNetwork PodNetwork;

/* Opens the pod network of this node and sets the node up: ip_forward, the bridge,
 * masquerading. Errors are logged with what failed. */
int pod_network_new(const PodNetworkConfig *config, PodNetwork **ret);
void pod_network_free(PodNetwork *net);
static inline void pod_network_freep(PodNetwork **p) {
        pod_network_free(*p);
}

/* Gives pod `uid` its network; idempotent (a complete one is adopted, a partial one left
 * by a crash is rebuilt with the same address). `name` ("namespace/name") is for messages;
 * NULL uses the UID. -ENOSPC when the pod CIDR is full. */
int pod_network_add(PodNetwork *net, const char *uid, const char *name, PodNetworkResult *ret);

/* Removes pod `uid`'s veth, namespace and address; each may already be gone. */
int pod_network_del(PodNetwork *net, const char *uid, const char *name);

/* Removes the network of every pod not in `live` (NULL-terminated UIDs): addresses in
 * IPAM and namespaces under <run_dir>/netns. Returns how many pods were reaped. */
int pod_network_gc(PodNetwork *net, char *const *live);

/* The host end's name for pod `uid`: "sd" + 12 hex digits of a hash of the UID. */
void pod_network_host_veth_name(const char *uid, char ret[static IFNAMSIZ]);

const Ipv4Prefix *pod_network_cidr(const PodNetwork *net);
