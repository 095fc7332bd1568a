/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "link.h"
#include "macro.h"
#include "nl-cleanup.h"

int nl_error_to_errno(int nl_error) {
        static const int table[] = {
                [NLE_INTR] = EINTR,       [NLE_BAD_SOCK] = EBADF,     [NLE_AGAIN] = EAGAIN,
                [NLE_NOMEM] = ENOMEM,     [NLE_EXIST] = EEXIST,       [NLE_INVAL] = EINVAL,
                [NLE_RANGE] = ERANGE,     [NLE_MSGSIZE] = EMSGSIZE,   [NLE_OPNOTSUPP] = EOPNOTSUPP,
                [NLE_AF_NOSUPPORT] = EAFNOSUPPORT, [NLE_OBJ_NOTFOUND] = ENOENT,
                [NLE_NOADDR] = EADDRNOTAVAIL, [NLE_BUSY] = EBUSY,     [NLE_NOACCESS] = EACCES,
                [NLE_PERM] = EPERM,       [NLE_NODEV] = ENODEV,
        };
        int e = nl_error < 0 ? -nl_error : nl_error;

        if (e == 0)
                return 0;
        if ((size_t) e < ELEMENTSOF(table) && table[e] != 0)
                return -table[e];
        return -EIO;
}

int rtnl_open(struct nl_sock **ret) {
        struct nl_sock *sk = nl_socket_alloc();
        int r;

        if (!sk)
                return -ENOMEM;
        r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0) {
                nl_socket_free(sk);
                return nl_error_to_errno(r);
        }
        *ret = sk;
        return 0;
}

void rtnl_close(struct nl_sock *sk) {
        if (sk)
                nl_socket_free(sk);
}

static int link_get(struct nl_sock *sk, const char *name, struct rtnl_link **ret) {
        int r = rtnl_link_get_kernel(sk, 0, name, ret);

        if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
                return -ENODEV;
        return nl_error_to_errno(r);
}

int link_ifindex(struct nl_sock *sk, const char *name, int *ret_ifindex) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        int r = link_get(sk, name, &link);

        if (r < 0)
                return r;
        *ret_ifindex = rtnl_link_get_ifindex(link);
        return 0;
}

static int link_change_flags_up(struct nl_sock *sk, struct rtnl_link *link) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *change = rtnl_link_alloc();

        if (!change)
                return -ENOMEM;
        if (rtnl_link_get_flags(link) & IFF_UP)
                return 0;
        rtnl_link_set_flags(change, IFF_UP);
        return nl_error_to_errno(rtnl_link_change(sk, link, change, 0));
}

int link_set_up(struct nl_sock *sk, const char *name) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        int r = link_get(sk, name, &link);

        if (r < 0)
                return r;
        return link_change_flags_up(sk, link);
}

int link_delete(struct nl_sock *sk, const char *name) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_alloc();
        int r;

        if (!link)
                return -ENOMEM;
        rtnl_link_set_name(link, name);
        r = nl_error_to_errno(rtnl_link_delete(sk, link));
        return r == -ENODEV || r == -ENOENT ? 0 : r;
}

int link_ipv4_addresses(struct nl_sock *sk, int ifindex, struct in_addr *addrs, unsigned *prefixlens,
                        int n) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        int found = 0, r;

        r = rtnl_addr_alloc_cache(sk, &cache);
        if (r < 0)
                return nl_error_to_errno(r);
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *) o;
                struct nl_addr *local = rtnl_addr_get_local(a);

                if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET || !local)
                        continue;
                if (found < n) {
                        memcpy(&addrs[found], nl_addr_get_binary_addr(local), sizeof(struct in_addr));
                        prefixlens[found] = (unsigned) rtnl_addr_get_prefixlen(a);
                }
                found++;
        }
        return found;
}

int address_add(struct nl_sock *sk, int ifindex, struct in_addr a, unsigned prefixlen) {
        _cleanup_(rtnl_addr_putp) struct rtnl_addr *addr = rtnl_addr_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *local = nl_addr_build(AF_INET, &a, sizeof(a));
        int r;

        if (!addr || !local)
                return -ENOMEM;
        nl_addr_set_prefixlen(local, (int) prefixlen);
        rtnl_addr_set_ifindex(addr, ifindex);
        r = rtnl_addr_set_local(addr, local);
        if (r < 0)
                return nl_error_to_errno(r);
        return nl_error_to_errno(rtnl_addr_add(sk, addr, 0));
}

int route_add_default(struct nl_sock *sk, int ifindex, struct in_addr gateway) {
        _cleanup_(rtnl_route_putp) struct rtnl_route *route = rtnl_route_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *dst = nl_addr_build(AF_INET, &(struct in_addr) {}, 4);
        _cleanup_(nl_addr_putp) struct nl_addr *gw = nl_addr_build(AF_INET, &gateway, sizeof(gateway));
        struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
        int r;

        if (!route || !dst || !gw || !nh) {
                if (nh)
                        rtnl_route_nh_free(nh);
                return -ENOMEM;
        }
        nl_addr_set_prefixlen(dst, 0);
        rtnl_route_set_family(route, AF_INET);
        rtnl_route_set_table(route, RT_TABLE_MAIN);
        rtnl_route_set_protocol(route, RTPROT_BOOT);
        r = rtnl_route_set_dst(route, dst);
        if (r < 0) {
                rtnl_route_nh_free(nh);
                return nl_error_to_errno(r);
        }
        rtnl_route_nh_set_ifindex(nh, ifindex);
        rtnl_route_nh_set_gateway(nh, gw);
        rtnl_route_add_nexthop(route, nh); /* the route owns nh from here */
        return nl_error_to_errno(rtnl_route_add(sk, route, NLM_F_EXCL));
}

