/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Which cgroup hierarchy a node uses. The runtime and the node status both need it. */
typedef enum CgroupMode {
        CGROUP_MODE_LEGACY,  /* v1 controllers under a tmpfs */
        CGROUP_MODE_HYBRID,  /* v1 controllers, plus cgroup2 at <root>/unified without controllers */
        CGROUP_MODE_UNIFIED, /* cgroup2 only */
} CgroupMode;

/* Detects the mode of the hierarchy mounted at root (normally /sys/fs/cgroup).
 * -ENOMEDIUM when root is neither a cgroup2 mount nor a tmpfs of v1 controllers. */
int cgroup_mode_detect(const char *root, CgroupMode *ret);

const char *cgroup_mode_to_string(CgroupMode mode);
