/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "ruleset-builder.h"

const RulesetSet ruleset_sets[_SET_MAX] = {
        [SET_SERVICE_IPS] = { "service-ips", VERDICT_MAP, CONCAT3(TYPE_IPADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE), 12,
                              "ipv4_addr . inet_proto . inet_service : verdict" },
        [SET_SERVICE_NODEPORTS] = { "service-nodeports", VERDICT_MAP, CONCAT2(TYPE_INET_PROTOCOL, TYPE_INET_SERVICE), 8,
                                    "inet_proto . inet_service : verdict" },
        [SET_NO_ENDPOINT_SERVICES] = { "no-endpoint-services", VERDICT_MAP,
                                       CONCAT3(TYPE_IPADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE), 12,
                                       "ipv4_addr . inet_proto . inet_service : verdict" },
        [SET_NO_ENDPOINT_NODEPORTS] = { "no-endpoint-nodeports", VERDICT_MAP,
                                        CONCAT2(TYPE_INET_PROTOCOL, TYPE_INET_SERVICE), 8,
                                        "inet_proto . inet_service : verdict" },
        /* endpoint . endpoint: after DNAT, a pod reaching itself through a Service. */
        [SET_HAIRPIN] = { "hairpin", SHARED_SET, CONCAT2(TYPE_IPADDR, TYPE_IPADDR), 8, "ipv4_addr . ipv4_addr" },
};

/* --- expressions --------------------------------------------------------------------- */

void builder_add(Builder *b, struct nftnl_rule *r, struct nftnl_expr *e) {
        if (nft_rule_add(r, e) < 0)
                b->error = -ENOMEM;
}

void builder_payload(Builder *b, struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
        builder_add(b, r, nft_expr_payload(base, offset, len, dreg));
}

void builder_cmp(Builder *b, struct nftnl_rule *r, enum nft_cmp_ops op, const void *data, uint32_t len) {
        builder_add(b, r, nft_expr_cmp(op, data, len));
}

void builder_verdict(Builder *b, struct nftnl_rule *r, int code, const char *chain) {
        builder_add(b, r, nft_expr_verdict(code, chain));
}

void builder_vmap_lookup(Builder *b, struct nftnl_rule *r, int set, uint32_t sreg) {
        builder_add(b, r, nft_expr_map_lookup(ruleset_sets[set].name, (uint32_t) set, sreg, NFT_REG_VERDICT));
}

void builder_match_prefix(Builder *b, struct nftnl_rule *r, uint32_t offset, enum nft_cmp_ops op, const Ipv4Prefix *p) {
        if (nft_rule_add_match_prefix(r, offset, op, p) < 0)
                b->error = -ENOMEM;
}

/* --- objects ------------------------------------------------------------------------- */

static struct nftnl_set *set_named(const char *name, uint32_t id) {
        struct nftnl_set *s = nft_set_new(NFPROTO_IPV4, PROXY_TABLE, name);

        if (s)
                nftnl_set_set_u32(s, NFTNL_SET_ID, id);
        return s;
}

static struct nftnl_set *set_new(int set) {
        return set_named(ruleset_sets[set].name, (uint32_t) set);
}

/* Puts a set message into the transaction (none when only dumping) and frees the set;
 * NULL is an allocation that failed. */
static void send_set(Builder *b, uint16_t type, uint16_t flags, struct nftnl_set *s) {
        if (!s) {
                b->error = -ENOMEM;
                return;
        }
        if (b->batch && nft_batch_set(b->batch, type, flags, s) < 0)
                b->error = -ENOMEM;
        nftnl_set_free(s);
}

void builder_declare_set(Builder *b, int set) {
        struct nftnl_set *s = set_new(set);

        if (b->dump)
                fprintf(b->dump, "\tadd %s ip %s %s { type %s; }\n", ruleset_sets[set].kind == SHARED_SET ? "set" : "map",
                        PROXY_TABLE, ruleset_sets[set].name, ruleset_sets[set].nft_type);
        if (s) {
                nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, ruleset_sets[set].key_type);
                nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, ruleset_sets[set].key_len);
        }
        if (s && ruleset_sets[set].kind == VERDICT_MAP) {
                nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
                nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
        }
        send_set(b, NFT_MSG_NEWSET, NLM_F_CREATE, s);
}

void builder_flush_elements(Builder *b, int set) {
        if (!b->elements[set])
                return;
        if (b->batch && nft_batch_set_elems(b->batch, NFT_MSG_NEWSETELEM, NLM_F_CREATE, b->elements[set]) < 0)
                b->error = -ENOMEM;
        nftnl_set_free(b->elements[set]);
        b->elements[set] = NULL;
        b->n_elements[set] = 0;
}

