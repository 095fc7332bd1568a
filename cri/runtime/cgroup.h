/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup-mode.h"

/* A container's cgroup, on cgroup v2 (one directory) or v1 (one per controller, and the
 * unified one in hybrid mode), found by detecting which is mounted, and the limits of
 * the spec's linux.resources applied to it.
 *
 * Where each controller is: its own v1 hierarchy when one is mounted, else the cgroup2
 * tree (all of /sys/fs/cgroup in v2 mode, /sys/fs/cgroup/unified in hybrid mode) when it
 * lists the controller (hugetlb, on some hybrid hosts). Devices: the v1 devices
 * controller when mounted, and, whenever the container has a cgroup2 directory (v2 and
 * hybrid), a BPF_PROG_TYPE_CGROUP_DEVICE program attached to it with the same rules. */

/* The numbers of linux.resources, each applied only when given (bit n of `set`). */
typedef enum CgroupValue {
        CGROUP_MEMORY_LIMIT,       /* bytes; -1: unlimited */
        CGROUP_MEMORY_RESERVATION, /* bytes; v1 soft_limit_in_bytes, v2 memory.low */
        CGROUP_MEMORY_SWAP,        /* memory + swap, bytes; -1: unlimited */
        CGROUP_MEMORY_KERNEL,      /* v1 only */
        CGROUP_MEMORY_KERNEL_TCP,  /* v1 only */
        CGROUP_MEMORY_SWAPPINESS,  /* 0-100, v1 only */
        CGROUP_MEMORY_DISABLE_OOM_KILLER, /* 0 or 1, v1 only */
        CGROUP_CPU_SHARES,           /* v1 shares; v2 weight derived from it */
        CGROUP_CPU_QUOTA,            /* µs per period; -1: none */
        CGROUP_CPU_PERIOD,           /* µs */
        CGROUP_CPU_BURST,            /* µs */
        CGROUP_CPU_REALTIME_RUNTIME, /* µs, v1 only */
        CGROUP_CPU_REALTIME_PERIOD,  /* µs, v1 only */
        CGROUP_CPU_IDLE,             /* 0 or 1 */
        CGROUP_PIDS_LIMIT,           /* negative: unlimited */
        CGROUP_BLKIO_WEIGHT,         /* 10-1000; v2 io.bfq.weight, or io.weight converted */
        CGROUP_BLKIO_LEAF_WEIGHT,    /* 10-1000, v1 with CFQ only (else a warning) */
        _CGROUP_VALUE_MAX,
} CgroupValue;

enum {
        CGROUP_THROTTLE_READ_BPS,
        CGROUP_THROTTLE_WRITE_BPS,
        CGROUP_THROTTLE_READ_IOPS,
        CGROUP_THROTTLE_WRITE_IOPS,
        _CGROUP_THROTTLE_MAX,
};

typedef struct CgroupDeviceRate {
        uint32_t major, minor;
        uint64_t rate; /* bytes or operations per second */
} CgroupDeviceRate;

typedef struct CgroupDeviceWeight {
        uint32_t major, minor;
        int weight, leaf_weight; /* 10-1000; -1: not given */
} CgroupDeviceWeight;

typedef struct CgroupHugepageLimit {
        char page_size[16]; /* "2MB", "1GB" */
        uint64_t limit;     /* bytes */
} CgroupHugepageLimit;

enum {
        CGROUP_DEVICE_READ = 1,
        CGROUP_DEVICE_WRITE = 2,
        CGROUP_DEVICE_MKNOD = 4,
        CGROUP_DEVICE_RWM = 7,
};

/* One entry of linux.resources.devices: the later entries win, as in v1's
 * devices.allow/deny. */
typedef struct CgroupDeviceRule {
        bool allow;
        char type;            /* 'a' (all: resets to allow or deny everything), 'c', 'b' */
        int64_t major, minor; /* -1: any */
        unsigned access;      /* CGROUP_DEVICE_* */
} CgroupDeviceRule;

typedef struct CgroupResources {
        uint64_t set; /* bit n: value[n] was given */
        int64_t value[_CGROUP_VALUE_MAX];
        char *cpuset_cpus, *cpuset_mems; /* NULL: not given */
        CgroupDeviceWeight *weight_devices;
        size_t n_weight_devices;
        CgroupDeviceRate *throttle[_CGROUP_THROTTLE_MAX];
        size_t n_throttle[_CGROUP_THROTTLE_MAX];
        CgroupHugepageLimit *hugepages;
        size_t n_hugepages;
        /* linux.resources.devices; the default rules (runc's: mknod of any device, null,
         * zero, full, random, urandom, tty, ptmx, pts, tun) follow them when applied. */
        CgroupDeviceRule *devices;
        size_t n_devices;
        bool has_devices;              /* devices was given (update applies it only then) */
        uint32_t skip_default_devices; /* bit n: default rule n left out (see below) */
} CgroupResources;

static inline bool cgroup_has(const CgroupResources *r, CgroupValue v) {
        return r->set & (UINT64_C(1) << v);
}

/* Parses a linux.resources object (NULL: none) into *ret (zeroed first); on -EINVAL,
 * *ret_error names the field below `field` ("linux.resources") and the value. */
int cgroup_resources_parse(json_object *resources, const char *field, CgroupResources *ret, char **ret_error);
void cgroup_resources_done(CgroupResources *r);
/* A default device rule for a device at path (runc leaves the default out when
 * linux.devices has that path): its index, or -1. */
int cgroup_default_device_index(const char *path);

/* path: the spec's cgroupsPath; absolute is from the hierarchy's root, relative is below
 * the caller's own cgroup. Creates the cgroup, applies the limits (the devices rules
 * always: the defaults at least) and moves pid into it. */
int cgroup_enter(const char *path, const CgroupResources *res, pid_t pid, char **ret_error);
/* Moves pid into the existing cgroup, changing nothing (exec). */
int cgroup_join(const char *path, pid_t pid, char **ret_error);
/* Applies what res gives to the existing cgroup (devices only when res->has_devices). */
int cgroup_update(const char *path, const CgroupResources *res, char **ret_error);
/* Removes it (its processes gone); 0 when there was none. */
int cgroup_remove(const char *path);

/* How many processes of the cgroup the OOM killer has killed: oom_kill of v2's
 * memory.events or v1's memory.oom_control (-ENODATA: the kernel does not count them). */
int cgroup_oom_kills(const char *path, uint64_t *ret);
/* A descriptor (non-blocking) that turns readable when the cgroup's memory controller
 * has news, to read cgroup_oom_kills() then: v2 an inotify watch of memory.events, v1 an
 * eventfd registered for memory.oom_control through cgroup.event_control (as containerd
 * watches for OOM). Read it empty after each wake-up. */
int cgroup_oom_watch(const char *path, int *ret_fd);
/* The processes in the cgroup and below it, sorted. */
int cgroup_pids(const char *path, pid_t **ret, size_t *ret_n);
/* Freezes (pause) or thaws (resume) its processes: v1 freezer.state where the freezer
 * controller is mounted, else v2 cgroup.freeze; returns once the kernel says done. */
int cgroup_freeze(const char *path, bool freeze, char **ret_error);
/* Whether it is frozen; false when it does not exist. */
bool cgroup_is_frozen(const char *path);
