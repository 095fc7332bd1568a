/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Pods' hostPorts, mapped as CNI's portmap plugin maps them, in an nftables table of
 * their own, `ip stevedore-hostports`, so that they work with or without the Service
 * proxy (`ip stevedore-proxy`) and in standalone mode:
 *
 *   table ip stevedore-hostports {
 *       chain prerouting { type nat hook prerouting priority dstnat + 1;
 *           fib daddr type local ip daddr != 127.0.0.0/8 jump hostports }
 *       chain output { type nat hook output priority -99; (the same rule) }
 *       chain hostports {                     # the newest pod's mappings first
 *           [ip daddr <hostIP>] tcp dport <hostPort> ip saddr <pod network> meta mark set meta mark | 0x2000
 *           [ip daddr <hostIP>] tcp dport <hostPort> dnat to <pod IP>:<containerPort>
 *       }
 *       chain masquerading { type nat hook postrouting priority srcnat;
 *           meta mark & 0x2000 == 0x2000 masquerade }
 *   }
 *
 * That is portmap's DNAT for traffic to the node's addresses, arriving or locally
 * generated (its CNI-HOSTPORT-DNAT), with its hairpin masquerade for pods of the pod
 * network reaching a hostPort (CNI-HOSTPORT-SETMARK, mark bit 13, CNI-HOSTPORT-MASQ).
 * Two differences: loopback addresses are left out, as the proxy leaves them out of
 * NodePorts (answering there needs route_localnet, CVE-2020-8558), so portmap's
 * 127.0.0.1 masquerade has nothing to do; and the chains sit one after the Service
 * proxy's, as portmap's come after KUBE-SERVICES in iptables.
 *
 * The table is replaced whole, in one transaction, at every change, and deleted when
 * no mapping is left. The mappings are also kept in a state file, so that a new agent
 * (which adopts the pods one by one) starts from what the last one programmed. */

#define HOST_PORTS_TABLE "stevedore-hostports"
#define HOST_PORTS_MASQ_MARK 0x2000u /* portmap's markMasqBit 13 */

typedef struct HostPort {
        struct in_addr host_ip; /* INADDR_ANY: every address of the node but loopback ones */
        uint8_t protocol;       /* IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP */
        uint16_t host_port, container_port;
} HostPort;

typedef struct HostPorts HostPorts;

/* The mappings in state_path (a file under the run dir), programmed again if there are
 * any (a table someone removed comes back). A missing file is no mapping. */
int host_ports_new(const char *state_path, HostPorts **ret);
void host_ports_free(HostPorts *h);
static inline void host_ports_freep(HostPorts **h) {
        host_ports_free(*h);
}

/* Pod uid's mappings, replacing what it had (n 0: none), to pod_ip, whose network
 * (pod_ip/prefixlen) is masqueraded when it reaches them. A pod set anew counts as the
 * newest. Programs the table and writes the state file when they changed. */
int host_ports_set(HostPorts *h, const char *uid, struct in_addr pod_ip, unsigned prefixlen, const HostPort *ports,
                   size_t n);
int host_ports_remove(HostPorts *h, const char *uid);
/* Drops the mappings of every pod for which live() is false: pods that went while no
 * agent ran. */
int host_ports_retain(HostPorts *h, bool (*live)(const char *uid, void *userdata), void *userdata);

/* What the table holds, as `nft list table ip stevedore-hostports` prints it; nothing
 * without mappings. */
int host_ports_dump(HostPorts *h, FILE *f);

/* "TCP", "UDP", "SCTP" (the API's names) to IPPROTO_*, 0 for anything else. */
uint8_t host_port_protocol_from_string(const char *s);
const char *host_port_protocol_to_string(uint8_t protocol);
