/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

struct nl_sock;

/* The VXLAN tunnel between nodes, as flannel's vxlan backend makes it: one vxlan link
 * (VNI 1, UDP 8472, no learning) whose local end is the node's address, holding the
 * first address of the node's pod CIDR as a /32; per remote node one FDB entry (its VTEP
 * MAC -> its address) and one permanent neighbour entry (the first address of its pod
 * CIDR -> its VTEP MAC), the route to its pod CIDR going via that address on the link
 * (node-routes.h). Everything the encapsulation adds, VXLAN_OVERHEAD bytes, comes off
 * the MTU of the link and of the pods. */

#define VXLAN_LINK "stevedore.1"
#define VXLAN_VNI 1
#define VXLAN_PORT 8472
#define VXLAN_OVERHEAD 50 /* outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14 */

typedef struct VxlanPeer {
        struct in_addr vtep; /* the first address of the remote node's pod CIDR */
        uint8_t mac[6];      /* its VTEP MAC */
        struct in_addr node; /* its address, where the encapsulated packets go */
} VxlanPeer;

/* Makes sure the link exists with these settings (one with others is replaced), over
 * the link holding `local` with that link's MTU less VXLAN_OVERHEAD, and is up.
 * Returns its ifindex and MAC. */
int vxlan_ensure(struct nl_sock *sk, struct in_addr local, int *ret_ifindex, uint8_t ret_mac[static 6]);

/* The link holds exactly the first address of pod_cidr, as a /32. */
int vxlan_set_address(struct nl_sock *sk, int ifindex, const Ipv4Prefix *pod_cidr);

/* The link's FDB and neighbour entries become exactly those of peers: each is replaced
 * (idempotent), every other entry on the link deleted. */
int vxlan_set_peers(struct nl_sock *sk, int ifindex, const VxlanPeer *peers, size_t n_peers);

/* "aa:bb:cc:dd:ee:ff" <-> bytes; -EINVAL for anything else. */
int mac_parse(const char *s, uint8_t ret[static 6]);
void mac_format(const uint8_t mac[static 6], char buf[static 18]);
