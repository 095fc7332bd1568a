/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "fileio.h"
#include "hostports.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "nft-batch.h"
#include "nft-build.h"

#define STATE_MAX_SIZE (16u << 20)

typedef struct PodPorts {
        char *uid;
        struct in_addr pod_ip;
        unsigned prefixlen;
        HostPort *ports;
        size_t n;
} PodPorts;

struct HostPorts {
        char *state_path;
        PodPorts *pods; /* the newest first */
        size_t n_pods;
};

uint8_t host_port_protocol_from_string(const char *s) {
        return streq(s, "TCP") ? IPPROTO_TCP : streq(s, "UDP") ? IPPROTO_UDP : streq(s, "SCTP") ? IPPROTO_SCTP : 0;
}

const char *host_port_protocol_to_string(uint8_t protocol) {
        return protocol == IPPROTO_TCP ? "TCP" : protocol == IPPROTO_UDP ? "UDP" : protocol == IPPROTO_SCTP ? "SCTP" : NULL;
}

/* --- building the table -------------------------------------------------------------- */

/* One transaction and/or its text: the rules are sent to batch (if any) and written to
 * text (if any) as nft lists them. */
typedef struct Build {
        NftBatch *batch;
        FILE *text;
} Build;

static int build_chain(Build *b, const char *name, const char *hook_type, int hook, int priority) {
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nft_chain_new(NFPROTO_IPV4, HOST_PORTS_TABLE, name,
                                                                           hook_type, hook, priority);

        if (!c)
                return -ENOMEM;
        return b->batch ? nft_batch_chain(b->batch, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c) : 0;
}

static void text_chain_begin(Build *b, const char *name, const char *header) {
        if (!b->text)
                return;
        fprintf(b->text, "\tchain %s {\n", name);
        if (header)
                fprintf(b->text, "\t\t%s\n", header);
}

static void text_chain_end(Build *b, bool last) {
        if (b->text)
                fputs(last ? "\t}\n" : "\t}\n\n", b->text);
}

/* r complete (NULL: out of memory), text its nft form. */
static int build_rule(Build *b, struct nftnl_rule *r, const char *text) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = r;

        if (!rule)
                return -ENOMEM;
        if (b->text)
                fprintf(b->text, "\t\t%s\n", text);
        return b->batch ? nft_batch_rule(b->batch, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, rule) : 0;
}

/* Adds e to r; r is freed and NULL returned on failure. */
static struct nftnl_rule *add(struct nftnl_rule *r, struct nftnl_expr *e) {
        if (r && nft_rule_add(r, e) < 0) {
                nftnl_rule_free(r);
                return NULL;
        }
        if (!r && e)
                nftnl_expr_free(e);
        return r;
}

static struct nftnl_rule *add_cmp(struct nftnl_rule *r, const void *data, uint32_t len) {
        return add(r, nft_expr_cmp(NFT_CMP_EQ, data, len));
}

static struct nftnl_rule *add_prefix(struct nftnl_rule *r, uint32_t offset, enum nft_cmp_ops op, const Ipv4Prefix *p) {
        if (r && nft_rule_add_match_prefix(r, offset, op, p) < 0) {
                nftnl_rule_free(r);
                return NULL;
        }
        return r;
}

/* `fib daddr type local ip daddr != 127.0.0.0/8 jump hostports` */
static int dispatch_rule(Build *b, const char *chain) {
        struct nftnl_rule *r = nft_rule_new(NFPROTO_IPV4, HOST_PORTS_TABLE, chain);
        Ipv4Prefix loopback = { .addr.s_addr = htonl(INADDR_LOOPBACK & 0xff000000), .prefixlen = 8 };
        uint32_t local = RTN_LOCAL;

        r = add(r, nft_expr_fib(NFTA_FIB_F_DADDR, NFT_FIB_RESULT_ADDRTYPE, NFT_REG_1));
        r = add_cmp(r, &local, sizeof(local));
        r = add_prefix(r, offsetof(struct iphdr, daddr), NFT_CMP_NEQ, &loopback);
        r = add(r, nft_expr_verdict(NFT_JUMP, "hostports"));
        return build_rule(b, r, "fib daddr type local ip daddr != 127.0.0.0/8 jump hostports");
}

