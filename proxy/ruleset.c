/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stddef.h>

#include "log.h"
#include "macro.h"
#include "nft-batch.h"
#include "ruleset.h"

#define MASQ_MARK 0x4000u
#define ELEMENTS_PER_MESSAGE 500

/* nft's datatype numbers, so that `nft list` prints our maps' keys properly. Each part
 * of a concatenated key needs a fixed-size type (nft cannot list `integer . integer`),
 * hence mark for the 32-bit numbers of the endpoints map. */
#define TYPE_IPADDR 7
#define TYPE_INET_PROTOCOL 12
#define TYPE_INET_SERVICE 13
#define TYPE_MARK 19
#define CONCAT2(a, b) ((a) << 6 | (b))
#define CONCAT3(a, b, c) (CONCAT2(a, b) << 6 | (c))

enum {
        SET_SERVICE_IPS = 1,
        SET_SERVICE_NODEPORTS,
        SET_NO_ENDPOINT_SERVICES,
        SET_NO_ENDPOINT_NODEPORTS,
        SET_ENDPOINTS,
        _SET_MAX,
};

static const struct {
        const char *name;
        uint32_t key_type, key_len;
        const char *nft_type; /* for the dump */
} sets[_SET_MAX] = {
        [SET_SERVICE_IPS] = { "service-ips", CONCAT3(TYPE_IPADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE), 12,
                              "ipv4_addr . inet_proto . inet_service" },
        [SET_SERVICE_NODEPORTS] = { "service-nodeports", CONCAT2(TYPE_INET_PROTOCOL, TYPE_INET_SERVICE), 8,
                                    "inet_proto . inet_service" },
        [SET_NO_ENDPOINT_SERVICES] = { "no-endpoint-services",
                                       CONCAT3(TYPE_IPADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE), 12,
                                       "ipv4_addr . inet_proto . inet_service" },
        [SET_NO_ENDPOINT_NODEPORTS] = { "no-endpoint-nodeports", CONCAT2(TYPE_INET_PROTOCOL, TYPE_INET_SERVICE), 8,
                                        "inet_proto . inet_service" },
        [SET_ENDPOINTS] = { "endpoints", CONCAT2(TYPE_MARK, TYPE_MARK), 8, "mark . mark" },
};

/* What one sync builds: the batch, the dump, and the elements of each map. */
typedef struct Builder {
        NftBatch *batch;
        FILE *dump;
        struct nftnl_set *elements[_SET_MAX];
        size_t n_elements[_SET_MAX];
        uint32_t next_id; /* ids of selection chains in @endpoints, and of affinity sets */
        UdpFlows *udp;    /* what UDP Services were programmed, for conntrack (may be NULL) */
        int error;
} Builder;

/* --- expressions --------------------------------------------------------------------- */

static void add(struct nftnl_rule *r, struct nftnl_expr *e, Builder *b) {
        if (!e) {
                b->error = -ENOMEM;
                return;
        }
        nftnl_rule_add_expr(r, e);
}

static struct nftnl_expr *expr(const char *name) {
        return nftnl_expr_alloc(name);
}

static void payload(Builder *b, struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
        struct nftnl_expr *e = expr("payload");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
        }
        add(r, e, b);
}

static void meta_load(Builder *b, struct nftnl_rule *r, uint32_t key, uint32_t dreg) {
        struct nftnl_expr *e = expr("meta");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
                nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
        }
        add(r, e, b);
}

static void cmp(Builder *b, struct nftnl_rule *r, enum nft_cmp_ops op, const void *data, uint32_t len) {
        struct nftnl_expr *e = expr("cmp");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
                nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
        }
        add(r, e, b);
}

static void bitwise(Builder *b, struct nftnl_rule *r, uint32_t mask, uint32_t xor) {
        struct nftnl_expr *e = expr("bitwise");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
                nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
                nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, sizeof(xor));
        }
        add(r, e, b);
}

static void verdict(Builder *b, struct nftnl_rule *r, int code, const char *chain) {
        struct nftnl_expr *e = expr("immediate");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t) code);
                if (chain)
                        nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
        }
        add(r, e, b);
}

static void immediate(Builder *b, struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len) {
        struct nftnl_expr *e = expr("immediate");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
                nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
        }
        add(r, e, b);
}

