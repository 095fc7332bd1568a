/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by cgroup.c, cgroup-resources.c and cgroup-devices.c only. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "cgroup.h"
#include "error.h"
#include "fileio.h"
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

/* Records "cgroup <what>: <strerror(-r)>" in *ret_error as error_set() does (a message
 * already there stays); returns r. */
#define cgroup_fail(ret_error, r, format, ...) error_set(ret_error, r, "cgroup " format ": %m", ##__VA_ARGS__)

/* Writes value to dir/file; on failure the error names both and the value. Here, not in
 * cgroup.c, so that the controller files need only this header and not cgroup.c, which
 * calls them. */
static inline int cgroup_write(const char *dir, const char *file, const char *value, char **ret_error) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (asprintf(&p, "%s/%s", dir, file) < 0)
                return -ENOMEM;
        r = write_string_file(p, value);
        return r < 0 ? cgroup_fail(ret_error, r, "%s: %s '%s'", dir, file, value) : 0;
}

static inline int cgroup_write_number(const char *dir, const char *file, int64_t n, char **ret_error) {
        char value[32];

        snprintf(value, sizeof(value), "%" PRId64, n);
        return cgroup_write(dir, file, value, ret_error);
}

/* The directory a controller's files are written in, or NULL (not available). */
static inline const char *cgroup_dir_of(const CgroupDirs *d, CgroupController c, bool *ret_v2) {
        *ret_v2 = !d->v1[c] && d->v2[c] && d->unified;
        return d->v1[c] ?: *ret_v2 ? d->unified : NULL;
}

/* cgroup-resources.c: memory, cpu, cpuset, pids, blkio/io, hugetlb. creating: the
 * cgroup is new (v1 cpuset then needs its cpus and mems inherited). */
int cgroup_resources_apply(const CgroupDirs *d, const CgroupResources *res, bool creating, char **ret_error);

/* cgroup-devices.c: linux.resources.devices, then the default rules. */
int cgroup_devices_apply(const CgroupDirs *d, const CgroupResources *res, char **ret_error);