/* nft's name of the protocol's header. */
static const char *protocol_keyword(uint8_t protocol) {
        return protocol == IPPROTO_TCP ? "tcp" : protocol == IPPROTO_UDP ? "udp" : "sctp";
}

/* `[ip daddr <hostIP>] <proto> dport <hostPort>`: the match of a mapping, its text in
 * match (256 bytes). */
static struct nftnl_rule *mapping_match(const HostPort *p, char match[static 256]) {
        struct nftnl_rule *r = nft_rule_new(NFPROTO_IPV4, HOST_PORTS_TABLE, "hostports");
        Ipv4Prefix host = { .addr = p->host_ip, .prefixlen = 32 };
        uint16_t port_be = htons(p->host_port);
        char ip[INET_ADDRSTRLEN] = "";

        if (p->host_ip.s_addr != INADDR_ANY) {
                r = add_prefix(r, offsetof(struct iphdr, daddr), NFT_CMP_EQ, &host);
                inet_ntop(AF_INET, &p->host_ip, ip, sizeof(ip));
        }
        r = add(r, nft_expr_meta_load(NFT_META_L4PROTO, NFT_REG_1));
        r = add_cmp(r, &p->protocol, sizeof(p->protocol));
        r = add(r, nft_expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, sizeof(port_be), NFT_REG_1));
        r = add_cmp(r, &port_be, sizeof(port_be));
        snprintf(match, 256, "%s%s%s%s dport %u", *ip ? "ip daddr " : "", ip, *ip ? " " : "",
                 protocol_keyword(p->protocol), p->host_port);
        return r;
}

/* A pod of the pod network reaching a hostPort, even its own, is masqueraded: the
 * answer must come back through the node to be un-DNATed. */
static int hairpin_mark_rule(Build *b, const PodPorts *pod, const HostPort *p) {
        Ipv4Prefix network = { .prefixlen = pod->prefixlen };
        char match[256], text[512], cidr[IPV4_PREFIX_STRLEN];
        struct nftnl_rule *r;

        network.addr.s_addr = pod->pod_ip.s_addr & htonl(pod->prefixlen ? UINT32_MAX << (32 - pod->prefixlen) : 0);
        r = mapping_match(p, match);
        r = add_prefix(r, offsetof(struct iphdr, saddr), NFT_CMP_EQ, &network);
        r = add(r, nft_expr_meta_load(NFT_META_MARK, NFT_REG_1));
        r = add(r, nft_expr_bitwise(~HOST_PORTS_MASQ_MARK, HOST_PORTS_MASQ_MARK));
        r = add(r, nft_expr_meta_store(NFT_META_MARK, NFT_REG_1));
        snprintf(text, sizeof(text), "%s ip saddr %s meta mark set meta mark | 0x%08x", match,
                 ipv4_prefix_to_string(&network, cidr), HOST_PORTS_MASQ_MARK);
        return build_rule(b, r, text);
}

static int dnat_rule(Build *b, const PodPorts *pod, const HostPort *p) {
        uint16_t port_be = htons(p->container_port);
        char match[256], text[512], ip[INET_ADDRSTRLEN];
        struct nftnl_rule *r;

        r = mapping_match(p, match);
        r = add(r, nft_expr_immediate(NFT_REG_1, &pod->pod_ip, sizeof(pod->pod_ip)));
        r = add(r, nft_expr_immediate(NFT_REG_2, &port_be, sizeof(port_be)));
        r = add(r, nft_expr_dnat(NFPROTO_IPV4, NFT_REG_1, NFT_REG_2));
        snprintf(text, sizeof(text), "%s dnat to %s:%u", match, inet_ntop(AF_INET, &pod->pod_ip, ip, sizeof(ip)),
                 p->container_port);
        return build_rule(b, r, text);
}

