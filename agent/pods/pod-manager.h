/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "kube-client.h"
#include "kube-watch.h"
#include "pod-set.h"

/* The pods bound to this node, from the API server: a list+watch of pods with
 * spec.nodeName=<node> feeds the pod set (pod-set.h), a PodWorker per pod; before a
 * worker starts, what its volumes need (ConfigMaps, Secrets, a service account token)
 * is fetched. Status goes
 * back as PATCH pods/<name>/status (strategic merge, the pod's uid in the patch, one
 * request in flight per pod, the latest status sent after it), events as Event objects
 * from component kubelet, and a pod deleted through the API is stopped within its grace
 * period, then its final status is reported and the object deleted with grace 0, as
 * kubelet does. Mirror pods (static-pod.h) are not run: they are handed to the static
 * pods' source (pod_manager_on_mirror_pods), which also reports through the manager. */
typedef struct PodManager PodManager;

/* Feeds set (its runtime attached) from the API server's pods of the runtime's
 * node_name. */
int pod_manager_new(KubeClient *client, PodSet *set, PodManager **ret);
/* The watch's mirror pods go to handler instead of being run: their ADDED and MODIFIED
 * events, and every DELETED one that is not of a pod the manager runs (after a relist
 * a deletion carries only name, namespace and uid). */
void pod_manager_on_mirror_pods(PodManager *m, KubeWatchHandler handler, void *userdata);
/* status as the status of pod namespace/name, the one of that uid, through the same
 * PATCHes as the manager's own pods': one in flight per name, the latest after it; a
 * pod gone or of another uid drops it. */
void pod_manager_report_status(PodManager *m, const char *namespace, const char *name, const char *uid,
                               json_object *status);
/* An Event about e's pod (its namespace, name and uid), from component kubelet. */
void pod_manager_event(PodManager *m, PodEntry *e, const char *type, const char *reason, const char *message);
/* Stops the watch; the pods stay in the set, which frees them. */
void pod_manager_free(PodManager *m);
static inline void pod_manager_freep(PodManager **m) {
        if (*m)
                pod_manager_free(*m);
}
