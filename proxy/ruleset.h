/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "cidr.h"
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

typedef struct ProxyConfig {
        Ipv4Prefix cluster_cidr; /* traffic from outside it to a ClusterIP is masqueraded */
        bool have_cluster_cidr;
        char node_name[254]; /* endpoints with this nodeName are local (Local policies) */
} ProxyConfig;

typedef struct ProxyStats {
        size_t service_ports;
        size_t endpoints;
        size_t without_endpoints;
        size_t messages;
} ProxyStats;

/* Programs the table for these Services and slices (commit), and/or writes it in nft
 * syntax to dump. ret_udp (optional, empty on entry) receives the UDP flows programmed;
 * the caller finishes and frees it. */
int proxy_ruleset_apply(const ProxyConfig *config, Service *const *services, size_t n_services,
                        EndpointSlice *const *slices, size_t n_slices, bool commit, FILE *dump, ProxyStats *ret_stats,
                        UdpFlows *ret_udp);

/* Removes the table; 0 when there was none. */
int proxy_ruleset_remove(void);
