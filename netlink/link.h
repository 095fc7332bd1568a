/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <net/if.h>
#include <netinet/in.h>

struct nl_sock;

/* Thin, blocking rtnetlink requests over libnl-route-3, one per call and no caches, in
 * whichever network namespace the socket was opened in. Errors are -errno. */

int rtnl_open(struct nl_sock **ret);
void rtnl_close(struct nl_sock *sk);

/* libnl's own error codes as the nearest errno. */
int nl_error_to_errno(int nl_error);

/* -ENODEV when there is no such link. */
int link_ifindex(struct nl_sock *sk, const char *name, int *ret_ifindex);
int link_set_up(struct nl_sock *sk, const char *name);
int link_delete(struct nl_sock *sk, const char *name); /* 0 also when already gone */

/* Makes sure bridge `name` exists, is up and holds address gateway/prefixlen. A link of
 * that name that is no bridge is -ENOTBLK; a bridge holding another IPv4 address is
 * -EADDRINUSE and *ret_conflict names it ("10.1.0.1/24"). */
int bridge_ensure(struct nl_sock *sk, const char *name, struct in_addr gateway, unsigned prefixlen,
                  int *ret_ifindex, char ret_conflict[static INET_ADDRSTRLEN + 3]);

/* Creates a veth pair: host_name up on bridge master_ifindex with hairpin mode, its peer
 * named peer_name directly inside the namespace peer_netns_fd; both with mtu. */
int veth_create(struct nl_sock *sk, const char *host_name, int master_ifindex,
                const char *peer_name, int peer_netns_fd, unsigned mtu);

/* The IPv4 addresses of link ifindex (at most n), and how many there are. */
int link_ipv4_addresses(struct nl_sock *sk, int ifindex, struct in_addr *addrs, unsigned *prefixlens,
                        int n);
int address_add(struct nl_sock *sk, int ifindex, struct in_addr a, unsigned prefixlen);
int route_add_default(struct nl_sock *sk, int ifindex, struct in_addr gateway);

/* MTU of the link the IPv4 default route leaves by; -ENOENT without a default route. */
int default_route_mtu(struct nl_sock *sk, unsigned *ret_mtu);
