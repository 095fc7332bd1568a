/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "cidr.h"
#include "committed.h"
#include "conntrack.h"
#include "service.h"

/* Services and their endpoints as kube-proxy's nftables mode programs them, in one table
 * of our own, `ip stevedore-proxy`, replaced in one transaction:
 *
 * - `services` (from the nat prerouting and output hooks) looks
 *   `ip daddr . meta l4proto . th dport` up in the verdict map `service-ips`, and for
 *   local destinations `meta l4proto . th dport` in `service-nodeports`: O(1) in the
 *   number of Services.
 * - each Service port has a chain that marks traffic from outside the cluster CIDR for
 *   masquerading and picks an endpoint with `<port id> . numgen random mod N` looked up
 *   in ONE map, `endpoints`, shared by all Services: no set per Service, anonymous or
 *   named (kube-proxy's anonymous per-Service vmaps made set creation quadratic).
 * - each endpoint has a chain that marks hairpin traffic and DNATs.
 * - Services without usable endpoints are in `no-endpoint-services` /
 *   `no-endpoint-nodeports`, consulted from filter hooks, and rejected at once.
 * - `masquerading` (nat postrouting) masquerades what was marked (0x4000), fully random.
 *
 * - NodePorts, externalIPs and LoadBalancer ingress IPs enter an `external-` chain:
 *   masqueraded to every endpoint (externalTrafficPolicy Cluster), or to this node's
 *   endpoints with the client address kept (Local; dropped if none is local);
 *   loadBalancerSourceRanges admit only those sources through a `firewall-` chain.
 * - internalTrafficPolicy Local: ClusterIP traffic to this node's endpoints only.
 * - sessionAffinity ClientIP: a dynamic set with the timeout per endpoint; a client in it
 *   goes back to the same endpoint.
 *
 * Endpoints: the ready ones; if none is ready, the serving+terminating ones (as
 * kube-proxy); a named targetPort is resolved through the EndpointSlice's ports. */

#define PROXY_TABLE "stevedore-proxy"

#define PROXY_MAX_NODEPORT_CIDRS 16

typedef struct ProxyConfig {
        Ipv4Prefix cluster_cidr; /* traffic from outside it to a ClusterIP is masqueraded */
        bool have_cluster_cidr;
        char node_name[254]; /* endpoints with this nodeName are local (Local policies) */
        Ipv4Prefix nodeport_cidrs[PROXY_MAX_NODEPORT_CIDRS]; /* NodePorts only on local addresses in these; */
        size_t n_nodeport_cidrs;                             /* none: on every local address */
} ProxyConfig;

typedef struct ProxyStats {
        size_t service_ports; /* built in this sync */
        size_t endpoints;
        size_t without_endpoints;
        size_t chains_sent;   /* created, refilled or deleted */
        size_t elements_sent; /* map elements added */
        size_t messages;
        bool partial; /* only the dirty Services were built */
} ProxyStats;

/* Programs the table (committed non-NULL) and/or writes it in nft syntax to dump.
 *
 * With dirty (the keys of Services whose object or slices changed since the last sync)
 * and a valid committed state, only those Services are rebuilt, and only their chains
 * and elements that differ are sent; otherwise the whole table is replaced. Either way
 * it is one transaction. before/after (optional) receive the UDP flows of the rebuilt
 * Services before and after, for conntrack_clear_stale_udp(). */
int proxy_ruleset_sync(const ProxyConfig *config, Committed *committed, Service *const *services, size_t n_services,
                       EndpointSlice *const *slices, size_t n_slices, char *const *dirty, size_t n_dirty, FILE *dump,
                       ProxyStats *ret_stats, UdpFlows *before, UdpFlows *after);

/* 1 when the table is there with its dispatch rules, 0 when someone deleted or flushed
 * it, or -errno. */
int proxy_ruleset_intact(void);

/* Removes the table; 0 when there was none. */
int proxy_ruleset_remove(void);