static void vmap_lookup(Builder *b, struct nftnl_rule *r, int set, uint32_t sreg) {
        struct nftnl_expr *e = expr("lookup");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
                nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, sets[set].name);
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, (uint32_t) set);
        }
        add(r, e, b);
}

/* `ip saddr|daddr [!=] prefix` */
static void match_prefix(Builder *b, struct nftnl_rule *r, uint32_t offset, enum nft_cmp_ops op, const Ipv4Prefix *p) {
        uint32_t mask = htonl(p->prefixlen ? UINT32_MAX << (32 - p->prefixlen) : 0);

        payload(b, r, NFT_PAYLOAD_NETWORK_HEADER, offset, 4, NFT_REG_1);
        if (p->prefixlen < 32)
                bitwise(b, r, mask, 0);
        cmp(b, r, op, &p->addr, 4);
}

/* `ip daddr . meta l4proto . th dport` into the registers from reg32_00 on. */
static void load_daddr_proto_port(Builder *b, struct nftnl_rule *r, bool with_daddr) {
        uint32_t reg = NFT_REG32_00;

        if (with_daddr)
                payload(b, r, NFT_PAYLOAD_NETWORK_HEADER, offsetof(struct iphdr, daddr), 4, reg++);
        meta_load(b, r, NFT_META_L4PROTO, reg++);
        payload(b, r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg);
}

/* `fib daddr type local ip daddr != 127.0.0.0/8`: NodePorts, but not on loopback
 * addresses (that would need route_localnet, CVE-2020-8558). */
static void match_local_not_loopback(Builder *b, struct nftnl_rule *r) {
        struct nftnl_expr *e = expr("fib");
        uint32_t local = RTN_LOCAL;
        Ipv4Prefix loopback = { .addr.s_addr = htonl(0x7f000000), .prefixlen = 8 };

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
        }
        add(r, e, b);
        cmp(b, r, NFT_CMP_EQ, &local, sizeof(local));
        match_prefix(b, r, offsetof(struct iphdr, daddr), NFT_CMP_NEQ, &loopback);
}

/* --- objects ------------------------------------------------------------------------- */

static struct nftnl_table *table_new(void) {
        struct nftnl_table *t = nftnl_table_alloc();

        if (t) {
                nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_IPV4);
                nftnl_table_set_str(t, NFTNL_TABLE_NAME, PROXY_TABLE);
        }
        return t;
}

static struct nftnl_set *set_new(int set) {
        struct nftnl_set *s = nftnl_set_alloc();

        if (s) {
                nftnl_set_set_str(s, NFTNL_SET_TABLE, PROXY_TABLE);
                nftnl_set_set_str(s, NFTNL_SET_NAME, sets[set].name);
                nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_IPV4);
                nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t) set);
        }
        return s;
}

static void declare_set(Builder *b, int set) {
        struct nftnl_set *s = set_new(set);

        if (!s) {
                b->error = -ENOMEM;
                return;
        }
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, sets[set].key_type);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sets[set].key_len);
        nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
        if (b->batch && nft_batch_set(b->batch, NFT_MSG_NEWSET, NLM_F_CREATE, s) < 0)
                b->error = -ENOMEM;
        nftnl_set_free(s);
}

static void flush_elements(Builder *b, int set) {
        if (!b->elements[set])
                return;
        if (b->batch && nft_batch_set_elems(b->batch, NFT_MSG_NEWSETELEM, NLM_F_CREATE, b->elements[set]) < 0)
                b->error = -ENOMEM;
        nftnl_set_free(b->elements[set]);
        b->elements[set] = NULL;
        b->n_elements[set] = 0;
}

/* Adds `key : goto chain` to a map; dump_key is the key in nft syntax. */
static void element(Builder *b, int set, const void *key, uint32_t len, const char *chain, const char *dump_key) {
        struct nftnl_set_elem *e;

        if (b->dump)
                fprintf(b->dump, "\tadd element ip %s %s { %s : goto %s }\n", PROXY_TABLE, sets[set].name, dump_key,
                        chain);
        if (!b->batch)
                return;
        if (!b->elements[set] && !(b->elements[set] = set_new(set))) {
                b->error = -ENOMEM;
                return;
        }
        e = nftnl_set_elem_alloc();
        if (!e) {
                b->error = -ENOMEM;
                return;
        }
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
        nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NFT_GOTO);
        nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
        nftnl_set_elem_add(b->elements[set], e);
        if (++b->n_elements[set] >= ELEMENTS_PER_MESSAGE)
                flush_elements(b, set);
}

