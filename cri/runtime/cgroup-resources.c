/* SPDX-License-Identifier: Apache-2.0 */
/* linux.resources: parsed (every bad value named with its field) and written to the
 * cgroup files of v1 or v2, converted as runc and crun convert them. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup-internal.h"
#include "error.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"

/* --- parsing ------------------------------------------------------------------------ */

#define invalid(ret_error, ...) error_set(ret_error, -EINVAL, __VA_ARGS__)

static const char *text_of(json_object *v) {
        return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* A number from min to max (booleans: 0 or 1); 0 when absent, 1 when found. */
static int get_number(json_object *o, const char *key, const char *field, int64_t min, int64_t max, bool boolean,
                      int64_t *ret, char **ret_error) {
        json_object *v = json_get(o, key);
        int64_t n;

        if (!v || json_object_is_type(v, json_type_null))
                return 0;
        if (boolean) {
                if (!json_object_is_type(v, json_type_boolean))
                        return invalid(ret_error, "%s: '%s' is not true or false", field, text_of(v));
                *ret = json_object_get_boolean(v);
                return 1;
        }
        n = json_object_get_int64(v);
        if (!json_object_is_type(v, json_type_int) || n < min || n > max ||
            (n == INT64_MAX && json_object_get_uint64(v) > INT64_MAX)) {
                if (max == INT64_MAX)
                        return invalid(ret_error, "%s: '%s' is not a number of at least %" PRId64, field, text_of(v),
                                       min);
                return invalid(ret_error, "%s: '%s' is not a number from %" PRId64 " to %" PRId64, field,
                               text_of(v), min, max);
        }
        *ret = n;
        return 1;
}

/* A number that must be there. */
static int get_required_number(json_object *o, const char *key, const char *field, int64_t min, int64_t max,
                               int64_t *ret, char **ret_error) {
        int r = get_number(o, key, field, min, max, false, ret, ret_error);

        if (r == 0)
                return invalid(ret_error, "%s: missing", field);
        return r < 0 ? r : 0;
}

static const struct {
        CgroupValue value;
        const char *object, *key;
        int64_t min, max;
        bool boolean;
        bool zero_unset; /* 0 means "not set", as runc reads it */
} value_fields[] = {
        { CGROUP_MEMORY_LIMIT, "memory", "limit", -1, INT64_MAX, false, true },
        { CGROUP_MEMORY_RESERVATION, "memory", "reservation", -1, INT64_MAX, false, true },
        { CGROUP_MEMORY_SWAP, "memory", "swap", -1, INT64_MAX, false, true },
        { CGROUP_MEMORY_KERNEL, "memory", "kernel", -1, INT64_MAX, false, true },
        { CGROUP_MEMORY_KERNEL_TCP, "memory", "kernelTCP", -1, INT64_MAX, false, true },
        { CGROUP_MEMORY_SWAPPINESS, "memory", "swappiness", 0, 100, false, false },
        { CGROUP_MEMORY_DISABLE_OOM_KILLER, "memory", "disableOOMKiller", 0, 1, true, true },
        { CGROUP_CPU_SHARES, "cpu", "shares", 0, INT64_MAX, false, true },
        { CGROUP_CPU_QUOTA, "cpu", "quota", -1, INT64_MAX, false, true },
        { CGROUP_CPU_PERIOD, "cpu", "period", 0, INT64_MAX, false, true },
        { CGROUP_CPU_BURST, "cpu", "burst", 0, INT64_MAX, false, false },
        { CGROUP_CPU_REALTIME_RUNTIME, "cpu", "realtimeRuntime", -1, INT64_MAX, false, true },
        { CGROUP_CPU_REALTIME_PERIOD, "cpu", "realtimePeriod", 0, INT64_MAX, false, true },
        { CGROUP_CPU_IDLE, "cpu", "idle", 0, 1, false, false },
        { CGROUP_PIDS_LIMIT, "pids", "limit", INT64_MIN, INT64_MAX, false, true },
        { CGROUP_BLKIO_WEIGHT, "blockIO", "weight", 0, 1000, false, true },
        { CGROUP_BLKIO_LEAF_WEIGHT, "blockIO", "leafWeight", 0, 1000, false, true },
};

static void field_name(char *buf, size_t size, const char *prefix, const char *format, ...) _printf_(4, 5);
static void field_name(char *buf, size_t size, const char *prefix, const char *format, ...) {
        va_list ap;
        int n = snprintf(buf, size, "%s%s", prefix ?: "", prefix ? "." : "");

        va_start(ap, format);
        if (n >= 0 && (size_t) n < size)
                vsnprintf(buf + n, size - (size_t) n, format, ap);
        va_end(ap);
}

static int parse_values(json_object *res, const char *prefix, CgroupResources *out, char **ret_error) {
        for (size_t i = 0; i < ELEMENTSOF(value_fields); i++) {
                json_object *o = json_get(res, value_fields[i].object);
                char field[128];
                int64_t n = 0;
                int r;

                if (o && !json_object_is_type(o, json_type_object)) {
                        field_name(field, sizeof(field), prefix, "%s", value_fields[i].object);
                        return invalid(ret_error, "%s: not an object", field);
                }
                field_name(field, sizeof(field), prefix, "%s.%s", value_fields[i].object, value_fields[i].key);
                r = get_number(o, value_fields[i].key, field, value_fields[i].min, value_fields[i].max,
                               value_fields[i].boolean, &n, ret_error);
                if (r < 0)
                        return r;
                if (r == 0 || (n == 0 && value_fields[i].zero_unset))
                        continue;
                if ((value_fields[i].value == CGROUP_BLKIO_WEIGHT ||
                     value_fields[i].value == CGROUP_BLKIO_LEAF_WEIGHT) && n < 10)
                        return invalid(ret_error, "%s: '%" PRId64 "' is not a number from 10 to 1000", field, n);
                out->value[value_fields[i].value] = n;
                out->set |= UINT64_C(1) << value_fields[i].value;
        }
        return 0;
}

/* "0-3,8", "1": digits, commas and dashes; "" is not given. */
static int parse_list(json_object *cpu, const char *key, const char *prefix, char **ret, char **ret_error) {
        json_object *v = json_get(cpu, key);
        char field[128];
        const char *s;

        field_name(field, sizeof(field), prefix, "cpu.%s", key);
        if (!v)
                return 0;
        s = json_object_get_string(v);
        if (!json_object_is_type(v, json_type_string) || strspn(s, "0123456789,-") != strlen(s))
                return invalid(ret_error, "%s: '%s' is not a list of numbers and ranges (\"0-3,8\")", field,
                               text_of(v));
        if (!*s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static json_object *get_array(json_object *o, const char *key, const char *field, size_t *ret_n, int *r,
                              char **ret_error) {
        json_object *v = json_get(o, key);

        *ret_n = 0;
        if (!v || json_object_is_type(v, json_type_null))
                return NULL;
        if (!json_object_is_type(v, json_type_array)) {
                *r = invalid(ret_error, "%s: not an array", field);
                return NULL;
        }
        *ret_n = json_object_array_length(v);
        return v;
}

/* major and minor of a blockIO entry, both required. */
static int parse_major_minor(json_object *d, const char *field, uint32_t *major, uint32_t *minor, char **ret_error) {
        char f[256];
        int64_t n = 0;
        int r;

        snprintf(f, sizeof(f), "%s.major", field);
        r = get_required_number(d, "major", f, 0, UINT32_MAX, &n, ret_error);
        if (r < 0)
                return r;
        *major = (uint32_t) n;
        snprintf(f, sizeof(f), "%s.minor", field);
        r = get_required_number(d, "minor", f, 0, UINT32_MAX, &n, ret_error);
        if (r < 0)
                return r;
        *minor = (uint32_t) n;
        return 0;
}

static int parse_blkio(json_object *blkio, const char *prefix, CgroupResources *out, char **ret_error) {
        static const char *const throttle_keys[_CGROUP_THROTTLE_MAX] = {
                "throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"
        };
        json_object *list;
        char field[128], f[192];
        size_t n;
        int r = 0;

        field_name(field, sizeof(field), prefix, "blockIO.weightDevice");
        list = get_array(blkio, "weightDevice", field, &n, &r, ret_error);
        if (r < 0)
                return r;
        if (n && !(out->weight_devices = calloc(n, sizeof(CgroupDeviceWeight))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(list, i);
                CgroupDeviceWeight *w = &out->weight_devices[out->n_weight_devices++];
                int64_t v;

                snprintf(f, sizeof(f), "%s[%zu]", field, i);
                r = parse_major_minor(d, f, &w->major, &w->minor, ret_error);
                if (r < 0)
                        return r;
                w->weight = w->leaf_weight = -1;
                snprintf(f, sizeof(f), "%s[%zu].weight", field, i);
                r = get_number(d, "weight", f, 10, 1000, false, &v, ret_error);
                if (r > 0)
                        w->weight = (int) v;
                snprintf(f, sizeof(f), "%s[%zu].leafWeight", field, i);
                if (r >= 0 && (r = get_number(d, "leafWeight", f, 10, 1000, false, &v, ret_error)) > 0)
                        w->leaf_weight = (int) v;
                if (r < 0)
                        return r;
        }
        for (int t = 0; t < _CGROUP_THROTTLE_MAX; t++) {
                field_name(field, sizeof(field), prefix, "blockIO.%s", throttle_keys[t]);
                list = get_array(blkio, throttle_keys[t], field, &n, &r, ret_error);
                if (r < 0)
                        return r;
                if (n && !(out->throttle[t] = calloc(n, sizeof(CgroupDeviceRate))))
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        json_object *d = json_object_array_get_idx(list, i);
                        CgroupDeviceRate *rate = &out->throttle[t][out->n_throttle[t]++];
                        int64_t v = 0;

                        snprintf(f, sizeof(f), "%s[%zu]", field, i);
                        r = parse_major_minor(d, f, &rate->major, &rate->minor, ret_error);
                        if (r < 0)
                                return r;
                        snprintf(f, sizeof(f), "%s[%zu].rate", field, i);
                        r = get_required_number(d, "rate", f, 0, INT64_MAX, &v, ret_error);
                        if (r < 0)
                                return r;
                        rate->rate = (uint64_t) v;
                }
        }
        return 0;
}

/* "2MB", "1GB", "64KB": a number and a unit, as the hugetlb files name them. */
static bool page_size_valid(const char *s) {
        size_t digits = strspn(s, "0123456789");

        return digits > 0 && digits < 10 && s[0] != '0' && s[digits] && strchr("KMG", s[digits]) &&
               s[digits + 1] == 'B' && !s[digits + 2];
}

static int parse_hugepages(json_object *res, const char *prefix, CgroupResources *out, char **ret_error) {
        json_object *list;
        char field[128], f[192];
        size_t n;
        int r = 0;

        field_name(field, sizeof(field), prefix, "hugepageLimits");
        list = get_array(res, "hugepageLimits", field, &n, &r, ret_error);
        if (r < 0)
                return r;
        if (n && !(out->hugepages = calloc(n, sizeof(CgroupHugepageLimit))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *h = json_object_array_get_idx(list, i), *size = json_get(h, "pageSize");
                CgroupHugepageLimit *l = &out->hugepages[out->n_hugepages++];
                int64_t v = 0;

                snprintf(f, sizeof(f), "%s[%zu].pageSize", field, i);
                if (!size || !json_object_is_type(size, json_type_string) ||
                    !page_size_valid(json_object_get_string(size)))
                        return invalid(ret_error, "%s: '%s' is not a page size (\"2MB\", \"1GB\")", f,
                                       size ? text_of(size) : "");
                snprintf(l->page_size, sizeof(l->page_size), "%s", json_object_get_string(size));
                snprintf(f, sizeof(f), "%s[%zu].limit", field, i);
                r = get_required_number(h, "limit", f, 0, INT64_MAX, &v, ret_error);
                if (r < 0)
                        return r;
                l->limit = (uint64_t) v;
        }
        return 0;
}

static int parse_devices(json_object *res, const char *prefix, CgroupResources *out, char **ret_error) {
        json_object *list;
        char field[128], f[192];
        size_t n;
        int r = 0;

        field_name(field, sizeof(field), prefix, "devices");
        list = get_array(res, "devices", field, &n, &r, ret_error);
        if (r < 0)
                return r;
        out->has_devices = list;
        if (n && !(out->devices = calloc(n, sizeof(CgroupDeviceRule))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(list, i), *v;
                CgroupDeviceRule *rule = &out->devices[out->n_devices++];
                const char *s;

                snprintf(f, sizeof(f), "%s[%zu].allow", field, i);
                v = json_get(d, "allow");
                if (!v || !json_object_is_type(v, json_type_boolean))
                        return invalid(ret_error, "%s: missing, or not true or false", f);
                rule->allow = json_object_get_boolean(v);

                snprintf(f, sizeof(f), "%s[%zu].type", field, i);
                v = json_get(d, "type");
                s = !v ? "a" : json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
                if (strlen(s) != 1 || !strchr("abc", s[0]))
                        return invalid(ret_error, "%s: '%s' is not a, b or c", f, text_of(v));
                rule->type = s[0];

                rule->major = rule->minor = -1;
                snprintf(f, sizeof(f), "%s[%zu].major", field, i);
                r = get_number(d, "major", f, 0, UINT32_MAX, false, &rule->major, ret_error);
                snprintf(f, sizeof(f), "%s[%zu].minor", field, i);
                if (r >= 0)
                        r = get_number(d, "minor", f, 0, UINT32_MAX, false, &rule->minor, ret_error);
                if (r < 0)
                        return r;

                snprintf(f, sizeof(f), "%s[%zu].access", field, i);
                v = json_get(d, "access");
                s = v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
                if (!s || !*s || strspn(s, "rwm") != strlen(s))
                        return invalid(ret_error, "%s: '%s' is not made of r, w and m", f, v ? text_of(v) : "");
                for (; *s; s++)
                        rule->access |= cgroup_device_access(*s);
        }
        return 0;
}

int cgroup_resources_parse(json_object *res, const char *prefix, CgroupResources *ret, char **ret_error) {
        json_object *cpu = json_get(res, "cpu");
        int r;

        *ret = (CgroupResources) {};
        if (!res || json_object_is_type(res, json_type_null))
                return 0;
        if (!json_object_is_type(res, json_type_object))
                return invalid(ret_error, "%s: not an object", prefix ?: "resources");
        r = parse_values(res, prefix, ret, ret_error);
        if (r >= 0)
                r = parse_list(cpu, "cpus", prefix, &ret->cpuset_cpus, ret_error);
        if (r >= 0)
                r = parse_list(cpu, "mems", prefix, &ret->cpuset_mems, ret_error);
        if (r >= 0)
                r = parse_blkio(json_get(res, "blockIO"), prefix, ret, ret_error);
        if (r >= 0)
                r = parse_hugepages(res, prefix, ret, ret_error);
        if (r >= 0)
                r = parse_devices(res, prefix, ret, ret_error);
        if (r < 0)
                cgroup_resources_done(ret);
        return r;
}

void cgroup_resources_done(CgroupResources *r) {
        free(r->cpuset_cpus);
        free(r->cpuset_mems);
        free(r->weight_devices);
        for (int t = 0; t < _CGROUP_THROTTLE_MAX; t++)
                free(r->throttle[t]);
        free(r->hugepages);
        free(r->devices);
        *r = (CgroupResources) {};
}

/* --- applying ----------------------------------------------------------------------- */

static int unavailable(char **ret_error, const char *controller, const char *what) {
        return cgroup_fail(ret_error, -EOPNOTSUPP, "controller %s (for linux.resources.%s): not mounted on this host",
                           controller, what);
}

static int not_on_v2(char **ret_error, const char *what) {
        return cgroup_fail(ret_error, -EOPNOTSUPP, "linux.resources.%s: not available on cgroup v2", what);
}

/* A size for v2's .max/.low/.high files: -1 is "max". */
static int write_v2_size(const char *dir, const char *file, int64_t n, char **ret_error) {
        return n < 0 ? cgroup_write(dir, file, "max", ret_error) : cgroup_write_number(dir, file, n, ret_error);
}

static int read_number(const char *dir, const char *file, uint64_t *ret) {
        _cleanup_free_ char *p = NULL, *line = NULL;
        int r;

        if (asprintf(&p, "%s/%s", dir, file) < 0)
                return -ENOMEM;
        r = read_one_line_file(p, &line);
        if (r < 0)
                return r;
        *ret = strtoull(line, NULL, 10);
        return 0;
}

static int memory_v1(const char *dir, const CgroupResources *res, char **ret_error) {
        bool limit = cgroup_has(res, CGROUP_MEMORY_LIMIT), swap = cgroup_has(res, CGROUP_MEMORY_SWAP);
        int64_t limit_value = res->value[CGROUP_MEMORY_LIMIT], swap_value = res->value[CGROUP_MEMORY_SWAP];
        uint64_t current = 0;
        int r = 0;

        /* runc: an unlimited memory without a swap given makes the swap unlimited too. */
        if (limit && limit_value == -1 && !swap)
                swap = true, swap_value = -1;
        /* memsw may never be below the memory limit: the order depends on where it goes. */
        if (limit && swap && (swap_value == -1 || (read_number(dir, "memory.limit_in_bytes", &current) >= 0 &&
                                                   (int64_t) current < swap_value))) {
                r = cgroup_write_number(dir, "memory.memsw.limit_in_bytes", swap_value, ret_error);
                swap = false;
        }
        if (r >= 0 && limit)
                r = cgroup_write_number(dir, "memory.limit_in_bytes", limit_value, ret_error);
        if (r >= 0 && swap)
                r = cgroup_write_number(dir, "memory.memsw.limit_in_bytes", swap_value, ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_MEMORY_RESERVATION))
                r = cgroup_write_number(dir, "memory.soft_limit_in_bytes", res->value[CGROUP_MEMORY_RESERVATION],
                                        ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_MEMORY_KERNEL))
                r = cgroup_write_number(dir, "memory.kmem.limit_in_bytes", res->value[CGROUP_MEMORY_KERNEL], ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_MEMORY_KERNEL_TCP))
                r = cgroup_write_number(dir, "memory.kmem.tcp.limit_in_bytes", res->value[CGROUP_MEMORY_KERNEL_TCP],
                                        ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_MEMORY_SWAPPINESS))
                r = cgroup_write_number(dir, "memory.swappiness", res->value[CGROUP_MEMORY_SWAPPINESS], ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_MEMORY_DISABLE_OOM_KILLER))
                r = cgroup_write(dir, "memory.oom_control", "1", ret_error);
        return r;
}

