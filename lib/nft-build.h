/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nf_tables.h>
#include <stdint.h>

#include "cidr.h"
#include "macro.h"

/* The libnftnl objects that an NftBatch carries, built in one place for every table of
 * ours. Each constructor returns NULL when out of memory. Only the attributes named are
 * set: libnftnl sends an attribute exactly when it was set, so what a constructor leaves
 * out (a verdict's chain, a masquerade's flags) is absent from the message. */

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free)

/* --- objects ------------------------------------------------------------------------- */

struct nftnl_table *nft_table_new(uint16_t family, const char *name);
/* A base chain with hook_type ("nat", "filter"), hook (NF_INET_*) and priority; a regular
 * chain with hook_type NULL (hook and priority unused). */
struct nftnl_chain *nft_chain_new(uint16_t family, const char *table, const char *name, const char *hook_type,
                                  int hook, int priority);
/* An empty rule appended to with nft_rule_add(); alone, it names the chain to flush
 * (NFT_MSG_DELRULE). */
struct nftnl_rule *nft_rule_new(uint16_t family, const char *table, const char *chain);
/* A set named for the messages about it or its elements; its key, flags and id are
 * the caller's to set. */
struct nftnl_set *nft_set_new(uint16_t family, const char *table, const char *name);
/* An element with key, and data unless data is NULL. */
struct nftnl_set_elem *nft_set_elem_new(const void *key, uint32_t key_len, const void *data, uint32_t data_len);
/* A verdict map's element: key to verdict (NFT_GOTO, NFT_JUMP with chain; NF_DROP…
 * with chain NULL). */
struct nftnl_set_elem *nft_set_elem_new_verdict(const void *key, uint32_t key_len, int verdict, const char *chain);

/* Appends e to r: 0, or -ENOMEM when e is NULL (a constructor below failed). */
int nft_rule_add(struct nftnl_rule *r, struct nftnl_expr *e);

/* `ip saddr|daddr [!=] prefix` (offset of the address in the IPv4 header): load into
 * register 1, mask unless the prefix is a /32, compare. */
int nft_rule_add_match_prefix(struct nftnl_rule *r, uint32_t offset, enum nft_cmp_ops op, const Ipv4Prefix *p);

/* --- expressions --------------------------------------------------------------------- */

/* len bytes at offset from base (NFT_PAYLOAD_*_HEADER) into dreg. */
struct nftnl_expr *nft_expr_payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg);
/* meta key (NFT_META_*) into dreg; from sreg, for keys that can be set (meta mark). */
struct nftnl_expr *nft_expr_meta_load(uint32_t key, uint32_t dreg);
struct nftnl_expr *nft_expr_meta_store(uint32_t key, uint32_t sreg);
/* Register 1 compared with len bytes of data; the rule goes on when it holds. */
struct nftnl_expr *nft_expr_cmp(enum nft_cmp_ops op, const void *data, uint32_t len);
/* Register 1 (32 bits) = (register 1 & mask) ^ xor; mask and xor in network order. */
struct nftnl_expr *nft_expr_bitwise(uint32_t mask, uint32_t xor);
/* len bytes of data into dreg. */
struct nftnl_expr *nft_expr_immediate(uint32_t dreg, const void *data, uint32_t len);
/* A verdict (NFT_JUMP, NFT_GOTO with chain; NFT_RETURN, NF_DROP… with chain NULL). */
struct nftnl_expr *nft_expr_verdict(int code, const char *chain);
/* sreg's key in the set (set_id: for a set created in the same transaction); the rule
 * goes on when it is there. */
struct nftnl_expr *nft_expr_lookup(const char *set, uint32_t set_id, uint32_t sreg);
/* sreg's key looked up in the map, its value into dreg (NFT_REG_VERDICT for a verdict
 * map: the verdict is taken). */
struct nftnl_expr *nft_expr_map_lookup(const char *set, uint32_t set_id, uint32_t sreg, uint32_t dreg);
/* sreg's key added to the dynamic set, or its timeout renewed. */
struct nftnl_expr *nft_expr_dynset_update(const char *set, uint32_t set_id, uint32_t sreg);
/* The fib's result (NFT_FIB_RESULT_*) for flags (NFTA_FIB_F_*) into dreg. */
struct nftnl_expr *nft_expr_fib(uint32_t flags, uint32_t result, uint32_t dreg);
/* A random number below modulus into dreg. */
struct nftnl_expr *nft_expr_numgen_random(uint32_t modulus, uint32_t dreg);
/* DNAT of the family to the address in reg_addr and the port in reg_proto. */
struct nftnl_expr *nft_expr_dnat(uint32_t family, uint32_t reg_addr, uint32_t reg_proto);
/* Masquerade, with NF_NAT_RANGE_* flags (0: none sent). */
struct nftnl_expr *nft_expr_masq(uint32_t flags);
/* Reject of type (NFT_REJECT_*) with code (ICMP_*). */
struct nftnl_expr *nft_expr_reject(uint32_t type, uint8_t code);
