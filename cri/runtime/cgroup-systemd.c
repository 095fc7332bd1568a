/* SPDX-License-Identifier: Apache-2.0 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "cgroup-systemd.h"
#include "fileio.h"
#include "macro.h"

#define SCOPE_TIMEOUT_MS 10000

/* libsystemd is loaded only when a container asks for a scope: stevedore-runc starts
 * faster without the six libraries it brings along (see docs/runtime.md). */
typedef struct sd_bus sd_bus;
typedef struct sd_bus_message sd_bus_message;
typedef struct sd_bus_error {
        const char *name;
        const char *message;
        int _need_free;
} sd_bus_error;

typedef struct Bus {
        void *lib;
        int (*open_system)(sd_bus **ret);
        int (*new_method_call)(sd_bus *bus, sd_bus_message **m, const char *destination, const char *path,
                               const char *interface, const char *member);
        int (*append)(sd_bus_message *m, const char *types, ...);
        int (*open_container)(sd_bus_message *m, char type, const char *contents);
        int (*close_container)(sd_bus_message *m);
        int (*call)(sd_bus *bus, sd_bus_message *m, uint64_t usec, sd_bus_error *ret_error, sd_bus_message **reply);
        void (*error_free)(sd_bus_error *e);
        sd_bus_message *(*message_unref)(sd_bus_message *m);
        sd_bus *(*flush_close_unref)(sd_bus *bus);
} Bus;

static int bus_load(Bus *b) {
        static const char *const names[] = {
                "sd_bus_open_system",  "sd_bus_message_new_method_call", "sd_bus_message_append",
                "sd_bus_message_open_container", "sd_bus_message_close_container", "sd_bus_call",
                "sd_bus_error_free",   "sd_bus_message_unref",           "sd_bus_flush_close_unref",
        };
        void **slots[] = {
                (void **) &b->open_system, (void **) &b->new_method_call, (void **) &b->append,
                (void **) &b->open_container, (void **) &b->close_container, (void **) &b->call,
                (void **) &b->error_free, (void **) &b->message_unref, (void **) &b->flush_close_unref,
        };

        b->lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!b->lib)
                return -EOPNOTSUPP;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                *slots[i] = dlsym(b->lib, names[i]);
                if (!*slots[i])
                        return -EOPNOTSUPP;
        }
        return 0;
}

static void bus_unload(Bus *b) {
        if (b->lib)
                dlclose(b->lib);
}

bool cgroup_path_is_systemd(const char *path) {
        const char *colon = path ? strchr(path, ':') : NULL;

        return colon && strchr(colon + 1, ':') && !strchr(strchr(colon + 1, ':') + 1, ':') &&
               (colon == path || (colon - path > 6 && strncmp(colon - 6, ".slice", 6) == 0));
}

uint64_t cgroup_systemd_cpu_weight(uint64_t shares) {
        /* runc's ConvertCPUSharesToCgroupV2Value, which is what systemd's CPUWeight means. */
        if (shares < 2)
                shares = 2;
        if (shares > 262144)
                shares = 262144;
        return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cgroup_systemd_cpu_quota_per_sec(int64_t quota, uint64_t period) {
        uint64_t per_sec;

        if (quota <= 0)
                return UINT64_MAX;
        per_sec = (uint64_t) quota * 1000000 / (period ?: 100000);
        /* systemd keeps 10 ms steps (runc rounds up likewise). */
        return (per_sec + 9999) / 10000 * 10000;
}

/* "kubepods-besteffort-pod1234.slice:cri-stevedore:abc" → slice and unit. */
static int parse_path(const char *path, const char *id, char **ret_slice, char **ret_unit) {
        const char *prefix = strchr(path, ':') + 1, *name = strchr(prefix, ':') + 1;
        int n = (int) (prefix - 1 - path);

        if (n == 0)
                *ret_slice = strdup("system.slice");
        else if (asprintf(ret_slice, "%.*s", n, path) < 0)
                *ret_slice = NULL;
        if (!*ret_slice)
                return -ENOMEM;
        if (asprintf(ret_unit, "%.*s%s%s.scope", (int) (name - 1 - prefix), prefix, name - 1 == prefix ? "" : "-",
                     *name ? name : id) < 0)
                return -ENOMEM;
        return 0;
}

static int append_property_bool(Bus *b, sd_bus_message *m, const char *name, int value) {
        return b->append(m, "(sv)", name, "b", value);
}

static int append_property_u64(Bus *b, sd_bus_message *m, const char *name, uint64_t value) {
        return b->append(m, "(sv)", name, "t", value);
}

static int append_resources(Bus *b, sd_bus_message *m, const CgroupResources *res) {
        int r = 0;

        if (cgroup_has(res, CGROUP_MEMORY_LIMIT) && res->value[CGROUP_MEMORY_LIMIT] > 0)
                r = append_property_u64(b, m, "MemoryMax", (uint64_t) res->value[CGROUP_MEMORY_LIMIT]);
        if (r >= 0 && cgroup_has(res, CGROUP_CPU_SHARES))
                r = append_property_u64(b, m, "CPUWeight",
                                        cgroup_systemd_cpu_weight((uint64_t) res->value[CGROUP_CPU_SHARES]));
        if (r >= 0 && cgroup_has(res, CGROUP_CPU_QUOTA) && res->value[CGROUP_CPU_QUOTA] > 0)
                r = append_property_u64(b, m, "CPUQuotaPerSecUSec",
                                        cgroup_systemd_cpu_quota_per_sec(res->value[CGROUP_CPU_QUOTA],
                                                                         cgroup_has(res, CGROUP_CPU_PERIOD)
                                                                                 ? (uint64_t) res->value[CGROUP_CPU_PERIOD]
                                                                                 : 0));
        if (r >= 0 && cgroup_has(res, CGROUP_PIDS_LIMIT) && res->value[CGROUP_PIDS_LIMIT] > 0)
                r = append_property_u64(b, m, "TasksMax", (uint64_t) res->value[CGROUP_PIDS_LIMIT]);
        return r;
}

static int start_scope_message(Bus *b, sd_bus *bus, const char *slice, const char *unit, const char *id,
                               const CgroupResources *res, pid_t pid, sd_bus_message **ret) {
        sd_bus_message *m = NULL;
        _cleanup_free_ char *description = NULL;
        int r;

        if (asprintf(&description, "stevedore container %s", id) < 0)
                return -ENOMEM;
        r = b->new_method_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "StartTransientUnit");
        if (r < 0)
                return r;
        r = b->append(m, "ss", unit, "replace");
        if (r >= 0)
                r = b->open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = b->append(m, "(sv)(sv)", "Description", "s", description, "Slice", "s", slice);
        if (r >= 0)
                r = b->append(m, "(sv)", "PIDs", "au", 1, (uint32_t) pid);
        if (r >= 0)
                r = append_property_bool(b, m, "Delegate", 1);
        if (r >= 0)
                r = append_property_bool(b, m, "DefaultDependencies", 0);
        if (r >= 0)
                r = append_property_bool(b, m, "MemoryAccounting", 1);
        if (r >= 0)
                r = append_property_bool(b, m, "CPUAccounting", 1);
        if (r >= 0)
                r = append_property_bool(b, m, "TasksAccounting", 1);
        if (r >= 0)
                r = append_resources(b, m, res);
        if (r >= 0)
                r = b->close_container(m);
        if (r >= 0)
                r = b->append(m, "a(sa(sv))", 0);
        if (r < 0) {
                b->message_unref(m);
                return r;
        }
        *ret = m;
        return 0;
}

