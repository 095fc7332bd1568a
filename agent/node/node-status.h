/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent-config.h"
#include "node-info.h"

/* The Node object this node registers and the status it reports, as the kubelet shapes
 * them (labels, addresses, capacity/allocatable, nodeInfo, the four conditions with the
 * kubelet's reasons and messages). */

#define NODE_MAX_PODS 110
#define KUBELET_API_VERSION "v1.37.0" /* the node API level stevedore implements */

typedef enum NodeConditionType {
        NODE_READY,
        NODE_MEMORY_PRESSURE,
        NODE_DISK_PRESSURE,
        NODE_PID_PRESSURE,
        _NODE_CONDITION_MAX,
} NodeConditionType;

/* What changes between reports: the measurements behind the conditions. */
typedef struct NodeHealth {
        uint64_t memory_available;
        uint64_t disk_capacity; /* of the root dir's file system */
        uint64_t disk_available;
        bool condition[_NODE_CONDITION_MAX]; /* Ready: true when ready; pressures: true when under */
        const char *not_ready_message;       /* why Ready is false; NULL: the kubelet's generic words */
} NodeHealth;

typedef struct NodeConditionTimes {
        char transition[_NODE_CONDITION_MAX][32]; /* lastTransitionTime of each, RFC 3339 */
} NodeConditionTimes;

/* kubelet's default hard eviction thresholds decide the pressures. */
#define EVICTION_MEMORY_AVAILABLE (100ULL * 1024 * 1024)
#define EVICTION_NODEFS_AVAILABLE_PERCENT 10

void node_health_evaluate(NodeHealth *h);

/* What of the node's memory pods may have: all but what the eviction threshold keeps free
 * (the allocatable the node reports). */
uint64_t node_allocatable_memory(uint64_t memory_bytes);

/* {"apiVersion":"v1","kind":"Node",…} to create the node, with spec.taints (the only
 * moment a node may set them: NodeRestriction refuses a node changing its taints). */
json_object *node_object_new(const char *name, const NodeInfo *info, const NodeTaint *taints, size_t n_taints);

/* The strategic-merge patch of nodes/<name>/status. Transition times are updated in
 * `times` for conditions that changed since `previous` (NULL: the first report);
 * kubelet_port is where the API server finds the kubelet API. */
json_object *node_status_patch_new(const char *name, const char *internal_ip, unsigned kubelet_port, const NodeInfo *info,
                                   const NodeHealth *health, const NodeHealth *previous, const char *now,
                                   NodeConditionTimes *times);

/* RFC 3339 UTC now, seconds ("2026-11-23T08:00:00Z") or microseconds (Lease renewTime). */
void format_now(char buf[static 32], bool micro);
