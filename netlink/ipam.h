/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <netinet/in.h>

#include "cidr.h"

/* Addresses of a node's pod CIDR handed to pods. State is one file per allocated
 * address, <state_dir>/<network>_<prefixlen>/<address>, holding the owner (the pod UID);
 * files are written unnamed and then linked into place, so a claim is atomic even
 * between processes and a crash never leaves a half-written one. The network address,
 * the first address (the bridge's, the pods' gateway) and the broadcast address are
 * never handed out. */
typedef struct Ipam Ipam;

int ipam_open(const char *state_dir, const Ipv4Prefix *prefix, Ipam **ret);
void ipam_free(Ipam *ipam);
static inline void ipam_freep(Ipam **p) {
        ipam_free(*p);
}

/* Gives owner an address: the one it holds already (retries are idempotent) or the
 * lowest free one. -ENOSPC when the CIDR is full. */
int ipam_allocate(Ipam *ipam, const char *owner, struct in_addr *ret);

/* Looks up owner's address: 0, or -ENOENT. */
int ipam_find(Ipam *ipam, const char *owner, struct in_addr *ret);

/* Frees owner's address: 1 if it held one, 0 if not. */
int ipam_release(Ipam *ipam, const char *owner);

/* The owners holding addresses, as a NULL-terminated array of strings (strv_free). */
int ipam_list_owners(Ipam *ipam, char ***ret);

/* The pods' gateway: the first address of the prefix. */
struct in_addr ipam_gateway(const Ipam *ipam);
const Ipv4Prefix *ipam_prefix(const Ipam *ipam);
