/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "container-spec.h"
#include "pod-files.h"

/* A pod's volumes on this node, under <pod_dir>/volumes/<name>, made as kubelet makes
 * them: emptyDir (a directory, or a tmpfs for medium Memory, with sizeLimit), hostPath
 * (with its type checked or created), and the data volumes — configMap, secret,
 * downwardAPI, projected (serviceAccountToken, configMap, secret, downwardAPI sources) —
 * written as kubelet's atomic writer does: the files in a "..<time>" directory, "..data"
 * a symlink to it, each top-level name a symlink through "..data", modes from
 * defaultMode/items[].mode (0644 by default).
 *
 * Data volumes take their API objects from the caller, which fetched them first:
 * lookup(kind, name) returns a ConfigMap or Secret as the API serves it, or for kind
 * "ServiceAccountToken" and the pod's service account a TokenRequest's status
 * ({"token": …}); NULL when it does not exist. */

typedef ContainerSpecLookup VolumeLookup;

/* The objects the pod's volumes need: need(kind, name, optional) once per reference. */
void volumes_required(json_object *pod, void (*need)(void *userdata, const char *kind, const char *name, bool optional),
                      void *userdata);

/* Makes every volume; *ret lists them for container_spec_build (names point into pod,
 * paths are owned by the list: free with volumes_free). On failure -errno and *ret_error
 * names the pod and the volume: "pod default/web: volume config: configMap cfg: not
 * found". */
int volumes_setup(json_object *pod, const char *pod_dir, const PodFieldContext *fields, VolumeLookup lookup,
                  void *userdata, ContainerSpecVolume **ret, size_t *ret_n, char **ret_error);
void volumes_free(ContainerSpecVolume *volumes, size_t n);

/* Unmounts and removes <pod_dir>/volumes (what emptyDir and data volumes hold). */
int volumes_teardown(const char *pod_dir);
