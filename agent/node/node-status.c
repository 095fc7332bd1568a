/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "config.h"
#include "macro.h"
#include "node-status.h"

static const struct {
        const char *type;
        const char *reason[2];  /* [condition false], [condition true] */
        const char *message[2];
} conditions[_NODE_CONDITION_MAX] = {
        [NODE_READY] = { "Ready",
                         { "KubeletNotReady", "KubeletReady" },
                         { "kubelet is not ready", "kubelet is posting ready status" } },
        [NODE_MEMORY_PRESSURE] = { "MemoryPressure",
                                   { "KubeletHasSufficientMemory", "KubeletHasInsufficientMemory" },
                                   { "kubelet has sufficient memory available",
                                     "kubelet has insufficient memory available" } },
        [NODE_DISK_PRESSURE] = { "DiskPressure",
                                 { "KubeletHasNoDiskPressure", "KubeletHasDiskPressure" },
                                 { "kubelet has no disk pressure", "kubelet has disk pressure" } },
        [NODE_PID_PRESSURE] = { "PIDPressure",
                                { "KubeletHasSufficientPID", "KubeletHasInsufficientPID" },
                                { "kubelet has sufficient PID available", "kubelet has insufficient PID available" } },
};

void format_now(char buf[static 32], bool micro) {
        struct timeval tv;
        struct tm tm;
        size_t n;

        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
        if (micro)
                snprintf(buf + n, 32 - n, ".%06ldZ", (long) tv.tv_usec);
        else
                snprintf(buf + n, 32 - n, "Z");
}

void node_health_evaluate(NodeHealth *h) {
        h->condition[NODE_MEMORY_PRESSURE] = h->memory_available < EVICTION_MEMORY_AVAILABLE;
        h->condition[NODE_DISK_PRESSURE] =
                h->disk_capacity > 0 && h->disk_available * 100 < h->disk_capacity * EVICTION_NODEFS_AVAILABLE_PERCENT;
        /* The kubelet sets no PID eviction threshold by default: no pressure to report. */
        h->condition[NODE_PID_PRESSURE] = false;
        h->condition[NODE_READY] = true;
}

static void add_string(json_object *o, const char *key, const char *value) {
        json_object_object_add(o, key, json_object_new_string(value ? value : ""));
}

json_object *node_object_new(const char *name, const NodeInfo *info, const NodeTaint *taints, size_t n_taints) {
        json_object *node = json_object_new_object(), *metadata = json_object_new_object(),
                    *labels = json_object_new_object(), *spec = json_object_new_object();

        add_string(labels, "kubernetes.io/hostname", name);
        add_string(labels, "kubernetes.io/os", info->operating_system);
        add_string(labels, "kubernetes.io/arch", info->architecture);
        add_string(labels, "beta.kubernetes.io/os", info->operating_system);
        add_string(labels, "beta.kubernetes.io/arch", info->architecture);
        add_string(metadata, "name", name);
        json_object_object_add(metadata, "labels", labels);
        if (n_taints > 0) {
                json_object *list = json_object_new_array();

                for (size_t i = 0; i < n_taints; i++) {
                        json_object *t = json_object_new_object();

                        add_string(t, "key", taints[i].key);
                        if (!isempty(taints[i].value))
                                add_string(t, "value", taints[i].value);
                        add_string(t, "effect", taints[i].effect);
                        json_object_array_add(list, t);
                }
                json_object_object_add(spec, "taints", list);
        }
        add_string(node, "apiVersion", "v1");
        add_string(node, "kind", "Node");
        json_object_object_add(node, "metadata", metadata);
        json_object_object_add(node, "spec", spec);
        return node;
}

static void add_quantity(json_object *o, const char *key, uint64_t value, const char *suffix) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRIu64 "%s", value, suffix);
        add_string(o, key, buf);
}

uint64_t node_allocatable_memory(uint64_t memory_bytes) {
        return memory_bytes > EVICTION_MEMORY_AVAILABLE ? memory_bytes - EVICTION_MEMORY_AVAILABLE : 0;
}