static int memory_v2(const char *dir, const CgroupResources *res, char **ret_error) {
        bool limit = cgroup_has(res, CGROUP_MEMORY_LIMIT), swap = cgroup_has(res, CGROUP_MEMORY_SWAP);
        int64_t limit_value = res->value[CGROUP_MEMORY_LIMIT], swap_value = res->value[CGROUP_MEMORY_SWAP];
        int r = 0;

        if (cgroup_has(res, CGROUP_MEMORY_SWAPPINESS))
                return not_on_v2(ret_error, "memory.swappiness");
        if (cgroup_has(res, CGROUP_MEMORY_DISABLE_OOM_KILLER))
                return not_on_v2(ret_error, "memory.disableOOMKiller");
        if (cgroup_has(res, CGROUP_MEMORY_KERNEL) || cgroup_has(res, CGROUP_MEMORY_KERNEL_TCP))
                log_warning("cgroup %s: linux.resources.memory.kernel and kernelTCP are ignored on cgroup v2", dir);
        if (limit && limit_value == -1 && !swap)
                swap = true, swap_value = -1;
        /* The spec's swap is memory + swap; v2's memory.swap.max is the swap alone (runc's
         * conversion). */
        if (swap && swap_value > 0) {
                if (!limit || limit_value <= 0)
                        return cgroup_fail(ret_error, -EINVAL, "%s: linux.resources.memory.swap without a memory limit",
                                           dir);
                if (swap_value < limit_value)
                        return cgroup_fail(ret_error, -EINVAL,
                                           "%s: linux.resources.memory.swap %" PRId64
                                           " is below the memory limit %" PRId64,
                                           dir, swap_value, limit_value);
                swap_value -= limit_value;
        }
        if (swap)
                r = write_v2_size(dir, "memory.swap.max", swap_value, ret_error);
        if (r >= 0 && limit)
                r = write_v2_size(dir, "memory.max", limit_value, ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_MEMORY_RESERVATION))
                r = write_v2_size(dir, "memory.low", res->value[CGROUP_MEMORY_RESERVATION], ret_error);
        return r;
}

