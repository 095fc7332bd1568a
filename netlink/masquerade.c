/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/ip.h>
#include <stddef.h>

#include "log.h"
#include "macro.h"
#include "masquerade.h"
#include "nft-batch.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free)

#define NAT_CHAIN "postrouting"

static struct nftnl_table *table_new(void) {
        struct nftnl_table *t = nftnl_table_alloc();

        if (t) {
                nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_IPV4);
                nftnl_table_set_str(t, NFTNL_TABLE_NAME, MASQUERADE_TABLE);
        }
        return t;
}

static struct nftnl_expr *payload_load(uint32_t offset) {
        struct nftnl_expr *e = nftnl_expr_alloc("payload");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, sizeof(uint32_t));
        }
        return e;
}

static struct nftnl_expr *mask_reg1(unsigned prefixlen) {
        struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
        uint32_t mask = htonl(prefixlen == 0 ? 0 : UINT32_MAX << (32 - prefixlen)), zero = 0;

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
                nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
                nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
        }
        return e;
}

static struct nftnl_expr *cmp_reg1(enum nft_cmp_ops op, struct in_addr value) {
        struct nftnl_expr *e = nftnl_expr_alloc("cmp");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
                nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &value.s_addr, sizeof(value.s_addr));
        }
        return e;
}

/* Appends `ip saddr|daddr [!=] prefix`; false when out of memory. */
static bool rule_match_prefix(struct nftnl_rule *r, uint32_t offset, enum nft_cmp_ops op,
                              const Ipv4Prefix *p) {
        struct nftnl_expr *e[] = { payload_load(offset), mask_reg1(p->prefixlen), cmp_reg1(op, p->addr) };
        bool ok = e[0] && e[1] && e[2];

        for (size_t i = 0; i < ELEMENTSOF(e); i++) {
                if (ok)
                        nftnl_rule_add_expr(r, e[i]);
                else if (e[i])
                        nftnl_expr_free(e[i]);
        }
        return ok;
}

static struct nftnl_rule *masquerade_rule(const Ipv4Prefix *pod_cidr, const Ipv4Prefix *cluster_cidrs,
                                          size_t n) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
        struct nftnl_expr *masq;

        if (!r)
                return NULL;
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_IPV4);
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, MASQUERADE_TABLE);
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, NAT_CHAIN);
        if (!rule_match_prefix(r, offsetof(struct iphdr, saddr), NFT_CMP_EQ, pod_cidr))
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!rule_match_prefix(r, offsetof(struct iphdr, daddr), NFT_CMP_NEQ, &cluster_cidrs[i]))
                        return NULL;
        masq = nftnl_expr_alloc("masq");
        if (!masq)
                return NULL;
        nftnl_rule_add_expr(r, masq);
        return TAKE_PTR(r);
}

int masquerade_apply(const Ipv4Prefix *pod_cidr, const Ipv4Prefix *cluster_cidrs, size_t n_cluster_cidrs) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = table_new();
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = masquerade_rule(pod_cidr, cluster_cidrs,
                                                                              n_cluster_cidrs);
        _cleanup_(nft_batch_freep) NftBatch *batch = NULL;
        int r;

        if (!t || !c || !rule || nft_batch_new(NFPROTO_IPV4, &batch) < 0)
                return -ENOMEM;

        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_IPV4);
        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, MASQUERADE_TABLE);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, NAT_CHAIN);
        nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "nat");
        nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_POST_ROUTING);
        nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 100 /* srcnat */);

        /* add + delete + add: replaces the table whether or not it existed. */
        if (nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, t) < 0 ||
            nft_batch_table(batch, NFT_MSG_DELTABLE, 0, t) < 0 ||
            nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, t) < 0 ||
            nft_batch_chain(batch, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c) < 0 ||
            nft_batch_rule(batch, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, rule) < 0)
                return -ENOMEM;
        r = nft_batch_commit(batch);
        if (r < 0)
                return log_error_errno(r, "nftables: replace table ip %s: %m", MASQUERADE_TABLE);
        return 0;
}

int masquerade_remove(void) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = table_new();
        _cleanup_(nft_batch_freep) NftBatch *batch = NULL;
        int r;

        if (!t || nft_batch_new(NFPROTO_IPV4, &batch) < 0)
                return -ENOMEM;
        if (nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, t) < 0 ||
            nft_batch_table(batch, NFT_MSG_DELTABLE, 0, t) < 0)
                return -ENOMEM;
        r = nft_batch_commit(batch);
        if (r < 0)
                return log_error_errno(r, "nftables: delete table ip %s: %m", MASQUERADE_TABLE);
        return 0;
}
