/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "committed.h"
#include "nft-batch.h"
#include "nft-build.h"
#include "ruleset.h"

/* Inside proxy/ruleset: the Builder that turns the table's chains, rules, sets and
 * elements into one transaction (and/or the nft text of the dump), sending only what
 * differs from what is committed. ruleset.c says what the table holds. */

/* nft's datatype numbers, so that `nft list` prints our maps' keys properly. Each part
 * of a concatenation needs a fixed-size type (nft cannot list `integer . integer`),
 * hence mark for 32-bit numbers. */
#define TYPE_IPADDR 7
#define TYPE_INET_PROTOCOL 12
#define TYPE_INET_SERVICE 13
#define TYPE_MARK 19
#define CONCAT2(a, b) ((a) << 6 | (b))
#define CONCAT3(a, b, c) (CONCAT2(a, b) << 6 | (c))

enum {
        SET_SERVICE_IPS = 1,
        SET_SERVICE_NODEPORTS,
        SET_NO_ENDPOINT_SERVICES,
        SET_NO_ENDPOINT_NODEPORTS,
        SET_HAIRPIN,
        _SET_MAX,
};

typedef enum SetKind {
        VERDICT_MAP,
        DATA_MAP,   /* a Service's endpoints: index to address . port */
        SHARED_SET, /* plain set; several Services may hold the same element */
} SetKind;

/* CommittedElement.set of an element in a Service's own set, whose name is the part of
 * the element's name before the space. */
#define SET_OF_SERVICE (-1)

typedef struct RulesetSet {
        const char *name;
        SetKind kind;
        uint32_t key_type, key_len;
        const char *nft_type; /* for the dump */
} RulesetSet;

/* The table's own sets and maps, by the enum above. */
extern const RulesetSet ruleset_sets[_SET_MAX];

/* What one sync builds: the batch, the dump, and the elements of each map to add.
 *
 * Per Service, the chains are built into `now` and compared with what is committed for
 * that Service (`old`): a chain's rules are held back until the chain is complete, then
 * sent if the chain is new or its rules changed (flush + rules), or dropped if unchanged.
 * Map elements are compared with the committed ones by key. A full sync (partial false)
 * sends everything into a replaced table. */
typedef struct Builder {
        NftBatch *batch;
        FILE *dump;
        struct nftnl_set *elements[_SET_MAX];
        size_t n_elements[_SET_MAX];
        const ProxyConfig *config;
        Committed *committed; /* NULL when only dumping */
        bool partial;
        uint64_t generation;
        const Fragment *old; /* the Service's committed fragment, or NULL */
        Fragment *now;       /* the Service's fragment being built */
        uint64_t owner;      /* hash of the Service's key */
        struct {
                char name[512];
                uint64_t hash;
                struct nftnl_rule **rules;
                size_t n_rules, allocated;
                bool active;
        } pending;
        uint32_t next_set_id; /* ids of the sets created in this transaction */
        struct {
                char name[512];
                struct nftnl_set *add, *del;
        } own; /* elements for one of the Service's own sets */
        struct in_addr *addresses; /* endpoint addresses of the Service being built */
        size_t n_addresses, allocated_addresses;
        UdpFlows *udp;        /* what UDP Services were programmed, for conntrack (may be NULL) */
        ProxyStats *stats;
        int error;
} Builder;

/* What an element maps to: a chain to goto (NULL: drop) in verdict maps, an endpoint's
 * address . port in the endpoints map, nothing in plain sets. */
typedef struct ElementValue {
        const char *chain;
        uint8_t endpoint[8];
} ElementValue;

/* Appends e to r; an expression that could not be made fails the build. */
void builder_add(Builder *b, struct nftnl_rule *r, struct nftnl_expr *e);

/* The expressions as the rules of ruleset.c use them; a failure is kept in b->error. */
void builder_payload(Builder *b, struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg);
void builder_cmp(Builder *b, struct nftnl_rule *r, enum nft_cmp_ops op, const void *data, uint32_t len);
void builder_verdict(Builder *b, struct nftnl_rule *r, int code, const char *chain);
void builder_vmap_lookup(Builder *b, struct nftnl_rule *r, int set, uint32_t sreg);

/* `ip saddr|daddr [!=] prefix` */
void builder_match_prefix(Builder *b, struct nftnl_rule *r, uint32_t offset, enum nft_cmp_ops op, const Ipv4Prefix *p);

/* One of the table's sets (ruleset_sets), created; its gathered elements, sent. */
void builder_declare_set(Builder *b, int set);
void builder_flush_elements(Builder *b, int set);

/* Sends the elements gathered for a Service's own set: deletions, then additions. */
void builder_flush_own(Builder *b);

/* Adds `key : value` to a map unless it is there already; dump_key and dump_value are
 * in nft syntax. A key another Service claimed in this sync stays with that Service. */
void builder_element(Builder *b, int set, const char *set_name, const void *key, uint32_t len, const ElementValue *v,
                     const char *dump_key, const char *dump_value);

/* `key : goto chain`, or `key : drop` without chain. */
void builder_verdict_element(Builder *b, int set, const void *key, uint32_t len, const char *chain, const char *dump_key);

/* The Service chain being built is complete: sent if new or changed, else dropped. */
void builder_chain_finish(Builder *b);

/* Starts chain name: a base chain with type, hook and priority, or (type NULL) a
 * Service's chain, whose rules are held back until builder_chain_finish(). */
void builder_chain(Builder *b, const char *name, const char *type, int hook, int priority);

/* A rule for chain_name, ended by builder_rule_end() whatever happened (NULL: out of
 * memory, noted in b->error). */
struct nftnl_rule *builder_rule_new(Builder *b, const char *chain_name);

/* Sends rule r, or holds it back with the Service chain being built (text is its nft
 * form: for the dump, and hashed to tell whether the chain changed). */
void builder_rule_end(Builder *b, struct nftnl_rule *r, const char *chain_name, const char *text);

/* `jump|goto to` in from. */
void builder_rule_jump(Builder *b, const char *from, int code, const char *to);

/* A set of a Service's own: with timeout_sec, the dynamic set of client addresses of
 * an endpoint for sessionAffinity ClientIP; without, the map from index to endpoint
 * address . port of a selection chain. Created unless it is there already. */
void builder_declare_own_set(Builder *b, const char *name, uint32_t id, uint32_t timeout_sec);

/* Removes what the Service had and no longer has: its elements no one claimed again in
 * this sync, then its chains and sets (nothing refers to them any more). */
void builder_retire(Builder *b);