void builder_flush_own(Builder *b) {
        for (int i = 0; i < 2; i++) {
                struct nftnl_set **container = i == 0 ? &b->own.del : &b->own.add;
                if (!*container)
                        continue;
                if (nft_batch_set_elems(b->batch, i == 0 ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM,
                                        i == 0 ? 0 : NLM_F_CREATE, *container) < 0)
                        b->error = -ENOMEM;
                nftnl_set_free(*container);
                *container = NULL;
        }
}

/* Elements of one Service's own set go out together, one message each way: the kernel
 * finds a set by name in a list, once per message. */
static void own_element(Builder *b, uint16_t type, const char *set_name, struct nftnl_set_elem *e) {
        struct nftnl_set **container = type == NFT_MSG_DELSETELEM ? &b->own.del : &b->own.add;

        if (!streq(b->own.name, set_name)) {
                builder_flush_own(b);
                snprintf(b->own.name, sizeof(b->own.name), "%s", set_name);
        }
        if (!*container && !(*container = set_named(set_name, 0))) {
                nftnl_set_elem_free(e);
                b->error = -ENOMEM;
                return;
        }
        nftnl_set_elem_add(*container, e);
}

/* Sends an element of a set (set ≥ 1) at once, except additions to the table's maps,
 * which are gathered into big messages; those of a Service's own set (set_name) are
 * gathered until builder_flush_own(). */
static void send_element(Builder *b, uint16_t type, int set, const char *set_name, const void *key, uint32_t len,
                         const ElementValue *v) {
        SetKind kind = set == SET_OF_SERVICE ? DATA_MAP : ruleset_sets[set].kind;
        bool adding = type == NFT_MSG_NEWSETELEM;
        struct nftnl_set_elem *e = adding && kind == VERDICT_MAP
                                           ? nft_set_elem_new_verdict(key, len, v->chain ? NFT_GOTO : NF_DROP, v->chain)
                                           : nft_set_elem_new(key, len, adding && kind == DATA_MAP ? v->endpoint : NULL,
                                                              sizeof(v->endpoint));
        struct nftnl_set *container;

        if (!e) {
                b->error = -ENOMEM;
                return;
        }
        if (type == NFT_MSG_NEWSETELEM && set != SET_OF_SERVICE) {
                if (!b->elements[set] && !(b->elements[set] = set_new(set))) {
                        nftnl_set_elem_free(e);
                        b->error = -ENOMEM;
                        return;
                }
                nftnl_set_elem_add(b->elements[set], e);
                b->n_elements[set]++;
                return;
        }
        if (set == SET_OF_SERVICE) {
                own_element(b, type, set_name, e);
                return;
        }
        container = set_new(set);
        if (!container) {
                nftnl_set_elem_free(e);
                b->error = -ENOMEM;
                return;
        }
        nftnl_set_elem_add(container, e);
        if (nft_batch_set_elems(b->batch, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, container) < 0)
                b->error = -ENOMEM;
        nftnl_set_free(container);
}

/* A new element of set in what is committed; NULL (b->error set) when there is no memory. */
static CommittedElement *commit_element(Builder *b, const char *name, int set, const void *key, uint32_t len) {
        CommittedElement *e;
        int r = committed_add_element(b->committed, name, &e);

        if (r < 0) {
                b->error = r;
                return NULL;
        }
        e->set = set;
        memcpy(e->key, key, len);
        e->key_len = len;
        return e;
}

/* A shared element: added when its first holder appears, kept while any holds it. */
static void shared_element(Builder *b, int set, const void *key, uint32_t len, const char *name) {
        CommittedElement *e = committed_element(b->committed, name);

        if (fragment_add_element(b->now, name) < 0) {
                b->error = -ENOMEM;
                return;
        }
        if (b->partial && fragment_has_element(b->old, name))
                return; /* held before, held still */
        if (e) {
                e->refs++;
                return;
        }
        e = commit_element(b, name, set, key, len);
        if (!e)
                return;
        e->refs = 1;
        send_element(b, NFT_MSG_NEWSETELEM, set, NULL, key, len, NULL);
        b->stats->elements_sent++;
}

