/* SPDX-License-Identifier: Apache-2.0 */
/* Runs in a network namespace of its own: the host's ruleset is never touched. */
#include <netinet/in.h> /* before linux/netfilter.h, which would bring linux/in.h */
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <sched.h>

#include "macro.h"
#include "nft-batch.h"
#include "nft-build.h"
#include "tests.h"

static struct nftnl_table *table(const char *name) {
        return nft_table_new(NFPROTO_IPV4, name);
}

static struct nftnl_chain *chain(const char *table_name, const char *name) {
        return nft_chain_new(NFPROTO_IPV4, table_name, name, NULL, 0, 0);
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

/* A base chain and a rule of every kind of expression the tables of ours use that needs
 * no set: the kernel takes them as built. */
TEST(built_objects_are_accepted) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = table("test_build");
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nft_chain_new(NFPROTO_IPV4, "test_build", "post", "nat",
                                                                           NF_INET_POST_ROUTING, 100);
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *to = chain("test_build", "to");
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nft_rule_new(NFPROTO_IPV4, "test_build", "post");
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *jump = nft_rule_new(NFPROTO_IPV4, "test_build", "post");
        Ipv4Prefix p;
        NftBatch *b;

        check_int(ipv4_prefix_parse("10.244.0.0/16", &p), ==, 0);
        check_int(nft_rule_add_match_prefix(r, 12 /* saddr */, NFT_CMP_EQ, &p), ==, 0);
        check_int(nft_rule_add(r, nft_expr_meta_load(NFT_META_MARK, NFT_REG_1)), ==, 0);
        check_int(nft_rule_add(r, nft_expr_bitwise(UINT32_MAX, 0x4000)), ==, 0);
        check_int(nft_rule_add(r, nft_expr_meta_store(NFT_META_MARK, NFT_REG_1)), ==, 0);
        check_int(nft_rule_add(r, nft_expr_masq(0)), ==, 0);
        check_int(nft_rule_add(jump, nft_expr_verdict(NFT_JUMP, "to")), ==, 0);
        check_int(nft_rule_add(jump, NULL), ==, -ENOMEM);

        check_int(nft_batch_new(NFPROTO_IPV4, &b), ==, 0);
        check_int(nft_batch_replace_table(b, t), ==, 0);
        check_int(nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c), ==, 0);
        check_int(nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, to), ==, 0);
        check_int(nft_batch_rule(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r), ==, 0);
        check_int(nft_batch_rule(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, jump), ==, 0);
        check_int(nft_batch_count(b), ==, 7);
        check_int(nft_batch_commit(b), ==, 0);
        nft_batch_free(b);
        check(table_exists("test_build"));
}

TEST(a_table_is_replaced_or_deleted_whether_or_not_it_exists) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = table("test_replace");
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = chain("test_replace", "c");
        NftBatch *b;

        check_int(nft_table_delete(NFPROTO_IPV4, "test_replace"), ==, 0);
        check_int(nft_batch_new(NFPROTO_IPV4, &b), ==, 0);
        check_int(nft_batch_replace_table(b, t), ==, 0);
        check_int(nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c), ==, 0);
        check_int(nft_batch_commit(b), ==, 0);
        nft_batch_free(b);
        /* Replaced again, the chain is gone: creating it exclusively works. */
        check_int(nft_batch_new(NFPROTO_IPV4, &b), ==, 0);
        check_int(nft_batch_replace_table(b, t), ==, 0);
        check_int(nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, c), ==, 0);
        check_int(nft_batch_commit(b), ==, 0);
        nft_batch_free(b);
        check(table_exists("test_replace"));
        check_int(nft_table_delete(NFPROTO_IPV4, "test_replace"), ==, 0);
        check(!table_exists("test_replace"));
}

int main(void) {
        if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr, "needs root and network namespaces, skipping\n");
                return EXIT_TEST_SKIP;
        }
        RUN(commit_applies_everything);
        RUN(a_failing_message_rolls_back_the_whole_batch);
        RUN(large_batches_go_in_one_transaction);
        RUN(built_objects_are_accepted);
        RUN(a_table_is_replaced_or_deleted_whether_or_not_it_exists);
        return 0;
}
