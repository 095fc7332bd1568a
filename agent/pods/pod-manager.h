/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "kube-client.h"
#include "pod-worker.h"

/* The pods bound to this node, from the API server: a list+watch of pods with
 * spec.nodeName=<node> feeds one PodWorker per pod; before a worker starts, what its
 * volumes need (ConfigMaps, Secrets, a service account token) is fetched. Status goes
 * back as PATCH pods/<name>/status (strategic merge, one request in flight per pod, the
 * latest status sent after it), events as Event objects from component kubelet, and a
 * pod deleted through the API is stopped within its grace period, then its final
 * status is reported and the object deleted with grace 0, as kubelet does. */
typedef struct PodManager PodManager;

/* After every change of a pod: how many pods the node has and how many of them run
 * (phase Running), for the service's status line. */
typedef void (*PodsChanged)(unsigned running, unsigned total, void *userdata);

/* runtime's callbacks are the manager's own; the rest is copied. pods_changed may be NULL. */
int pod_manager_new(KubeClient *client, const PodRuntime *runtime, PodsChanged pods_changed, void *userdata,
                    PodManager **ret);
void pod_manager_free(PodManager *m);
static inline void pod_manager_freep(PodManager **m) {
        if (*m)
                pod_manager_free(*m);
}