/* The cgroup pid is in, from /proc/<pid>/cgroup: the systemd hierarchy's (v1 named or
 * unified) path, once it ends in the unit. */
static int scope_cgroup(pid_t pid, const char *unit, char **ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t unit_len = strlen(unit);
        int r;

        if (asprintf(&path, "/proc/%d/cgroup", (int) pid) < 0)
                return -ENOMEM;
        r = read_full_file(path, 65536, &text, NULL);
        if (r < 0)
                return r;
        for (char *line = text, *next; line && *line; line = next) {
                char *cg;
                size_t n;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (strncmp(line, "0::", 3) != 0 && !strstr(line, ":name=systemd:"))
                        continue;
                cg = strchr(strchr(line, ':') + 1, ':') + 1;
                n = strlen(cg);
                if (n > unit_len && cg[n - unit_len - 1] == '/' && strcmp(cg + n - unit_len, unit) == 0) {
                        *ret = strdup(cg);
                        return *ret ? 0 : -ENOMEM;
                }
        }
        return -EAGAIN;
}

/* systemd moves pid when the unit's start job runs, right after the call returns. */
static int wait_for_scope(pid_t pid, const char *unit, char **ret) {
        struct timespec pause = { .tv_nsec = 1000000 };
        int r;

        for (int waited = 0; waited < SCOPE_TIMEOUT_MS; waited++) {
                r = scope_cgroup(pid, unit, ret);
                if (r != -EAGAIN)
                        return r;
                nanosleep(&pause, NULL);
        }
        return -ETIMEDOUT;
}

int cgroup_systemd_enter(const char *path, const char *id, const CgroupResources *res, pid_t pid, char **ret_cgroup,
                         char **ret_error) {
        _cleanup_free_ char *slice = NULL, *unit = NULL;
        sd_bus_error error = {};
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus *bus = NULL;
        Bus b = {};
        int r;

        r = parse_path(path, id, &slice, &unit);
        if (r < 0)
                return r;
        r = bus_load(&b);
        if (r < 0) {
                bus_unload(&b);
                return cgroup_fail(ret_error, r, "%s: libsystemd.so.0: %s", path, dlerror() ?: "not loaded");
        }
        r = b.open_system(&bus);
        if (r < 0) {
                cgroup_fail(ret_error, r, "%s: connect to systemd on the system bus", path);
                goto out;
        }
        r = start_scope_message(&b, bus, slice, unit, id, res, pid, &m);
        if (r < 0) {
                cgroup_fail(ret_error, r, "%s: StartTransientUnit %s", path, unit);
                goto out;
        }
        r = b.call(bus, m, 0, &error, &reply);
        if (r < 0) {
                error_set(ret_error, r, "cgroup %s: StartTransientUnit %s in %s: %s", path, unit, slice,
                          error.message ?: strerror(-r));
                goto out;
        }
        r = wait_for_scope(pid, unit, ret_cgroup);
        if (r < 0)
                cgroup_fail(ret_error, r, "%s: wait for %s to hold pid %d", path, unit, (int) pid);
out:
        b.error_free(&error);
        if (reply)
                b.message_unref(reply);
        if (m)
                b.message_unref(m);
        if (bus)
                b.flush_close_unref(bus);
        bus_unload(&b);
        return r;
}
