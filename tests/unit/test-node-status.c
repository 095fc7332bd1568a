/* SPDX-License-Identifier: Apache-2.0 */
#include "json-util.h"
#include "node-status.h"
#include "tests.h"

static NodeInfo fake_info(void) {
        return (NodeInfo) {
                .hostname = (char *) "h", .kernel_version = (char *) "6.1.0", .os_image = (char *) "Test OS",
                .operating_system = (char *) "linux", .architecture = (char *) "amd64",
                .machine_id = (char *) "m", .system_uuid = (char *) "u", .boot_id = (char *) "b",
                .cpus = 4, .memory_bytes = 8ULL << 30,
        };
}

static json_object *find_condition(json_object *patch, const char *type) {
        json_object *status, *conds;

        check(json_object_object_get_ex(patch, "status", &status));
        check(json_object_object_get_ex(status, "conditions", &conds));
        for (size_t i = 0; i < json_object_array_length(conds); i++) {
                json_object *c = json_object_array_get_idx(conds, i);
                if (streq(json_get_string(c, "type", NULL), type))
                        return c;
        }
        check(false);
        return NULL;
}

TEST(pressure_follows_the_eviction_thresholds) {
        NodeHealth h = { .memory_available = 1ULL << 30, .disk_capacity = 1000, .disk_available = 500 };

        node_health_evaluate(&h);
        check(h.condition[NODE_READY] && !h.condition[NODE_MEMORY_PRESSURE] && !h.condition[NODE_DISK_PRESSURE]);
        h.memory_available = 99ULL * 1024 * 1024;
        h.disk_available = 99;
        node_health_evaluate(&h);
        check(h.condition[NODE_MEMORY_PRESSURE] && h.condition[NODE_DISK_PRESSURE]);
}

TEST(transition_times_move_only_on_change) {
        NodeInfo info = fake_info();
        NodeHealth first = { .memory_available = 1ULL << 30, .disk_capacity = 1 << 20, .disk_available = 1 << 19 };
        NodeHealth second;
        NodeConditionTimes times = {};
        _cleanup_(json_object_putp) json_object *p1 = NULL, *p2 = NULL;

        node_health_evaluate(&first);
        p1 = node_status_patch_new("n", "10.0.0.1", 10250, &info, &first, NULL, "2026-01-01T00:00:00Z", &times);
        second = first;
        second.memory_available = 1;
        node_health_evaluate(&second);
        p2 = node_status_patch_new("n", "10.0.0.1", 10250, &info, &second, &first, "2026-01-01T00:00:10Z", &times);

        json_object *ready = find_condition(p2, "Ready"), *memory = find_condition(p2, "MemoryPressure");
        check_streq(json_get_string(ready, "lastTransitionTime", NULL), "2026-01-01T00:00:00Z");
        check_streq(json_get_string(ready, "lastHeartbeatTime", NULL), "2026-01-01T00:00:10Z");
        check_streq(json_get_string(memory, "lastTransitionTime", NULL), "2026-01-01T00:00:10Z");
        check_streq(json_get_string(memory, "status", NULL), "True");
        check_streq(json_get_string(memory, "reason", NULL), "KubeletHasInsufficientMemory");
        check_streq(json_get_string(ready, "reason", NULL), "KubeletReady");
}

TEST(capacity_and_allocatable) {
        NodeInfo info = fake_info();
        NodeHealth h = { .memory_available = 1ULL << 30, .disk_capacity = 1000ULL * 1024, .disk_available = 1 };
        NodeConditionTimes times = {};
        _cleanup_(json_object_putp) json_object *p = NULL;

        node_health_evaluate(&h);
        p = node_status_patch_new("n", NULL, 10250, &info, &h, NULL, "2026-01-01T00:00:00Z", &times);
        check_streq(json_get_string(p, "status", "capacity", "memory", NULL), "8388608Ki");
        check_streq(json_get_string(p, "status", "allocatable", "memory", NULL), "8286208Ki");
        check_streq(json_get_string(p, "status", "capacity", "ephemeral-storage", NULL), "1000Ki");
        check_streq(json_get_string(p, "status", "allocatable", "ephemeral-storage", NULL), "900Ki");
        check_streq(json_get_string(p, "status", "capacity", "pods", NULL), "110");
        check_streq(json_get_string(p, "status", "nodeInfo", "osImage", NULL), "Test OS");
}

TEST(node_object_labels_and_taint) {
        NodeInfo info = fake_info();
        _cleanup_(json_object_putp) json_object *n = node_object_new("worker-1", &info, NULL, 0);
        NodeTaint control_plane[] = {
                { .key = "node-role.kubernetes.io/control-plane", .effect = "NoSchedule" },
                { .key = "dedicated", .value = "infra", .effect = "NoExecute" },
        };
        _cleanup_(json_object_putp) json_object *tainted = node_object_new("cp", &info, control_plane, 2);
        json_object *spec, *taints, *t;

        check_streq(json_get_string(n, "metadata", "labels", "kubernetes.io/hostname", NULL), "worker-1");
        check_streq(json_get_string(n, "metadata", "labels", "kubernetes.io/arch", NULL), "amd64");
        /* It runs pods: nothing keeps the scheduler away. */
        check(json_object_object_get_ex(n, "spec", &spec) && !json_object_object_get_ex(spec, "taints", &taints));

        /* registerWithTaints: v1.Taint objects, no value where none was given. */
        taints = json_get(json_get(tainted, "spec"), "taints");
        check_int(json_object_array_length(taints), ==, 2);
        t = json_object_array_get_idx(taints, 0);
        check_streq(json_get_string(t, "key", NULL), "node-role.kubernetes.io/control-plane");
        check_streq(json_get_string(t, "effect", NULL), "NoSchedule");
        check(!json_get(t, "value"));
        check_streq(json_get_string(json_object_array_get_idx(taints, 1), "value", NULL), "infra");
}

int main(void) {
        RUN(pressure_follows_the_eviction_thresholds);
        RUN(transition_times_move_only_on_change);
        RUN(capacity_and_allocatable);
        RUN(node_object_labels_and_taint);
        return 0;
}
