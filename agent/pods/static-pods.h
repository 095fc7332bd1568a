/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "kube-client.h"
#include "pod-manager.h"
#include "pod-set.h"

/* Static pods beside the API server's, as kubelet runs its staticPodPath: the Pods of a
 * manifest directory (manifest-dir.h, the reader standalone mode uses) feed the pod set
 * next to the pod manager's, with kubelet's names, UIDs and annotations for file pods
 * (static-pod.h); a changed manifest is a new pod, started once the old one of that name
 * has stopped; a removed one is stopped. A manifest whose pod refers to other API objects
 * is refused, as kubelet refuses it ("static pods may not reference secrets").
 *
 * Each running static pod has its mirror pod in the API: created once the Node exists
 * (owned by it), its status the worker's (through the pod manager's status PATCHes),
 * created again when deleted, deleted and created again when its config.mirror hash is
 * not the static pod's; a mirror pod without its static pod is deleted once that pod has
 * stopped. Deleting a mirror pod never stops its static pod, and changes made to it in
 * the API are not run. The mirror pods are learnt from the pod manager's watch. */
typedef struct StaticPods StaticPods;

/* Feeds set (its runtime attached) from manifest_dir, the mirror pods through client and
 * manager. 0, or a negative errno with *ret_error. */
int static_pods_new(const char *manifest_dir, KubeClient *client, PodSet *set, PodManager *manager, StaticPods **ret,
                    char **ret_error);
/* The pods stay in the set, which frees them; their mirror pods stay in the API. */
void static_pods_free(StaticPods *sp);
static inline void static_pods_freep(StaticPods **sp) {
        if (*sp)
                static_pods_free(*sp);
}
