/* SPDX-License-Identifier: Apache-2.0 */
#include "cgroup-systemd.h"
#include "tests.h"

static void test_systemd_form(void) {
        check(cgroup_path_is_systemd("kubepods-pod1.slice:cri-stevedore:c1"));
        check(cgroup_path_is_systemd("system.slice:runc:abc"));
        check(cgroup_path_is_systemd(":runc:abc"));
        check(!cgroup_path_is_systemd("/kubepods/pod1/c1"));
        check(!cgroup_path_is_systemd("kubepods:a:b"));
        check(!cgroup_path_is_systemd("a.slice:b"));
        check(!cgroup_path_is_systemd("a.slice:b:c:d"));
        check(!cgroup_path_is_systemd(NULL));
}

static void test_conversions(void) {
        /* runc's: shares 2 → 1, 1024 → 39, 262144 → 10000. */
        check_int(cgroup_systemd_cpu_weight(2), ==, 1);
        check_int(cgroup_systemd_cpu_weight(1024), ==, 39);
        check_int(cgroup_systemd_cpu_weight(262144), ==, 10000);
        check_int(cgroup_systemd_cpu_weight(0), ==, 1);
        /* 50 ms per 100 ms = 500 ms per second; 1 ms per 100 ms rounds up to 10 ms. */
        check_int(cgroup_systemd_cpu_quota_per_sec(50000, 100000), ==, 500000);
        check_int(cgroup_systemd_cpu_quota_per_sec(1000, 100000), ==, 10000);
        check_int(cgroup_systemd_cpu_quota_per_sec(1001, 100000), ==, 20000);
        check(cgroup_systemd_cpu_quota_per_sec(-1, 100000) == UINT64_MAX);
}

int main(void) {
        test_systemd_form();
        test_conversions();
        return 0;
}