void builder_element(Builder *b, int set, const char *set_name, const void *key, uint32_t len, const ElementValue *v,
                     const char *dump_key, const char *dump_value) {
        char name[700];
        CommittedElement *e;
        uint64_t value;

        if (set != SET_OF_SERVICE)
                set_name = ruleset_sets[set].name;
        if (b->dump)
                fprintf(b->dump, "\tadd element ip %s %s { %s%s%s }\n", PROXY_TABLE, set_name, dump_key,
                        dump_value ? " : " : "", dump_value ?: "");
        if (!b->batch)
                return;
        snprintf(name, sizeof(name), "%s %s", set_name, dump_key);
        if (set != SET_OF_SERVICE && ruleset_sets[set].kind == SHARED_SET) {
                shared_element(b, set, key, len, name);
                return;
        }
        value = committed_hash(COMMITTED_HASH_INIT, dump_value);
        e = committed_element(b->committed, name);
        if (e && e->generation == b->generation && e->owner != b->owner) {
                log_warning("proxy: %s is claimed by two Services; the first keeps it", dump_key);
                return;
        }
        if (fragment_add_element(b->now, name) < 0) {
                b->error = -ENOMEM;
                return;
        }
        if (e && e->value == value) {
                e->owner = b->owner;
                e->generation = b->generation;
                return;
        }
        if (e) /* the same key with another value: replaced within the transaction */
                send_element(b, NFT_MSG_DELSETELEM, set, set_name, e->key, e->key_len, NULL);
        else if (!(e = commit_element(b, name, set, key, len)))
                return;
        e->value = value;
        e->owner = b->owner;
        e->generation = b->generation;
        send_element(b, NFT_MSG_NEWSETELEM, set, set_name, key, len, v);
        b->stats->elements_sent++;
}

void builder_verdict_element(Builder *b, int set, const void *key, uint32_t len, const char *chain, const char *dump_key) {
        ElementValue v = { .chain = chain };
        char dump_value[520];

        snprintf(dump_value, sizeof(dump_value), "%s%s", chain ? "goto " : "drop", chain ?: "");
        builder_element(b, set, NULL, key, len, &v, dump_key, dump_value);
}

static void send_chain(Builder *b, uint16_t type, const char *name, const char *hook_type, int hook, int priority) {
        struct nftnl_chain *c = nft_chain_new(NFPROTO_IPV4, PROXY_TABLE, name, hook_type, hook, priority);

        if (!c) {
                b->error = -ENOMEM;
                return;
        }
        if (nft_batch_chain(b->batch, type, type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0, c) < 0)
                b->error = -ENOMEM;
        nftnl_chain_free(c);
}

/* Deletes every rule of a chain (NFT_MSG_DELRULE naming only the chain). */
static void flush_chain(Builder *b, const char *name) {
        struct nftnl_rule *r = nft_rule_new(NFPROTO_IPV4, PROXY_TABLE, name);

        if (!r) {
                b->error = -ENOMEM;
                return;
        }
        if (nft_batch_rule(b->batch, NFT_MSG_DELRULE, 0, r) < 0)
                b->error = -ENOMEM;
        nftnl_rule_free(r);
}

static void send_rule(Builder *b, struct nftnl_rule *r) {
        if (b->error >= 0 && nft_batch_rule(b->batch, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r) < 0)
                b->error = -ENOMEM;
        nftnl_rule_free(r);
}

void builder_chain_finish(Builder *b) {
        const CommittedChain *old;
        bool send = true;

        if (!b->pending.active)
                return;
        b->pending.active = false;
        old = b->partial ? fragment_find_chain(b->old, b->pending.name) : NULL;
        if (!old)
                send_chain(b, NFT_MSG_NEWCHAIN, b->pending.name, NULL, 0, 0);
        else if (old->hash != b->pending.hash)
                flush_chain(b, b->pending.name);
        else
                send = false;
        for (size_t i = 0; i < b->pending.n_rules; i++) {
                if (send)
                        send_rule(b, b->pending.rules[i]);
                else
                        nftnl_rule_free(b->pending.rules[i]);
        }
        b->pending.n_rules = 0;
        b->stats->chains_sent += send;
        if (fragment_add_chain(b->now, b->pending.name, b->pending.hash) < 0)
                b->error = -ENOMEM;
}

void builder_chain(Builder *b, const char *name, const char *type, int hook, int priority) {
        if (b->now && b->batch) {
                builder_chain_finish(b);
                snprintf(b->pending.name, sizeof(b->pending.name), "%s", name);
                b->pending.hash = COMMITTED_HASH_INIT;
                b->pending.active = true;
        } else if (b->batch)
                send_chain(b, NFT_MSG_NEWCHAIN, name, type, hook, priority);
        if (b->dump) {
                if (type)
                        fprintf(b->dump, "\tadd chain ip %s %s { type %s hook %s priority %d; }\n", PROXY_TABLE, name,
                                type,
                                hook == NF_INET_PRE_ROUTING    ? "prerouting"
                                : hook == NF_INET_LOCAL_OUT    ? "output"
                                : hook == NF_INET_POST_ROUTING ? "postrouting"
                                : hook == NF_INET_LOCAL_IN     ? "input"
                                                               : "forward",
                                priority);
                else
                        fprintf(b->dump, "\tadd chain ip %s %s\n", PROXY_TABLE, name);
        }
}

struct nftnl_rule *builder_rule_new(Builder *b, const char *chain_name) {
        struct nftnl_rule *r = nft_rule_new(NFPROTO_IPV4, PROXY_TABLE, chain_name);

