/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;

/* One nftables transaction: messages built with libnftnl into one growing buffer between
 * a batch-begin and a batch-end, sent with a single sendmsg(2) so that the kernel applies
 * all of it or none of it. Messages carry no NLM_F_ACK: the kernel reports only errors,
 * and handles the whole batch inside sendmsg(), so once it returns every error is
 * already queued on the socket. */
typedef struct NftBatch NftBatch;

int nft_batch_new(uint16_t family, NftBatch **ret);
void nft_batch_free(NftBatch *b);
static inline void nft_batch_freep(NftBatch **b) {
        nft_batch_free(*b);
}

/* type is NFT_MSG_NEW…/NFT_MSG_DEL…; flags NLM_F_CREATE, NLM_F_EXCL, NLM_F_APPEND… */
int nft_batch_table(NftBatch *b, uint16_t type, uint16_t flags, struct nftnl_table *t);
int nft_batch_chain(NftBatch *b, uint16_t type, uint16_t flags, struct nftnl_chain *c);
int nft_batch_rule(NftBatch *b, uint16_t type, uint16_t flags, struct nftnl_rule *r);
int nft_batch_set(NftBatch *b, uint16_t type, uint16_t flags, struct nftnl_set *s);
/* The elements attached to s (NFT_MSG_NEWSETELEM / NFT_MSG_DELSETELEM). */
int nft_batch_set_elems(NftBatch *b, uint16_t type, uint16_t flags, struct nftnl_set *s);

/* add + delete + add: the table replaced, empty, whether or not it existed. */
int nft_batch_replace_table(NftBatch *b, struct nftnl_table *t);

/* Deletes the table in a transaction of its own: 0, also when there was none. */
int nft_table_delete(uint16_t family, const char *name);

/* Number of messages so far (without begin/end). */
uint32_t nft_batch_count(const NftBatch *b);

/* Ends and sends the batch: 0, or the kernel's first error (the transaction was
 * rolled back). */
int nft_batch_commit(NftBatch *b);
/* After a failed commit: the NFT_MSG_* type of the message the kernel refused. */
uint16_t nft_batch_failed_type(const NftBatch *b);
