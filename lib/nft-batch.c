/* SPDX-License-Identifier: Apache-2.0 */
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "macro.h"
#include "nft-batch.h"
#include "nft-build.h"

/* Room every message may need; element messages are chunked by their callers well below. */
#define MESSAGE_ROOM (256 * 1024)

struct NftBatch {
        char *buf;
        size_t size, allocated;
        uint32_t seq, messages;
        uint16_t family;
        uint16_t failed_type; /* NFT_MSG_* of the message the kernel refused */
};

static uint16_t failed_message_type(const NftBatch *b, uint32_t seq) {
        int len = (int) b->size;

        for (const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->buf; mnl_nlmsg_ok(nlh, len);
             nlh = mnl_nlmsg_next(nlh, &len))
                if (nlh->nlmsg_seq == seq)
                        return nlh->nlmsg_type & 0xff;
        return 0;
}

uint16_t nft_batch_failed_type(const NftBatch *b) {
        return b->failed_type;
}

static char *reserve(NftBatch *b) {
        if (b->allocated - b->size < MESSAGE_ROOM) {
                size_t n = MAX(b->allocated * 2, b->size + MESSAGE_ROOM);
                char *p = realloc(b->buf, n);

                if (!p)
                        return NULL;
                b->buf = p;
                b->allocated = n;
        }
        return b->buf + b->size;
}

static void advance(NftBatch *b, const struct nlmsghdr *nlh) {
        b->size += NLMSG_ALIGN(nlh->nlmsg_len);
}

int nft_batch_new(uint16_t family, NftBatch **ret) {
        NftBatch *b = calloc(1, sizeof(NftBatch));
        char *p;

        if (!b)
                return -ENOMEM;
        b->family = family;
        b->seq = 1;
        p = reserve(b);
        if (!p) {
                free(b);
                return -ENOMEM;
        }
        advance(b, nftnl_batch_begin(p, b->seq++));
        *ret = b;
        return 0;
}

void nft_batch_free(NftBatch *b) {
        if (!b)
                return;
        free(b->buf);
        free(b);
}

uint32_t nft_batch_count(const NftBatch *b) {
        return b->messages;
}

#define DEFINE_BATCH_ADD(kind, object_type, build_hdr, build_payload)                                          \
        int nft_batch_##kind(NftBatch *b, uint16_t type, uint16_t flags, object_type *o) {                \
                char *p = reserve(b);                                                                           \
                struct nlmsghdr *nlh;                                                                           \
                                                                                                                \
                if (!p)                                                                                         \
                        return -ENOMEM;                                                                         \
                nlh = build_hdr(p, type, b->family, flags, b->seq++);                                           \
                build_payload(nlh, o);                                                                          \
                advance(b, nlh);                                                                                \
                b->messages++;                                                                                  \
                return 0;                                                                                       \
        }

DEFINE_BATCH_ADD(table, struct nftnl_table, nftnl_table_nlmsg_build_hdr, nftnl_table_nlmsg_build_payload)
DEFINE_BATCH_ADD(chain, struct nftnl_chain, nftnl_chain_nlmsg_build_hdr, nftnl_chain_nlmsg_build_payload)
DEFINE_BATCH_ADD(rule, struct nftnl_rule, nftnl_rule_nlmsg_build_hdr, nftnl_rule_nlmsg_build_payload)
DEFINE_BATCH_ADD(set, struct nftnl_set, nftnl_set_nlmsg_build_hdr, nftnl_set_nlmsg_build_payload)
DEFINE_BATCH_ADD(set_elems, struct nftnl_set, nftnl_set_elem_nlmsg_build_hdr, nftnl_set_elems_nlmsg_build_payload)

int nft_batch_replace_table(NftBatch *b, struct nftnl_table *t) {
        int r;

        r = nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, t);
        if (r >= 0)
                r = nft_batch_table(b, NFT_MSG_DELTABLE, 0, t);
        if (r >= 0)
                r = nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, t);
        return r;
}

int nft_table_delete(uint16_t family, const char *name) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nft_table_new(family, name);
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;

        if (!t || nft_batch_new(family, &b) < 0)
                return -ENOMEM;
        /* Added first, so that deleting it cannot fail for its absence. */
        if (nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, t) < 0 || nft_batch_table(b, NFT_MSG_DELTABLE, 0, t) < 0)
                return -ENOMEM;
        return nft_batch_commit(b);
}

int nft_batch_commit(NftBatch *b) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        char buf[MNL_SOCKET_BUFFER_SIZE];
        int first_error = 0, sndbuf, one = 1;
        char *p = reserve(b);

        if (!p)
                return -ENOMEM;
        advance(b, nftnl_batch_end(p, b->seq++));

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0)
                return negative_errno();
        /* Errors without a copy of the failed message: one of a few hundred kilobytes
         * would not fit the receive buffer, and the error would be lost. */
        if (setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
                return negative_errno();
        /* One sendmsg() must hold the whole transaction. */
        sndbuf = (int) MIN(b->size + 4096, (size_t) INT32_MAX);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0 &&
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
                return negative_errno();
        if (sendto(fd, b->buf, b->size, 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0)
                return negative_errno();

        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                int len;

                if (n < 0) {
                        if (errno == EAGAIN)
                                break;
                        return negative_errno();
                }
                len = (int) n;
                for (const struct nlmsghdr *nlh = (const struct nlmsghdr *) buf; mnl_nlmsg_ok(nlh, len);
                     nlh = mnl_nlmsg_next(nlh, &len)) {
                        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

                        if (nlh->nlmsg_type == NLMSG_ERROR && err->error < 0 && first_error == 0) {
                                first_error = err->error;
                                b->failed_type = failed_message_type(b, err->msg.nlmsg_seq);
                        }
                }
        }
        return first_error;
}
