/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* UDP has no connection to end, so a conntrack entry keeps sending a client's datagrams
 * where its first one went: to an endpoint that was removed, or nowhere if the Service
 * had no endpoints then. As kube-proxy does, the proxy deletes those entries (ctnetlink
 * through libmnl) after each sync. */

/* A UDP address:port; address 0 with a NodePort means "any local address". */
static inline uint64_t udp_flow_key(struct in_addr address, uint16_t port) {
        return (uint64_t) ntohl(address.s_addr) << 16 | port;
}

/* What one sync programmed for UDP, as sorted, unique keys. */
typedef struct UdpFlows {
        uint64_t *endpoints;    /* endpoint address:port */
        size_t n_endpoints;
        uint64_t *destinations; /* ClusterIP/externalIP/LB IP:port, or 0:NodePort, that have endpoints */
        size_t n_destinations;
        size_t allocated_endpoints, allocated_destinations;
} UdpFlows;

int udp_flows_add_endpoint(UdpFlows *f, uint64_t key);
int udp_flows_add_destination(UdpFlows *f, uint64_t key);
/* Sorts and removes duplicates. */
void udp_flows_finish(UdpFlows *f);
void udp_flows_done(UdpFlows *f);

/* Deletes the UDP conntrack entries that before/after makes stale: those DNATed to an
 * endpoint that is gone, and those to a destination that has gained endpoints. Returns
 * the number deleted, or -errno. */
int conntrack_clear_stale_udp(const UdpFlows *before, const UdpFlows *after);
