/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "nl-cleanup.h"
#include "node-routes.h"

static bool route_equal(const NodeRoute *a, const NodeRoute *b) {
        return a->dst.addr.s_addr == b->dst.addr.s_addr && a->dst.prefixlen == b->dst.prefixlen &&
               a->gateway.s_addr == b->gateway.s_addr && a->ifindex == b->ifindex && a->onlink == b->onlink;
}

static bool same_dst(const NodeRoute *a, const NodeRoute *b) {
        return a->dst.addr.s_addr == b->dst.addr.s_addr && a->dst.prefixlen == b->dst.prefixlen;
}

void node_routes_diff(const NodeRoute *desired, size_t n_desired, const NodeRoute *present, size_t n_present,
                      NodeRoute *ret_delete, size_t *ret_n_delete, NodeRoute *ret_add, size_t *ret_n_add) {
        size_t n_delete = 0, n_add = 0;

        for (size_t i = 0; i < n_present; i++) {
                bool wanted = false;

                for (size_t j = 0; j < n_desired && !wanted; j++)
                        wanted = same_dst(&present[i], &desired[j]);
                if (!wanted)
                        ret_delete[n_delete++] = present[i];
        }
        for (size_t j = 0; j < n_desired; j++) {
                bool have = false;

                for (size_t i = 0; i < n_present && !have; i++)
                        have = route_equal(&present[i], &desired[j]);
                if (!have)
                        ret_add[n_add++] = desired[j];
        }
        *ret_n_delete = n_delete;
        *ret_n_add = n_add;
}

static struct nl_addr *ipv4_addr(struct in_addr a, unsigned prefixlen) {
        struct nl_addr *addr = nl_addr_build(AF_INET, &a, sizeof(a));

        if (addr)
                nl_addr_set_prefixlen(addr, (int) prefixlen);
        return addr;
}

static int route_build(const NodeRoute *route, struct rtnl_route **ret) {
        _cleanup_(rtnl_route_putp) struct rtnl_route *r = rtnl_route_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *dst = ipv4_addr(route->dst.addr, route->dst.prefixlen);
        _cleanup_(nl_addr_putp) struct nl_addr *gateway = ipv4_addr(route->gateway, 32);
        struct rtnl_nexthop *nh = rtnl_route_nh_alloc();

        if (!r || !dst || !gateway || !nh) {
                if (nh)
                        rtnl_route_nh_free(nh);
                return -ENOMEM;
        }
        rtnl_route_set_family(r, AF_INET);
        rtnl_route_set_table(r, RT_TABLE_MAIN);
        rtnl_route_set_protocol(r, NODE_ROUTE_PROTOCOL);
        rtnl_route_set_scope(r, RT_SCOPE_UNIVERSE);
        rtnl_route_set_type(r, RTN_UNICAST);
        rtnl_route_set_dst(r, dst);
        rtnl_route_nh_set_gateway(nh, gateway);
        rtnl_route_nh_set_ifindex(nh, route->ifindex);
        if (route->onlink)
                rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
        rtnl_route_add_nexthop(r, nh);
        *ret = TAKE_PTR(r);
        return 0;
}

int node_route_replace(struct nl_sock *sk, const NodeRoute *route) {
        _cleanup_(rtnl_route_putp) struct rtnl_route *r = NULL;
        int k = route_build(route, &r);

        if (k < 0)
                return k;
        return nl_error_to_errno(rtnl_route_add(sk, r, NLM_F_CREATE | NLM_F_REPLACE));
}

int node_route_delete(struct nl_sock *sk, const NodeRoute *route) {
        _cleanup_(rtnl_route_putp) struct rtnl_route *r = NULL;
        int k = route_build(route, &r);

        if (k < 0)
                return k;
        k = nl_error_to_errno(rtnl_route_delete(sk, r, 0));
        return k == -ENOENT || k == -ESRCH ? 0 : k;
}

/* The route's one nexthop as a NodeRoute; false for what the agent does not make. */
static bool route_parse(struct rtnl_route *r, NodeRoute *ret) {
        struct nl_addr *dst = rtnl_route_get_dst(r), *gateway;
        struct rtnl_nexthop *nh;

        if (rtnl_route_get_family(r) != AF_INET || !dst || nl_addr_get_len(dst) != sizeof(struct in_addr) ||
            rtnl_route_get_nnexthops(r) != 1)
                return false;
        nh = rtnl_route_nexthop_n(r, 0);
        gateway = rtnl_route_nh_get_gateway(nh);
        *ret = (NodeRoute) {
                .dst.prefixlen = (unsigned) nl_addr_get_prefixlen(dst),
                .ifindex = rtnl_route_nh_get_ifindex(nh),
                .onlink = (rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK) != 0,
        };
        memcpy(&ret->dst.addr, nl_addr_get_binary_addr(dst), sizeof(struct in_addr));
        if (gateway && nl_addr_get_len(gateway) == sizeof(struct in_addr))
                memcpy(&ret->gateway, nl_addr_get_binary_addr(gateway), sizeof(struct in_addr));
        return true;
}

int node_routes_list(struct nl_sock *sk, NodeRoute **ret, size_t *ret_n) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        _cleanup_free_ NodeRoute *routes = NULL;
        size_t n = 0;
        int r;

        r = rtnl_route_alloc_cache(sk, AF_INET, 0, &cache);
        if (r < 0)
                return nl_error_to_errno(r);
        routes = calloc(MAX(nl_cache_nitems(cache), 1), sizeof(NodeRoute));
        if (!routes)
                return -ENOMEM;
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_route *route = (struct rtnl_route *) o;

                if (rtnl_route_get_table(route) == RT_TABLE_MAIN &&
                    rtnl_route_get_protocol(route) == NODE_ROUTE_PROTOCOL && route_parse(route, &routes[n]))
                        n++;
        }
        *ret = TAKE_PTR(routes);
        *ret_n = n;
        return 0;
}

int node_route_lookup(struct nl_sock *sk, struct in_addr a, int *ret_ifindex, bool *ret_on_link) {
        _cleanup_(nl_addr_putp) struct nl_addr *dst = ipv4_addr(a, 32);
        _cleanup_(rtnl_route_putp) struct rtnl_route *route = NULL;
        struct rtnl_nexthop *nh;
        int r;

        if (!dst)
                return -ENOMEM;
        r = rtnl_route_lookup(sk, dst, &route);
        if (r < 0)
                return nl_error_to_errno(r) == -ENOENT ? -ENETUNREACH : nl_error_to_errno(r);
        if (rtnl_route_get_type(route) != RTN_UNICAST || rtnl_route_get_nnexthops(route) < 1)
                return -ENETUNREACH;
        nh = rtnl_route_nexthop_n(route, 0);
        *ret_ifindex = rtnl_route_nh_get_ifindex(nh);
        *ret_on_link = !rtnl_route_nh_get_gateway(nh);
        return 0;
}