        if (!r)
                b->error = -ENOMEM;
        return r;
}

void builder_rule_end(Builder *b, struct nftnl_rule *r, const char *chain_name, const char *text) {
        if (b->dump)
                fprintf(b->dump, "\tadd rule ip %s %s %s\n", PROXY_TABLE, chain_name, text);
        if (!r)
                return;
        if (!b->batch) {
                nftnl_rule_free(r);
                return;
        }
        if (!b->pending.active) {
                send_rule(b, r);
                return;
        }
        b->pending.hash = committed_hash(committed_hash(b->pending.hash, text), "\n");
        if (b->pending.n_rules == b->pending.allocated) {
                size_t a = MAX(b->pending.allocated * 2, (size_t) 8);
                struct nftnl_rule **p = realloc(b->pending.rules, a * sizeof(*p));
                if (!p) {
                        nftnl_rule_free(r);
                        b->error = -ENOMEM;
                        return;
                }
                b->pending.rules = p;
                b->pending.allocated = a;
        }
        b->pending.rules[b->pending.n_rules++] = r;
}

void builder_rule_jump(Builder *b, const char *from, int code, const char *to) {
        struct nftnl_rule *r = builder_rule_new(b, from);
        char text[600];

        if (r)
                builder_verdict(b, r, code, to);
        snprintf(text, sizeof(text), "%s %s", code == NFT_JUMP ? "jump" : "goto", to);
        builder_rule_end(b, r, from, text);
}

void builder_declare_own_set(Builder *b, const char *name, uint32_t id, uint32_t timeout_sec) {
        struct nftnl_set *s;

        if (b->dump && timeout_sec)
                fprintf(b->dump, "\tadd set ip %s %s { type ipv4_addr; flags dynamic,timeout; timeout %us; }\n",
                        PROXY_TABLE, name, timeout_sec);
        else if (b->dump)
                fprintf(b->dump, "\tadd map ip %s %s { type mark : ipv4_addr . inet_service; }\n", PROXY_TABLE, name);
        if (!b->batch)
                return;
        if (fragment_add_set(b->now, name) < 0) {
                b->error = -ENOMEM;
                return;
        }
        if (b->partial && fragment_has_set(b->old, name))
                return;
        s = set_named(name, id);
        if (!s) {
                b->error = -ENOMEM;
                return;
        }
        if (timeout_sec) {
                nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT | NFT_SET_EVAL);
                nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, TYPE_IPADDR);
                nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, (uint64_t) timeout_sec * 1000);
        } else {
                nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
                nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, TYPE_MARK);
                nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, CONCAT2(TYPE_IPADDR, TYPE_INET_SERVICE));
                nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 8);
        }
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
        send_set(b, NFT_MSG_NEWSET, NLM_F_CREATE, s);
}

void builder_retire(Builder *b) {
        const Fragment *old = b->old;

        for (size_t i = 0; i < old->n_elements; i++) {
                CommittedElement *e = committed_element(b->committed, old->elements[i]);
                if (!e)
                        continue;
                if (e->set != SET_OF_SERVICE && ruleset_sets[e->set].kind == SHARED_SET) {
                        if (fragment_has_element(b->now, old->elements[i]) || --e->refs > 0)
                                continue;
                } else if (e->owner != b->owner || e->generation == b->generation)
                        continue;
                if (e->set == SET_OF_SERVICE) {
                        /* In a set of this Service: gone with the set, or deleted from it. */
                        char set_name[512];
                        snprintf(set_name, sizeof(set_name), "%.*s", (int) strcspn(e->name, " "), e->name);
                        if (fragment_has_set(b->now, set_name))
                                send_element(b, NFT_MSG_DELSETELEM, SET_OF_SERVICE, set_name, e->key, e->key_len, NULL);
                } else
                        send_element(b, NFT_MSG_DELSETELEM, e->set, NULL, e->key, e->key_len, NULL);
                committed_remove_element(b->committed, old->elements[i]);
        }
        builder_flush_own(b);
        /* All emptied before any is deleted: they may jump to one another. */
        for (size_t i = 0; i < old->n_chains; i++)
                if (!fragment_find_chain(b->now, old->chains[i].name))
                        flush_chain(b, old->chains[i].name);
        for (size_t i = 0; i < old->n_chains; i++)
                if (!fragment_find_chain(b->now, old->chains[i].name)) {
                        send_chain(b, NFT_MSG_DELCHAIN, old->chains[i].name, NULL, 0, 0);
                        b->stats->chains_sent++;
                }
        for (size_t i = 0; i < old->n_sets; i++)
                if (!fragment_has_set(b->now, old->sets[i]))
                        send_set(b, NFT_MSG_DELSET, 0, nft_set_new(NFPROTO_IPV4, PROXY_TABLE, old->sets[i]));
}
