/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "kube-client.h"

/* The cluster's Services as they are now, for whatever part of the agent asks "the
 * Services of namespace X" (the containers' Service variables, service-links.h): kubelet's
 * own Service lister, independent of the proxy's watch. Filled either by a list+watch of
 * /api/v1/services with fieldSelector spec.clusterIP!=None (kubelet's: headless Services
 * give no variables), or, in standalone mode, from the manifests' Services.
 *
 * Of each Service it keeps what the questions need: metadata.name and namespace,
 * spec.type, clusterIP, clusterIPs and ports (name, port, protocol) — not the whole
 * object, which a cluster's 10⁴ Services would make costly. */
typedef struct ServiceStore ServiceStore;

int service_store_new(ServiceStore **ret);
void service_store_free(ServiceStore *s);
static inline void service_store_freep(ServiceStore **s) {
        service_store_free(*s);
}

/* Fills s from the API server through client, from now on. */
int service_store_watch(ServiceStore *s, KubeClient *client);
/* Replaces what s holds with services (an array of Service objects, namespace "default"
 * where none is given): a complete set, as standalone mode has it. */
int service_store_replace(ServiceStore *s, json_object *services);

/* Whether s has held a complete list once (kubelet's serviceHasSynced): before that, a
 * pod from the API server must not start its containers, or KUBERNETES_SERVICE_HOST
 * would be missing from them. */
bool service_store_synced(ServiceStore *s);
/* synced runs once s has synced (from the loop's callback that made it so; not at once
 * if it already has); one callback, NULL to remove it. */
void service_store_on_synced(ServiceStore *s, void (*synced)(void *userdata), void *userdata);

/* The Services of namespace: an object name → Service, borrowed until the loop runs on;
 * NULL when it has none. */
json_object *service_store_namespace(ServiceStore *s, const char *namespace);
/* One Service, borrowed likewise; NULL if there is none. */
json_object *service_store_get(ServiceStore *s, const char *namespace, const char *name);
