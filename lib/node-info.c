/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <inttypes.h>
#include <sys/utsname.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "node-info.h"

const char *node_architecture_from_machine(const char *machine) {
        static const struct {
                const char *machine, *arch;
        } table[] = {
                { "x86_64", "amd64" },   { "aarch64", "arm64" }, { "armv7l", "arm" },
                { "ppc64le", "ppc64le" }, { "s390x", "s390x" },   { "riscv64", "riscv64" },
                { "i686", "386" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(machine, table[i].machine))
                        return table[i].arch;
        return machine;
}

int meminfo_get_bytes(const char *content, const char *field, uint64_t *ret) {
        size_t n = strlen(field);
        uint64_t kib;
        char unit[3];

        for (const char *p = content; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                if (!strneq(p, field, n) || p[n] != ':')
                        continue;
                if (sscanf(p + n + 1, " %" SCNu64 " %2s", &kib, unit) != 2 || !streq(unit, "kB") ||
                    kib > UINT64_MAX / 1024)
                        return -EINVAL;
                *ret = kib * 1024;
                return 0;
        }
        return -ENOENT;
}

static char *path_join(const char *sysroot, const char *path) {
        char *p;

        if (asprintf(&p, "%s%s", streq(sysroot, "/") ? "" : sysroot, path) < 0)
                return NULL;
        return p;
}

/* Reads the first line of sysroot/path; a missing optional file is not logged. */
static int read_line_at(const char *sysroot, const char *path, bool optional, char **ret) {
        _cleanup_free_ char *full = path_join(sysroot, path);
        int r;

        if (!full)
                return log_oom();
        r = read_one_line_file(full, ret);
        if (r < 0 && !(optional && r == -ENOENT))
                return log_error_errno(r, "node info: read %s: %m", full);
        return r;
}

static int read_os_image(const char *sysroot, char **ret) {
        static const char *const candidates[] = { "/etc/os-release", "/usr/lib/os-release" };

        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                _cleanup_free_ char *path = path_join(sysroot, candidates[i]), *content = NULL;
                int r;

                if (!path)
                        return -ENOMEM;
                r = read_full_file(path, 64 * 1024, &content, NULL);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                r = env_file_get(content, "PRETTY_NAME", ret);
                if (r != -ENOENT)
                        return r;
        }
        return -ENOENT;
}

static int read_memory(const char *sysroot, uint64_t *ret) {
        _cleanup_free_ char *path = path_join(sysroot, "/proc/meminfo"), *content = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 1024 * 1024, &content, NULL);
        if (r < 0)
                return r;
        return meminfo_get_bytes(content, "MemTotal", ret);
}

int node_info_collect(const char *sysroot, NodeInfo *ret) {
        _cleanup_free_ char *cgroup_root = path_join(sysroot, "/sys/fs/cgroup");
        NodeInfo info = { .operating_system = strdup("linux") };
        struct utsname u;
        int r;

        if (!info.operating_system || !cgroup_root)
                return -ENOMEM;
        if (uname(&u) < 0)
                return negative_errno();

        info.hostname = strdup(u.nodename);
        info.kernel_version = strdup(u.release);
        info.architecture = strdup(node_architecture_from_machine(u.machine));
        if (!info.hostname || !info.kernel_version || !info.architecture) {
                r = -ENOMEM;
                goto fail;
        }

        r = read_os_image(sysroot, &info.os_image);
        if (r == -ENOENT)
                info.os_image = strdup("Linux");

        else if (r < 0) {
                log_error_errno(r, "node info: read os-release under %s: %m", sysroot);
                goto fail;
        }

        r = read_line_at(sysroot, "/etc/machine-id", false, &info.machine_id);
        if (r < 0)
                goto fail;
        r = read_line_at(sysroot, "/proc/sys/kernel/random/boot_id", false, &info.boot_id);
        if (r < 0)
                goto fail;
        /* Like the kubelet: the DMI UUID where firmware provides one. */
        r = read_line_at(sysroot, "/sys/class/dmi/id/product_uuid", true, &info.system_uuid);
        if (r < 0)
                info.system_uuid = strdup(info.machine_id);

        r = read_memory(sysroot, &info.memory_bytes);
        if (r < 0) {
                log_error_errno(r, "node info: MemTotal from %s/proc/meminfo: %m", sysroot);
                goto fail;
        }

        info.cpus = sysconf(_SC_NPROCESSORS_ONLN);
        r = cgroup_mode_detect(cgroup_root, &info.cgroup_mode);
        if (r < 0) {
                log_error_errno(r, "node info: cgroup hierarchy at %s: %m", cgroup_root);
                goto fail;
        }

        if (!info.os_image || !info.system_uuid) {
                r = -ENOMEM;
                goto fail;
        }
        *ret = info;
        return 0;
fail:
        node_info_done(&info);
        return r;
}

void node_info_done(NodeInfo *info) {
        free(info->hostname);
        free(info->kernel_version);
        free(info->os_image);
        free(info->operating_system);
        free(info->architecture);
        free(info->machine_id);
        free(info->system_uuid);
        free(info->boot_id);
        *info = (NodeInfo) {};
}

char *node_name_default(void) {
        struct utsname u;
        char *name;

        if (uname(&u) < 0 || !(name = strdup(u.nodename)))
                return NULL;
        for (char *p = name; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return name;
}
