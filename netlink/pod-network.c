/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <dirent.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "ipam.h"
#include "link.h"
#include "log.h"
#include "macro.h"
#include "masquerade.h"
#include "netns.h"
#include "pod-network.h"

#define DEFAULT_MTU 1500
#define POD_IFNAME "eth0"

struct PodNetwork {
        PodNetworkConfig config;
        char *netns_dir;
        struct nl_sock *sk; /* in the node's namespace */
        Ipam *ipam;
        int bridge_ifindex;
        unsigned mtu;
};

void pod_network_host_veth_name(const char *uid, char ret[static IFNAMSIZ]) {
        uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */

        for (const char *p = uid; *p; p++)
                h = (h ^ (uint8_t) *p) * UINT64_C(1099511628211);
        /* The high bits: FNV-1a mixes the last bytes of the input into them best. */
        snprintf(ret, IFNAMSIZ, "sd%012" PRIx64, h >> 16);
}

static const char *label(const char *uid, const char *name) {
        return name ? name : uid;
}

static int setup_node(PodNetwork *net) {
        const PodNetworkConfig *c = &net->config;
        char cidr[IPV4_PREFIX_STRLEN], conflict[INET_ADDRSTRLEN + 3] = "";
        int r;

        r = write_string_file("/proc/sys/net/ipv4/ip_forward", "1");
        if (r < 0)
                return log_error_errno(r, "pod network: enable net.ipv4.ip_forward: %m");
        /* A pod reaching another pod on the same bridge through a Service gets the reply
         * bridged, not routed: conntrack must see it to undo the DNAT. */
        r = write_string_file("/proc/sys/net/bridge/bridge-nf-call-iptables", "1");
        if (r == -ENOENT)
                log_warning("pod network: no br_netfilter; Services answering pods on this node's bridge need it");
        else if (r < 0)
                return log_error_errno(r, "pod network: enable net.bridge.bridge-nf-call-iptables: %m");

        r = bridge_ensure(net->sk, c->bridge, ipam_gateway(net->ipam), c->pod_cidr.prefixlen,
                          &net->bridge_ifindex, conflict);
        if (r == -EADDRINUSE)
                return log_error_errno(r, "pod network: bridge %s holds %s, not the gateway of pod CIDR %s; "
                                          "refusing to put pods on it",
                                       c->bridge, conflict, ipv4_prefix_to_string(&c->pod_cidr, cidr));
        if (r == -ENOTBLK)
                return log_error_errno(r, "pod network: link %s exists and is not a bridge", c->bridge);
        if (r < 0)
                return log_error_errno(r, "pod network: set up bridge %s: %m", c->bridge);

        r = default_route_mtu(net->sk, &net->mtu);
        if (r == -ENOENT)
                net->mtu = DEFAULT_MTU;
        else if (r < 0)
                return log_error_errno(r, "pod network: MTU of the default route's link: %m");
        if (net->mtu <= c->mtu_overhead + 68)
                return log_error_errno(-EMSGSIZE, "pod network: MTU %u leaves no room for %u bytes of encapsulation",
                                       net->mtu, c->mtu_overhead);
        net->mtu -= c->mtu_overhead;

        if (c->masquerade) {
                r = masquerade_apply(&c->pod_cidr, c->cluster_cidrs, c->n_cluster_cidrs);
                if (r < 0)
                        return r;
        }
        return 0;
}

int pod_network_new(const PodNetworkConfig *config, PodNetwork **ret) {
        _cleanup_(pod_network_freep) PodNetwork *net = calloc(1, sizeof(PodNetwork));
        _cleanup_free_ char *ipam_dir = NULL;
        char cidr[IPV4_PREFIX_STRLEN];
        int r;

        if (!net)
                return log_oom();
        net->config = *config;
        if (!net->config.bridge)
                net->config.bridge = "cni0";
        if (net->config.n_cluster_cidrs == 0) {
                net->config.cluster_cidrs[0] = config->pod_cidr;
                net->config.n_cluster_cidrs = 1;
        }

        if (asprintf(&net->netns_dir, "%s/netns", config->run_dir) < 0 ||
            asprintf(&ipam_dir, "%s/ipam", config->state_dir) < 0)
                return log_oom();
        r = mkdir_p(net->netns_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "pod network: create %s: %m", net->netns_dir);

        r = ipam_open(ipam_dir, &config->pod_cidr, &net->ipam);
        if (r == -ERANGE)
                return log_error_errno(r, "pod network: pod CIDR %s must be a /16 to /30",
                                       ipv4_prefix_to_string(&config->pod_cidr, cidr));
        if (r < 0)
                return r;

        r = rtnl_open(&net->sk);
        if (r < 0)
                return log_error_errno(r, "pod network: open rtnetlink socket: %m");

        r = setup_node(net);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(net);
        return 0;
}