static void chain(Builder *b, const char *name, const char *type, int hook, int priority) {
        struct nftnl_chain *c = nftnl_chain_alloc();

        if (!c) {
                b->error = -ENOMEM;
                return;
        }
        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_IPV4);
        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, PROXY_TABLE);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
        if (type) {
                nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
                nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t) hook);
                nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, priority);
        }
        if (b->batch && nft_batch_chain(b->batch, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c) < 0)
                b->error = -ENOMEM;
        nftnl_chain_free(c);
        if (b->dump) {
                if (type)
                        fprintf(b->dump, "\tadd chain ip %s %s { type %s hook %s priority %d; }\n", PROXY_TABLE, name,
                                type,
                                hook == NF_INET_PRE_ROUTING    ? "prerouting"
                                : hook == NF_INET_LOCAL_OUT    ? "output"
                                : hook == NF_INET_POST_ROUTING ? "postrouting"
                                : hook == NF_INET_LOCAL_IN     ? "input"
                                                               : "forward",
                                priority);
                else
                        fprintf(b->dump, "\tadd chain ip %s %s\n", PROXY_TABLE, name);
        }
}

static struct nftnl_rule *rule_new(Builder *b, const char *chain_name) {
        struct nftnl_rule *r = nftnl_rule_alloc();

        if (!r) {
                b->error = -ENOMEM;
                return NULL;
        }
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_IPV4);
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, PROXY_TABLE);
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain_name);
        return r;
}

/* Sends rule r (text is its nft form, for the dump) and frees it. */
static void rule_end(Builder *b, struct nftnl_rule *r, const char *chain_name, const char *text) {
        if (!r)
                return;
        if (b->batch && b->error >= 0 && nft_batch_rule(b->batch, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r) < 0)
                b->error = -ENOMEM;
        nftnl_rule_free(r);
        if (b->dump)
                fprintf(b->dump, "\tadd rule ip %s %s %s\n", PROXY_TABLE, chain_name, text);
}

static void rule_jump(Builder *b, const char *from, int code, const char *to) {
        struct nftnl_rule *r = rule_new(b, from);
        char text[600];

        if (r)
                verdict(b, r, code, to);
        snprintf(text, sizeof(text), "%s %s", code == NFT_JUMP ? "jump" : "goto", to);
        rule_end(b, r, from, text);
}

/* --- the fixed part ------------------------------------------------------------------ */