static uint64_t shares_clamped(const CgroupResources *res) {
        int64_t s = res->value[CGROUP_CPU_SHARES];

        return (uint64_t) (s < 2 ? 2 : s > 262144 ? 262144 : s);
}

static int cpu_v1(const char *dir, const CgroupResources *res, char **ret_error) {
        bool period_later = false;
        int r = 0;

        if (cgroup_has(res, CGROUP_CPU_SHARES))
                r = cgroup_write_number(dir, "cpu.shares", (int64_t) shares_clamped(res), ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_CPU_PERIOD)) {
                /* A shorter period can be refused while the old quota is in place: then
                 * the quota first (crun does the same). */
                _cleanup_free_ char *error = NULL;
                r = cgroup_write_number(dir, "cpu.cfs_period_us", res->value[CGROUP_CPU_PERIOD], &error);
                if (r == -EINVAL && cgroup_has(res, CGROUP_CPU_QUOTA))
                        period_later = true, r = 0;
                else if (r < 0 && ret_error && !*ret_error)
                        *ret_error = TAKE_PTR(error);
        }
        if (r >= 0 && cgroup_has(res, CGROUP_CPU_QUOTA))
                r = cgroup_write_number(dir, "cpu.cfs_quota_us", res->value[CGROUP_CPU_QUOTA], ret_error);
        if (r >= 0 && period_later)
                r = cgroup_write_number(dir, "cpu.cfs_period_us", res->value[CGROUP_CPU_PERIOD], ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_CPU_BURST))
                r = cgroup_write_number(dir, "cpu.cfs_burst_us", res->value[CGROUP_CPU_BURST], ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_CPU_REALTIME_PERIOD))
                r = cgroup_write_number(dir, "cpu.rt_period_us", res->value[CGROUP_CPU_REALTIME_PERIOD], ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_CPU_REALTIME_RUNTIME))
                r = cgroup_write_number(dir, "cpu.rt_runtime_us", res->value[CGROUP_CPU_REALTIME_RUNTIME], ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_CPU_IDLE))
                r = cgroup_write_number(dir, "cpu.idle", res->value[CGROUP_CPU_IDLE], ret_error);
        return r;
}