void pod_network_free(PodNetwork *net) {
        if (!net)
                return;
        rtnl_close(net->sk);
        ipam_free(net->ipam);
        free(net->netns_dir);
        free(net);
}

const Ipv4Prefix *pod_network_cidr(const PodNetwork *net) {
        return &net->config.pod_cidr;
}

static void result_fill(const PodNetwork *net, const char *uid, struct in_addr a, PodNetworkResult *ret) {
        *ret = (PodNetworkResult) {
                .address = a,
                .prefixlen = net->config.pod_cidr.prefixlen,
                .gateway = ipam_gateway(net->ipam),
                .mtu = net->mtu,
        };
        snprintf(ret->netns_path, sizeof(ret->netns_path), "%s/%s", net->netns_dir, uid);
        pod_network_host_veth_name(uid, ret->host_veth);
}

/* The steps inside the pod's namespace, each failure named in ret_error. */
static int configure_links(struct nl_sock *sk, const PodNetworkResult *res, char **ret_error) {
        char address[INET_ADDRSTRLEN];
        int ifindex, r;

        r = link_set_up(sk, "lo");
        if (r < 0)
                return error_set(ret_error, r, "set lo up: %m");
        r = link_ifindex(sk, POD_IFNAME, &ifindex);
        if (r < 0)
                return error_set(ret_error, r, "find %s: %m", POD_IFNAME);
        r = address_add(sk, ifindex, res->address, res->prefixlen);
        if (r < 0)
                return error_set(ret_error, r, "add address %s/%u: %m",
                                 inet_ntop(AF_INET, &res->address, address, sizeof(address)), res->prefixlen);
        r = link_set_up(sk, POD_IFNAME);
        if (r < 0)
                return error_set(ret_error, r, "set %s up: %m", POD_IFNAME);
        r = route_add_default(sk, ifindex, res->gateway);
        if (r < 0)
                return error_set(ret_error, r, "add default route via %s: %m",
                                 inet_ntop(AF_INET, &res->gateway, address, sizeof(address)));
        return 0;
}

/* Inside the pod's namespace: lo up, eth0 with its address, up, default route. */
static int configure_inside(const PodNetworkResult *res, char **ret_error) {
        struct nl_sock *sk = NULL;
        int r;

        r = rtnl_open(&sk);
        if (r < 0)
                return error_set(ret_error, r, "netlink socket: %m");
        r = configure_links(sk, res, ret_error);
        rtnl_close(sk);
        return r;
}

/* A network left complete by an earlier run: the namespace is bound, eth0 in it holds
 * the address IPAM has for the pod, and the host end is on the bridge. */
static bool network_complete(PodNetwork *net, int netns_fd, const PodNetworkResult *res) {
        struct nl_sock *sk = NULL;
        struct in_addr addrs[4];
        unsigned prefixlens[4];
        int saved = -EBADF, ifindex, n = -1;

        if (link_ifindex(net->sk, res->host_veth, &ifindex) < 0)
                return false;
        if (netns_enter(netns_fd, &saved) < 0)
                return false;
        if (rtnl_open(&sk) >= 0 && link_ifindex(sk, POD_IFNAME, &ifindex) >= 0)
                n = link_ipv4_addresses(sk, ifindex, addrs, prefixlens, (int) ELEMENTSOF(addrs));
        rtnl_close(sk);
        if (netns_leave(&saved) < 0)
                abort(); /* cannot continue in the pod's namespace */
        return n == 1 && addrs[0].s_addr == res->address.s_addr && prefixlens[0] == res->prefixlen;
}

/* Removes the veth and namespace of pod uid, tolerating either being gone. */
static int teardown(PodNetwork *net, const PodNetworkResult *res) {
        int r;

        r = link_delete(net->sk, res->host_veth);
        if (r < 0)
                return r;
        return netns_remove(res->netns_path);
}

