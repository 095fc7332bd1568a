/* SPDX-License-Identifier: Apache-2.0 */
/* What table ip stevedore-proxy holds (ruleset.h), put into a transaction by the Builder
 * of ruleset-builder.c. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stddef.h>

#include "log.h"
#include "macro.h"
#include "ruleset-builder.h"

#define MASQ_MARK 0x4000u
#define ELEMENTS_PER_MESSAGE 500
#define SERVICES_PER_TRANSACTION 1000

/* `ip daddr . meta l4proto . th dport` into the registers from reg32_00 on. */
static void load_daddr_proto_port(Builder *b, struct nftnl_rule *r, bool with_daddr) {
        uint32_t reg = NFT_REG32_00;

        if (with_daddr)
                builder_payload(b, r, NFT_PAYLOAD_NETWORK_HEADER, offsetof(struct iphdr, daddr), 4, reg++);
        builder_add(b, r, nft_expr_meta_load(NFT_META_L4PROTO, reg++));
        builder_payload(b, r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg);
}

/* `fib daddr type local ip daddr != 127.0.0.0/8`: NodePorts, but not on loopback
 * addresses (that would need route_localnet, CVE-2020-8558). */
static void match_local_not_loopback(Builder *b, struct nftnl_rule *r) {
        uint32_t local = RTN_LOCAL;
        Ipv4Prefix loopback = { .addr.s_addr = htonl(0x7f000000), .prefixlen = 8 };

        builder_add(b, r, nft_expr_fib(NFTA_FIB_F_DADDR, NFT_FIB_RESULT_ADDRTYPE, NFT_REG_1));
        builder_cmp(b, r, NFT_CMP_EQ, &local, sizeof(local));
        builder_match_prefix(b, r, offsetof(struct iphdr, daddr), NFT_CMP_NEQ, &loopback);
}

/* --- the fixed part ------------------------------------------------------------------ */

static void masquerade(Builder *b, struct nftnl_rule *r) {
        builder_add(b, r, nft_expr_masq(NF_NAT_RANGE_PROTO_RANDOM_FULLY));
}

/* NodePorts answer on the node's own addresses (but not loopback ones), or only on
 * those within --nodeport-addresses. */
static void nodeport_rules(Builder *b, const char *chain_name, int set) {
        const ProxyConfig *config = b->config;
        size_t n = MAX(config->n_nodeport_cidrs, (size_t) 1);

        for (size_t i = 0; i < n; i++) {
                struct nftnl_rule *r = builder_rule_new(b, chain_name);
                char text[300], cidr[IPV4_PREFIX_STRLEN] = "";

                if (config->n_nodeport_cidrs)
                        ipv4_prefix_to_string(&config->nodeport_cidrs[i], cidr);
                if (r) {
                        if (*cidr)
                                builder_match_prefix(b, r, offsetof(struct iphdr, daddr), NFT_CMP_EQ,
                                                     &config->nodeport_cidrs[i]);
                        match_local_not_loopback(b, r);
                        load_daddr_proto_port(b, r, false);
                        builder_vmap_lookup(b, r, set, NFT_REG32_00);
                }
                snprintf(text, sizeof(text), "%s%s%sfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @%s",
                         *cidr ? "ip daddr " : "", cidr, *cidr ? " " : "", ruleset_sets[set].name);
                builder_rule_end(b, r, chain_name, text);
        }
}

/* `ip daddr . meta l4proto . th dport vmap @set`: a Service's IP, protocol and port. */
static void service_ip_rule(Builder *b, const char *chain_name, int set) {
        struct nftnl_rule *r = builder_rule_new(b, chain_name);
        char text[300];

        if (r) {
                load_daddr_proto_port(b, r, true);
                builder_vmap_lookup(b, r, set, NFT_REG32_00);
        }
        snprintf(text, sizeof(text), "ip daddr . meta l4proto . th dport vmap @%s", ruleset_sets[set].name);
        builder_rule_end(b, r, chain_name, text);
}

