/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <json-c/linkhash.h>
#include <stdlib.h>
#include <string.h>

#include "committed.h"
#include "macro.h"

struct Committed {
        struct lh_table *fragments; /* service key → Fragment */
        struct lh_table *elements;  /* element name → CommittedElement */
        uint64_t generation;
        bool valid;
};

uint64_t committed_hash(uint64_t h, const char *s) {
        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * 0x100000001b3ULL;
        return h;
}

static void free_fragment_entry(struct lh_entry *e) {
        fragment_free(lh_entry_v(e));
}

static void free_element_entry(struct lh_entry *e) {
        free(lh_entry_v(e));
}

int committed_new(Committed **ret) {
        Committed *c = calloc(1, sizeof(Committed));

        if (!c)
                return -ENOMEM;
        c->fragments = lh_kchar_table_new(1024, free_fragment_entry);
        c->elements = lh_kchar_table_new(4096, free_element_entry);
        if (!c->fragments || !c->elements) {
                committed_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

void committed_free(Committed *c) {
        if (!c)
                return;
        if (c->fragments)
                lh_table_free(c->fragments);
        if (c->elements)
                lh_table_free(c->elements);
        free(c);
}

void committed_reset(Committed *c) {
        struct lh_table *f = lh_kchar_table_new(1024, free_fragment_entry),
                        *e = lh_kchar_table_new(4096, free_element_entry);

        c->valid = false;
        if (!f || !e) { /* keep the old (now invalid) tables rather than none */
                if (f)
                        lh_table_free(f);
                if (e)
                        lh_table_free(e);
                return;
        }
        lh_table_free(c->fragments);
        lh_table_free(c->elements);
        c->fragments = f;
        c->elements = e;
}

bool committed_valid(const Committed *c) {
        return c->valid;
}

void committed_set_valid(Committed *c, bool valid) {
        c->valid = valid;
}

uint64_t committed_begin(Committed *c) {
        return ++c->generation;
}

int udp_flows_append(UdpFlows *into, const UdpFlows *from) {
        for (size_t i = 0; i < from->n_endpoints; i++)
                if (udp_flows_add_endpoint(into, from->endpoints[i]) < 0)
                        return -ENOMEM;
        for (size_t i = 0; i < from->n_destinations; i++)
                if (udp_flows_add_destination(into, from->destinations[i]) < 0)
                        return -ENOMEM;
        return 0;
}

int committed_collect_udp(Committed *c, UdpFlows *into) {
        struct lh_entry *e;

        lh_foreach(c->fragments, e) {
                int r = udp_flows_append(into, &((const Fragment *) lh_entry_v(e))->udp);
                if (r < 0)
                        return r;
        }
        return 0;
}

int fragment_new(const char *service, Fragment **ret) {
        Fragment *f = calloc(1, sizeof(Fragment));

        if (!f || !(f->service = strdup(service))) {
                free(f);
                return -ENOMEM;
        }
        *ret = f;
        return 0;
}

void fragment_free(Fragment *f) {
        if (!f)
                return;
        for (size_t i = 0; i < f->n_chains; i++)
                free(f->chains[i].name);
        for (size_t i = 0; i < f->n_sets; i++)
                free(f->sets[i]);
        for (size_t i = 0; i < f->n_elements; i++)
                free(f->elements[i]);
        free(f->chains);
        free(f->sets);
        free(f->elements);
        udp_flows_done(&f->udp);
        free(f->service);
        free(f);
}

static int grow(void **items, size_t *allocated, size_t n, size_t size) {
        if (n < *allocated)
                return 0;
        size_t a = MAX(*allocated * 2, (size_t) 8);
        void *p = realloc(*items, a * size);
        if (!p)
                return -ENOMEM;
        *items = p;
        *allocated = a;
        return 0;
}

int fragment_add_chain(Fragment *f, const char *name, uint64_t hash) {
        char *copy;

        if (grow((void **) &f->chains, &f->allocated_chains, f->n_chains, sizeof(CommittedChain)) < 0 ||
            !(copy = strdup(name)))
                return -ENOMEM;
        f->chains[f->n_chains++] = (CommittedChain) { .name = copy, .hash = hash };
        return 0;
}

static int add_string(char ***items, size_t *n, size_t *allocated, const char *s) {
        char *copy;

        if (grow((void **) items, allocated, *n, sizeof(char *)) < 0 || !(copy = strdup(s)))
                return -ENOMEM;
        (*items)[(*n)++] = copy;
        return 0;
}

int fragment_add_set(Fragment *f, const char *name) {
        return add_string(&f->sets, &f->n_sets, &f->allocated_sets, name);
}

int fragment_add_element(Fragment *f, const char *name) {
        return add_string(&f->elements, &f->n_elements, &f->allocated_elements, name);
}

static int chain_cmp(const void *a, const void *b) {
        return strcmp(((const CommittedChain *) a)->name, ((const CommittedChain *) b)->name);
}

static int string_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void fragment_finish(Fragment *f) {
        if (f->n_chains > 1)
                qsort(f->chains, f->n_chains, sizeof(CommittedChain), chain_cmp);
        if (f->n_elements > 1)
                qsort(f->elements, f->n_elements, sizeof(char *), string_cmp);
}

bool fragment_has_element(const Fragment *f, const char *name) {
        return f && f->n_elements > 0 && bsearch(&name, f->elements, f->n_elements, sizeof(char *), string_cmp);
}

const CommittedChain *fragment_find_chain(const Fragment *f, const char *name) {
        CommittedChain key = { .name = (char *) name };

        if (!f || f->n_chains == 0)
                return NULL;
        return bsearch(&key, f->chains, f->n_chains, sizeof(CommittedChain), chain_cmp);
}

bool fragment_has_set(const Fragment *f, const char *name) {
        for (size_t i = 0; f && i < f->n_sets; i++)
                if (streq(f->sets[i], name))
                        return true;
        return false;
}

Fragment *committed_fragment(Committed *c, const char *service) {
        void *v;

        return lh_table_lookup_ex(c->fragments, service, &v) ? v : NULL;
}

int committed_put_fragment(Committed *c, const char *service, Fragment *f) {
        (void) lh_table_delete(c->fragments, service);
        if (f && lh_table_insert(c->fragments, f->service, f) < 0) {
                fragment_free(f);
                return -ENOMEM;
        }
        return 0;
}

CommittedElement *committed_element(Committed *c, const char *name) {
        void *v;

        return lh_table_lookup_ex(c->elements, name, &v) ? v : NULL;
}

int committed_add_element(Committed *c, const char *name, CommittedElement **ret) {
        size_t len = strlen(name);
        CommittedElement *e = calloc(1, sizeof(CommittedElement) + len + 1);

        if (!e)
                return -ENOMEM;
        memcpy(e->name, name, len + 1);
        if (lh_table_insert(c->elements, e->name, e) < 0) {
                free(e);
                return -ENOMEM;
        }
        *ret = e;
        return 0;
}

void committed_remove_element(Committed *c, const char *name) {
        (void) lh_table_delete(c->elements, name);
}
