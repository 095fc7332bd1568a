/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conntrack.h"

/* The proxy's memory of what its table holds, so that a sync sends only what changed
 * and never reads the table back: per Service, the chains it owns (name, a hash of
 * their rules), its affinity sets and its map elements;
 * and for the whole table, every map element with its verdict and owner. */

uint64_t committed_hash(uint64_t h, const char *s); /* FNV-1a; start with COMMITTED_HASH_INIT */
#define COMMITTED_HASH_INIT 0xcbf29ce484222325ULL

typedef struct CommittedChain {
        char *name;
        uint64_t hash; /* of its rules' nft text */
} CommittedChain;

typedef struct Fragment {
        char *service;
        CommittedChain *chains; /* sorted by name once finished */
        size_t n_chains, allocated_chains;
        char **sets; /* endpoint maps and affinity sets */
        size_t n_sets, allocated_sets;
        char **elements; /* element keys, as in CommittedElement */
        size_t n_elements, allocated_elements;
        UdpFlows udp; /* its UDP endpoints and destinations, for conntrack */
} Fragment;

typedef struct CommittedElement {
        int set;
        uint8_t key[12];
        uint32_t key_len;
        uint64_t value;      /* hash of what it maps to, in nft syntax */
        uint64_t owner;      /* hash of the owning Service's key */
        uint64_t generation; /* the sync that last claimed it */
        uint32_t refs;       /* holders of an element of a shared set */
        char name[];         /* "<set> <key in nft syntax>" */
} CommittedElement;

typedef struct Committed Committed;

int committed_new(Committed **ret);
void committed_free(Committed *c);
/* Forgets everything: the table is about to be replaced whole. */
void committed_reset(Committed *c);
/* True once something was committed since the last reset. */
bool committed_valid(const Committed *c);
void committed_set_valid(Committed *c, bool valid);
/* A new sync begins: the generation its claims on elements carry. */
uint64_t committed_begin(Committed *c);
/* Appends the UDP flows of every fragment to into. */
int committed_collect_udp(Committed *c, UdpFlows *into);
/* Appends from's flows to into. */
int udp_flows_append(UdpFlows *into, const UdpFlows *from);

int fragment_new(const char *service, Fragment **ret);
void fragment_free(Fragment *f);
static inline void fragment_freep(Fragment **f) {
        fragment_free(*f);
}
int fragment_add_chain(Fragment *f, const char *name, uint64_t hash);
int fragment_add_set(Fragment *f, const char *name);
int fragment_add_element(Fragment *f, const char *name);
/* Sorts chains and elements by name, for fragment_find_chain and fragment_has_element. */
void fragment_finish(Fragment *f);
bool fragment_has_element(const Fragment *f, const char *name);
const CommittedChain *fragment_find_chain(const Fragment *f, const char *name);
bool fragment_has_set(const Fragment *f, const char *name);

/* The committed fragment of a Service, or NULL. */
Fragment *committed_fragment(Committed *c, const char *service);
/* Replaces (frees) the Service's fragment by f (taken), or drops it when f is NULL. */
int committed_put_fragment(Committed *c, const char *service, Fragment *f);

CommittedElement *committed_element(Committed *c, const char *name);
int committed_add_element(Committed *c, const char *name, CommittedElement **ret);
void committed_remove_element(Committed *c, const char *name);
