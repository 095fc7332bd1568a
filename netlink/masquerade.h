/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

#include "cidr.h"

/* Egress masquerading for pods, in an nftables table of its own, `ip stevedore-net`
 * (the proxy keeps its Service rules in `ip stevedore-proxy`, so each module replaces
 * its own table atomically without touching the other's):
 *
 *   table ip stevedore-net {
 *       chain postrouting {
 *           type nat hook postrouting priority srcnat;
 *           ip saddr <pod CIDR> ip daddr != <each cluster CIDR> masquerade
 *       }
 *   }
 *
 * The whole table is replaced in one transaction, so it is never half there. */

#define MASQUERADE_TABLE "stevedore-net"

int masquerade_apply(const Ipv4Prefix *pod_cidr, const Ipv4Prefix *cluster_cidrs, size_t n_cluster_cidrs);

/* Deletes the table; 0 also when there was none. */
int masquerade_remove(void);
