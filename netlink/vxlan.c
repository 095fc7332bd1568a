/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <linux/neighbour.h>
#include <netlink/route/link/vxlan.h>
#include <stdio.h>
#include <string.h>

#include "link.h"
#include "nl-cleanup.h"
#include "vxlan.h"

static int hex_digit(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int mac_parse(const char *s, uint8_t ret[static 6]) {
        uint8_t mac[6];

        if (strlen(s) != 17)
                return -EINVAL;
        for (size_t i = 0; i < 6; i++) {
                int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);

                if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':'))
                        return -EINVAL;
                mac[i] = (uint8_t) (hi << 4 | lo);
        }
        memcpy(ret, mac, 6);
        return 0;
}

void mac_format(const uint8_t mac[static 6], char buf[static 18]) {
        snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static struct nl_addr *ipv4_addr(struct in_addr a, unsigned prefixlen) {
        struct nl_addr *addr = nl_addr_build(AF_INET, &a, sizeof(a));

        if (addr)
                nl_addr_set_prefixlen(addr, (int) prefixlen);
        return addr;
}

/* By its bytes: libnl gives an FDB entry's NDA_DST the bridge family, not AF_INET. */
static bool addr_is(struct nl_addr *addr, struct in_addr a) {
        return addr && nl_addr_get_len(addr) == sizeof(a) && memcmp(nl_addr_get_binary_addr(addr), &a, sizeof(a)) == 0;
}

/* The link holding address a, and its MTU. */
static int underlay(struct nl_sock *sk, struct in_addr a, int *ret_ifindex, unsigned *ret_mtu) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        int ifindex = 0, r;

        r = rtnl_addr_alloc_cache(sk, &cache);
        if (r < 0)
                return nl_error_to_errno(r);
        for (struct nl_object *o = nl_cache_get_first(cache); o && !ifindex; o = nl_cache_get_next(o))
                if (addr_is(rtnl_addr_get_local((struct rtnl_addr *) o), a))
                        ifindex = rtnl_addr_get_ifindex((struct rtnl_addr *) o);
        if (!ifindex)
                return -EADDRNOTAVAIL;
        r = rtnl_link_get_kernel(sk, ifindex, NULL, &link);
        if (r < 0)
                return nl_error_to_errno(r);
        *ret_ifindex = ifindex;
        *ret_mtu = rtnl_link_get_mtu(link);
        return 0;
}

/* An existing link is kept when it is the tunnel this node wants: pods' traffic to
 * other nodes goes on across an agent restart. */
static bool link_is_wanted(struct rtnl_link *link, struct in_addr local, int underlay_ifindex, unsigned mtu) {
        _cleanup_(nl_addr_putp) struct nl_addr *have_local = NULL;
        uint32_t vni = 0, port = 0, dev = 0;

        return rtnl_link_is_vxlan(link) && rtnl_link_vxlan_get_id(link, &vni) == 0 && vni == VXLAN_VNI &&
               rtnl_link_vxlan_get_port(link, &port) == 0 && port == VXLAN_PORT &&
               rtnl_link_vxlan_get_link(link, &dev) == 0 && dev == (uint32_t) underlay_ifindex &&
               rtnl_link_vxlan_get_learning(link) == 0 && rtnl_link_get_mtu(link) == mtu &&
               rtnl_link_vxlan_get_local(link, &have_local) == 0 && addr_is(have_local, local);
}

static int link_create(struct nl_sock *sk, struct in_addr local, int underlay_ifindex, unsigned mtu) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_vxlan_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *addr = ipv4_addr(local, 32);
        int r;

        if (!link || !addr)
                return -ENOMEM;
        rtnl_link_set_name(link, VXLAN_LINK);
        rtnl_link_set_mtu(link, mtu);
        rtnl_link_set_flags(link, IFF_UP);
        r = rtnl_link_vxlan_set_id(link, VXLAN_VNI);
        if (r >= 0)
                r = rtnl_link_vxlan_set_local(link, addr);
        if (r >= 0)
                r = rtnl_link_vxlan_set_link(link, (uint32_t) underlay_ifindex);
        if (r >= 0)
                r = rtnl_link_vxlan_set_port(link, VXLAN_PORT);
        if (r >= 0)
                r = rtnl_link_vxlan_disable_learning(link);
        if (r >= 0)
                r = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
        return nl_error_to_errno(r);
}

