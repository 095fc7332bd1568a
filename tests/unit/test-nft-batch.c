/* SPDX-License-Identifier: Apache-2.0 */
/* Runs in a network namespace of its own: the host's ruleset is never touched. */
#include <libnftnl/chain.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <sched.h>

#include "macro.h"
#include "nft-batch.h"
#include "tests.h"

static struct nftnl_table *table(const char *name) {
        struct nftnl_table *t = nftnl_table_alloc();

        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_IPV4);
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
        return t;
}

static struct nftnl_chain *chain(const char *table_name, const char *name) {
        struct nftnl_chain *c = nftnl_chain_alloc();

        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_IPV4);
        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table_name);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
        return c;
}

static int table_exists(const char *name) {
        NftBatch *b;
        struct nftnl_table *t = table(name);
        int r;

        /* Creating it exclusively fails with EEXIST exactly when it is there; the batch
         * is then rolled back, and otherwise it is deleted again in the same batch. */
        check_int(nft_batch_new(NFPROTO_IPV4, &b), ==, 0);
        check_int(nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, t), ==, 0);
        check_int(nft_batch_table(b, NFT_MSG_DELTABLE, 0, t), ==, 0);
        r = nft_batch_commit(b);
        nft_batch_free(b);
        nftnl_table_free(t);
        check(r == 0 || r == -EEXIST);
        return r == -EEXIST;
}

TEST(commit_applies_everything) {
        NftBatch *b;
        struct nftnl_table *t = table("test_ok");
        struct nftnl_chain *c = chain("test_ok", "c");

        check_int(nft_batch_new(NFPROTO_IPV4, &b), ==, 0);
        check_int(nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, t), ==, 0);
        check_int(nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c), ==, 0);
        check_int(nft_batch_count(b), ==, 2);
        check_int(nft_batch_commit(b), ==, 0);
        check(table_exists("test_ok"));
        nft_batch_free(b);
        nftnl_table_free(t);
        nftnl_chain_free(c);
}

TEST(a_failing_message_rolls_back_the_whole_batch) {
        NftBatch *b;
        struct nftnl_table *t = table("test_rollback");
        struct nftnl_chain *c = chain("no_such_table", "c");

        check_int(nft_batch_new(NFPROTO_IPV4, &b), ==, 0);
        check_int(nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, t), ==, 0);
        check_int(nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c), ==, 0);
        check_int(nft_batch_commit(b), ==, -ENOENT);
        check(!table_exists("test_rollback"));
        nft_batch_free(b);
        nftnl_table_free(t);
        nftnl_chain_free(c);
}

TEST(large_batches_go_in_one_transaction) {
        NftBatch *b;
        struct nftnl_table *t = table("test_large");

        check_int(nft_batch_new(NFPROTO_IPV4, &b), ==, 0);
        check_int(nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, t), ==, 0);
        for (int i = 0; i < 20000; i++) {
                char name[32];
                struct nftnl_chain *c;

                snprintf(name, sizeof(name), "chain-%d", i);
                c = chain("test_large", name);
                check_int(nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c), ==, 0);
                nftnl_chain_free(c);
        }
        check_int(nft_batch_commit(b), ==, 0);
        check(table_exists("test_large"));
        nft_batch_free(b);
        nftnl_table_free(t);
}

int main(void) {
        if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr, "needs root and network namespaces, skipping\n");
                return EXIT_TEST_SKIP;
        }
        RUN(commit_applies_everything);
        RUN(a_failing_message_rolls_back_the_whole_batch);
        RUN(large_batches_go_in_one_transaction);
        return 0;
}