static void base_chains(Builder *b) {
        struct nftnl_rule *r;
        uint32_t zero = 0;

        builder_chain(b, "services", NULL, 0, 0);
        builder_chain(b, "service-endpoints-check", NULL, 0, 0);
        builder_chain(b, "nodeport-endpoints-check", NULL, 0, 0);
        builder_chain(b, "mark-for-masquerade", NULL, 0, 0);
        builder_chain(b, "masquerading", NULL, 0, 0);
        builder_chain(b, "reject-chain", NULL, 0, 0);
        builder_chain(b, "nat-prerouting", "nat", NF_INET_PRE_ROUTING, -100);
        builder_chain(b, "nat-output", "nat", NF_INET_LOCAL_OUT, -100);
        builder_chain(b, "nat-postrouting", "nat", NF_INET_POST_ROUTING, 100);
        builder_chain(b, "filter-input", "filter", NF_INET_LOCAL_IN, -110);
        builder_chain(b, "filter-forward", "filter", NF_INET_FORWARD, -110);
        builder_chain(b, "filter-output", "filter", NF_INET_LOCAL_OUT, -110);

        builder_rule_jump(b, "nat-prerouting", NFT_JUMP, "services");
        builder_rule_jump(b, "nat-output", NFT_JUMP, "services");
        builder_rule_jump(b, "nat-postrouting", NFT_JUMP, "masquerading");
        builder_rule_jump(b, "filter-input", NFT_JUMP, "nodeport-endpoints-check");
        builder_rule_jump(b, "filter-input", NFT_JUMP, "service-endpoints-check");
        builder_rule_jump(b, "filter-forward", NFT_JUMP, "service-endpoints-check");
        builder_rule_jump(b, "filter-output", NFT_JUMP, "service-endpoints-check");

        service_ip_rule(b, "services", SET_SERVICE_IPS);
        nodeport_rules(b, "services", SET_SERVICE_NODEPORTS);

        service_ip_rule(b, "service-endpoints-check", SET_NO_ENDPOINT_SERVICES);
        nodeport_rules(b, "nodeport-endpoints-check", SET_NO_ENDPOINT_NODEPORTS);

        /* meta mark set meta mark | 0x4000 */
        r = builder_rule_new(b, "mark-for-masquerade");
        if (r) {
                builder_add(b, r, nft_expr_meta_load(NFT_META_MARK, NFT_REG_1));
                builder_add(b, r, nft_expr_bitwise(~MASQ_MARK, MASQ_MARK));
                builder_add(b, r, nft_expr_meta_store(NFT_META_MARK, NFT_REG_1));
        }
        builder_rule_end(b, r, "mark-for-masquerade", "meta mark set meta mark | 0x00004000");

        r = builder_rule_new(b, "masquerading");
        if (r) {
                builder_payload(b, r, NFT_PAYLOAD_NETWORK_HEADER, offsetof(struct iphdr, saddr), 4, NFT_REG32_00);
                builder_payload(b, r, NFT_PAYLOAD_NETWORK_HEADER, offsetof(struct iphdr, daddr), 4, NFT_REG32_01);
                builder_add(b, r, nft_expr_lookup(ruleset_sets[SET_HAIRPIN].name, SET_HAIRPIN, NFT_REG32_00));
                masquerade(b, r);
        }
        builder_rule_end(b, r, "masquerading", "ip saddr . ip daddr @hairpin masquerade fully-random");

        /* meta mark & 0x4000 == 0 return; meta mark set meta mark ^ 0x4000; masquerade */
        r = builder_rule_new(b, "masquerading");
        if (r) {
                builder_add(b, r, nft_expr_meta_load(NFT_META_MARK, NFT_REG_1));
                builder_add(b, r, nft_expr_bitwise(MASQ_MARK, 0));
                builder_cmp(b, r, NFT_CMP_EQ, &zero, sizeof(zero));
                builder_verdict(b, r, NFT_RETURN, NULL);
        }
        builder_rule_end(b, r, "masquerading", "meta mark & 0x00004000 == 0x00000000 return");
        r = builder_rule_new(b, "masquerading");
        if (r) {
                builder_add(b, r, nft_expr_meta_load(NFT_META_MARK, NFT_REG_1));
                builder_add(b, r, nft_expr_bitwise(UINT32_MAX, MASQ_MARK));
                builder_add(b, r, nft_expr_meta_store(NFT_META_MARK, NFT_REG_1));
                masquerade(b, r);
        }
        builder_rule_end(b, r, "masquerading", "meta mark set meta mark ^ 0x00004000 masquerade fully-random");

        r = builder_rule_new(b, "reject-chain");
        if (r)
                builder_add(b, r, nft_expr_reject(NFT_REJECT_ICMP_UNREACH, ICMP_PORT_UNREACH));
        builder_rule_end(b, r, "reject-chain", "reject");
}

/* --- Services ------------------------------------------------------------------------ */

typedef struct Target {
        struct in_addr address;
        uint16_t port;
        bool local; /* on this node */
} Target;

static int slice_cmp(const void *a, const void *b) {
        return strcmp((*(EndpointSlice *const *) a)->service, (*(EndpointSlice *const *) b)->service);
}

/* The endpoints of one Service port across its slices: the ready ones, else the serving
 * and terminating ones. Returns how many were written to out (at most max). */
static size_t resolve_endpoints(const ProxyConfig *config, const ServicePort *sp, EndpointSlice *const *slices,
                                size_t n, Target *out, size_t max) {
        size_t found = 0;

        for (int fallback = 0; fallback < 2 && found == 0; fallback++)
                for (size_t s = 0; s < n; s++) {
                        const EndpointSlice *slice = slices[s];
                        uint16_t port = 0;

                        for (size_t p = 0; p < slice->n_ports; p++)
                                if (slice->ports[p].protocol == sp->protocol && streq(slice->ports[p].name, sp->name))
                                        port = slice->ports[p].port;
                        /* A numeric targetPort stands even where a slice names no port. */
                        if (!port && !*sp->target_port_name)
                                port = sp->target_port;
                        if (!port)
                                continue;
                        for (size_t e = 0; e < slice->n_endpoints && found < max; e++) {
                                const Endpoint *ep = &slice->endpoints[e];
                                bool usable = fallback ? ep->serving && ep->terminating : ep->ready;
                                bool dup = false;

                                for (size_t k = 0; k < found; k++)
                                        dup = dup || (out[k].address.s_addr == ep->address.s_addr && out[k].port == port);
                                if (usable && !dup)
                                        out[found++] = (Target) {
                                                .address = ep->address,
                                                .port = port,
                                                .local = *config->node_name && ep->node_name && streq(ep->node_name, config->node_name),
                                        };
                        }
                }
        return found;
}

