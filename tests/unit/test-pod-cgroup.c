/* SPDX-License-Identifier: Apache-2.0 */
#include "container-spec.h"
#include "json-util.h"
#include "pod-cgroup.h"
#include "tests.h"

static json_object *pod(const char *containers) {
        _cleanup_free_ char *text = NULL;
        json_object *o;

        check(asprintf(&text, "{\"metadata\": {\"name\": \"p\", \"uid\": \"12ab-34cd\"}, \"spec\": {%s}}", containers) >= 0);
        o = json_tokener_parse(text);
        check(o);
        return o;
}

static void check_place(const char *containers, const char *cgroupfs, const char *slice) {
        _cleanup_(json_object_putp) json_object *p = pod(containers);
        _cleanup_free_ char *a = pod_cgroup_parent(CGROUP_DRIVER_CGROUPFS, p, "12ab-34cd"),
                            *b = pod_cgroup_parent(CGROUP_DRIVER_SYSTEMD, p, "12ab-34cd");

        check_streq(a, cgroupfs);
        check_streq(b, slice);
}

static void test_parents_by_qos_class_and_driver(void) {
        check_place("\"containers\": [{\"name\": \"a\"}]", "/kubepods/besteffort/pod12ab-34cd",
                    "kubepods-besteffort-pod12ab_34cd.slice");
        check_place("\"containers\": [{\"name\": \"a\", \"resources\": {\"requests\": {\"cpu\": \"100m\"}}}]",
                    "/kubepods/burstable/pod12ab-34cd", "kubepods-burstable-pod12ab_34cd.slice");
        check_place("\"containers\": [{\"name\": \"a\", \"resources\": {\"limits\": {\"cpu\": \"1\", \"memory\": \"1Gi\"}}}]",
                    "/kubepods/pod12ab-34cd", "kubepods-pod12ab_34cd.slice");
}

static void test_container_paths(void) {
        _cleanup_free_ char *a = pod_container_cgroups_path(CGROUP_DRIVER_CGROUPFS, "/kubepods/pod1", "c1"),
                            *b = pod_container_cgroups_path(CGROUP_DRIVER_SYSTEMD, "kubepods-pod1.slice", "c1");

        check_streq(a, "/kubepods/pod1/c1");
        check_streq(b, "kubepods-pod1.slice:cri-stevedore:c1");
}

static void test_pod_resources(void) {
        _cleanup_(json_object_putp) json_object *both = pod(
                "\"containers\": [{\"name\": \"a\", \"resources\": {\"requests\": {\"cpu\": \"250m\"},"
                " \"limits\": {\"cpu\": \"500m\", \"memory\": \"64Mi\"}}},"
                " {\"name\": \"b\", \"resources\": {\"limits\": {\"cpu\": \"1\", \"memory\": \"32Mi\"}}}],"
                " \"initContainers\": [{\"name\": \"i\", \"resources\": {\"limits\": {\"memory\": \"1Gi\"}}}]");
        _cleanup_(json_object_putp) json_object *partial = pod(
                "\"containers\": [{\"name\": \"a\", \"resources\": {\"limits\": {\"memory\": \"64Mi\"}}},"
                " {\"name\": \"b\"}]");
        PodCgroupResources r;

        /* Requests 250m + 1 (b's limit) = 1250m; limits summed; the init container's
         * larger memory limit wins over the containers' sum. */
        pod_cgroup_resources(both, &r);
        check_int(r.cpu_shares, ==, 1280);
        check_int(r.cpu_quota, ==, 150000);
        check_int(r.memory_limit, ==, INT64_C(1) << 30);
        /* A container without a limit: no pod-wide limit. */
        pod_cgroup_resources(partial, &r);
        check_int(r.memory_limit, ==, -1);
        check_int(r.cpu_quota, ==, -1);
        check_int(r.cpu_shares, ==, 2);
}

int main(void) {
        test_parents_by_qos_class_and_driver();
        test_container_paths();
        test_pod_resources();
        return 0;
}