static void base_chains(Builder *b) {
        struct nftnl_rule *r;
        uint32_t zero = 0;

        chain(b, "services", NULL, 0, 0);
        chain(b, "service-endpoints-check", NULL, 0, 0);
        chain(b, "nodeport-endpoints-check", NULL, 0, 0);
        chain(b, "mark-for-masquerade", NULL, 0, 0);
        chain(b, "masquerading", NULL, 0, 0);
        chain(b, "reject-chain", NULL, 0, 0);
        chain(b, "nat-prerouting", "nat", NF_INET_PRE_ROUTING, -100);
        chain(b, "nat-output", "nat", NF_INET_LOCAL_OUT, -100);
        chain(b, "nat-postrouting", "nat", NF_INET_POST_ROUTING, 100);
        chain(b, "filter-input", "filter", NF_INET_LOCAL_IN, -110);
        chain(b, "filter-forward", "filter", NF_INET_FORWARD, -110);
        chain(b, "filter-output", "filter", NF_INET_LOCAL_OUT, -110);

        rule_jump(b, "nat-prerouting", NFT_JUMP, "services");
        rule_jump(b, "nat-output", NFT_JUMP, "services");
        rule_jump(b, "nat-postrouting", NFT_JUMP, "masquerading");
        rule_jump(b, "filter-input", NFT_JUMP, "nodeport-endpoints-check");
        rule_jump(b, "filter-input", NFT_JUMP, "service-endpoints-check");
        rule_jump(b, "filter-forward", NFT_JUMP, "service-endpoints-check");
        rule_jump(b, "filter-output", NFT_JUMP, "service-endpoints-check");

        r = rule_new(b, "services");
        if (r) {
                load_daddr_proto_port(b, r, true);
                vmap_lookup(b, r, SET_SERVICE_IPS, NFT_REG32_00);
        }
        rule_end(b, r, "services", "ip daddr . meta l4proto . th dport vmap @service-ips");
        r = rule_new(b, "services");
        if (r) {
                match_local_not_loopback(b, r);
                load_daddr_proto_port(b, r, false);
                vmap_lookup(b, r, SET_SERVICE_NODEPORTS, NFT_REG32_00);
        }
        rule_end(b, r, "services",
                 "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports");

        r = rule_new(b, "service-endpoints-check");
        if (r) {
                load_daddr_proto_port(b, r, true);
                vmap_lookup(b, r, SET_NO_ENDPOINT_SERVICES, NFT_REG32_00);
        }
        rule_end(b, r, "service-endpoints-check", "ip daddr . meta l4proto . th dport vmap @no-endpoint-services");
        r = rule_new(b, "nodeport-endpoints-check");
        if (r) {
                match_local_not_loopback(b, r);
                load_daddr_proto_port(b, r, false);
                vmap_lookup(b, r, SET_NO_ENDPOINT_NODEPORTS, NFT_REG32_00);
        }
        rule_end(b, r, "nodeport-endpoints-check",
                 "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports");

        /* meta mark set meta mark | 0x4000 */
        r = rule_new(b, "mark-for-masquerade");
        if (r) {
                struct nftnl_expr *e = expr("meta");
                meta_load(b, r, NFT_META_MARK, NFT_REG_1);
                bitwise(b, r, ~MASQ_MARK, MASQ_MARK);
                if (e) {
                        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
                        nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
                }
                add(r, e, b);
        }
        rule_end(b, r, "mark-for-masquerade", "meta mark set meta mark | 0x00004000");

        /* meta mark & 0x4000 == 0 return; meta mark set meta mark ^ 0x4000; masquerade */
        r = rule_new(b, "masquerading");
        if (r) {
                meta_load(b, r, NFT_META_MARK, NFT_REG_1);
                bitwise(b, r, MASQ_MARK, 0);
                cmp(b, r, NFT_CMP_EQ, &zero, sizeof(zero));
                verdict(b, r, NFT_RETURN, NULL);
        }
        rule_end(b, r, "masquerading", "meta mark & 0x00004000 == 0x00000000 return");
        r = rule_new(b, "masquerading");
        if (r) {
                struct nftnl_expr *set_mark = expr("meta"), *masq;
                meta_load(b, r, NFT_META_MARK, NFT_REG_1);
                bitwise(b, r, UINT32_MAX, MASQ_MARK);
                if (set_mark) {
                        nftnl_expr_set_u32(set_mark, NFTNL_EXPR_META_KEY, NFT_META_MARK);
                        nftnl_expr_set_u32(set_mark, NFTNL_EXPR_META_SREG, NFT_REG_1);
                }
                add(r, set_mark, b);
                masq = expr("masq");
                if (masq)
                        nftnl_expr_set_u32(masq, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
                add(r, masq, b);
        }
        rule_end(b, r, "masquerading", "meta mark set meta mark ^ 0x00004000 masquerade fully-random");

        r = rule_new(b, "reject-chain");
        if (r) {
                struct nftnl_expr *e = expr("reject");
                if (e) {
                        nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
                        nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, ICMP_PORT_UNREACH);
                }
                add(r, e, b);
        }
        rule_end(b, r, "reject-chain", "reject");
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
                                                .local = *config->node_name && streq(ep->node_name, config->node_name),
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

/* A dynamic set of client addresses with a timeout, for sessionAffinity ClientIP. */
static void declare_affinity_set(Builder *b, const char *name, uint32_t id, uint32_t timeout_sec) {
        struct nftnl_set *s = nftnl_set_alloc();

        if (!s) {
                b->error = -ENOMEM;
                return;
        }
        nftnl_set_set_str(s, NFTNL_SET_TABLE, PROXY_TABLE);
        nftnl_set_set_str(s, NFTNL_SET_NAME, name);
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_IPV4);
        nftnl_set_set_u32(s, NFTNL_SET_ID, id);
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT | NFT_SET_EVAL);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, TYPE_IPADDR);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
        nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, (uint64_t) timeout_sec * 1000);
        if (b->batch && nft_batch_set(b->batch, NFT_MSG_NEWSET, NLM_F_CREATE, s) < 0)
                b->error = -ENOMEM;
        nftnl_set_free(s);
        if (b->dump)
                fprintf(b->dump, "\tadd set ip %s %s { type ipv4_addr; flags dynamic,timeout; timeout %us; }\n",
                        PROXY_TABLE, name, timeout_sec);
}