static int cpu_v2(const char *dir, const CgroupResources *res, char **ret_error) {
        char value[64];
        int r = 0;

        if (cgroup_has(res, CGROUP_CPU_REALTIME_PERIOD) || cgroup_has(res, CGROUP_CPU_REALTIME_RUNTIME))
                return not_on_v2(ret_error, "cpu.realtimePeriod and realtimeRuntime");
        if (cgroup_has(res, CGROUP_CPU_SHARES))
                /* runc's conversion of shares (2-262144) to weight (1-10000) */
                r = cgroup_write_number(dir, "cpu.weight", (int64_t) (1 + ((shares_clamped(res) - 2) * 9999) / 262142),
                                        ret_error);
        if (r >= 0 && (cgroup_has(res, CGROUP_CPU_QUOTA) || cgroup_has(res, CGROUP_CPU_PERIOD))) {
                uint64_t period =
                        cgroup_has(res, CGROUP_CPU_PERIOD) ? (uint64_t) res->value[CGROUP_CPU_PERIOD] : 100000;
                int64_t quota = cgroup_has(res, CGROUP_CPU_QUOTA) ? res->value[CGROUP_CPU_QUOTA] : -1;

                if (quota > 0)
                        snprintf(value, sizeof(value), "%" PRId64 " %" PRIu64, quota, period);
                else
                        snprintf(value, sizeof(value), "max %" PRIu64, period);
                r = cgroup_write(dir, "cpu.max", value, ret_error);
        }
        if (r >= 0 && cgroup_has(res, CGROUP_CPU_BURST))
                r = cgroup_write_number(dir, "cpu.max.burst", res->value[CGROUP_CPU_BURST], ret_error);
        if (r >= 0 && cgroup_has(res, CGROUP_CPU_IDLE))
                r = cgroup_write_number(dir, "cpu.idle", res->value[CGROUP_CPU_IDLE], ret_error);
        return r;
}

