/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>

#include "nft-build.h"

struct nftnl_table *nft_table_new(uint16_t family, const char *name) {
        struct nftnl_table *t = nftnl_table_alloc();

        if (t) {
                nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
                nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
        }
        return t;
}

struct nftnl_chain *nft_chain_new(uint16_t family, const char *table, const char *name, const char *hook_type,
                                  int hook, int priority) {
        struct nftnl_chain *c = nftnl_chain_alloc();

        if (!c)
                return NULL;
        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, family);
        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
        if (hook_type) {
                nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, hook_type);
                nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t) hook);
                nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, priority);
        }
        return c;
}

struct nftnl_rule *nft_rule_new(uint16_t family, const char *table, const char *chain) {
        struct nftnl_rule *r = nftnl_rule_alloc();

        if (r) {
                nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, family);
                nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
                nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
        }
        return r;
}

struct nftnl_set *nft_set_new(uint16_t family, const char *table, const char *name) {
        struct nftnl_set *s = nftnl_set_alloc();

        if (s) {
                nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
                nftnl_set_set_str(s, NFTNL_SET_NAME, name);
                nftnl_set_set_u32(s, NFTNL_SET_FAMILY, family);
        }
        return s;
}

struct nftnl_set_elem *nft_set_elem_new(const void *key, uint32_t key_len, const void *data, uint32_t data_len) {
        struct nftnl_set_elem *e = nftnl_set_elem_alloc();

        if (!e)
                return NULL;
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, key_len);
        if (data)
                nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, data_len);
        return e;
}

struct nftnl_set_elem *nft_set_elem_new_verdict(const void *key, uint32_t key_len, int verdict, const char *chain) {
        struct nftnl_set_elem *e = nft_set_elem_new(key, key_len, NULL, 0);

        if (!e)
                return NULL;
        nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t) verdict);
        if (chain)
                nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
        return e;
}

int nft_rule_add(struct nftnl_rule *r, struct nftnl_expr *e) {
        if (!e)
                return -ENOMEM;
        nftnl_rule_add_expr(r, e);
        return 0;
}

int nft_rule_add_match_prefix(struct nftnl_rule *r, uint32_t offset, enum nft_cmp_ops op, const Ipv4Prefix *p) {
        uint32_t mask = htonl(p->prefixlen ? UINT32_MAX << (32 - p->prefixlen) : 0);
        int k;

        k = nft_rule_add(r, nft_expr_payload(NFT_PAYLOAD_NETWORK_HEADER, offset, sizeof(uint32_t), NFT_REG_1));
        if (k >= 0 && p->prefixlen < 32)
                k = nft_rule_add(r, nft_expr_bitwise(mask, 0));
        if (k >= 0)
                k = nft_rule_add(r, nft_expr_cmp(op, &p->addr, sizeof(p->addr)));
        return k;
}

struct nftnl_expr *nft_expr_payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
        struct nftnl_expr *e = nftnl_expr_alloc("payload");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
        }
        return e;
}

struct nftnl_expr *nft_expr_meta_load(uint32_t key, uint32_t dreg) {
        struct nftnl_expr *e = nftnl_expr_alloc("meta");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
                nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
        }
        return e;
}

struct nftnl_expr *nft_expr_meta_store(uint32_t key, uint32_t sreg) {
        struct nftnl_expr *e = nftnl_expr_alloc("meta");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
                nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
        }
        return e;
}

struct nftnl_expr *nft_expr_cmp(enum nft_cmp_ops op, const void *data, uint32_t len) {
        struct nftnl_expr *e = nftnl_expr_alloc("cmp");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
                nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
        }
        return e;
}

struct nftnl_expr *nft_expr_bitwise(uint32_t mask, uint32_t xor) {
        struct nftnl_expr *e = nftnl_expr_alloc("bitwise");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
                nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
                nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, sizeof(xor));
        }
        return e;
}

struct nftnl_expr *nft_expr_immediate(uint32_t dreg, const void *data, uint32_t len) {
        struct nftnl_expr *e = nftnl_expr_alloc("immediate");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
                nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
        }
        return e;
}

struct nftnl_expr *nft_expr_verdict(int code, const char *chain) {
        struct nftnl_expr *e = nftnl_expr_alloc("immediate");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t) code);
                if (chain)
                        nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
        }
        return e;
}

struct nftnl_expr *nft_expr_lookup(const char *set, uint32_t set_id, uint32_t sreg) {
        struct nftnl_expr *e = nftnl_expr_alloc("lookup");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
                nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
        }
        return e;
}

struct nftnl_expr *nft_expr_map_lookup(const char *set, uint32_t set_id, uint32_t sreg, uint32_t dreg) {
        struct nftnl_expr *e = nft_expr_lookup(set, set_id, sreg);

        if (e)
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, dreg);
        return e;
}

struct nftnl_expr *nft_expr_dynset_update(const char *set, uint32_t set_id, uint32_t sreg) {
        struct nftnl_expr *e = nftnl_expr_alloc("dynset");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
                nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg);
                nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
                nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
        }
        return e;
}

struct nftnl_expr *nft_expr_fib(uint32_t flags, uint32_t result, uint32_t dreg) {
        struct nftnl_expr *e = nftnl_expr_alloc("fib");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, flags);
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, result);
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
        }
        return e;
}

struct nftnl_expr *nft_expr_numgen_random(uint32_t modulus, uint32_t dreg) {
        struct nftnl_expr *e = nftnl_expr_alloc("numgen");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, dreg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, modulus);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
        }
        return e;
}

struct nftnl_expr *nft_expr_dnat(uint32_t family, uint32_t reg_addr, uint32_t reg_proto) {
        struct nftnl_expr *e = nftnl_expr_alloc("nat");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg_addr);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg_proto);
        }
        return e;
}

struct nftnl_expr *nft_expr_masq(uint32_t flags) {
        struct nftnl_expr *e = nftnl_expr_alloc("masq");

        if (e && flags)
                nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, flags);
        return e;
}

struct nftnl_expr *nft_expr_reject(uint32_t type, uint8_t code) {
        struct nftnl_expr *e = nftnl_expr_alloc("reject");

        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
                nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
        }
        return e;
}
