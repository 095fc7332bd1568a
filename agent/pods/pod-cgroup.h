/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "agent-config.h"

/* Where a pod's containers' cgroups go, by cgroup driver, as kubelet places them:
 *   cgroupfs: /kubepods[/burstable|/besteffort]/pod<uid>/<container id>
 *   systemd:  kubepods[-burstable|-besteffort]-pod<uid with _ for ->.slice, a transient
 *             slice the agent starts with the pod's limits (kubelet's
 *             ResourceConfigForPod) and stops when the pod is gone; each container a
 *             scope in it that the runtime starts (cgroupsPath "slice:cri-stevedore:id").
 * The QoS slices kubepods.slice, kubepods-burstable.slice and kubepods-besteffort.slice
 * are started with the first pod slice below them. */

typedef struct PodCgroups PodCgroups;

/* CGROUP_DRIVER_AUTO picks systemd when it is PID 1 (sd_booted()), else cgroupfs.
 * The systemd driver connects to the system bus on the event loop. */
int pod_cgroups_new(sd_event *event, CgroupDriver driver, PodCgroups **ret);
PodCgroups *pod_cgroups_free(PodCgroups *c);
static inline void pod_cgroups_freep(PodCgroups **c) {
        pod_cgroups_free(*c);
}
CgroupDriver pod_cgroups_driver(const PodCgroups *c);

/* The pod's cgroup parent by driver (a path or a slice name, see above; AUTO counts as
 * cgroupfs). */
char *pod_cgroup_parent(CgroupDriver driver, json_object *pod, const char *uid);
/* A container's linux.cgroupsPath below that parent. */
char *pod_container_cgroups_path(CgroupDriver driver, const char *parent, const char *container_id);

/* systemd: starts the pod's slice with its limits (asynchronously: a failure is logged
 * naming the pod). cgroupfs: nothing, the runtime makes the directories. */
int pod_cgroup_create(PodCgroups *c, const char *parent, json_object *pod, const char *pod_key);
/* systemd: stops the slice; cgroupfs: removes the pod's directories (its containers'
 * are gone). */
int pod_cgroup_remove(PodCgroups *c, const char *parent, const char *pod_key);
