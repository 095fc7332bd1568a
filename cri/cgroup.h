/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "cgroup-mode.h"

/* A container's cgroup, on cgroup v2 (one directory) or v1 (one per controller, and the
 * unified one in hybrid mode), found by detecting which is mounted. */

typedef struct CgroupResources {
        int64_t memory_limit; /* bytes; 0: none */
        uint64_t cpu_shares;  /* v1 shares; 0: none (v2 weight derived from it) */
        int64_t cpu_quota;    /* µs per period; 0: none */
        uint64_t cpu_period;  /* µs; 0: the kernel's */
        char *cpuset_cpus, *cpuset_mems;
        int64_t pids_limit; /* 0: none */
} CgroupResources;

/* path: the spec's cgroupsPath; absolute is from the hierarchy's root, relative is below
 * the caller's own cgroup. Creates the cgroup, applies the limits and moves pid into it. */
int cgroup_enter(const char *path, const CgroupResources *res, pid_t pid, char **ret_error);
/* Removes it (its processes gone); 0 when there was none. */
int cgroup_remove(const char *path);
