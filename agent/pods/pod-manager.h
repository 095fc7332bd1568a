/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "kube-client.h"
#include "pod-set.h"

/* The pods bound to this node, from the API server: a list+watch of pods with
 * spec.nodeName=<node> feeds the pod set (pod-set.h), a PodWorker per pod; before a
 * worker starts, what its volumes need (ConfigMaps, Secrets, a service account token)
 * is fetched. Status goes
 * back as PATCH pods/<name>/status (strategic merge, one request in flight per pod, the
 * latest status sent after it), events as Event objects from component kubelet, and a
 * pod deleted through the API is stopped within its grace period, then its final
 * status is reported and the object deleted with grace 0, as kubelet does. */
typedef struct PodManager PodManager;

/* Feeds set (attached to it with runtime) from the API server's pods of
 * runtime->node_name. */
int pod_manager_new(KubeClient *client, PodSet *set, const PodRuntime *runtime, PodManager **ret);
/* Stops the watch; the pods stay in the set, which frees them. */
void pod_manager_free(PodManager *m);
static inline void pod_manager_freep(PodManager **m) {
        if (*m)
                pod_manager_free(*m);
}