/* cpuset v1 refuses tasks until cpus and mems are set: from the parent, as runc does. */
static int cpuset_inherit(const char *dir, const char *file, char **ret_error) {
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
                (void) cpuset_inherit(parent_dir, file, NULL);
        free(p);
        if (asprintf(&p, "%s/%s", parent_dir, file) < 0)
                return -ENOMEM;
        if (read_one_line_file(p, &parent_value) < 0)
                return cgroup_fail(ret_error, -EIO, "%s: read", p);
        return cgroup_write(dir, file, parent_value, ret_error);
}

static int cpuset(const char *dir, bool v2, const CgroupResources *res, bool creating, char **ret_error) {
        int r = 0;

        if (res->cpuset_cpus)
                r = cgroup_write(dir, "cpuset.cpus", res->cpuset_cpus, ret_error);
        else if (!v2 && creating)
                r = cpuset_inherit(dir, "cpuset.cpus", ret_error);
        if (r < 0)
                return r;
        if (res->cpuset_mems)
                r = cgroup_write(dir, "cpuset.mems", res->cpuset_mems, ret_error);
        else if (!v2 && creating)
                r = cpuset_inherit(dir, "cpuset.mems", ret_error);
        return r;
}

static int pids(const char *dir, const CgroupResources *res, char **ret_error) {
        int64_t limit = res->value[CGROUP_PIDS_LIMIT];

        if (!cgroup_has(res, CGROUP_PIDS_LIMIT))
                return 0;
        return limit < 0 ? cgroup_write(dir, "pids.max", "max", ret_error)
                         : cgroup_write_number(dir, "pids.max", limit, ret_error);
}

