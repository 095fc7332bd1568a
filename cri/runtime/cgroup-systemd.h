/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"

/* The systemd cgroup driver's side of the runtime, as runc's --systemd-cgroup: a
 * cgroupsPath "slice:prefix:name" makes the container a transient scope unit
 * "prefix-name.scope" in that slice (system.slice when empty), started over the system
 * bus with StartTransientUnit (Delegate=yes, its init's pid, the resources systemd knows
 * of: MemoryMax, CPUWeight, CPUQuotaPerSecUSec, TasksMax). The rest of the limits are
 * then written into the scope's cgroup as for any other. */

/* Whether a cgroupsPath is in the systemd form. */
bool cgroup_path_is_systemd(const char *path);

/* Starts the scope holding pid; *ret_cgroup is the cgroup systemd made for it, as a path
 * from the hierarchy's root ("/kubepods.slice/…/cri-stevedore-abc.scope"). id names the
 * unit when the path's name part is empty. */
int cgroup_systemd_enter(const char *path, const char *id, const CgroupResources *res, pid_t pid, char **ret_cgroup,
                         char **ret_error);

/* CPU shares as systemd's CPUWeight, and a CFS quota per period as CPUQuotaPerSecUSec
 * (UINT64_MAX: none), converted as runc converts them. */
uint64_t cgroup_systemd_cpu_weight(uint64_t shares);
uint64_t cgroup_systemd_cpu_quota_per_sec(int64_t quota, uint64_t period);