int vxlan_ensure(struct nl_sock *sk, struct in_addr local, int *ret_ifindex, uint8_t ret_mac[static 6]) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        struct nl_addr *mac;
        int underlay_ifindex = 0, r;
        unsigned mtu = 0;

        r = underlay(sk, local, &underlay_ifindex, &mtu);
        if (r < 0)
                return r;
        if (mtu <= VXLAN_OVERHEAD + 68)
                return -EMSGSIZE;
        mtu -= VXLAN_OVERHEAD;
        r = nl_error_to_errno(rtnl_link_get_kernel(sk, 0, VXLAN_LINK, &link));
        if (r >= 0 && !link_is_wanted(link, local, underlay_ifindex, mtu)) {
                rtnl_link_put(TAKE_PTR(link));
                r = link_delete(sk, VXLAN_LINK);
                if (r < 0)
                        return r;
                r = -ENODEV;
        }
        if (r == -ENODEV) {
                r = link_create(sk, local, underlay_ifindex, mtu);
                if (r >= 0)
                        r = nl_error_to_errno(rtnl_link_get_kernel(sk, 0, VXLAN_LINK, &link));
        }
        if (r < 0)
                return r;
        r = link_set_up(sk, VXLAN_LINK);
        if (r < 0)
                return r;
        mac = rtnl_link_get_addr(link);
        if (!mac || nl_addr_get_len(mac) != 6)
                return -EADDRNOTAVAIL;
        memcpy(ret_mac, nl_addr_get_binary_addr(mac), 6);
        *ret_ifindex = rtnl_link_get_ifindex(link);
        return 0;
}

int vxlan_set_address(struct nl_sock *sk, int ifindex, const Ipv4Prefix *pod_cidr) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        bool have = false;
        int r;

        r = rtnl_addr_alloc_cache(sk, &cache);
        if (r < 0)
                return nl_error_to_errno(r);
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *) o;

                if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET)
                        continue;
                if (addr_is(rtnl_addr_get_local(a), pod_cidr->addr) && rtnl_addr_get_prefixlen(a) == 32) {
                        have = true;
                        continue;
                }
                /* The first address of a pod CIDR this node had before. */
                r = nl_error_to_errno(rtnl_addr_delete(sk, a, 0));
                if (r < 0 && r != -EADDRNOTAVAIL)
                        return r;
        }
        return have ? 0 : address_add(sk, ifindex, pod_cidr->addr, 32);
}

/* One FDB entry (family AF_BRIDGE: `bridge fdb replace MAC dev L dst NODE self
 * permanent`) or neighbour entry (AF_INET: `ip neigh replace VTEP lladdr MAC dev L nud
 * permanent`). */
static int entry_build(int family, int ifindex, const VxlanPeer *peer, struct rtnl_neigh **ret) {
        _cleanup_(rtnl_neigh_putp) struct rtnl_neigh *n = rtnl_neigh_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *mac = nl_addr_build(AF_LLC, peer->mac, 6);
        _cleanup_(nl_addr_putp) struct nl_addr *dst = ipv4_addr(family == AF_BRIDGE ? peer->node : peer->vtep, 32);
        int r;

        if (!n || !mac || !dst)
                return -ENOMEM;
        /* The IPv4 destination before the family: libnl refuses an address of another
         * family than the entry's, and an FDB entry's is the bridge's. */
        r = rtnl_neigh_set_dst(n, dst);
        if (r < 0)
                return nl_error_to_errno(r);
        rtnl_neigh_set_family(n, family);
        rtnl_neigh_set_ifindex(n, ifindex);
        rtnl_neigh_set_lladdr(n, mac);
        rtnl_neigh_set_state(n, NUD_PERMANENT);
        if (family == AF_BRIDGE)
                rtnl_neigh_set_flags(n, NTF_SELF);
        *ret = TAKE_PTR(n);
        return 0;
}

static bool entry_is_peer(struct rtnl_neigh *n, const VxlanPeer *peer) {
        struct nl_addr *mac = rtnl_neigh_get_lladdr(n);
        bool fdb = rtnl_neigh_get_family(n) == AF_BRIDGE;

        return mac && nl_addr_get_len(mac) == 6 && memcmp(nl_addr_get_binary_addr(mac), peer->mac, 6) == 0 &&
               addr_is(rtnl_neigh_get_dst(n), fdb ? peer->node : peer->vtep);
}

int vxlan_set_peers(struct nl_sock *sk, int ifindex, const VxlanPeer *peers, size_t n_peers) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        int r;

        for (size_t i = 0; i < n_peers; i++)
                for (int k = 0; k < 2; k++) {
                        _cleanup_(rtnl_neigh_putp) struct rtnl_neigh *n = NULL;

                        r = entry_build(k == 0 ? AF_BRIDGE : AF_INET, ifindex, &peers[i], &n);
                        if (r >= 0)
                                r = nl_error_to_errno(rtnl_neigh_add(sk, n, NLM_F_CREATE | NLM_F_REPLACE));
                        if (r < 0)
                                return r;
                }

        /* Every family's entries: the bridge family's are the FDB. */
        r = rtnl_neigh_alloc_cache_flags(sk, &cache, NL_CACHE_AF_ITER);
        if (r < 0)
                return nl_error_to_errno(r);
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_neigh *n = (struct rtnl_neigh *) o;
                bool wanted = false;

                if (rtnl_neigh_get_ifindex(n) != ifindex ||
                    (rtnl_neigh_get_family(n) != AF_BRIDGE && rtnl_neigh_get_family(n) != AF_INET))
                        continue;
                for (size_t i = 0; i < n_peers && !wanted; i++)
                        wanted = entry_is_peer(n, &peers[i]);
                if (wanted)
                        continue;
                r = nl_error_to_errno(rtnl_neigh_delete(sk, n, 0));
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        return 0;
}