static json_object *resources(const NodeInfo *info, const NodeHealth *h, bool allocatable) {
        json_object *r = json_object_new_object();
        uint64_t memory = info->memory_bytes, storage = h->disk_capacity;

        if (allocatable) {
                /* What is left for pods once the eviction thresholds are kept free. */
                memory = node_allocatable_memory(memory);
                storage -= storage / 100 * EVICTION_NODEFS_AVAILABLE_PERCENT;
        }
        add_quantity(r, "cpu", (uint64_t) info->cpus, "");
        add_quantity(r, "memory", memory / 1024, "Ki");
        add_quantity(r, "ephemeral-storage", storage / 1024, "Ki");
        add_quantity(r, "pods", NODE_MAX_PODS, "");
        add_string(r, "hugepages-1Gi", "0");
        add_string(r, "hugepages-2Mi", "0");
        return r;
}

static json_object *node_info_json(const NodeInfo *info) {
        json_object *o = json_object_new_object();

        add_string(o, "machineID", info->machine_id);
        add_string(o, "systemUUID", info->system_uuid);
        add_string(o, "bootID", info->boot_id);
        add_string(o, "kernelVersion", info->kernel_version);
        add_string(o, "osImage", info->os_image);
        add_string(o, "containerRuntimeVersion", "stevedore://" STEVEDORE_VERSION);
        add_string(o, "kubeletVersion", KUBELET_API_VERSION "+stevedore." STEVEDORE_VERSION);
        add_string(o, "kubeProxyVersion", "");
        add_string(o, "operatingSystem", info->operating_system);
        add_string(o, "architecture", info->architecture);
        return o;
}

static json_object *address(const char *type, const char *value) {
        json_object *a = json_object_new_object();

        add_string(a, "type", type);
        add_string(a, "address", value);
        return a;
}

json_object *node_status_patch_new(const char *name, const char *internal_ip, unsigned kubelet_port, const NodeInfo *info,
                                   const NodeHealth *h, const NodeHealth *previous, const char *now,
                                   NodeConditionTimes *times) {
        json_object *patch = json_object_new_object(), *status = json_object_new_object(),
                    *conds = json_object_new_array(), *addresses = json_object_new_array(),
                    *endpoints = json_object_new_object(), *kubelet = json_object_new_object();

        for (int i = 0; i < _NODE_CONDITION_MAX; i++) {
                json_object *c = json_object_new_object();
                bool value = h->condition[i];

                if (!previous || previous->condition[i] != value || !*times->transition[i])
                        snprintf(times->transition[i], sizeof(times->transition[i]), "%s", now);
                add_string(c, "type", conditions[i].type);
                add_string(c, "status", value ? "True" : "False");
                add_string(c, "reason", conditions[i].reason[value]);
                add_string(c, "message", i == NODE_READY && !value && h->not_ready_message ? h->not_ready_message
                                                                                     : conditions[i].message[value]);
                add_string(c, "lastHeartbeatTime", now);
                add_string(c, "lastTransitionTime", times->transition[i]);
                json_object_array_add(conds, c);
        }
        if (internal_ip)
                json_object_array_add(addresses, address("InternalIP", internal_ip));
        json_object_array_add(addresses, address("Hostname", name));

        json_object_object_add(kubelet, "Port", json_object_new_int((int) kubelet_port));
        json_object_object_add(endpoints, "kubeletEndpoint", kubelet);

        json_object_object_add(status, "conditions", conds);
        json_object_object_add(status, "addresses", addresses);
        json_object_object_add(status, "capacity", resources(info, h, false));
        json_object_object_add(status, "allocatable", resources(info, h, true));
        json_object_object_add(status, "nodeInfo", node_info_json(info));
        json_object_object_add(status, "daemonEndpoints", endpoints);
        json_object_object_add(patch, "status", status);
        return patch;
}
