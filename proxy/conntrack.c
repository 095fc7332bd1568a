/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conntrack.h"
#include "macro.h"

static int append(uint64_t **items, size_t *n, size_t *allocated, uint64_t key) {
        if (*n == *allocated) {
                size_t a = MAX(*allocated * 2, (size_t) 64);
                uint64_t *p = realloc(*items, a * sizeof(uint64_t));
                if (!p)
                        return -ENOMEM;
                *items = p;
                *allocated = a;
        }
        (*items)[(*n)++] = key;
        return 0;
}

int udp_flows_add_endpoint(UdpFlows *f, uint64_t key) {
        return append(&f->endpoints, &f->n_endpoints, &f->allocated_endpoints, key);
}

int udp_flows_add_destination(UdpFlows *f, uint64_t key) {
        return append(&f->destinations, &f->n_destinations, &f->allocated_destinations, key);
}

static int key_cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static size_t sort_unique(uint64_t *items, size_t n) {
        size_t out = 0;

        if (n == 0)
                return 0;
        qsort(items, n, sizeof(uint64_t), key_cmp);
        for (size_t i = 1; i < n; i++)
                if (items[i] != items[out])
                        items[++out] = items[i];
        return out + 1;
}

void udp_flows_finish(UdpFlows *f) {
        f->n_endpoints = sort_unique(f->endpoints, f->n_endpoints);
        f->n_destinations = sort_unique(f->destinations, f->n_destinations);
}

void udp_flows_done(UdpFlows *f) {
        free(f->endpoints);
        free(f->destinations);
        *f = (UdpFlows) {};
}

static bool contains(const uint64_t *items, size_t n, uint64_t key) {
        return n > 0 && bsearch(&key, items, n, sizeof(uint64_t), key_cmp) != NULL;
}

/* The keys of a that are not in b. */
static int difference(const uint64_t *a, size_t n_a, const uint64_t *b, size_t n_b, uint64_t **ret, size_t *ret_n) {
        size_t allocated = 0;

        *ret = NULL;
        *ret_n = 0;
        for (size_t i = 0; i < n_a; i++)
                if (!contains(b, n_b, a[i]) && append(ret, ret_n, &allocated, a[i]) < 0)
                        return -ENOMEM;
        return 0;
}

typedef struct Tuple {
        struct in_addr src, dst;
        uint16_t sport, dport; /* host order */
        uint8_t proto;
} Tuple;

static int attr_cb(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (mnl_attr_type_valid(attr, CTA_MAX) > 0)
                tb[type] = attr;
        return MNL_CB_OK;
}

static void parse_tuple(const struct nlattr *nest, Tuple *t) {
        const struct nlattr *tb[CTA_MAX + 1] = {}, *ip[CTA_MAX + 1] = {}, *proto[CTA_MAX + 1] = {};

        *t = (Tuple) {};
        mnl_attr_parse_nested(nest, attr_cb, tb);
        if (tb[CTA_TUPLE_IP])
                mnl_attr_parse_nested(tb[CTA_TUPLE_IP], attr_cb, ip);
        if (tb[CTA_TUPLE_PROTO])
                mnl_attr_parse_nested(tb[CTA_TUPLE_PROTO], attr_cb, proto);
        if (ip[CTA_IP_V4_SRC] && mnl_attr_get_payload_len(ip[CTA_IP_V4_SRC]) == 4)
                memcpy(&t->src, mnl_attr_get_payload(ip[CTA_IP_V4_SRC]), 4);
        if (ip[CTA_IP_V4_DST] && mnl_attr_get_payload_len(ip[CTA_IP_V4_DST]) == 4)
                memcpy(&t->dst, mnl_attr_get_payload(ip[CTA_IP_V4_DST]), 4);
        if (proto[CTA_PROTO_NUM])
                t->proto = mnl_attr_get_u8(proto[CTA_PROTO_NUM]);
        if (proto[CTA_PROTO_SRC_PORT])
                t->sport = ntohs(mnl_attr_get_u16(proto[CTA_PROTO_SRC_PORT]));
        if (proto[CTA_PROTO_DST_PORT])
                t->dport = ntohs(mnl_attr_get_u16(proto[CTA_PROTO_DST_PORT]));
}

typedef struct Sweep {
        const uint64_t *gone_endpoints, *new_destinations;
        size_t n_gone_endpoints, n_new_destinations;
        /* The original tuples (raw attributes) of the entries to delete, back to back. */
        uint8_t *doomed;
        size_t doomed_len, doomed_allocated;
} Sweep;

