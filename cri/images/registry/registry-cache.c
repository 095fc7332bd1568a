/* SPDX-License-Identifier: Apache-2.0 */
/* What the registry client remembers between pulls: bearer tokens (per realm, service and
 * scope, until they expire) and how each repository authenticated last time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "registry-internal.h"

/* A token is dropped this long before its server says it expires. */
#define TOKEN_MARGIN_SEC 10

static uint64_t now_usec(const RegistryClient *c) {
        uint64_t now = 0;

        sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        return now;
}

TokenEntry *token_find(RegistryClient *c, const char *key) {
        uint64_t now = now_usec(c);

        for (TokenEntry *e = c->tokens; e; e = e->next)
                if (streq(e->key, key))
                        return e->expires > now ? e : NULL;
        return NULL;
}

int token_put(RegistryClient *c, const char *key, const char *token, uint64_t lifetime_sec) {
        TokenEntry *e = NULL;
        char *t = strdup(token);

        if (!t)
                return -ENOMEM;
        for (e = c->tokens; e; e = e->next)
                if (streq(e->key, key))
                        break;
        if (!e) {
                e = calloc(1, sizeof(TokenEntry));
                if (!e || !(e->key = strdup(key))) {
                        free(e);
                        free(t);
                        return -ENOMEM;
                }
                e->next = c->tokens;
                c->tokens = e;
        } else {
                erase_and_free(e->token);
        }
        e->token = t;
        lifetime_sec = lifetime_sec > TOKEN_MARGIN_SEC * 2 ? lifetime_sec - TOKEN_MARGIN_SEC : lifetime_sec;
        e->expires = now_usec(c) + lifetime_sec * 1000000ULL;
        return 0;
}

int repo_auth_put(RegistryClient *c, const char *key, bool basic, const char *token_key) {
        RepoAuth *a;
        char *k = token_key ? strdup(token_key) : NULL;

        if (token_key && !k)
                return -ENOMEM;
        for (a = c->repo_auth; a; a = a->next)
                if (streq(a->key, key))
                        break;
        if (!a) {
                a = calloc(1, sizeof(RepoAuth));
                if (!a || !(a->key = strdup(key))) {
                        free(a);
                        free(k);
                        return -ENOMEM;
                }
                a->next = c->repo_auth;
                c->repo_auth = a;
        }
        free(a->token_key);
        a->token_key = k;
        a->basic = basic;
        return 0;
}

const RepoAuth *repo_auth_find(const RegistryClient *c, const char *key) {
        for (const RepoAuth *a = c->repo_auth; a; a = a->next)
                if (streq(a->key, key))
                        return a;
        return NULL;
}

void registry_cache_clear(RegistryClient *c) {
        while (c->tokens) {
                TokenEntry *e = c->tokens;

                c->tokens = e->next;
                erase_and_free(e->token);
                free(e->key);
                free(e);
        }
        while (c->repo_auth) {
                RepoAuth *a = c->repo_auth;

                c->repo_auth = a->next;
                free(a->key);
                free(a->token_key);
                free(a);
        }
}
