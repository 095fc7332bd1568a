/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "fileio.h"
#include "macro.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

static const char *const v1_controllers[] = { "cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer" };

static int fail(char **ret_error, int r, const char *format, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *format, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&what, format, ap) < 0)
                what = NULL;
        va_end(ap);
        if (ret_error && what && asprintf(ret_error, "cgroup: %s: %s", what, strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
}

/* The caller's cgroup in a v1 controller ("cpu") or in v2 (NULL), from
 * /proc/self/cgroup ("4:memory:/a/b", "1:cpu,cpuacct:/", "0::/"); "" for the root. */
static char *own_cgroup(const char *controller) {
        _cleanup_free_ char *content = NULL;
        char *line, *save = NULL;

        if (read_full_file("/proc/self/cgroup", 1 << 16, &content, NULL) < 0)
                return NULL;
        for (line = strtok_r(content, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *list = strchr(line, ':'), *path = list ? strchr(list + 1, ':') : NULL, *tok, *s2 = NULL;
                bool match = false;

                if (!path)
                        continue;
                *path++ = '\0';
                list++;
                if (!controller)
                        match = !*list;
                else
                        for (tok = strtok_r(list, ",", &s2); tok && !match; tok = strtok_r(NULL, ",", &s2))
                                match = streq(tok, controller);
                if (match)
                        return strdup(streq(path, "/") ? "" : path);
        }
        return NULL;
}

/* Where path is in the hierarchy mounted at mount. */
static char *directory(const char *mount, const char *controller, const char *path) {
        _cleanup_free_ char *base = path[0] == '/' ? strdup("") : own_cgroup(controller);
        char *dir = NULL;

        if (!base || asprintf(&dir, "%s%s/%s", mount, base, path[0] == '/' ? path + 1 : path) < 0)
                return NULL;
        return dir;
}

static int write_value(const char *dir, const char *file, const char *value) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, file) < 0)
                return -ENOMEM;
        return write_string_file(p, value);
}

static int write_number(const char *dir, const char *file, int64_t n) {
        char value[32];

        snprintf(value, sizeof(value), "%" PRId64, n);
        return write_value(dir, file, value);
}

/* cpuset v1 refuses tasks until cpus and mems are set: from the parent, as runc does. */
static int cpuset_inherit(const char *dir, const char *file) {
        _cleanup_free_ char *mine = NULL, *parent_dir = strdup(dir), *parent_value = NULL, *p = NULL;
        char *slash;

        if (!parent_dir || asprintf(&p, "%s/%s", dir, file) < 0)
                return -ENOMEM;
        if (read_one_line_file(p, &mine) >= 0 && *mine)
                return 0;
        slash = strrchr(parent_dir, '/');
        if (!slash)
                return -EINVAL;
        *slash = '\0';
        if (!streq(parent_dir, CGROUP_ROOT "/cpuset"))
                (void) cpuset_inherit(parent_dir, file);
        free(p);
        if (asprintf(&p, "%s/%s", parent_dir, file) < 0)
                return -ENOMEM;
        if (read_one_line_file(p, &parent_value) < 0)
                return -EIO;
        return write_value(dir, file, parent_value);
}

static int apply_v1(const char *controller, const char *dir, const CgroupResources *res) {
        int r = 0;

        if (streq(controller, "memory") && res->memory_limit > 0)
                r = write_number(dir, "memory.limit_in_bytes", res->memory_limit);
        if (streq(controller, "cpu")) {
                if (res->cpu_shares)
                        r = write_number(dir, "cpu.shares", (int64_t) res->cpu_shares);
                if (r >= 0 && res->cpu_period)
                        r = write_number(dir, "cpu.cfs_period_us", (int64_t) res->cpu_period);
                if (r >= 0 && res->cpu_quota)
                        r = write_number(dir, "cpu.cfs_quota_us", res->cpu_quota);
        }
        if (streq(controller, "pids") && res->pids_limit)
                r = res->pids_limit < 0 ? write_value(dir, "pids.max", "max")
                                        : write_number(dir, "pids.max", res->pids_limit);
        if (streq(controller, "cpuset")) {
                r = res->cpuset_cpus ? write_value(dir, "cpuset.cpus", res->cpuset_cpus) : cpuset_inherit(dir, "cpuset.cpus");
                if (r >= 0)
                        r = res->cpuset_mems ? write_value(dir, "cpuset.mems", res->cpuset_mems)
                                             : cpuset_inherit(dir, "cpuset.mems");
        }
        return r;
}

/* Turns the controllers on along the way down (v2 only delegates what a parent enables). */
static void enable_controllers(const char *dir) {
        _cleanup_free_ char *parent = strdup(dir);
        char *slash;

        if (!parent || !(slash = strrchr(parent, '/')) || slash - parent <= (ptrdiff_t) strlen(CGROUP_ROOT))
                return;
        *slash = '\0';
        enable_controllers(parent);
        (void) write_value(parent, "cgroup.subtree_control", "+cpu +cpuset +memory +pids +io");
}

