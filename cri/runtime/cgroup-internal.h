/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by cgroup.c, cgroup-resources.c and cgroup-devices.c only. */

#include "cgroup.h"
#include "macro.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

typedef enum CgroupController {
        CGROUP_CPU,
        CGROUP_CPUACCT,
        CGROUP_CPUSET,
        CGROUP_MEMORY,
        CGROUP_PIDS,
        CGROUP_BLKIO, /* "io" on v2 */
        CGROUP_DEVICES,
        CGROUP_FREEZER,
        CGROUP_HUGETLB,
        _CGROUP_CONTROLLER_MAX,
} CgroupController;

/* A container's cgroup directories. A controller is applied in v1[c] when its v1
 * hierarchy is mounted, else in unified when v2[c] (the cgroup2 tree lists it). */
typedef struct CgroupDirs {
        CgroupMode mode;
        char *unified; /* the cgroup2 directory (v2 and hybrid modes); NULL in v1 mode */
        char *v1[_CGROUP_CONTROLLER_MAX];
        bool v2[_CGROUP_CONTROLLER_MAX];
} CgroupDirs;

/* 'r', 'w', 'm' as CGROUP_DEVICE_* */
static inline unsigned cgroup_device_access(char c) {
        return c == 'r' ? CGROUP_DEVICE_READ : c == 'w' ? CGROUP_DEVICE_WRITE : c == 'm' ? CGROUP_DEVICE_MKNOD : 0;
}

/* Records "cgroup <what>: <strerror(-r)>" in *ret_error (when given and not yet set);
 * returns r. */
int cgroup_fail(char **ret_error, int r, const char *format, ...) _printf_(3, 4);
/* Writes value to dir/file; on failure the error names both and the value. */
int cgroup_write(const char *dir, const char *file, const char *value, char **ret_error);
int cgroup_write_number(const char *dir, const char *file, int64_t n, char **ret_error);
/* The directory a controller's files are written in, or NULL (not available). */
const char *cgroup_dir_of(const CgroupDirs *d, CgroupController c, bool *ret_v2);

/* cgroup-resources.c: memory, cpu, cpuset, pids, blkio/io, hugetlb. creating: the
 * cgroup is new (v1 cpuset then needs its cpus and mems inherited). */
int cgroup_resources_apply(const CgroupDirs *d, const CgroupResources *res, bool creating, char **ret_error);

/* cgroup-devices.c: linux.resources.devices, then the default rules. */
int cgroup_devices_apply(const CgroupDirs *d, const CgroupResources *res, char **ret_error);
