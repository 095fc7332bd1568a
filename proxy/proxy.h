/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdio.h>

#include "ruleset.h"

/* The Services and EndpointSlices the proxy knows, fed one API object at a time, and
 * programmed on proxy_sync(). An object that cannot be programmed is logged with its
 * name and left out (an earlier version of it too); the rest syncs. */
typedef struct Proxy Proxy;

int proxy_new(const ProxyConfig *config, Proxy **ret);
void proxy_free(Proxy *p);
static inline void proxy_freep(Proxy **p) {
        proxy_free(*p);
}

/* Added or modified (upsert), or deleted. Returns 1 if what is programmed changes. */
int proxy_service_update(Proxy *p, json_object *service);
int proxy_service_delete(Proxy *p, json_object *service);
int proxy_slice_update(Proxy *p, json_object *slice);
int proxy_slice_delete(Proxy *p, json_object *slice);

typedef enum ProxySyncMode {
        PROXY_SYNC_DUMP,    /* write the whole ruleset in nft syntax to dump, program nothing */
        PROXY_SYNC_CHANGES, /* program what changed since the last sync (all of it the first time) */
        PROXY_SYNC_FULL,    /* replace the whole table */
} ProxySyncMode;

int proxy_sync(Proxy *p, ProxySyncMode mode, FILE *dump);