static int masquerade_rule(Build *b) {
        struct nftnl_rule *r = nft_rule_new(NFPROTO_IPV4, HOST_PORTS_TABLE, "masquerading");
        uint32_t mark = HOST_PORTS_MASQ_MARK;
        char text[128];

        r = add(r, nft_expr_meta_load(NFT_META_MARK, NFT_REG_1));
        r = add(r, nft_expr_bitwise(HOST_PORTS_MASQ_MARK, 0));
        r = add_cmp(r, &mark, sizeof(mark));
        r = add(r, nft_expr_masq(0));
        snprintf(text, sizeof(text), "meta mark & 0x%08x == 0x%08x masquerade", HOST_PORTS_MASQ_MARK,
                 HOST_PORTS_MASQ_MARK);
        return build_rule(b, r, text);
}

static int build_table(HostPorts *h, Build *b) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nft_table_new(NFPROTO_IPV4, HOST_PORTS_TABLE);
        int r;

        if (!t)
                return -ENOMEM;
        if (b->batch && nft_batch_replace_table(b->batch, t) < 0)
                return -ENOMEM;
        /* One after the proxy's dstnat chains (-100): Services first. */
        if (build_chain(b, "prerouting", "nat", NF_INET_PRE_ROUTING, -99) < 0 ||
            build_chain(b, "output", "nat", NF_INET_LOCAL_OUT, -99) < 0 || build_chain(b, "hostports", NULL, 0, 0) < 0 ||
            build_chain(b, "masquerading", "nat", NF_INET_POST_ROUTING, 100) < 0)
                return -ENOMEM;
        if (b->text)
                fputs("table ip " HOST_PORTS_TABLE " {\n", b->text);
        text_chain_begin(b, "prerouting", "type nat hook prerouting priority dstnat + 1; policy accept;");
        r = dispatch_rule(b, "prerouting");
        text_chain_end(b, false);
        text_chain_begin(b, "output", "type nat hook output priority -99; policy accept;");
        if (r >= 0)
                r = dispatch_rule(b, "output");
        text_chain_end(b, false);
        text_chain_begin(b, "hostports", NULL);
        for (size_t i = 0; r >= 0 && i < h->n_pods; i++)
                for (size_t k = 0; r >= 0 && k < h->pods[i].n; k++) {
                        r = hairpin_mark_rule(b, &h->pods[i], &h->pods[i].ports[k]);
                        if (r >= 0)
                                r = dnat_rule(b, &h->pods[i], &h->pods[i].ports[k]);
                }
        text_chain_end(b, false);
        text_chain_begin(b, "masquerading", "type nat hook postrouting priority srcnat; policy accept;");
        if (r >= 0)
                r = masquerade_rule(b);
        text_chain_end(b, true);
        if (b->text)
                fputs("}\n", b->text);
        return r;
}

static size_t count_mappings(const HostPorts *h) {
        size_t n = 0;

        for (size_t i = 0; i < h->n_pods; i++)
                n += h->pods[i].n;
        return n;
}

int host_ports_dump(HostPorts *h, FILE *f) {
        Build b = { .text = f };

        return count_mappings(h) == 0 ? 0 : build_table(h, &b);
}

static int program(HostPorts *h) {
        _cleanup_(nft_batch_freep) NftBatch *batch = NULL;
        Build b = {};
        int r;

        if (count_mappings(h) == 0) {
                r = nft_table_delete(NFPROTO_IPV4, HOST_PORTS_TABLE);
                if (r < 0)
                        return log_error_errno(r, "hostPorts: delete table ip %s: %m", HOST_PORTS_TABLE);
                return 0;
        }
        if (nft_batch_new(NFPROTO_IPV4, &batch) < 0)
                return log_oom();
        b.batch = batch;
        r = build_table(h, &b);
        if (r < 0)
                return log_oom();
        r = nft_batch_commit(batch);
        if (r < 0)
                return log_error_errno(r, "hostPorts: replace table ip %s: %m", HOST_PORTS_TABLE);
        return 0;
}

/* --- the state file ------------------------------------------------------------------ */