static void key_ip_proto_port(uint8_t key[static 12], struct in_addr ip, uint8_t proto, uint16_t port) {
        uint16_t port_be = htons(port);

        memset(key, 0, 12);
        memcpy(key, &ip, 4);
        key[4] = proto;
        memcpy(key + 8, &port_be, 2);
}

static void key_proto_port(uint8_t key[static 8], uint8_t proto, uint16_t port) {
        uint16_t port_be = htons(port);

        memset(key, 0, 8);
        key[0] = proto;
        memcpy(key + 4, &port_be, 2);
}

static void lower(char *s) {
        for (; *s; s++)
                *s = (char) (*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
}

static void lookup_saddr_in(Builder *b, struct nftnl_rule *r, const char *set, uint32_t set_id) {
        builder_payload(b, r, NFT_PAYLOAD_NETWORK_HEADER, offsetof(struct iphdr, saddr), 4, NFT_REG_1);
        builder_add(b, r, nft_expr_lookup(set, set_id, NFT_REG_1));
}

static void update_saddr_in(Builder *b, struct nftnl_rule *r, const char *set, uint32_t set_id) {
        builder_payload(b, r, NFT_PAYLOAD_NETWORK_HEADER, offsetof(struct iphdr, saddr), 4, NFT_REG_1);
        builder_add(b, r, nft_expr_dynset_update(set, set_id, NFT_REG_1));
}

/* `fib saddr type local`: from this node itself. */
static void match_from_local(Builder *b, struct nftnl_rule *r) {
        uint32_t local = RTN_LOCAL;

        builder_add(b, r, nft_expr_fib(NFTA_FIB_F_SADDR, NFT_FIB_RESULT_ADDRTYPE, NFT_REG_1));
        builder_cmp(b, r, NFT_CMP_EQ, &local, sizeof(local));
}

/* Names of one endpoint's objects: its chain, and its affinity set (named with its
 * timeout, so that a new timeout is a new set rather than a changed one). */
static void endpoint_names(const char *suffix, const Target *t, uint32_t timeout, char chain_name[static 512],
                           char set_name[static 512]) {
        char ip[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &t->address, ip, sizeof(ip));
        snprintf(chain_name, 512, "endpoint-%s__%s/%u", suffix, ip, t->port);
        snprintf(set_name, 512, "affinity-%s__%s/%u-%us", suffix, ip, t->port, timeout);
}

/* `meta l4proto <protocol> dnat to <address>:<port>` */
static void dnat_to(Builder *b, struct nftnl_rule *r, uint8_t protocol, const Target *t) {
        uint16_t port_be = htons(t->port);

        builder_add(b, r, nft_expr_meta_load(NFT_META_L4PROTO, NFT_REG_1));
        builder_cmp(b, r, NFT_CMP_EQ, &protocol, 1);
        builder_add(b, r, nft_expr_immediate(NFT_REG_1, &t->address, 4));
        builder_add(b, r, nft_expr_immediate(NFT_REG_2, &port_be, 2));
        builder_add(b, r, nft_expr_dnat(NFPROTO_IPV4, NFT_REG_1, NFT_REG_2));
}

/* An endpoint's chain, for Services with session affinity: remember the client, DNAT. */
static void endpoint_chain(Builder *b, const char *suffix, const ServicePort *sp, const Target *t, uint32_t affinity_id,
                           uint32_t affinity_timeout) {
        char ip[INET_ADDRSTRLEN], text[700], name[512], set_name[512];
        struct nftnl_rule *r;

        inet_ntop(AF_INET, &t->address, ip, sizeof(ip));
        endpoint_names(suffix, t, affinity_timeout, name, set_name);
        builder_chain(b, name, NULL, 0, 0);
        if (affinity_timeout)
                builder_declare_own_set(b, set_name, affinity_id, affinity_timeout);

        if (affinity_timeout) {
                r = builder_rule_new(b, name);
                if (r)
                        update_saddr_in(b, r, set_name, affinity_id);
                snprintf(text, sizeof(text), "update @%s { ip saddr }", set_name);
                builder_rule_end(b, r, name, text);
        }

        r = builder_rule_new(b, name);
        if (r)
                dnat_to(b, r, sp->protocol, t);
        snprintf(text, sizeof(text), "meta l4proto %s dnat to %s:%u", protocol_to_string(sp->protocol), ip, t->port);
        lower(text + strlen("meta l4proto "));
        builder_rule_end(b, r, name, text);
}

/* `meta l4proto <p> dnat ip to numgen random mod <n> map @ep-<hash of chain name>`, the
 * map holding `<i> : <address> . <port>`. A map per selection chain, of data rather
 * than verdicts: the kernel checks every element of a map against each chain that binds
 * it, so one map for all would be quadratic. The names are short because the kernel
 * finds a set by comparing names along a list, three times per set created. */
static void dnat_by_map(Builder *b, const char *name, const ServicePort *sp, const Target *targets, size_t n,
                        bool only_local) {
        char text[1200], proto[8], set_name[512], key_text[16], value_text[40], ip[INET_ADDRSTRLEN];
        uint32_t count = 0, set_id = ++b->next_set_id;
        struct nftnl_rule *r;

        snprintf(set_name, sizeof(set_name), "ep-%016" PRIx64, committed_hash(COMMITTED_HASH_INIT, name));
        builder_declare_own_set(b, set_name, set_id, 0);
        for (size_t i = 0; i < n; i++) {
                uint16_t port_be = htons(targets[i].port);
                ElementValue v = {};

                if (only_local && !targets[i].local)
                        continue;
                memcpy(v.endpoint, &targets[i].address, 4);
                memcpy(v.endpoint + 4, &port_be, 2);
                snprintf(key_text, sizeof(key_text), "%u", count);
                snprintf(value_text, sizeof(value_text), "%s . %u",
                         inet_ntop(AF_INET, &targets[i].address, ip, sizeof(ip)), targets[i].port);
                builder_element(b, SET_OF_SERVICE, set_name, &count, sizeof(count), &v, key_text, value_text);
                count++;
        }
        if (b->batch)
                builder_flush_own(b);
        r = builder_rule_new(b, name);
        if (r) {
                builder_add(b, r, nft_expr_meta_load(NFT_META_L4PROTO, NFT_REG_1));
                builder_cmp(b, r, NFT_CMP_EQ, &sp->protocol, 1);
                builder_add(b, r, nft_expr_numgen_random(count, NFT_REG32_00));
                builder_add(b, r, nft_expr_map_lookup(set_name, set_id, NFT_REG32_00, NFT_REG32_01));
                builder_add(b, r, nft_expr_dnat(NFPROTO_IPV4, NFT_REG32_01, NFT_REG32_02));
        }
        snprintf(proto, sizeof(proto), "%s", protocol_to_string(sp->protocol));
        lower(proto);
        snprintf(text, sizeof(text), "meta l4proto %s dnat ip to numgen random mod %u map @%s", proto, count, set_name);
        builder_rule_end(b, r, name, text);
}

/* `meta l4proto <p> dnat to <address>:<port>`: a Service port with one endpoint. */
static void dnat_single(Builder *b, const char *name, const ServicePort *sp, const Target *t) {
        char text[200], proto[8], ip[INET_ADDRSTRLEN];
        struct nftnl_rule *r = builder_rule_new(b, name);

        if (r)
                dnat_to(b, r, sp->protocol, t);
        snprintf(proto, sizeof(proto), "%s", protocol_to_string(sp->protocol));
        lower(proto);
        snprintf(text, sizeof(text), "meta l4proto %s dnat to %s:%u", proto,
                 inet_ntop(AF_INET, &t->address, ip, sizeof(ip)), t->port);
        builder_rule_end(b, r, name, text);
}

/* With session affinity, endpoints have chains: sticky clients go back to theirs, the
 * others take a cascade `numgen random mod K == 0 goto endpoint-…` with K from N down to
 * 2 and the last endpoint unconditionally, each chosen with probability 1/N. */
static void affinity_cascade(Builder *b, const char *name, const char *suffix, const Target *targets, size_t n,
                             bool only_local, uint32_t affinity_timeout, const uint32_t *affinity_ids) {
        char text[1200], ep_name[512], set_name[512];
        struct nftnl_rule *r;
        size_t left = 0;
        uint32_t zero = 0;

        for (size_t i = 0; i < n; i++) {
                if (only_local && !targets[i].local)
                        continue;
                left++;
                endpoint_names(suffix, &targets[i], affinity_timeout, ep_name, set_name);
                r = builder_rule_new(b, name);
                if (r) {
                        lookup_saddr_in(b, r, set_name, affinity_ids[i]);
                        builder_verdict(b, r, NFT_GOTO, ep_name);
                }
                snprintf(text, sizeof(text), "ip saddr @%s goto %s", set_name, ep_name);
                builder_rule_end(b, r, name, text);
        }
        for (size_t i = 0; i < n; i++) {
                if (only_local && !targets[i].local)
                        continue;
                endpoint_names(suffix, &targets[i], affinity_timeout, ep_name, set_name);
                r = builder_rule_new(b, name);
                if (r && left > 1) {
                        builder_add(b, r, nft_expr_numgen_random((uint32_t) left, NFT_REG_1));
                        builder_cmp(b, r, NFT_CMP_EQ, &zero, sizeof(zero));
                }
                if (r)
                        builder_verdict(b, r, NFT_GOTO, ep_name);
                if (left > 1)
                        snprintf(text, sizeof(text), "numgen random mod %zu == 0 goto %s", left, ep_name);
                else
                        snprintf(text, sizeof(text), "goto %s", ep_name);
                builder_rule_end(b, r, name, text);
                left--;
        }
}

/* A chain choosing among targets (those with local set, if only_local). Without
 * affinity there is no chain per endpoint: the kernel validates a table on every commit
 * by walking every rule reachable from its hooks (measured: 100k endpoint chains cost
 * ~230 ms per commit, rules instead of a map ~75 ms, a map per Service ~15 ms). */
static void selection_chain(Builder *b, const char *name, const char *suffix, const ServicePort *sp,
                            const Target *targets, size_t n, bool only_local, uint32_t affinity_timeout,
                            const uint32_t *affinity_ids, const char *masquerade_unless_from) {
        char text[1200];
        struct nftnl_rule *r;
        const Target *last = NULL;
        size_t eligible = 0;

        builder_chain(b, name, NULL, 0, 0);
        if (masquerade_unless_from) {
                r = builder_rule_new(b, name);
                if (r) {
                        Ipv4Prefix cidr;
                        (void) ipv4_prefix_parse(masquerade_unless_from, &cidr);
                        builder_match_prefix(b, r, offsetof(struct iphdr, saddr), NFT_CMP_NEQ, &cidr);
                        builder_verdict(b, r, NFT_JUMP, "mark-for-masquerade");
                }
                snprintf(text, sizeof(text), "ip saddr != %s jump mark-for-masquerade", masquerade_unless_from);
                builder_rule_end(b, r, name, text);
        }
        for (size_t i = 0; i < n; i++)
                if (!only_local || targets[i].local)
                        last = &targets[i], eligible++;
        if (affinity_timeout)
                affinity_cascade(b, name, suffix, targets, n, only_local, affinity_timeout, affinity_ids);
        else if (eligible == 1)
                dnat_single(b, name, sp, last);
        else
                dnat_by_map(b, name, sp, targets, n, only_local);
}

/* The chain that traffic from outside the Service's cluster IP enters (NodePort,
 * externalIPs, LoadBalancer): Cluster policy masquerades and uses every endpoint; Local
 * keeps the client address and uses this node's endpoints only, except for traffic from
 * this node or its pods, which takes the cluster-wide path. */
static void external_chain(Builder *b, const ProxyConfig *config, const Service *svc, const char *name,
                           const char *cluster_chain, const char *local_chain) {
        char cidr[IPV4_PREFIX_STRLEN], text[1200];
        struct nftnl_rule *r;

        builder_chain(b, name, NULL, 0, 0);
        if (!svc->external_local) {
                builder_rule_jump(b, name, NFT_JUMP, "mark-for-masquerade");
                builder_rule_jump(b, name, NFT_GOTO, cluster_chain);
                return;
        }
        if (config->have_cluster_cidr) {
                r = builder_rule_new(b, name);
                if (r) {
                        builder_match_prefix(b, r, offsetof(struct iphdr, saddr), NFT_CMP_EQ, &config->cluster_cidr);
                        builder_verdict(b, r, NFT_GOTO, cluster_chain);
                }
                snprintf(text, sizeof(text), "ip saddr %s goto %s", ipv4_prefix_to_string(&config->cluster_cidr, cidr),
                         cluster_chain);
                builder_rule_end(b, r, name, text);
        }
        r = builder_rule_new(b, name);
        if (r) {
                match_from_local(b, r);
                builder_verdict(b, r, NFT_JUMP, "mark-for-masquerade");
        }
        builder_rule_end(b, r, name, "fib saddr type local jump mark-for-masquerade");
        r = builder_rule_new(b, name);
        if (r) {
                match_from_local(b, r);
                builder_verdict(b, r, NFT_GOTO, cluster_chain);
        }
        snprintf(text, sizeof(text), "fib saddr type local goto %s", cluster_chain);
        builder_rule_end(b, r, name, text);
        builder_rule_jump(b, name, NFT_GOTO, local_chain);
}

/* loadBalancerSourceRanges: only those sources reach the Service through its LB IPs. */
static void firewall_chain(Builder *b, const Service *svc, const char *name, const char *external) {
        char cidr[IPV4_PREFIX_STRLEN], text[1200];

        builder_chain(b, name, NULL, 0, 0);
        for (size_t i = 0; i < svc->n_source_ranges; i++) {
                struct nftnl_rule *r = builder_rule_new(b, name);
                if (r) {
                        builder_match_prefix(b, r, offsetof(struct iphdr, saddr), NFT_CMP_EQ, &svc->source_ranges[i]);
                        builder_verdict(b, r, NFT_GOTO, external);
                }
                snprintf(text, sizeof(text), "ip saddr %s goto %s", ipv4_prefix_to_string(&svc->source_ranges[i], cidr),
                         external);
                builder_rule_end(b, r, name, text);
        }
        struct nftnl_rule *r = builder_rule_new(b, name);
        if (r)
                builder_verdict(b, r, NF_DROP, NULL);
        builder_rule_end(b, r, name, "drop");
}

/* Sends one destination (cluster IP, external IP, LB IP: ip set; NodePort: ip NULL) to
 * `target` chain, or to drop/reject when there is nothing to send it to. */
static void route_destination(Builder *b, const struct in_addr *ip, const ServicePort *sp, uint16_t port,
                              const char *target, bool no_endpoints) {
        char proto[8], dump_key[64], a[INET_ADDRSTRLEN];
        uint8_t key12[12], key8[8];
        bool with_ip = ip != NULL;
        const void *key = with_ip ? (const void *) key12 : (const void *) key8;
        uint32_t len = with_ip ? 12 : 8;

        snprintf(proto, sizeof(proto), "%s", protocol_to_string(sp->protocol));
        lower(proto);
        if (with_ip) {
                key_ip_proto_port(key12, *ip, sp->protocol, port);
                inet_ntop(AF_INET, ip, a, sizeof(a));
                snprintf(dump_key, sizeof(dump_key), "%s . %s . %u", a, proto, port);
        } else {
                key_proto_port(key8, sp->protocol, port);
                snprintf(dump_key, sizeof(dump_key), "%s . %u", proto, port);
        }
        if (target)
                builder_verdict_element(b, with_ip ? SET_SERVICE_IPS : SET_SERVICE_NODEPORTS, key, len, target, dump_key);
        else if (no_endpoints)
                builder_verdict_element(b, with_ip ? SET_NO_ENDPOINT_SERVICES : SET_NO_ENDPOINT_NODEPORTS, key, len,
                                        "reject-chain", dump_key);
        else
                builder_verdict_element(b, with_ip ? SET_NO_ENDPOINT_SERVICES : SET_NO_ENDPOINT_NODEPORTS, key, len, NULL,
                                        dump_key);
}

/* Endpoint addresses of the Service being built, for the hairpin set. */
static void note_addresses(Builder *b, const Target *targets, size_t n) {
        if (!b->batch && !b->dump)
                return;
        for (size_t i = 0; i < n; i++) {
                if (b->n_addresses == b->allocated_addresses) {
                        size_t a = MAX(b->allocated_addresses * 2, (size_t) 16);
                        struct in_addr *p = realloc(b->addresses, a * sizeof(*p));
                        if (!p) {
                                b->error = -ENOMEM;
                                return;
                        }
                        b->addresses = p;
                        b->allocated_addresses = a;
                }
                b->addresses[b->n_addresses++] = targets[i].address;
        }
}

static int address_cmp(const void *a, const void *b) {
        uint32_t x = ntohl(((const struct in_addr *) a)->s_addr), y = ntohl(((const struct in_addr *) b)->s_addr);
        return x < y ? -1 : x > y;
}

/* `<address> . <address>` in @hairpin once per distinct endpoint address of the Service:
 * after DNAT, a packet from an endpoint to itself is a pod reaching itself through a
 * Service, and is masqueraded so that the reply comes back through the node. */
static void hairpin_elements(Builder *b) {
        if (b->n_addresses > 1)
                qsort(b->addresses, b->n_addresses, sizeof(struct in_addr), address_cmp);
        for (size_t i = 0; i < b->n_addresses; i++) {
                char text[2 * INET_ADDRSTRLEN + 4], ip[INET_ADDRSTRLEN];
                struct in_addr key[2] = { b->addresses[i], b->addresses[i] };

                if (i > 0 && b->addresses[i].s_addr == b->addresses[i - 1].s_addr)
                        continue;
                inet_ntop(AF_INET, &b->addresses[i], ip, sizeof(ip));
                snprintf(text, sizeof(text), "%s . %s", ip, ip);
                builder_element(b, SET_HAIRPIN, NULL, key, sizeof(key), NULL, text, NULL);
        }
        b->n_addresses = 0;
}

static void note_udp(Builder *b, const Service *svc, const ServicePort *sp, const Target *targets, size_t n) {
        struct in_addr any = {};
        UdpFlows *udp = b->now ? &b->now->udp : NULL;
        int r = 0;

        if (!udp)
                return;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = udp_flows_add_endpoint(udp, udp_flow_key(targets[i].address, targets[i].port));
        if (n > 0) {
                if (r >= 0)
                        r = udp_flows_add_destination(udp, udp_flow_key(svc->cluster_ip, sp->port));
                if (r >= 0 && sp->node_port)
                        r = udp_flows_add_destination(udp, udp_flow_key(any, sp->node_port));
                for (size_t i = 0; i < svc->n_external_ips && r >= 0; i++)
                        r = udp_flows_add_destination(udp, udp_flow_key(svc->external_ips[i], sp->port));
                for (size_t i = 0; i < svc->n_lb_ips && r >= 0; i++)
                        r = udp_flows_add_destination(udp, udp_flow_key(svc->lb_ips[i], sp->port));
        }
        if (r < 0)
                b->error = r;
}

static void service_port(Builder *b, const ProxyConfig *config, const Service *svc, const ServicePort *sp,
                         EndpointSlice *const *slices, size_t n_slices) {
        ProxyStats *stats = b->stats;
        char suffix[340], proto[8], cluster[400], local[400], external[420], firewall[420];
        char cidr[IPV4_PREFIX_STRLEN];
        Target targets[1024];
        uint32_t affinity_ids[1024] = {};
        size_t n = resolve_endpoints(config, sp, slices, n_slices, targets, ELEMENTSOF(targets)), n_local = 0;
        bool has_external = sp->node_port || svc->n_external_ips || svc->n_lb_ips;
        const char *internal_target, *external_target;

        for (size_t i = 0; i < n; i++)
                n_local += targets[i].local;
        snprintf(proto, sizeof(proto), "%s", protocol_to_string(sp->protocol));
        lower(proto);
        snprintf(suffix, sizeof(suffix), "%s/%s/%s", svc->key, proto, *sp->name ? sp->name : "");
        if (!*sp->name)
                snprintf(suffix + strlen(suffix), sizeof(suffix) - strlen(suffix), "%u", sp->port);
        snprintf(cluster, sizeof(cluster), "service-%s", suffix);
        snprintf(local, sizeof(local), "local-%s", suffix);
        snprintf(external, sizeof(external), "external-%s", suffix);
        snprintf(firewall, sizeof(firewall), "firewall-%s", suffix);
        stats->service_ports++;
        stats->endpoints += n;
        if (n == 0)
                stats->without_endpoints++;

        note_addresses(b, targets, n);
        /* With affinity, endpoint chains (and their sets), shared by the cluster and local chains. */
        for (size_t i = 0; i < n && svc->affinity_timeout; i++) {
                affinity_ids[i] = ++b->next_set_id;
                endpoint_chain(b, suffix, sp, &targets[i], affinity_ids[i], svc->affinity_timeout);
        }
        if (n > 0)
                selection_chain(b, cluster, suffix, sp, targets, n, false, svc->affinity_timeout, affinity_ids,
                                config->have_cluster_cidr ? ipv4_prefix_to_string(&config->cluster_cidr, cidr) : NULL);
        if (n_local > 0 && (svc->internal_local || svc->external_local))
                selection_chain(b, local, suffix, sp, targets, n, true, svc->affinity_timeout, affinity_ids, NULL);

        if (sp->protocol == IPPROTO_UDP)
                note_udp(b, svc, sp, targets, n);

        internal_target = n == 0 ? NULL : svc->internal_local ? (n_local ? local : NULL) : cluster;
        route_destination(b, &svc->cluster_ip, sp, sp->port, internal_target, n == 0);
        if (!has_external)
                return;

        external_target = n == 0 || (svc->external_local && n_local == 0) ? NULL : external;
        if (external_target)
                external_chain(b, config, svc, external, cluster, local);
        if (sp->node_port)
                route_destination(b, NULL, sp, sp->node_port, external_target, n == 0);
        for (size_t i = 0; i < svc->n_external_ips; i++)
                route_destination(b, &svc->external_ips[i], sp, sp->port, external_target, n == 0);
        if (svc->n_lb_ips && svc->n_source_ranges && external_target)
                firewall_chain(b, svc, firewall, external);
        for (size_t i = 0; i < svc->n_lb_ips; i++)
                route_destination(b, &svc->lb_ips[i], sp, sp->port,
                                  external_target && svc->n_source_ranges ? firewall : external_target, n == 0);
}

/* Builds one Service (NULL: it is gone) and records what it now owns. */
static void build_service(Builder *b, const ProxyConfig *config, const char *key, const Service *svc,
                          EndpointSlice *const *slices, size_t n_slices, UdpFlows *before, UdpFlows *after) {
        _cleanup_(fragment_freep) Fragment *now = NULL;
        int r;

        b->old = b->committed && b->partial ? committed_fragment(b->committed, key) : NULL;
        if (b->batch) {
                r = fragment_new(key, &now);
                if (r < 0) {
                        b->error = r;
                        return;
                }
        }
        b->now = now;
        b->owner = committed_hash(COMMITTED_HASH_INIT, key);
        if (svc && !svc->headless)
                for (size_t p = 0; p < svc->n_ports; p++)
                        service_port(b, config, svc, &svc->ports[p], slices, n_slices);
        hairpin_elements(b);
        if (!b->batch)
                return;
        builder_chain_finish(b);
        /* Elements go out once the chains they lead to have. */
        for (int s = 1; s < _SET_MAX; s++)
                if (b->n_elements[s] >= ELEMENTS_PER_MESSAGE)
                        builder_flush_elements(b, s);
        fragment_finish(now);
        if (b->old) {
                builder_retire(b);
                if (before && udp_flows_append(before, &b->old->udp) < 0)
                        b->error = -ENOMEM;
        }
        if (after && udp_flows_append(after, &now->udp) < 0)
                b->error = -ENOMEM;
        b->old = b->now = NULL;
        if (b->error >= 0)
                b->error = committed_put_fragment(b->committed, key, svc ? TAKE_PTR(now) : NULL);
}

/* The slices of one Service, from slices sorted by Service. */
static EndpointSlice *const *slices_of(const char *key, EndpointSlice *const *sorted, size_t n, size_t *ret_n) {
        size_t lo = 0, hi = n, first;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (strcmp(sorted[mid]->service, key) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        first = lo;
        while (hi < n && streq(sorted[hi]->service, key))
                hi++;
        *ret_n = hi - first;
        return sorted + first;
}

/* The fixed part of a new table: the table replaced, its maps, its base chains. */
static void table_prelude(Builder *b) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nft_table_new(NFPROTO_IPV4, PROXY_TABLE);

        if (!t) {
                b->error = -ENOMEM;
                return;
        }
        /* The whole table replaced in this one transaction. */
        if (b->batch && nft_batch_replace_table(b->batch, t) < 0)
                b->error = -ENOMEM;
        if (b->dump)
                fprintf(b->dump, "add table ip %s\ndelete table ip %s\nadd table ip %s\n", PROXY_TABLE, PROXY_TABLE,
                        PROXY_TABLE);
        for (int s = 1; s < _SET_MAX; s++)
                builder_declare_set(b, s);
        base_chains(b);
}

static Service *find_service(Service *const *services, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (streq(services[i]->key, key))
                        return services[i];
        return NULL;
}

/* Sends the batch, and with more to come, starts the next one. */
static int commit(Builder *b, NftBatch **batch, bool more) {
        int r;

        for (int s = 1; s < _SET_MAX; s++)
                builder_flush_elements(b, s);
        if (b->error < 0)
                return b->error;
        b->stats->messages += nft_batch_count(*batch);
        r = nft_batch_commit(*batch);
        if (r < 0)
                return log_error_errno(r, "nftables: %s table ip %s: message type %u refused: %m",
                                       b->partial ? "update" : "replace", PROXY_TABLE, nft_batch_failed_type(*batch));
        if (!more)
                return 0;
        nft_batch_free(*batch);
        *batch = NULL;
        r = nft_batch_new(NFPROTO_IPV4, batch);
        b->batch = *batch;
        return r;
}

int proxy_ruleset_sync(const ProxyConfig *config, Committed *committed, Service *const *services, size_t n_services,
                       EndpointSlice *const *slices, size_t n_slices, char *const *dirty, size_t n_dirty, FILE *dump,
                       ProxyStats *ret_stats, UdpFlows *before, UdpFlows *after) {
        _cleanup_(nft_batch_freep) NftBatch *batch = NULL;
        _cleanup_free_ EndpointSlice **sorted = NULL;
        _cleanup_free_ struct nftnl_rule **pending_rules = NULL;
        _cleanup_free_ struct in_addr *addresses = NULL;
        ProxyStats stats = {};
        bool partial = committed && dirty && committed_valid(committed), chunked = false;
        Builder b = { .dump = dump, .config = config, .committed = committed, .partial = partial, .next_set_id = _SET_MAX,
                      .stats = &stats };
        int r;

        if (partial && n_dirty == 0)
                goto done;
        if (committed) {
                r = nft_batch_new(NFPROTO_IPV4, &batch);
                if (r < 0)
                        return r;
                b.batch = batch;
                b.generation = committed_begin(committed);
                if (!partial) {
                        if (before && committed_collect_udp(committed, before) < 0)
                                return -ENOMEM;
                        committed_reset(committed);
                        /* Replacing a working table stays one transaction: no Service
                         * may go missing meanwhile. Making one anew need not. */
                        chunked = proxy_ruleset_intact() <= 0;
                }
        }
        if (!partial)
                table_prelude(&b);

        /* Slices grouped by Service, so each Service finds its own by binary search. */
        sorted = malloc((n_slices + 1) * sizeof(EndpointSlice *));
        if (!sorted)
                return -ENOMEM;
        if (n_slices > 0)
                memcpy(sorted, slices, n_slices * sizeof(EndpointSlice *));
        qsort(sorted, n_slices, sizeof(EndpointSlice *), slice_cmp);

        for (size_t i = 0; i < (partial ? n_dirty : n_services) && b.error >= 0; i++) {
                const char *key = partial ? dirty[i] : services[i]->key;
                const Service *svc = partial ? find_service(services, n_services, key) : services[i];
                EndpointSlice *const *own;
                size_t n_own;

                own = slices_of(key, sorted, n_slices, &n_own);
                build_service(&b, config, key, svc, own, n_own, before, after);
                /* A big table made anew goes in several transactions, each with whole
                 * Services: the kernel holds its nftables lock for the length of one. */
                if (chunked && (i + 1) % SERVICES_PER_TRANSACTION == 0 && i + 1 < n_services && b.error >= 0) {
                        r = commit(&b, &batch, true);
                        if (r < 0)
                                goto fail;
                }
        }
        if (b.error < 0) {
                r = b.error;
                goto fail;
        }
        if (batch) {
                r = commit(&b, &batch, false);
                if (r < 0)
                        goto fail;
                committed_set_valid(committed, true);
        }
done:
        pending_rules = b.pending.rules;
        addresses = b.addresses;
        stats.partial = partial;
        if (ret_stats)
                *ret_stats = stats;
        return 0;
fail:
        pending_rules = b.pending.rules;
        addresses = b.addresses;
        for (int s = 1; s < _SET_MAX; s++)
                if (b.elements[s])
                        nftnl_set_free(b.elements[s]);
        if (committed)
                committed_set_valid(committed, false);
        return r;
}

static int count_message(const struct nlmsghdr *nlh, void *data) {
        (*(size_t *) data)++;
        return MNL_CB_OK;
}

int proxy_ruleset_intact(void) {
        char buf[32768];
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        /* The rules of `services`, the chain every Service is reached through. */
        struct nftnl_rule *rule = nft_rule_new(NFPROTO_IPV4, PROXY_TABLE, "services");
        struct nlmsghdr *nlh;
        uint32_t seq = 1;
        size_t rules = 0;
        ssize_t n;
        int r = -ENOMEM;

        if (!nl || !rule) {
                r = nl ? -ENOMEM : -errno;
                goto out;
        }
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                r = -errno;
                goto out;
        }
        nlh = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_IPV4, NLM_F_DUMP, seq);
        nftnl_rule_nlmsg_build_payload(nlh, rule);
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
                r = -errno;
                goto out;
        }
        do {
                n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                r = n < 0 ? -1 : mnl_cb_run(buf, (size_t) n, seq, mnl_socket_get_portid(nl), count_message, &rules);
        } while (r > 0);
        if (r < 0)
                r = errno == ENOENT ? 0 : -errno;
        else
                r = rules > 0;
out:
        nftnl_rule_free(rule);
        if (nl)
                mnl_socket_close(nl);
        return r;
}

int proxy_ruleset_remove(void) {
        return nft_table_delete(NFPROTO_IPV4, PROXY_TABLE);
}