static bool stale(const Sweep *s, const Tuple *orig, const Tuple *reply) {
        struct in_addr any = {};

        return contains(s->gone_endpoints, s->n_gone_endpoints, udp_flow_key(reply->src, reply->sport)) ||
               contains(s->new_destinations, s->n_new_destinations, udp_flow_key(orig->dst, orig->dport)) ||
               contains(s->new_destinations, s->n_new_destinations, udp_flow_key(any, orig->dport));
}

static int entry_cb(const struct nlmsghdr *nlh, void *data) {
        const struct nlattr *tb[CTA_MAX + 1] = {};
        Sweep *s = data;
        Tuple orig, reply;
        size_t len;

        mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, tb);
        if (!tb[CTA_TUPLE_ORIG] || !tb[CTA_TUPLE_REPLY])
                return MNL_CB_OK;
        parse_tuple(tb[CTA_TUPLE_ORIG], &orig);
        parse_tuple(tb[CTA_TUPLE_REPLY], &reply);
        if (orig.proto != IPPROTO_UDP || !stale(s, &orig, &reply))
                return MNL_CB_OK;

        len = tb[CTA_TUPLE_ORIG]->nla_len;
        if (s->doomed_len + len > s->doomed_allocated) {
                size_t a = MAX(s->doomed_allocated * 2, (size_t) 4096);
                uint8_t *p = realloc(s->doomed, a);
                if (!p)
                        return MNL_CB_ERROR;
                s->doomed = p;
                s->doomed_allocated = a;
        }
        memcpy(s->doomed + s->doomed_len, tb[CTA_TUPLE_ORIG], len);
        s->doomed_len += MNL_ALIGN(len);
        return MNL_CB_OK;
}

static struct nlmsghdr *ctnetlink_header(char *buf, uint16_t type, uint16_t flags, uint32_t seq) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nfgenmsg *nfg;

        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        nlh->nlmsg_seq = seq;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = AF_INET;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = 0;
        return nlh;
}

/* Runs one request to its end (a dump's last part, or the ACK). */
static int ctnetlink_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data) {
        char buf[32768]; /* as MNL_SOCKET_DUMP_SIZE of newer libmnl */
        uint32_t portid = mnl_socket_get_portid(nl);
        ssize_t n;
        int r;

        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        do {
                n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                if (n < 0)
                        return -errno;
                r = mnl_cb_run(buf, (size_t) n, nlh->nlmsg_seq, portid, cb, data);
        } while (r == MNL_CB_OK);
        return r < 0 ? -errno : 0;
}

static int sweep(struct mnl_socket *nl, Sweep *s) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        uint32_t seq = (uint32_t) time(NULL);
        int deleted = 0, r;

        r = ctnetlink_talk(nl, ctnetlink_header(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq), entry_cb, s);
        if (r < 0)
                return r;
        for (size_t off = 0; off < s->doomed_len;) {
                const struct nlattr *orig = (const struct nlattr *) (s->doomed + off);
                struct nlmsghdr *nlh = ctnetlink_header(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, ++seq);

                mnl_attr_put(nlh, CTA_TUPLE_ORIG | NLA_F_NESTED, mnl_attr_get_payload_len(orig),
                             mnl_attr_get_payload(orig));
                r = ctnetlink_talk(nl, nlh, NULL, NULL);
                if (r >= 0)
                        deleted++;
                else if (r != -ENOENT) /* ENOENT: it expired meanwhile */
                        return r;
                off += MNL_ALIGN(orig->nla_len);
        }
        return deleted;
}

int conntrack_clear_stale_udp(const UdpFlows *before, const UdpFlows *after) {
        _cleanup_free_ uint64_t *gone = NULL, *gained = NULL;
        struct mnl_socket *nl;
        Sweep s = {};
        int r;

        r = difference(before->endpoints, before->n_endpoints, after->endpoints, after->n_endpoints, &gone,
                       &s.n_gone_endpoints);
        if (r >= 0)
                r = difference(after->destinations, after->n_destinations, before->destinations,
                               before->n_destinations, &gained, &s.n_new_destinations);
        if (r < 0)
                return r;
        if (s.n_gone_endpoints == 0 && s.n_new_destinations == 0)
                return 0;
        s.gone_endpoints = gone;
        s.new_destinations = gained;

        nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!nl)
                return -errno;
        r = mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ? -errno : sweep(nl, &s);
        mnl_socket_close(nl);
        free(s.doomed);
        return r;
}