static int save(HostPorts *h) {
        _cleanup_(json_object_putp) json_object *pods = json_object_new_array();
        const char *text;
        int r;

        if (!pods)
                return log_oom();
        for (size_t i = 0; i < h->n_pods; i++) {
                const PodPorts *pod = &h->pods[i];
                json_object *o = json_object_new_object(), *ports = json_object_new_array();
                char ip[INET_ADDRSTRLEN];

                json_object_array_add(pods, o);
                json_object_object_add(o, "uid", json_object_new_string(pod->uid));
                json_object_object_add(o, "podIP", json_object_new_string(inet_ntop(AF_INET, &pod->pod_ip, ip, sizeof(ip))));
                json_object_object_add(o, "prefixLength", json_object_new_int((int) pod->prefixlen));
                json_object_object_add(o, "ports", ports);
                for (size_t k = 0; k < pod->n; k++) {
                        json_object *p = json_object_new_object();
                        json_object_array_add(ports, p);
                        json_object_object_add(p, "hostIP", json_object_new_string(inet_ntop(AF_INET, &pod->ports[k].host_ip, ip, sizeof(ip))));
                        json_object_object_add(p, "hostPort", json_object_new_int(pod->ports[k].host_port));
                        json_object_object_add(p, "protocol", json_object_new_string(host_port_protocol_to_string(pod->ports[k].protocol)));
                        json_object_object_add(p, "containerPort", json_object_new_int(pod->ports[k].container_port));
                }
        }
        text = json_object_to_json_string_ext(pods, JSON_C_TO_STRING_PLAIN);
        r = write_file_replace(h->state_path, text, strlen(text), 0600);
        if (r < 0)
                return log_error_errno(r, "hostPorts: write %s: %m", h->state_path);
        return 0;
}

static void pod_ports_done(PodPorts *p) {
        free(p->uid);
        free(p->ports);
}

static int port_in_range(json_object *o, const char *field) {
        int64_t v = json_object_get_int64(json_get(o, field));

        return v >= 1 && v <= 65535 ? (int) v : -1;
}

/* One pod of the state file; -EINVAL for one that is not as save() writes it. */
static int load_pod(json_object *o, PodPorts *ret) {
        _cleanup_(pod_ports_done) PodPorts pod = {};
        json_object *ports = json_get(o, "ports");
        const char *uid = json_get_string(o, "uid", NULL), *ip = json_get_string(o, "podIP", NULL);
        int64_t prefixlen = json_object_get_int64(json_get(o, "prefixLength"));

        if (!uid || !ip || inet_pton(AF_INET, ip, &pod.pod_ip) != 1 || prefixlen < 0 || prefixlen > 32 ||
            !json_object_is_type(ports, json_type_array))
                return -EINVAL;
        pod.prefixlen = (unsigned) prefixlen;
        pod.uid = strdup(uid);
        pod.ports = calloc(MAX(json_array_length(ports), (size_t) 1), sizeof(HostPort));
        if (!pod.uid || !pod.ports)
                return -ENOMEM;
        for (size_t k = 0; k < json_array_length(ports); k++) {
                json_object *p = json_object_array_get_idx(ports, k);
                const char *host_ip = json_get_string(p, "hostIP", NULL);
                HostPort *hp = &pod.ports[pod.n];
                int host_port = port_in_range(p, "hostPort"), container_port = port_in_range(p, "containerPort");

                hp->protocol = host_port_protocol_from_string(json_get_string(p, "protocol", NULL) ?: "");
                if (!host_ip || inet_pton(AF_INET, host_ip, &hp->host_ip) != 1 || hp->protocol == 0 || host_port < 0 ||
                    container_port < 0)
                        return -EINVAL;
                hp->host_port = (uint16_t) host_port;
                hp->container_port = (uint16_t) container_port;
                pod.n++;
        }
        *ret = pod;
        pod = (PodPorts) {};
        return 0;
}

/* A state file that cannot be read is logged and left: the pods' workers set their
 * mappings again. */
static int load(HostPorts *h) {
        _cleanup_free_ char *text = NULL;
        _cleanup_(json_object_putp) json_object *pods = NULL;
        int r;

        r = read_full_file(h->state_path, STATE_MAX_SIZE, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_warning_errno(r, "hostPorts: read %s: %m", h->state_path), 0;
        pods = json_tokener_parse(text);
        if (!json_object_is_type(pods, json_type_array)) {
                log_warning("hostPorts: %s is not a list of pods; starting without it", h->state_path);
                return 0;
        }
        h->pods = calloc(MAX(json_array_length(pods), (size_t) 1), sizeof(PodPorts));
        if (!h->pods)
                return log_oom();
        for (size_t i = 0; i < json_array_length(pods); i++) {
                r = load_pod(json_object_array_get_idx(pods, i), &h->pods[h->n_pods]);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0) {
                        log_warning("hostPorts: %s: pod %zu is not a pod's mappings; left out", h->state_path, i);
                        continue;
                }
                h->n_pods++;
        }
        return 0;
}

