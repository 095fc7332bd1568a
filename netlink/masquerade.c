/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <netinet/ip.h>
#include <stddef.h>

#include "log.h"
#include "macro.h"
#include "masquerade.h"
#include "nft-batch.h"
#include "nft-build.h"

#define NAT_CHAIN "postrouting"

/* Appends `ip saddr|daddr [!=] prefix`, its mask loaded even for a /32. */
static int rule_match_prefix(struct nftnl_rule *r, uint32_t offset, enum nft_cmp_ops op, const Ipv4Prefix *p) {
        uint32_t mask = htonl(p->prefixlen == 0 ? 0 : UINT32_MAX << (32 - p->prefixlen));
        int k;

        k = nft_rule_add(r, nft_expr_payload(NFT_PAYLOAD_NETWORK_HEADER, offset, sizeof(uint32_t), NFT_REG_1));
        if (k >= 0)
                k = nft_rule_add(r, nft_expr_bitwise(mask, 0));
        if (k >= 0)
                k = nft_rule_add(r, nft_expr_cmp(op, &p->addr.s_addr, sizeof(p->addr.s_addr)));
        return k;
}

static struct nftnl_rule *masquerade_rule(const Ipv4Prefix *pod_cidr, const Ipv4Prefix *cluster_cidrs,
                                          size_t n) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nft_rule_new(NFPROTO_IPV4, MASQUERADE_TABLE, NAT_CHAIN);

        if (!r || rule_match_prefix(r, offsetof(struct iphdr, saddr), NFT_CMP_EQ, pod_cidr) < 0)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (rule_match_prefix(r, offsetof(struct iphdr, daddr), NFT_CMP_NEQ, &cluster_cidrs[i]) < 0)
                        return NULL;
        if (nft_rule_add(r, nft_expr_masq(0)) < 0)
                return NULL;
        return TAKE_PTR(r);
}

int masquerade_apply(const Ipv4Prefix *pod_cidr, const Ipv4Prefix *cluster_cidrs, size_t n_cluster_cidrs) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nft_table_new(NFPROTO_IPV4, MASQUERADE_TABLE);
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nft_chain_new(NFPROTO_IPV4, MASQUERADE_TABLE, NAT_CHAIN,
                                                                           "nat", NF_INET_POST_ROUTING,
                                                                           100 /* srcnat */);
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = masquerade_rule(pod_cidr, cluster_cidrs,
                                                                              n_cluster_cidrs);
        _cleanup_(nft_batch_freep) NftBatch *batch = NULL;
        int r;

        if (!t || !c || !rule || nft_batch_new(NFPROTO_IPV4, &batch) < 0)
                return -ENOMEM;

        if (nft_batch_replace_table(batch, t) < 0 ||
            nft_batch_chain(batch, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c) < 0 ||
            nft_batch_rule(batch, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, rule) < 0)
                return -ENOMEM;
        r = nft_batch_commit(batch);
        if (r < 0)
                return log_error_errno(r, "nftables: replace table ip %s: %m", MASQUERADE_TABLE);
        return 0;
}

int masquerade_remove(void) {
        int r = nft_table_delete(NFPROTO_IPV4, MASQUERADE_TABLE);

        if (r < 0)
                return log_error_errno(r, "nftables: delete table ip %s: %m", MASQUERADE_TABLE);
        return 0;
}