/* A file that has another name with BFQ ("blkio.weight", "blkio.bfq.weight"). */
static int write_either(const char *dir, const char *file, const char *alias, const char *value, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        int r = cgroup_write(dir, file, value, &error);

        if (r == -ENOENT && alias)
                return cgroup_write(dir, alias, value, ret_error);
        if (r < 0 && ret_error && !*ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}

/* Leaf weights were CFQ's (gone since Linux 5.0; BFQ has none): where the file is
 * missing, a warning, as crun does for leaf_weight_device and runc on v2. */
static int write_leaf_weight(const char *dir, const char *file, const char *value, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        int r = cgroup_write(dir, file, value, &error);

        if (r == -ENOENT) {
                log_warning("cgroup %s: linux.resources.blockIO leaf weight ignored: no %s here", dir, file);
                return 0;
        }
        if (r < 0 && ret_error && !*ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}

/* blkio weight (10-1000) to io.weight (1-10000), as runc and crun convert it. */
static int64_t io_weight(int64_t blkio_weight) {
        return 1 + (blkio_weight - 10) * 9999 / 990;
}

static int blkio_v1(const char *dir, const CgroupResources *res, char **ret_error) {
        static const char *const files[_CGROUP_THROTTLE_MAX] = {
                "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
                "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"
        };
        char value[64];
        int r = 0;

        if (cgroup_has(res, CGROUP_BLKIO_WEIGHT)) {
                snprintf(value, sizeof(value), "%" PRId64, res->value[CGROUP_BLKIO_WEIGHT]);
                r = write_either(dir, "blkio.weight", "blkio.bfq.weight", value, ret_error);
        }
        if (r >= 0 && cgroup_has(res, CGROUP_BLKIO_LEAF_WEIGHT)) {
                snprintf(value, sizeof(value), "%" PRId64, res->value[CGROUP_BLKIO_LEAF_WEIGHT]);
                r = write_leaf_weight(dir, "blkio.leaf_weight", value, ret_error);
        }
        for (size_t i = 0; r >= 0 && i < res->n_weight_devices; i++) {
                const CgroupDeviceWeight *w = &res->weight_devices[i];
                if (w->weight >= 0) {
                        snprintf(value, sizeof(value), "%" PRIu32 ":%" PRIu32 " %d", w->major, w->minor, w->weight);
                        r = write_either(dir, "blkio.weight_device", "blkio.bfq.weight_device", value, ret_error);
                }
                if (r >= 0 && w->leaf_weight >= 0) {
                        snprintf(value, sizeof(value), "%" PRIu32 ":%" PRIu32 " %d", w->major, w->minor,
                                 w->leaf_weight);
                        r = write_leaf_weight(dir, "blkio.leaf_weight_device", value, ret_error);
                }
        }
        for (int t = 0; t < _CGROUP_THROTTLE_MAX; t++)
                for (size_t i = 0; r >= 0 && i < res->n_throttle[t]; i++) {
                        const CgroupDeviceRate *d = &res->throttle[t][i];
                        snprintf(value, sizeof(value), "%" PRIu32 ":%" PRIu32 " %" PRIu64, d->major, d->minor, d->rate);
                        r = cgroup_write(dir, files[t], value, ret_error);
                }
        return r;
}

static int blkio_v2(const char *dir, const CgroupResources *res, char **ret_error) {
        static const char *const keys[_CGROUP_THROTTLE_MAX] = { "rbps", "wbps", "riops", "wiops" };
        char value[96], converted[96];
        int r = 0;

        if (cgroup_has(res, CGROUP_BLKIO_LEAF_WEIGHT))
                log_warning("cgroup %s: linux.resources.blockIO.leafWeight ignored: no leaf weights on cgroup v2", dir);
        /* io.bfq.weight takes the blkio range as it is; io.weight (no BFQ) converted. */
        if (cgroup_has(res, CGROUP_BLKIO_WEIGHT)) {
                _cleanup_free_ char *error = NULL;
                snprintf(value, sizeof(value), "%" PRId64, res->value[CGROUP_BLKIO_WEIGHT]);
                r = cgroup_write(dir, "io.bfq.weight", value, &error);
                if (r == -ENOENT)
                        r = cgroup_write_number(dir, "io.weight", io_weight(res->value[CGROUP_BLKIO_WEIGHT]),
                                                ret_error);
                else if (r < 0 && ret_error && !*ret_error)
                        *ret_error = TAKE_PTR(error);
        }
        for (size_t i = 0; r >= 0 && i < res->n_weight_devices; i++) {
                const CgroupDeviceWeight *w = &res->weight_devices[i];
                _cleanup_free_ char *error = NULL;
                if (w->weight < 0)
                        continue;
                snprintf(value, sizeof(value), "%" PRIu32 ":%" PRIu32 " %d", w->major, w->minor, w->weight);
                snprintf(converted, sizeof(converted), "%" PRIu32 ":%" PRIu32 " %" PRId64, w->major, w->minor,
                         io_weight(w->weight));
                r = cgroup_write(dir, "io.bfq.weight", value, &error);
                if (r == -ENOENT)
                        r = cgroup_write(dir, "io.weight", converted, ret_error);
                else if (r < 0 && ret_error && !*ret_error)
                        *ret_error = TAKE_PTR(error);
        }
        /* A rate of 0 removes a v1 throttle; "max" does on v2. */
        for (int t = 0; t < _CGROUP_THROTTLE_MAX; t++)
                for (size_t i = 0; r >= 0 && i < res->n_throttle[t]; i++) {
                        const CgroupDeviceRate *d = &res->throttle[t][i];
                        char rate[24] = "max";
                        if (d->rate)
                                snprintf(rate, sizeof(rate), "%" PRIu64, d->rate);
                        snprintf(value, sizeof(value), "%" PRIu32 ":%" PRIu32 " %s=%s", d->major, d->minor, keys[t],
                                 rate);
                        r = cgroup_write(dir, "io.max", value, ret_error);
                }
        return r;
}

static int hugetlb(const char *dir, bool v2, const CgroupResources *res, char **ret_error) {
        for (size_t i = 0; i < res->n_hugepages; i++) {
                const CgroupHugepageLimit *h = &res->hugepages[i];
                _cleanup_free_ char *file = NULL, *error = NULL;
                int r;

                if (asprintf(&file, "hugetlb.%s.%s", h->page_size, v2 ? "max" : "limit_in_bytes") < 0)
                        return -ENOMEM;
                r = cgroup_write_number(dir, file, (int64_t) h->limit, &error);
                if (r == -ENOENT)
                        return cgroup_fail(ret_error, r,
                                           "%s: linux.resources.hugepageLimits[%zu]: no %s huge pages here (%s)", dir,
                                           i, h->page_size, file);
                if (r < 0) {
                        if (ret_error && !*ret_error)
                                *ret_error = TAKE_PTR(error);
                        return r;
                }
        }
        return 0;
}

static bool any_blkio(const CgroupResources *res) {
        for (int t = 0; t < _CGROUP_THROTTLE_MAX; t++)
                if (res->n_throttle[t])
                        return true;
        return cgroup_has(res, CGROUP_BLKIO_WEIGHT) || cgroup_has(res, CGROUP_BLKIO_LEAF_WEIGHT) ||
               res->n_weight_devices;
}

#define VALUE_RANGE(first, last) (((UINT64_C(1) << ((last) + 1)) - 1) & ~((UINT64_C(1) << (first)) - 1))

int cgroup_resources_apply(const CgroupDirs *d, const CgroupResources *res, bool creating, char **ret_error) {
        const char *dir;
        bool v2;
        int r;

        if (res->set & VALUE_RANGE(CGROUP_MEMORY_LIMIT, CGROUP_MEMORY_DISABLE_OOM_KILLER)) {
                if (!(dir = cgroup_dir_of(d, CGROUP_MEMORY, &v2)))
                        return unavailable(ret_error, "memory", "memory");
                r = v2 ? memory_v2(dir, res, ret_error) : memory_v1(dir, res, ret_error);
                if (r < 0)
                        return r;
        }
        if (res->set & VALUE_RANGE(CGROUP_CPU_SHARES, CGROUP_CPU_IDLE)) {
                if (!(dir = cgroup_dir_of(d, CGROUP_CPU, &v2)))
                        return unavailable(ret_error, "cpu", "cpu");
                r = v2 ? cpu_v2(dir, res, ret_error) : cpu_v1(dir, res, ret_error);
                if (r < 0)
                        return r;
        }
        dir = cgroup_dir_of(d, CGROUP_CPUSET, &v2);
        if (!dir && (res->cpuset_cpus || res->cpuset_mems))
                return unavailable(ret_error, "cpuset", "cpu.cpus");
        if (dir && (r = cpuset(dir, v2, res, creating, ret_error)) < 0)
                return r;
        if (cgroup_has(res, CGROUP_PIDS_LIMIT)) {
                if (!(dir = cgroup_dir_of(d, CGROUP_PIDS, &v2)))
                        return unavailable(ret_error, "pids", "pids");
                if ((r = pids(dir, res, ret_error)) < 0)
                        return r;
        }
        if (any_blkio(res)) {
                if (!(dir = cgroup_dir_of(d, CGROUP_BLKIO, &v2)))
                        return unavailable(ret_error, "blkio/io", "blockIO");
                r = v2 ? blkio_v2(dir, res, ret_error) : blkio_v1(dir, res, ret_error);
                if (r < 0)
                        return r;
        }
        if (res->n_hugepages) {
                if (!(dir = cgroup_dir_of(d, CGROUP_HUGETLB, &v2)))
                        return unavailable(ret_error, "hugetlb", "hugepageLimits");
                if ((r = hugetlb(dir, v2, res, ret_error)) < 0)
                        return r;
        }
        return 0;
}
