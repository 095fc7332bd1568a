/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

#include "cgroup-mode.h"

/* The facts a node reports about itself: the Node object's status.nodeInfo and
 * status.capacity, and what `stevedore status` shows. */
typedef struct NodeInfo {
        char *hostname;
        char *kernel_version;   /* uname -r */
        char *os_image;         /* os-release PRETTY_NAME */
        char *operating_system; /* "linux" */
        char *architecture;     /* GOARCH spelling: amd64, arm64 … */
        char *machine_id;
        char *system_uuid; /* DMI product_uuid, or the machine ID where there is none */
        char *boot_id;
        long cpus;
        uint64_t memory_bytes;
        CgroupMode cgroup_mode;
} NodeInfo;

/* Collects the facts from files under sysroot ("/" normally; tests pass a fake tree). */
int node_info_collect(const char *sysroot, NodeInfo *ret);
void node_info_done(NodeInfo *info);

/* Maps a uname machine to the Go/Kubernetes architecture name. */
const char *node_architecture_from_machine(const char *machine);

/* Parses a field ("MemTotal", "MemAvailable") out of /proc/meminfo content, in bytes. */
int meminfo_get_bytes(const char *content, const char *field, uint64_t *ret);

/* The node's name when none is given: the lowercased hostname, as the kubelet and
 * kube-proxy default it. NULL when out of memory. */
char *node_name_default(void);