static void lookup_saddr_in(Builder *b, struct nftnl_rule *r, const char *set, uint32_t set_id) {
        struct nftnl_expr *e = expr("lookup");

        payload(b, r, NFT_PAYLOAD_NETWORK_HEADER, offsetof(struct iphdr, saddr), 4, NFT_REG_1);
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
                nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
        }
        add(r, e, b);
}

static void update_saddr_in(Builder *b, struct nftnl_rule *r, const char *set, uint32_t set_id) {
        struct nftnl_expr *e = expr("dynset");

        payload(b, r, NFT_PAYLOAD_NETWORK_HEADER, offsetof(struct iphdr, saddr), 4, NFT_REG_1);
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
                nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
                nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
                nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
        }
        add(r, e, b);
}

/* `fib saddr type local`: from this node itself. */
static void match_from_local(Builder *b, struct nftnl_rule *r) {
        struct nftnl_expr *e = expr("fib");
        uint32_t local = RTN_LOCAL;

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_SADDR);
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
        }
        add(r, e, b);
        cmp(b, r, NFT_CMP_EQ, &local, sizeof(local));
}

/* Adds `key : drop` (Local policy, no local endpoint) to a map. */
static void element_drop(Builder *b, int set, const void *key, uint32_t len, const char *dump_key) {
        struct nftnl_set_elem *e;

        if (b->dump)
                fprintf(b->dump, "\tadd element ip %s %s { %s : drop }\n", PROXY_TABLE, sets[set].name, dump_key);
        if (!b->batch)
                return;
        if (!b->elements[set] && !(b->elements[set] = set_new(set))) {
                b->error = -ENOMEM;
                return;
        }
        e = nftnl_set_elem_alloc();
        if (!e) {
                b->error = -ENOMEM;
                return;
        }
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
        nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NF_DROP);
        nftnl_set_elem_add(b->elements[set], e);
        if (++b->n_elements[set] >= ELEMENTS_PER_MESSAGE)
                flush_elements(b, set);
}

/* Names of one endpoint's objects: its chain, and its affinity set. */
static void endpoint_names(const char *suffix, const Target *t, char chain_name[static 512], char set_name[static 512]) {
        char ip[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &t->address, ip, sizeof(ip));
        snprintf(chain_name, 512, "endpoint-%s__%s/%u", suffix, ip, t->port);
        snprintf(set_name, 512, "affinity-%s__%s/%u", suffix, ip, t->port);
}

static void endpoint_chain(Builder *b, const char *suffix, const ServicePort *sp, const Target *t, uint32_t affinity_id,
                           uint32_t affinity_timeout) {
        char ip[INET_ADDRSTRLEN], text[700], name[512], set_name[512];
        struct nftnl_rule *r;
        Ipv4Prefix self = { .addr = t->address, .prefixlen = 32 };
        uint16_t port_be = htons(t->port);

        inet_ntop(AF_INET, &t->address, ip, sizeof(ip));
        endpoint_names(suffix, t, name, set_name);
        chain(b, name, NULL, 0, 0);
        if (affinity_timeout)
                declare_affinity_set(b, set_name, affinity_id, affinity_timeout);

        /* Hairpin: a pod reaching itself through the Service must see the reply come
         * from the Service, so it is masqueraded. */
        r = rule_new(b, name);
        if (r) {
                match_prefix(b, r, offsetof(struct iphdr, saddr), NFT_CMP_EQ, &self);
                verdict(b, r, NFT_JUMP, "mark-for-masquerade");
        }
        snprintf(text, sizeof(text), "ip saddr %s jump mark-for-masquerade", ip);
        rule_end(b, r, name, text);

        if (affinity_timeout) {
                r = rule_new(b, name);
                if (r)
                        update_saddr_in(b, r, set_name, affinity_id);
                snprintf(text, sizeof(text), "update @%s { ip saddr }", set_name);
                rule_end(b, r, name, text);
        }

        r = rule_new(b, name);
        if (r) {
                struct nftnl_expr *nat = expr("nat");
                meta_load(b, r, NFT_META_L4PROTO, NFT_REG_1);
                cmp(b, r, NFT_CMP_EQ, &sp->protocol, 1);
                immediate(b, r, NFT_REG_1, &t->address, 4);
                immediate(b, r, NFT_REG_2, &port_be, 2);
                if (nat) {
                        nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
                        nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
                        nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
                        nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
                }
                add(r, nat, b);
        }
        snprintf(text, sizeof(text), "meta l4proto %s dnat to %s:%u", protocol_to_string(sp->protocol), ip, t->port);
        lower(text + strlen("meta l4proto "));
        rule_end(b, r, name, text);
}