/* --- the mappings -------------------------------------------------------------------- */

int host_ports_new(const char *state_path, HostPorts **ret) {
        _cleanup_(host_ports_freep) HostPorts *h = calloc(1, sizeof(HostPorts));
        int r;

        if (!h || !(h->state_path = strdup(state_path)))
                return log_oom();
        r = load(h);
        if (r < 0)
                return r;
        if (count_mappings(h) > 0) {
                r = program(h);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(h);
        return 0;
}

void host_ports_free(HostPorts *h) {
        if (!h)
                return;
        for (size_t i = 0; i < h->n_pods; i++)
                pod_ports_done(&h->pods[i]);
        free(h->pods);
        free(h->state_path);
        free(h);
}

static ssize_t find_pod(const HostPorts *h, const char *uid) {
        for (size_t i = 0; i < h->n_pods; i++)
                if (streq(h->pods[i].uid, uid))
                        return (ssize_t) i;
        return -1;
}

static void drop_pod(HostPorts *h, size_t i) {
        pod_ports_done(&h->pods[i]);
        memmove(&h->pods[i], &h->pods[i + 1], (h->n_pods - i - 1) * sizeof(PodPorts));
        h->n_pods--;
}

/* The table and the state file after a change. */
static int commit(HostPorts *h) {
        int r = program(h), k = save(h);

        return r < 0 ? r : k;
}

static bool same_mappings(const PodPorts *pod, struct in_addr pod_ip, unsigned prefixlen, const HostPort *ports,
                          size_t n) {
        if (pod->pod_ip.s_addr != pod_ip.s_addr || pod->prefixlen != prefixlen || pod->n != n)
                return false;
        for (size_t k = 0; k < n; k++)
                if (pod->ports[k].host_ip.s_addr != ports[k].host_ip.s_addr || pod->ports[k].protocol != ports[k].protocol ||
                    pod->ports[k].host_port != ports[k].host_port || pod->ports[k].container_port != ports[k].container_port)
                        return false;
        return true;
}

int host_ports_set(HostPorts *h, const char *uid, struct in_addr pod_ip, unsigned prefixlen, const HostPort *ports,
                   size_t n) {
        ssize_t i = find_pod(h, uid);
        PodPorts pod = { .pod_ip = pod_ip, .prefixlen = prefixlen, .n = n };
        PodPorts *grown;

        if (i >= 0 && same_mappings(&h->pods[i], pod_ip, prefixlen, ports, n))
                return 0; /* an adopted pod: nothing changes */
        if (i < 0 && n == 0)
                return 0;
        if (i >= 0)
                drop_pod(h, (size_t) i);
        if (n > 0) {
                grown = reallocarray(h->pods, h->n_pods + 1, sizeof(PodPorts));
                if (!grown)
                        return log_oom();
                h->pods = grown;
                pod.uid = strdup(uid);
                pod.ports = calloc(n, sizeof(HostPort));
                if (!pod.uid || !pod.ports) {
                        pod_ports_done(&pod);
                        return log_oom();
                }
                memcpy(pod.ports, ports, n * sizeof(HostPort));
                memmove(&h->pods[1], &h->pods[0], h->n_pods * sizeof(PodPorts));
                h->pods[0] = pod;
                h->n_pods++;
        }
        return commit(h);
}

int host_ports_remove(HostPorts *h, const char *uid) {
        return host_ports_set(h, uid, (struct in_addr) {}, 0, NULL, 0);
}

int host_ports_retain(HostPorts *h, bool (*live)(const char *uid, void *userdata), void *userdata) {
        bool changed = false;

        for (size_t i = h->n_pods; i-- > 0;)
                if (!live(h->pods[i].uid, userdata)) {
                        log_info("hostPorts: pod %s is gone; its mappings are removed", h->pods[i].uid);
                        drop_pod(h, i);
                        changed = true;
                }
        return changed ? commit(h) : 0;
}
