/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "kube-client.h"

/* List+watch of one resource, as client-go's reflector does it: list (paged), then watch
 * from the list's resourceVersion with bookmarks; the watch is renewed when the server
 * ends it, resumed from the last resourceVersion after a dropped connection, and
 * replaced by a fresh list when the server answers 410 Gone. A relist is reconciled
 * with what was known: objects that vanished meanwhile are reported DELETED (with the
 * metadata remembered of them: name, namespace, uid, resourceVersion), so nothing is
 * lost across disconnections. Failures are retried with jittered exponential
 * backoff (0.5 s doubling to 30 s). */
typedef struct KubeWatch KubeWatch;

typedef enum KubeEvent {
        KUBE_ADDED,
        KUBE_MODIFIED,
        KUBE_DELETED,
        KUBE_SYNCED, /* a list is complete and reconciled; object is NULL */
        KUBE_FAILED, /* a list or watch failed and will be retried; object is the Status, if any */
} KubeEvent;

const char *kube_event_to_string(KubeEvent e);

typedef void (*KubeWatchHandler)(KubeWatch *w, KubeEvent event, json_object *object, void *userdata);

/* path is the collection ("/api/v1/pods", "/api/v1/namespaces/default/services");
 * field_selector may be NULL. */
int kube_watch_new(KubeClient *client, const char *path, const char *field_selector, KubeWatchHandler handler,
                   void *userdata, KubeWatch **ret);
void kube_watch_free(KubeWatch *w);
static inline void kube_watch_freep(KubeWatch **w) {
        kube_watch_free(*w);
}

/* The objects known now, keyed "namespace/name" (or "name" for cluster objects), as
 * their metadata only. */
json_object *kube_watch_objects(KubeWatch *w);

/* "namespace/name" of an object into buf; NULL if it has no name. */
const char *kube_object_key(json_object *object, char *buf, size_t size);