static int apply_v2(const char *dir, const CgroupResources *res) {
        char value[64];
        int r = 0;

        if (res->memory_limit > 0)
                r = write_number(dir, "memory.max", res->memory_limit);
        if (r >= 0 && res->cpu_shares)
                /* runc's conversion of shares (2-262144) to weight (1-10000) */
                r = write_number(dir, "cpu.weight", (int64_t) (1 + ((res->cpu_shares - 2) * 9999) / 262142));
        if (r >= 0 && (res->cpu_quota || res->cpu_period)) {
                if (res->cpu_quota > 0)
                        snprintf(value, sizeof(value), "%" PRId64 " %" PRIu64, res->cpu_quota, res->cpu_period ?: 100000);
                else
                        snprintf(value, sizeof(value), "max %" PRIu64, res->cpu_period ?: 100000);
                r = write_value(dir, "cpu.max", value);
        }
        if (r >= 0 && res->pids_limit)
                r = res->pids_limit < 0 ? write_value(dir, "pids.max", "max") : write_number(dir, "pids.max", res->pids_limit);
        if (r >= 0 && res->cpuset_cpus)
                r = write_value(dir, "cpuset.cpus", res->cpuset_cpus);
        if (r >= 0 && res->cpuset_mems)
                r = write_value(dir, "cpuset.mems", res->cpuset_mems);
        return r;
}

static int enter_one(const char *dir, pid_t pid) {
        char value[16];

        snprintf(value, sizeof(value), "%d", pid);
        return write_value(dir, "cgroup.procs", value);
}

int cgroup_enter(const char *path, const CgroupResources *res, pid_t pid, char **ret_error) {
        CgroupMode mode;
        int r;

        if (strstr(path, ".."))
                return fail(ret_error, -EINVAL, "linux.cgroupsPath '%s'", path);
        r = cgroup_mode_detect(CGROUP_ROOT, &mode);
        if (r < 0)
                return fail(ret_error, r, "detect the hierarchy at " CGROUP_ROOT);
        if (mode == CGROUP_MODE_UNIFIED) {
                _cleanup_free_ char *dir = directory(CGROUP_ROOT, NULL, path);
                if (!dir)
                        return -ENOMEM;
                enable_controllers(dir);
                r = mkdir_p(dir, 0755);
                if (r >= 0)
                        r = apply_v2(dir, res);
                if (r >= 0)
                        r = enter_one(dir, pid);
                return r < 0 ? fail(ret_error, r, "%s", dir) : 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
                _cleanup_free_ char *mount = NULL, *dir = NULL;
                if (asprintf(&mount, CGROUP_ROOT "/%s", v1_controllers[i]) < 0)
                        return -ENOMEM;
                if (access(mount, F_OK) < 0)
                        continue;
                dir = directory(mount, v1_controllers[i], path);
                if (!dir)
                        return -ENOMEM;
                r = mkdir_p(dir, 0755);
                if (r >= 0)
                        r = apply_v1(v1_controllers[i], dir, res);
                if (r >= 0)
                        r = enter_one(dir, pid);
                if (r < 0)
                        return fail(ret_error, r, "%s", dir);
        }
        if (mode == CGROUP_MODE_HYBRID) {
                _cleanup_free_ char *dir = directory(CGROUP_ROOT "/unified", NULL, path);
                if (!dir)
                        return -ENOMEM;
                r = mkdir_p(dir, 0755);
                if (r >= 0)
                        r = enter_one(dir, pid);
                if (r < 0)
                        return fail(ret_error, r, "%s", dir);
        }
        return 0;
}

int cgroup_remove(const char *path) {
        CgroupMode mode;
        int r = cgroup_mode_detect(CGROUP_ROOT, &mode), result = 0;

        if (r < 0)
                return r;
        for (size_t i = 0; i <= ELEMENTSOF(v1_controllers); i++) {
                bool unified = i == ELEMENTSOF(v1_controllers);
                _cleanup_free_ char *mount = NULL, *dir = NULL;

                if (unified)
                        mount = strdup(mode == CGROUP_MODE_UNIFIED ? CGROUP_ROOT : CGROUP_ROOT "/unified");
                else if (mode != CGROUP_MODE_UNIFIED && asprintf(&mount, CGROUP_ROOT "/%s", v1_controllers[i]) < 0)
                        mount = NULL;
                if (!mount || (unified && mode == CGROUP_MODE_LEGACY))
                        continue;
                dir = directory(mount, unified ? NULL : v1_controllers[i], path);
                if (dir && rmdir(dir) < 0 && errno != ENOENT)
                        result = -errno;
        }
        return result;
}