int default_route_mtu(struct nl_sock *sk, unsigned *ret_mtu) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        int ifindex = 0, r;

        r = rtnl_route_alloc_cache(sk, AF_INET, 0, &cache);
        if (r < 0)
                return nl_error_to_errno(r);
        for (struct nl_object *o = nl_cache_get_first(cache); o && ifindex == 0; o = nl_cache_get_next(o)) {
                struct rtnl_route *route = (struct rtnl_route *) o;
                struct nl_addr *dst = rtnl_route_get_dst(route);

                if (rtnl_route_get_table(route) != RT_TABLE_MAIN || (dst && nl_addr_get_prefixlen(dst) != 0) ||
                    rtnl_route_get_nnexthops(route) < 1)
                        continue;
                ifindex = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route, 0));
        }
        if (ifindex <= 0)
                return -ENOENT;

        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        r = rtnl_link_get_kernel(sk, ifindex, NULL, &link);
        if (r < 0)
                return nl_error_to_errno(r);
        *ret_mtu = rtnl_link_get_mtu(link);
        return 0;
}

int bridge_ensure(struct nl_sock *sk, const char *name, struct in_addr gateway, unsigned prefixlen,
                  int *ret_ifindex, char ret_conflict[static INET_ADDRSTRLEN + 3]) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        struct in_addr addrs[8];
        unsigned prefixlens[8];
        bool have = false;
        int n, r;

        r = link_get(sk, name, &link);
        if (r == -ENODEV) {
                _cleanup_(rtnl_link_putp) struct rtnl_link *bridge = rtnl_link_alloc();

                if (!bridge)
                        return -ENOMEM;
                rtnl_link_set_name(bridge, name);
                r = rtnl_link_set_type(bridge, "bridge");
                if (r >= 0)
                        r = rtnl_link_add(sk, bridge, NLM_F_CREATE);
                if (r < 0)
                        return nl_error_to_errno(r);
                r = link_get(sk, name, &link);
        }
        if (r < 0)
                return r;
        if (!rtnl_link_get_type(link) || !streq(rtnl_link_get_type(link), "bridge"))
                return -ENOTBLK;

        n = link_ipv4_addresses(sk, rtnl_link_get_ifindex(link), addrs, prefixlens, (int) ELEMENTSOF(addrs));
        if (n < 0)
                return n;
        for (int i = 0; i < n && i < (int) ELEMENTSOF(addrs); i++) {
                if (addrs[i].s_addr == gateway.s_addr && prefixlens[i] == prefixlen) {
                        have = true;
                        continue;
                }
                /* Someone else's bridge, or ours for another CIDR: never run pods on it. */
                inet_ntop(AF_INET, &addrs[i], ret_conflict, INET_ADDRSTRLEN);
                snprintf(ret_conflict + strlen(ret_conflict), 4, "/%u", prefixlens[i]);
                return -EADDRINUSE;
        }
        if (!have) {
                r = address_add(sk, rtnl_link_get_ifindex(link), gateway, prefixlen);
                if (r < 0)
                        return r;
        }
        r = link_change_flags_up(sk, link);
        if (r < 0)
                return r;
        *ret_ifindex = rtnl_link_get_ifindex(link);
        return 0;
}

/* `bridge link set dev <ifindex> hairpin on`: lets a pod reach itself through a Service,
 * whose DNAT sends its packets back out of the port they came in by. */
static int bridge_port_set_hairpin(struct nl_sock *sk, int ifindex) {
        _cleanup_(nlmsg_freep) struct nl_msg *msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
        struct ifinfomsg ifi = { .ifi_family = AF_BRIDGE, .ifi_index = ifindex };
        struct nlattr *protinfo;
        int r;

        if (!msg)
                return -ENOMEM;
        if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
                return -ENOMEM;
        protinfo = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED);
        if (!protinfo || nla_put_u8(msg, IFLA_BRPORT_MODE, 1) < 0)
                return -ENOMEM;
        nla_nest_end(msg, protinfo);
        r = nl_send_auto(sk, msg);
        if (r < 0)
                return nl_error_to_errno(r);
        return nl_error_to_errno(nl_wait_for_ack(sk));
}

int veth_create(struct nl_sock *sk, const char *host_name, int master_ifindex,
                const char *peer_name, int peer_netns_fd, unsigned mtu) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *veth = rtnl_link_veth_alloc();
        _cleanup_(rtnl_link_putp) struct rtnl_link *peer = NULL;
        int ifindex, r;

        if (!veth)
                return -ENOMEM;
        peer = rtnl_link_veth_get_peer(veth);
        rtnl_link_set_name(veth, host_name);
        rtnl_link_set_mtu(veth, mtu);
        rtnl_link_set_master(veth, master_ifindex);
        rtnl_link_set_flags(veth, IFF_UP);
        rtnl_link_set_name(peer, peer_name);
        rtnl_link_set_mtu(peer, mtu);
        rtnl_link_set_ns_fd(peer, peer_netns_fd);

        r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
        if (r < 0)
                return nl_error_to_errno(r);
        r = link_ifindex(sk, host_name, &ifindex);
        if (r >= 0)
                r = bridge_port_set_hairpin(sk, ifindex);
        if (r < 0)
                (void) link_delete(sk, host_name);
        return r;
}