/* A chain choosing among targets (those with local set, if only_local): sticky clients
 * first (affinity), then `<id> . numgen random mod N vmap @endpoints`. */
static void selection_chain(Builder *b, const char *name, const char *suffix, const Target *targets, size_t n,
                            bool only_local, uint32_t affinity_timeout, const uint32_t *affinity_ids, uint32_t id,
                            const char *masquerade_unless_from) {
        char text[1200], ep_name[512], set_name[512], ep_key[32];
        struct nftnl_rule *r;
        size_t count = 0;

        chain(b, name, NULL, 0, 0);
        if (masquerade_unless_from) {
                r = rule_new(b, name);
                if (r) {
                        Ipv4Prefix cidr;
                        (void) ipv4_prefix_parse(masquerade_unless_from, &cidr);
                        match_prefix(b, r, offsetof(struct iphdr, saddr), NFT_CMP_NEQ, &cidr);
                        verdict(b, r, NFT_JUMP, "mark-for-masquerade");
                }
                snprintf(text, sizeof(text), "ip saddr != %s jump mark-for-masquerade", masquerade_unless_from);
                rule_end(b, r, name, text);
        }
        for (size_t i = 0; i < n; i++) {
                uint32_t k[2] = { id, (uint32_t) count };

                if (only_local && !targets[i].local)
                        continue;
                endpoint_names(suffix, &targets[i], ep_name, set_name);
                if (affinity_timeout) {
                        r = rule_new(b, name);
                        if (r) {
                                lookup_saddr_in(b, r, set_name, affinity_ids[i]);
                                verdict(b, r, NFT_GOTO, ep_name);
                        }
                        snprintf(text, sizeof(text), "ip saddr @%s goto %s", set_name, ep_name);
                        rule_end(b, r, name, text);
                }
                snprintf(ep_key, sizeof(ep_key), "%u . %zu", id, count);
                element(b, SET_ENDPOINTS, k, sizeof(k), ep_name, ep_key);
                count++;
        }
        r = rule_new(b, name);
        if (r) {
                struct nftnl_expr *ng = expr("numgen");
                immediate(b, r, NFT_REG32_00, &id, sizeof(id));
                if (ng) {
                        nftnl_expr_set_u32(ng, NFTNL_EXPR_NG_DREG, NFT_REG32_01);
                        nftnl_expr_set_u32(ng, NFTNL_EXPR_NG_MODULUS, (uint32_t) count);
                        nftnl_expr_set_u32(ng, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
                        nftnl_expr_set_u32(ng, NFTNL_EXPR_NG_OFFSET, 0);
                }
                add(r, ng, b);
                vmap_lookup(b, r, SET_ENDPOINTS, NFT_REG32_00);
        }
        snprintf(text, sizeof(text), "%u . numgen random mod %zu vmap @endpoints", id, count);
        rule_end(b, r, name, text);
}

/* The chain that traffic from outside the Service's cluster IP enters (NodePort,
 * externalIPs, LoadBalancer): Cluster policy masquerades and uses every endpoint; Local
 * keeps the client address and uses this node's endpoints only, except for traffic from
 * this node or its pods, which takes the cluster-wide path. */
static void external_chain(Builder *b, const ProxyConfig *config, const Service *svc, const char *name,
                           const char *cluster_chain, const char *local_chain) {
        char cidr[IPV4_PREFIX_STRLEN], text[1200];
        struct nftnl_rule *r;

        chain(b, name, NULL, 0, 0);
        if (!svc->external_local) {
                rule_jump(b, name, NFT_JUMP, "mark-for-masquerade");
                rule_jump(b, name, NFT_GOTO, cluster_chain);
                return;
        }
        if (config->have_cluster_cidr) {
                r = rule_new(b, name);
                if (r) {
                        match_prefix(b, r, offsetof(struct iphdr, saddr), NFT_CMP_EQ, &config->cluster_cidr);
                        verdict(b, r, NFT_GOTO, cluster_chain);
                }
                snprintf(text, sizeof(text), "ip saddr %s goto %s", ipv4_prefix_to_string(&config->cluster_cidr, cidr),
                         cluster_chain);
                rule_end(b, r, name, text);
        }
        r = rule_new(b, name);
        if (r) {
                match_from_local(b, r);
                verdict(b, r, NFT_JUMP, "mark-for-masquerade");
        }
        rule_end(b, r, name, "fib saddr type local jump mark-for-masquerade");
        r = rule_new(b, name);
        if (r) {
                match_from_local(b, r);
                verdict(b, r, NFT_GOTO, cluster_chain);
        }
        snprintf(text, sizeof(text), "fib saddr type local goto %s", cluster_chain);
        rule_end(b, r, name, text);
        rule_jump(b, name, NFT_GOTO, local_chain);
}

/* loadBalancerSourceRanges: only those sources reach the Service through its LB IPs. */
static void firewall_chain(Builder *b, const Service *svc, const char *name, const char *external) {
        char cidr[IPV4_PREFIX_STRLEN], text[1200];

        chain(b, name, NULL, 0, 0);
        for (size_t i = 0; i < svc->n_source_ranges; i++) {
                struct nftnl_rule *r = rule_new(b, name);
                if (r) {
                        match_prefix(b, r, offsetof(struct iphdr, saddr), NFT_CMP_EQ, &svc->source_ranges[i]);
                        verdict(b, r, NFT_GOTO, external);
                }
                snprintf(text, sizeof(text), "ip saddr %s goto %s", ipv4_prefix_to_string(&svc->source_ranges[i], cidr),
                         external);
                rule_end(b, r, name, text);
        }
        struct nftnl_rule *r = rule_new(b, name);
        if (r)
                verdict(b, r, NF_DROP, NULL);
        rule_end(b, r, name, "drop");
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
                element(b, with_ip ? SET_SERVICE_IPS : SET_SERVICE_NODEPORTS, key, len, target, dump_key);
        else if (no_endpoints)
                element(b, with_ip ? SET_NO_ENDPOINT_SERVICES : SET_NO_ENDPOINT_NODEPORTS, key, len, "reject-chain",
                        dump_key);
        else
                element_drop(b, with_ip ? SET_NO_ENDPOINT_SERVICES : SET_NO_ENDPOINT_NODEPORTS, key, len, dump_key);
}

static void note_udp(Builder *b, const Service *svc, const ServicePort *sp, const Target *targets, size_t n) {
        struct in_addr any = {};
        int r = 0;

        if (!b->udp)
                return;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = udp_flows_add_endpoint(b->udp, udp_flow_key(targets[i].address, targets[i].port));
        if (n > 0) {
                if (r >= 0)
                        r = udp_flows_add_destination(b->udp, udp_flow_key(svc->cluster_ip, sp->port));
                if (r >= 0 && sp->node_port)
                        r = udp_flows_add_destination(b->udp, udp_flow_key(any, sp->node_port));
                for (size_t i = 0; i < svc->n_external_ips && r >= 0; i++)
                        r = udp_flows_add_destination(b->udp, udp_flow_key(svc->external_ips[i], sp->port));
                for (size_t i = 0; i < svc->n_lb_ips && r >= 0; i++)
                        r = udp_flows_add_destination(b->udp, udp_flow_key(svc->lb_ips[i], sp->port));
        }
        if (r < 0)
                b->error = r;
}

static void service_port(Builder *b, const ProxyConfig *config, const Service *svc, const ServicePort *sp,
                         EndpointSlice *const *slices, size_t n_slices, ProxyStats *stats) {
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

        /* Endpoint chains (and affinity sets), shared by the cluster and local chains. */
        for (size_t i = 0; i < n; i++) {
                affinity_ids[i] = ++b->next_id;
                endpoint_chain(b, suffix, sp, &targets[i], affinity_ids[i], svc->affinity_timeout);
        }
        if (n > 0)
                selection_chain(b, cluster, suffix, targets, n, false, svc->affinity_timeout, affinity_ids, ++b->next_id,
                                config->have_cluster_cidr ? ipv4_prefix_to_string(&config->cluster_cidr, cidr) : NULL);
        if (n_local > 0 && (svc->internal_local || svc->external_local))
                selection_chain(b, local, suffix, targets, n, true, svc->affinity_timeout, affinity_ids, ++b->next_id,
                                NULL);

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

int proxy_ruleset_apply(const ProxyConfig *config, Service *const *services, size_t n_services,
                        EndpointSlice *const *slices, size_t n_slices, bool commit, FILE *dump, ProxyStats *ret_stats,
                        UdpFlows *ret_udp) {
        _cleanup_(nft_batch_freep) NftBatch *batch = NULL;
        _cleanup_free_ EndpointSlice **sorted = NULL;
        struct nftnl_table *t = table_new();
        Builder b = { .dump = dump, .next_id = _SET_MAX, .udp = ret_udp };
        ProxyStats stats = {};
        int r;

        if (!t)
                return -ENOMEM;
        if (commit) {
                r = nft_batch_new(NFPROTO_IPV4, &batch);
                if (r < 0) {
                        nftnl_table_free(t);
                        return r;
                }
                b.batch = batch;
                /* add + delete + add: the whole table replaced in this one transaction. */
                if (nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, t) < 0 ||
                    nft_batch_table(batch, NFT_MSG_DELTABLE, 0, t) < 0 ||
                    nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, t) < 0)
                        b.error = -ENOMEM;
        }
        nftnl_table_free(t);
        if (dump)
                fprintf(dump, "add table ip %s\ndelete table ip %s\nadd table ip %s\n", PROXY_TABLE, PROXY_TABLE,
                        PROXY_TABLE);
        for (int s = 1; s < _SET_MAX; s++) {
                declare_set(&b, s);
                if (dump)
                        fprintf(dump, "\tadd map ip %s %s { type %s : verdict; }\n", PROXY_TABLE, sets[s].name,
                                sets[s].nft_type);
        }
        base_chains(&b);

        /* Slices grouped by Service, so each Service finds its own by binary search. */
        sorted = malloc((n_slices + 1) * sizeof(EndpointSlice *));
        if (!sorted)
                return -ENOMEM;
        if (n_slices > 0)
                memcpy(sorted, slices, n_slices * sizeof(EndpointSlice *));
        qsort(sorted, n_slices, sizeof(EndpointSlice *), slice_cmp);

        for (size_t i = 0; i < n_services && b.error >= 0; i++) {
                const Service *svc = services[i];
                size_t lo = 0, hi = n_slices, first;

                if (svc->headless)
                        continue;
                while (lo < hi) {
                        size_t mid = (lo + hi) / 2;
                        if (strcmp(sorted[mid]->service, svc->key) < 0)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                first = lo;
                while (hi < n_slices && streq(sorted[hi]->service, svc->key))
                        hi++;
                for (size_t p = 0; p < svc->n_ports; p++)
                        service_port(&b, config, svc, &svc->ports[p], sorted + first, hi - first, &stats);
        }
        for (int s = 1; s < _SET_MAX; s++)
                flush_elements(&b, s);

        if (b.error < 0)
                return b.error;
        if (commit) {
                stats.messages = nft_batch_count(batch);
                r = nft_batch_commit(batch);
                if (r < 0)
                        return log_error_errno(r, "nftables: replace table ip %s: %m", PROXY_TABLE);
        }
        if (ret_stats)
                *ret_stats = stats;
        return 0;
}

int proxy_ruleset_remove(void) {
        _cleanup_(nft_batch_freep) NftBatch *batch = NULL;
        struct nftnl_table *t = table_new();
        int r;

        if (!t || nft_batch_new(NFPROTO_IPV4, &batch) < 0) {
                nftnl_table_free(t);
                return -ENOMEM;
        }
        r = nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, t);
        if (r >= 0)
                r = nft_batch_table(batch, NFT_MSG_DELTABLE, 0, t);
        nftnl_table_free(t);
        if (r >= 0)
                r = nft_batch_commit(batch);
        return r;
}