static int build(PodNetwork *net, const char *uid, const char *name, PodNetworkResult *res) {
        _cleanup_close_ int netns_fd = -EBADF;
        _cleanup_free_ char *error = NULL;
        int saved = -EBADF, r;

        r = netns_create(res->netns_path, &netns_fd);
        if (r < 0)
                return log_error_errno(r, "pod %s: create network namespace %s: %m", label(uid, name),
                                       res->netns_path);

        r = veth_create(net->sk, res->host_veth, net->bridge_ifindex, POD_IFNAME, netns_fd, res->mtu);
        if (r == -EEXIST) {
                /* Our name, so a leftover of this pod from a crashed run (a hash clash with a
                 * live pod would need 2^24 pods on one node). */
                log_warning("pod %s: replacing stale veth %s", label(uid, name), res->host_veth);
                r = link_delete(net->sk, res->host_veth);
                if (r >= 0)
                        r = veth_create(net->sk, res->host_veth, net->bridge_ifindex, POD_IFNAME, netns_fd,
                                        res->mtu);
        }
        if (r < 0) {
                log_error_errno(r, "pod %s: create veth %s on %s: %m", label(uid, name), res->host_veth,
                                net->config.bridge);
                goto fail;
        }

        r = netns_enter(netns_fd, &saved);
        if (r < 0) {
                log_error_errno(r, "pod %s: enter network namespace: %m", label(uid, name));
                goto fail;
        }
        r = configure_inside(res, &error);
        if (netns_leave(&saved) < 0)
                abort(); /* cannot continue in the pod's namespace */
        if (r < 0) {
                log_error_errno(r, "pod %s: configure %s in %s: %s", label(uid, name), POD_IFNAME,
                                res->netns_path, error ?: strerror(-r));
                goto fail;
        }
        return 0;
fail:
        (void) teardown(net, res);
        return r;
}

int pod_network_add(PodNetwork *net, const char *uid, const char *name, PodNetworkResult *ret) {
        char cidr[IPV4_PREFIX_STRLEN];
        _cleanup_close_ int netns_fd = -EBADF;
        struct in_addr a;
        int r;

        r = ipam_allocate(net->ipam, uid, &a);
        if (r == -ENOSPC)
                return log_error_errno(r, "pod %s: no free address in pod CIDR %s", label(uid, name),
                                       ipv4_prefix_to_string(&net->config.pod_cidr, cidr));
        if (r == -EINVAL)
                return log_error_errno(r, "pod %s: '%s' cannot name an address owner", label(uid, name), uid);
        if (r < 0)
                return log_error_errno(r, "pod %s: allocate address: %m", label(uid, name));
        result_fill(net, uid, a, ret);

        r = netns_open(ret->netns_path, &netns_fd);
        if (r >= 0 && network_complete(net, netns_fd, ret)) {
                ret->adopted = true;
                return 0;
        }
        if (r != -ENOENT) {
                log_warning("pod %s: rebuilding the incomplete network left at %s", label(uid, name),
                            ret->netns_path);
                r = teardown(net, ret);
                if (r < 0)
                        return log_error_errno(r, "pod %s: remove stale network: %m", label(uid, name));
        }

        r = build(net, uid, name, ret);
        if (r < 0)
                (void) ipam_release(net->ipam, uid);
        return r;
}

int pod_network_del(PodNetwork *net, const char *uid, const char *name) {
        PodNetworkResult res;
        int r;

        result_fill(net, uid, (struct in_addr) {}, &res);
        r = teardown(net, &res);
        if (r < 0)
                return log_error_errno(r, "pod %s: remove network (veth %s, %s): %m", label(uid, name),
                                       res.host_veth, res.netns_path);
        r = ipam_release(net->ipam, uid);
        if (r < 0)
                return log_error_errno(r, "pod %s: release address: %m", label(uid, name));
        return 0;
}

static bool strv_contains(char *const *l, const char *s) {
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

int pod_network_gc(PodNetwork *net, char *const *live) {
        _cleanup_strv_free_ char **owners = NULL;
        int reaped = 0, r;
        DIR *d;

        r = ipam_list_owners(net->ipam, &owners);
        if (r < 0)
                return log_oom();
        for (char **o = owners; *o; o++) {
                if (strv_contains(live, *o))
                        continue;
                log_info("pod %s: gone, removing its network", *o);
                r = pod_network_del(net, *o, NULL);
                if (r < 0)
                        return r;
                reaped++;
        }

        d = opendir(net->netns_dir);
        if (!d)
                return log_error_errno(errno, "pod network: read %s: %m", net->netns_dir);
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.' || strv_contains(live, de->d_name))
                        continue;
                log_info("pod %s: gone, removing its network namespace", de->d_name);
                r = pod_network_del(net, de->d_name, NULL);
                if (r < 0)
                        break;
                reaped++;
        }
        closedir(d);
        return r < 0 ? r : reaped;
}
