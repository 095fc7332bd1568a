/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"
#include "node-info.h"
#include "tests.h"

static void put(const char *root, const char *path, const char *content) {
        _cleanup_free_ char *full = NULL, *cmd = NULL;

        check(asprintf(&full, "%s%s", root, path) >= 0);
        check(asprintf(&cmd, "mkdir -p \"$(dirname '%s')\"", full) >= 0);
        check(system(cmd) == 0);
        check_int(write_file_atomic(full, content, strlen(content), 0644), ==, 0);
}

/* A fake root with the files node_info_collect reads; the cgroup tree is the host's. */
static char *make_sysroot(void) {
        char *root = test_mkdtemp();
        _cleanup_free_ char *cg = NULL;

        put(root, "/etc/os-release", "ID=test\nPRETTY_NAME=\"Test OS 1.0\"\n");
        put(root, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
        put(root, "/proc/sys/kernel/random/boot_id", "b00710d0-0000-4000-8000-000000000001\n");
        put(root, "/proc/meminfo", "MemTotal:       2048 kB\nMemFree:        1024 kB\n");
        put(root, "/sys/fs/.keep", "");
        check(asprintf(&cg, "%s/sys/fs/cgroup", root) >= 0);
        check(symlink("/sys/fs/cgroup", cg) == 0);
        return root;
}

TEST(collect_from_fake_root) {
        _cleanup_free_ char *root = make_sysroot();
        NodeInfo n;

        check_int(node_info_collect(root, &n), ==, 0);
        check_streq(n.os_image, "Test OS 1.0");
        check_streq(n.operating_system, "linux");
        check_streq(n.machine_id, "0123456789abcdef0123456789abcdef");
        check_streq(n.boot_id, "b00710d0-0000-4000-8000-000000000001");
        /* No DMI UUID in the fake root: the machine ID stands in, as in the kubelet. */
        check_streq(n.system_uuid, n.machine_id);
        check_int(n.memory_bytes, ==, 2048 * 1024);
        check_int(n.cpus, >=, 1);
        node_info_done(&n);
        test_rm_rf(root);
}

TEST(missing_machine_id_is_an_error) {
        _cleanup_free_ char *root = make_sysroot(), *path = NULL;
        NodeInfo n;

        check(asprintf(&path, "%s/etc/machine-id", root) >= 0);
        check(unlink(path) == 0);
        check_int(node_info_collect(root, &n), ==, -ENOENT);
        test_rm_rf(root);
}

TEST(collect_from_host) {
        NodeInfo n;

        check_int(node_info_collect("/", &n), ==, 0);
        check(!isempty(n.kernel_version));
        check(!isempty(n.hostname));
        check_int(n.memory_bytes, >, 0);
        node_info_done(&n);
}

TEST(meminfo) {
        uint64_t b;

        check_int(meminfo_get_bytes("MemTotal:   16 kB\n", "MemTotal", &b), ==, 0);
        check_int(b, ==, 16384);
        check_int(meminfo_get_bytes("MemFree: 1 kB\nMemTotal: 3 kB\n", "MemTotal", &b), ==, 0);
        check_int(b, ==, 3072);
        check_int(meminfo_get_bytes("XMemTotal: 3 kB\n", "MemTotal", &b), ==, -ENOENT);
        check_int(meminfo_get_bytes("MemTotal: lots\n", "MemTotal", &b), ==, -EINVAL);
        check_int(meminfo_get_bytes("MemTotal: 3 MB\n", "MemTotal", &b), ==, -EINVAL);
        check_int(meminfo_get_bytes("MemTotal: 99999999999999999999 kB\n", "MemTotal", &b), ==, -EINVAL);
        check_int(meminfo_get_bytes("MemTotal: 8 kB\nMemAvailable: 5 kB\n", "MemAvailable", &b), ==, 0);
        check_int(b, ==, 5120);
        check_int(meminfo_get_bytes("MemAvailable: 5 kB\n", "MemAvail", &b), ==, -ENOENT);
}

TEST(architecture_names) {
        check_streq(node_architecture_from_machine("x86_64"), "amd64");
        check_streq(node_architecture_from_machine("aarch64"), "arm64");
        check_streq(node_architecture_from_machine("mips"), "mips");
}

int main(void) {
        RUN(collect_from_fake_root);
        RUN(missing_machine_id_is_an_error);
        RUN(collect_from_host);
        RUN(meminfo);
        RUN(architecture_names);
        return 0;
}
