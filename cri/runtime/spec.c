/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "seccomp-default.h"
#include "spec.h"

#define CONFIG_MAX_SIZE (4u << 20)

static const char *const capability_names[] = {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
};

const char *capability_to_name(int cap) {
        return cap >= 0 && (size_t) cap < ELEMENTSOF(capability_names) ? capability_names[cap] : NULL;
}

int capability_from_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(capability_names); i++)
                if (streq(name, capability_names[i]))
                        return (int) i;
        return -1;
}

#define invalid(ret_error, ...) error_set(ret_error, -EINVAL, __VA_ARGS__)

/* A string field: NULL if absent; -EINVAL (through *r) if of another type. */
static char *get_string(json_object *o, const char *key, const char *field, int *r, char **ret_error) {
        json_object *v = json_get(o, key);
        char *s;

        if (!v || *r < 0)
                return NULL;
        if (!json_object_is_type(v, json_type_string)) {
                *r = invalid(ret_error, "%s: not a string", field);
                return NULL;
        }
        s = strdup(json_object_get_string(v));
        if (!s)
                *r = -ENOMEM;
        return s;
}

/* An array of strings, NULL-terminated; NULL if absent. */
static char **get_strv(json_object *o, const char *key, const char *field, int *r, char **ret_error) {
        json_object *v = json_get(o, key);
        size_t n;
        char **list;

        if (!v || *r < 0)
                return NULL;
        if (!json_object_is_type(v, json_type_array)) {
                *r = invalid(ret_error, "%s: not an array", field);
                return NULL;
        }
        n = json_object_array_length(v);
        list = calloc(n + 1, sizeof(char *));
        if (!list) {
                *r = -ENOMEM;
                return NULL;
        }
        for (size_t i = 0; i < n; i++) {
                json_object *item = json_object_array_get_idx(v, i);
                if (!json_object_is_type(item, json_type_string)) {
                        strv_free(list);
                        *r = invalid(ret_error, "%s[%zu]: not a string", field, i);
                        return NULL;
                }
                list[i] = strdup(json_object_get_string(item));
                if (!list[i]) {
                        strv_free(list);
                        *r = -ENOMEM;
                        return NULL;
                }
        }
        return list;
}

static int get_uint(json_object *o, const char *key, const char *field, uint64_t max, uint64_t *ret, char **ret_error) {
        json_object *v = json_get(o, key);
        int64_t n;

        if (!v)
                return 0;
        n = json_object_get_int64(v);
        if (!json_object_is_type(v, json_type_int) || n < 0 || (uint64_t) n > max)
                return invalid(ret_error, "%s: '%s' is not a number from 0 to %" PRIu64, field,
                               json_object_to_json_string(v), max);
        *ret = (uint64_t) n;
        return 1;
}

static const struct {
        const char *name;
        bool clear;
        unsigned long flag;
} mount_flags[] = {
        { "ro", false, MS_RDONLY },         { "rw", true, MS_RDONLY },         { "nosuid", false, MS_NOSUID },
        { "suid", true, MS_NOSUID },        { "nodev", false, MS_NODEV },      { "dev", true, MS_NODEV },
        { "noexec", false, MS_NOEXEC },     { "exec", true, MS_NOEXEC },       { "sync", false, MS_SYNCHRONOUS },
        { "async", true, MS_SYNCHRONOUS },  { "dirsync", false, MS_DIRSYNC },  { "remount", false, MS_REMOUNT },
        { "mand", false, MS_MANDLOCK },     { "nomand", true, MS_MANDLOCK },   { "atime", true, MS_NOATIME },
        { "noatime", false, MS_NOATIME },   { "diratime", true, MS_NODIRATIME }, { "nodiratime", false, MS_NODIRATIME },
        { "relatime", false, MS_RELATIME }, { "norelatime", true, MS_RELATIME }, { "strictatime", false, MS_STRICTATIME },
        { "nostrictatime", true, MS_STRICTATIME }, { "bind", false, MS_BIND }, { "rbind", false, MS_BIND | MS_REC },
        { "silent", false, MS_SILENT },     { "loud", true, MS_SILENT },
};

static const struct {
        const char *name;
        unsigned long flag;
} propagation_flags[] = {
        { "private", MS_PRIVATE },          { "rprivate", MS_PRIVATE | MS_REC }, { "slave", MS_SLAVE },
        { "rslave", MS_SLAVE | MS_REC },    { "shared", MS_SHARED },           { "rshared", MS_SHARED | MS_REC },
        { "unbindable", MS_UNBINDABLE },    { "runbindable", MS_UNBINDABLE | MS_REC },
};

static unsigned long propagation_from_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(propagation_flags); i++)
                if (streq(name, propagation_flags[i].name))
                        return propagation_flags[i].flag;
        return 0;
}

/* Options to flags; the others (mode=755, size=…) go to the filesystem as data. */
static int parse_mount_options(char **options, SpecMount *m) {
        size_t data_len = 0;

        for (char **o = options; o && *o; o++) {
                bool known = false;
                unsigned long p = propagation_from_name(*o);

                if (p) {
                        m->propagation = p;
                        continue;
                }
                for (size_t i = 0; i < ELEMENTSOF(mount_flags) && !known; i++)
                        if (streq(*o, mount_flags[i].name)) {
                                if (mount_flags[i].clear)
                                        m->flags &= ~mount_flags[i].flag;
                                else
                                        m->flags |= mount_flags[i].flag;
                                known = true;
                        }
                if (known)
                        continue;
                char *d = realloc(m->data, data_len + strlen(*o) + 2);
                if (!d)
                        return -ENOMEM;
                m->data = d;
                data_len += (size_t) sprintf(d + data_len, "%s%s", data_len ? "," : "", *o);
        }
        return 0;
}

static int parse_mounts(json_object *list, RuntimeSpec *s, char **ret_error) {
        size_t n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
        int r = 0;

        s->mounts = calloc(n + 1, sizeof(SpecMount));
        if (!s->mounts)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                json_object *m = json_object_array_get_idx(list, i);
                SpecMount *out = &s->mounts[s->n_mounts++];
                char field[64];
                _cleanup_(strv_freep) char **options = NULL;

                snprintf(field, sizeof(field), "mounts[%zu].destination", i);
                out->destination = get_string(m, "destination", field, &r, ret_error);
                if (r >= 0 && (!out->destination || out->destination[0] != '/'))
                        return invalid(ret_error, "%s: '%s' is not an absolute path", field,
                                       out->destination ?: "");
                snprintf(field, sizeof(field), "mounts[%zu].type", i);
                out->type = get_string(m, "type", field, &r, ret_error);
                snprintf(field, sizeof(field), "mounts[%zu].source", i);
                out->source = get_string(m, "source", field, &r, ret_error);
                snprintf(field, sizeof(field), "mounts[%zu].options", i);
                options = get_strv(m, "options", field, &r, ret_error);
                if (r >= 0)
                        r = parse_mount_options(options, out);
                if (r >= 0 && out->type && streq(out->type, "bind"))
                        out->flags |= MS_BIND;
        }
        return r;
}

static const struct {
        const char *name;
        int flag;
} namespace_types[] = {
        { "pid", CLONE_NEWPID }, { "network", CLONE_NEWNET },   { "mount", CLONE_NEWNS },    { "ipc", CLONE_NEWIPC },
        { "uts", CLONE_NEWUTS }, { "user", CLONE_NEWUSER },     { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

static int parse_namespaces(json_object *list, RuntimeSpec *s, char **ret_error) {
        size_t n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                json_object *ns = json_object_array_get_idx(list, i);
                char field[64];
                _cleanup_free_ char *type = NULL;
                int flag = 0;

                snprintf(field, sizeof(field), "linux.namespaces[%zu].type", i);
                type = get_string(ns, "type", field, &r, ret_error);
                if (r < 0)
                        return r;
                for (size_t t = 0; t < ELEMENTSOF(namespace_types); t++)
                        if (type && streq(type, namespace_types[t].name))
                                flag = namespace_types[t].flag;
                if (!flag)
                        return invalid(ret_error, "%s: '%s' is not a namespace type", field, type ?: "");
                if (spec_has_namespace(s, flag))
                        return invalid(ret_error, "%s: '%s' appears twice", field, type);
                if (flag == CLONE_NEWTIME)
                        return invalid(ret_error, "%s: '%s' namespaces are not supported yet", field, type);
                snprintf(field, sizeof(field), "linux.namespaces[%zu].path", i);
                s->namespaces[s->n_namespaces] = (SpecNamespace) {
                        .type = flag,
                        .path = get_string(ns, "path", field, &r, ret_error),
                };
                s->n_namespaces++;
        }
        return r;
}

static int parse_capabilities(json_object *caps, RuntimeSpec *s, char **ret_error) {
        static const char *const sets[_CAPS_MAX] = { "bounding", "effective", "inheritable", "permitted", "ambient" };

        for (int set = 0; set < _CAPS_MAX; set++) {
                json_object *list = json_get(caps, sets[set]);
                size_t n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;

                for (size_t i = 0; i < n; i++) {
                        const char *name = json_object_get_string(json_object_array_get_idx(list, i));
                        int cap = name ? capability_from_name(name) : -1;
                        if (cap < 0)
                                return invalid(ret_error, "process.capabilities.%s[%zu]: '%s' is not a capability",
                                               sets[set], i, name ?: "");
                        s->caps[set] |= 1ULL << cap;
                }
        }
        return 0;
}

static int parse_rlimits(json_object *list, RuntimeSpec *s, char **ret_error) {
        static const char *const names[RLIMIT_NLIMITS] = {
                [RLIMIT_CPU] = "RLIMIT_CPU",       [RLIMIT_FSIZE] = "RLIMIT_FSIZE",   [RLIMIT_DATA] = "RLIMIT_DATA",
                [RLIMIT_STACK] = "RLIMIT_STACK",   [RLIMIT_CORE] = "RLIMIT_CORE",     [RLIMIT_RSS] = "RLIMIT_RSS",
                [RLIMIT_NPROC] = "RLIMIT_NPROC",   [RLIMIT_NOFILE] = "RLIMIT_NOFILE", [RLIMIT_MEMLOCK] = "RLIMIT_MEMLOCK",
                [RLIMIT_AS] = "RLIMIT_AS",         [RLIMIT_LOCKS] = "RLIMIT_LOCKS",   [RLIMIT_SIGPENDING] = "RLIMIT_SIGPENDING",
                [RLIMIT_MSGQUEUE] = "RLIMIT_MSGQUEUE", [RLIMIT_NICE] = "RLIMIT_NICE", [RLIMIT_RTPRIO] = "RLIMIT_RTPRIO",
                [RLIMIT_RTTIME] = "RLIMIT_RTTIME",
        };
        size_t n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;

        s->rlimits = calloc(n + 1, sizeof(SpecRlimit));
        if (!s->rlimits)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *l = json_object_array_get_idx(list, i);
                const char *type = json_object_get_string(json_get(l, "type"));
                SpecRlimit *out = &s->rlimits[s->n_rlimits];
                char field[64];
                int r;

                out->resource = -1;
                for (int k = 0; k < RLIMIT_NLIMITS; k++)
                        if (type && names[k] && streq(type, names[k]))
                                out->resource = k;
                if (out->resource < 0)
                        return invalid(ret_error, "process.rlimits[%zu].type: '%s' is not a resource limit", i,
                                       type ?: "");
                snprintf(field, sizeof(field), "process.rlimits[%zu].soft", i);
                r = get_uint(l, "soft", field, UINT64_MAX >> 1, &out->soft, ret_error);
                if (r >= 0) {
                        snprintf(field, sizeof(field), "process.rlimits[%zu].hard", i);
                        r = get_uint(l, "hard", field, UINT64_MAX >> 1, &out->hard, ret_error);
                }
                if (r < 0)
                        return r;
                s->n_rlimits++;
        }
        return 0;
}

static int parse_process(json_object *p, RuntimeSpec *s, char **ret_error) {
        json_object *user = json_get(p, "user"), *gids = json_get(user, "additionalGids");
        uint64_t v = 0; /* gcc -O3 cannot see that get_uint sets it when it returns > 0 */
        int r = 0;

        if (!p)
                return invalid(ret_error, "process: missing");
        s->terminal = json_object_get_boolean(json_get(p, "terminal"));
        s->args = get_strv(p, "args", "process.args", &r, ret_error);
        s->env = get_strv(p, "env", "process.env", &r, ret_error);
        s->cwd = get_string(p, "cwd", "process.cwd", &r, ret_error);
        if (r < 0)
                return r;
        if (!s->args || !s->args[0])
                return invalid(ret_error, "process.args: missing or empty");
        if (!s->cwd || s->cwd[0] != '/')
                return invalid(ret_error, "process.cwd: '%s' is not an absolute path", s->cwd ?: "");
        if (!s->env && !(s->env = calloc(1, sizeof(char *))))
                return -ENOMEM;

        r = get_uint(user, "uid", "process.user.uid", UINT32_MAX - 1, &v, ret_error);
        s->uid = r > 0 ? (uid_t) v : 0;
        if (r >= 0)
                r = get_uint(user, "gid", "process.user.gid", UINT32_MAX - 1, &v, ret_error);
        s->gid = r > 0 ? (gid_t) v : 0;
        if (r >= 0)
                r = get_uint(user, "umask", "process.user.umask", 0777, &v, ret_error);
        s->have_umask = r > 0;
        s->umask = r > 0 ? (mode_t) v : 0;
        if (r < 0)
                return r;
        if (gids && json_object_is_type(gids, json_type_array)) {
                s->n_additional_gids = json_object_array_length(gids);
                s->additional_gids = calloc(s->n_additional_gids + 1, sizeof(gid_t));
                if (!s->additional_gids)
                        return -ENOMEM;
                for (size_t i = 0; i < s->n_additional_gids; i++) {
                        int64_t g = json_object_get_int64(json_object_array_get_idx(gids, i));
                        if (g < 0 || g >= UINT32_MAX)
                                return invalid(ret_error, "process.user.additionalGids[%zu]: not a group id", i);
                        s->additional_gids[i] = (gid_t) g;
                }
        }
        r = parse_capabilities(json_get(p, "capabilities"), s, ret_error);
        if (r >= 0)
                r = parse_rlimits(json_get(p, "rlimits"), s, ret_error);
        if (r < 0)
                return r;
        s->no_new_privileges = json_object_get_boolean(json_get(p, "noNewPrivileges"));
        if (json_get(p, "oomScoreAdj")) {
                int64_t adj = json_object_get_int64(json_get(p, "oomScoreAdj"));
                if (adj < -1000 || adj > 1000)
                        return invalid(ret_error, "process.oomScoreAdj: %" PRId64 " is not from -1000 to 1000", adj);
                s->oom_score_adj = (int) adj;
                s->have_oom_score_adj = true;
        }
        return 0;
}

/* linux.resources (cri/runtime/cgroup-resources.c); after linux.devices: runc leaves out a
 * default device rule for a path that linux.devices makes. */
static int parse_resources(json_object *res, RuntimeSpec *s, char **ret_error) {
        int r = cgroup_resources_parse(res, "linux.resources", &s->resources, ret_error);

        for (size_t i = 0; r >= 0 && i < s->n_devices; i++) {
                int d = cgroup_default_device_index(s->devices[i].path);
                if (d >= 0)
                        s->resources.skip_default_devices |= UINT32_C(1) << d;
        }
        return r;
}

static int parse_devices(json_object *list, RuntimeSpec *s, char **ret_error) {
        size_t n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;

        s->devices = calloc(n + 1, sizeof(SpecDevice));
        if (!s->devices)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(list, i);
                SpecDevice *out = &s->devices[s->n_devices++];
                const char *type = json_object_get_string(json_get(d, "type"));
                uint64_t major = 0, minor = 0, mode = 0666, uid = 0, gid = 0;
                char field[64];
                int r = 0;

                snprintf(field, sizeof(field), "linux.devices[%zu].path", i);
                out->path = get_string(d, "path", field, &r, ret_error);
                if (r < 0)
                        return r;
                if (!out->path || strncmp(out->path, "/dev/", 5) != 0 || strstr(out->path, ".."))
                        return invalid(ret_error, "%s: '%s' is not a path under /dev", field, out->path ?: "");
                out->type = type && (streq(type, "c") || streq(type, "u")) ? S_IFCHR
                            : type && streq(type, "b")                      ? S_IFBLK
                            : type && streq(type, "p")                      ? S_IFIFO
                                                                            : 0;
                if (!out->type)
                        return invalid(ret_error, "linux.devices[%zu].type: '%s' is not c, u, b or p", i, type ?: "");
                r = get_uint(d, "major", "linux.devices[].major", UINT32_MAX, &major, ret_error);
                if (r >= 0)
                        r = get_uint(d, "minor", "linux.devices[].minor", UINT32_MAX, &minor, ret_error);
                if (r >= 0)
                        r = get_uint(d, "fileMode", "linux.devices[].fileMode", 07777, &mode, ret_error);
                if (r >= 0)
                        r = get_uint(d, "uid", "linux.devices[].uid", UINT32_MAX - 1, &uid, ret_error);
                if (r >= 0)
                        r = get_uint(d, "gid", "linux.devices[].gid", UINT32_MAX - 1, &gid, ret_error);
                if (r < 0)
                        return r;
                out->major = (unsigned) major;
                out->minor = (unsigned) minor;
                out->mode = (mode_t) mode;
                out->uid = (uid_t) uid;
                out->gid = (gid_t) gid;
        }
        return 0;
}

static int parse_id_mappings(json_object *list, const char *name, SpecIdMapping **ret, size_t *ret_n,
                             char **ret_error) {
        size_t n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;

        if (list && !json_object_is_type(list, json_type_array))
                return invalid(ret_error, "linux.%s: not an array", name);
        /* The kernel takes at most 340 lines in an id map. */
        if (n > 340)
                return invalid(ret_error, "linux.%s: %zu mappings, at most 340", name, n);
        *ret = calloc(n + 1, sizeof(SpecIdMapping));
        if (!*ret)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                static const char *const keys[] = { "containerID", "hostID", "size" };
                json_object *m = json_object_array_get_idx(list, i);
                uint64_t v[3] = {};

                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        char field[64];
                        int r;

                        snprintf(field, sizeof(field), "linux.%s[%zu].%s", name, i, keys[k]);
                        r = get_uint(m, keys[k], field, UINT32_MAX, &v[k], ret_error);
                        if (r == 0)
                                return invalid(ret_error, "%s: missing", field);
                        if (r < 0)
                                return r;
                }
                if (v[2] == 0 || v[0] + v[2] > UINT32_MAX || v[1] + v[2] > UINT32_MAX)
                        return invalid(ret_error, "linux.%s[%zu]: size %" PRIu64 " is 0 or runs past the id range",
                                       name, i, v[2]);
                (*ret)[i] = (SpecIdMapping) { (uint32_t) v[0], (uint32_t) v[1], (uint32_t) v[2] };
        }
        *ret_n = n;
        return 0;
}

/* A new user namespace needs both maps; maps without one mean nothing. */
static int check_user_namespace(const RuntimeSpec *s, char **ret_error) {
        bool new_user = false, mapped = s->n_uid_mappings > 0 || s->n_gid_mappings > 0;

        for (size_t i = 0; i < s->n_namespaces; i++)
                if (s->namespaces[i].type == CLONE_NEWUSER && !s->namespaces[i].path)
                        new_user = true;
        if (new_user && (!s->n_uid_mappings || !s->n_gid_mappings))
                return invalid(ret_error, "linux.%s: a new user namespace needs uid and gid mappings",
                               s->n_uid_mappings ? "gidMappings" : "uidMappings");
        if (mapped && !new_user)
                return invalid(ret_error, "linux.uidMappings: given without a new user namespace");
        return 0;
}

static int parse_linux(json_object *l, RuntimeSpec *s, char **ret_error) {
        json_object *sysctl = json_get(l, "sysctl");
        const char *propagation = json_object_get_string(json_get(l, "rootfsPropagation"));
        size_t n = 0;
        int r = 0;

        r = parse_namespaces(json_get(l, "namespaces"), s, ret_error);
        if (r >= 0)
                r = parse_id_mappings(json_get(l, "uidMappings"), "uidMappings", &s->uid_mappings, &s->n_uid_mappings,
                                      ret_error);
        if (r >= 0)
                r = parse_id_mappings(json_get(l, "gidMappings"), "gidMappings", &s->gid_mappings, &s->n_gid_mappings,
                                      ret_error);
        if (r >= 0)
                r = check_user_namespace(s, ret_error);
        if (r >= 0)
                r = parse_devices(json_get(l, "devices"), s, ret_error);
        if (r >= 0)
                r = parse_resources(json_get(l, "resources"), s, ret_error);
        if (r < 0)
                return r;
        if (json_get(l, "seccomp"))
                r = seccomp_filter_parse(json_get(l, "seccomp"), &s->seccomp, ret_error);
        if (r < 0)
                return r;
        s->cgroups_path = get_string(l, "cgroupsPath", "linux.cgroupsPath", &r, ret_error);
        if (r < 0)
                return r;
        if (s->cgroups_path && strstr(s->cgroups_path, ".."))
                return invalid(ret_error, "linux.cgroupsPath: '%s' leaves the hierarchy", s->cgroups_path);
        s->masked_paths = get_strv(l, "maskedPaths", "linux.maskedPaths", &r, ret_error);
        s->readonly_paths = get_strv(l, "readonlyPaths", "linux.readonlyPaths", &r, ret_error);
        if (r < 0)
                return r;
        if (propagation && !(s->rootfs_propagation = propagation_from_name(propagation)))
                return invalid(ret_error, "linux.rootfsPropagation: '%s' is not a propagation mode", propagation);
        if (sysctl && json_object_is_type(sysctl, json_type_object))
                n = (size_t) json_object_object_length(sysctl);
        s->sysctl = calloc(2 * n + 1, sizeof(char *));
        if (!s->sysctl)
                return -ENOMEM;
        n = 0;
        if (sysctl && json_object_is_type(sysctl, json_type_object)) {
                json_object_object_foreach(sysctl, key, value) {
                        if (!json_object_is_type(value, json_type_string) || strstr(key, "..") || key[0] == '/')
                                return invalid(ret_error, "linux.sysctl.%s: not a string, or not a sysctl name", key);
                        s->sysctl[n] = strdup(key);
                        s->sysctl[n + 1] = strdup(json_object_get_string(value));
                        if (!s->sysctl[n] || !s->sysctl[n + 1])
                                return -ENOMEM;
                        n += 2;
                }
        }
        return 0;
}

static int parse_hooks(json_object *hooks, RuntimeSpec *s, char **ret_error) {
        for (int kind = 0; kind < _HOOK_MAX; kind++) {
                json_object *list = json_get(hooks, hook_names[kind]);
                size_t n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
                int r = 0;

                s->hooks[kind] = calloc(n + 1, sizeof(SpecHook));
                if (!s->hooks[kind])
                        return -ENOMEM;
                for (size_t i = 0; i < n && r >= 0; i++) {
                        json_object *h = json_object_array_get_idx(list, i);
                        SpecHook *out = &s->hooks[kind][s->n_hooks[kind]++];
                        char field[64];
                        uint64_t timeout = 0;

                        snprintf(field, sizeof(field), "hooks.%s[%zu].path", hook_names[kind], i);
                        out->path = get_string(h, "path", field, &r, ret_error);
                        if (r >= 0 && (!out->path || out->path[0] != '/'))
                                return invalid(ret_error, "%s: '%s' is not an absolute path", field, out->path ?: "");
                        snprintf(field, sizeof(field), "hooks.%s[%zu].args", hook_names[kind], i);
                        out->args = get_strv(h, "args", field, &r, ret_error);
                        snprintf(field, sizeof(field), "hooks.%s[%zu].env", hook_names[kind], i);
                        out->env = get_strv(h, "env", field, &r, ret_error);
                        if (r < 0)
                                return r;
                        snprintf(field, sizeof(field), "hooks.%s[%zu].timeout", hook_names[kind], i);
                        r = get_uint(h, "timeout", field, 86400, &timeout, ret_error);
                        if (r > 0 && timeout == 0)
                                return invalid(ret_error, "%s: must be more than 0", field);
                        out->timeout = (int) timeout;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A seccomp profile by name instead of linux.seccomp (the agent's pod containers, where
 * kubelet says seccompProfile RuntimeDefault): spared a 360-rule JSON per start. */
static int parse_seccomp_annotation(json_object *annotations, RuntimeSpec *s, char **ret_error) {
        const char *profile = json_object_get_string(json_get(annotations, SPEC_ANNOTATION_SECCOMP));

        if (!profile)
                return 0;
        if (!streq(profile, "runtime/default"))
                return invalid(ret_error, "annotations.%s: '%s' is not a profile (runtime/default is)",
                               SPEC_ANNOTATION_SECCOMP, profile);
        if (s->seccomp)
                return invalid(ret_error, "annotations.%s: linux.seccomp is given too", SPEC_ANNOTATION_SECCOMP);
        return seccomp_filter_new_runtime_default(s->caps[CAPS_BOUNDING], &s->seccomp, ret_error);
}

int spec_parse(json_object *config, RuntimeSpec **ret, char **ret_error) {
        _cleanup_(spec_freep) RuntimeSpec *s = calloc(1, sizeof(RuntimeSpec));
        json_object *root = json_get(config, "root");
        int r = 0;

        if (!s)
                return -ENOMEM;
        if (!config || !json_object_is_type(config, json_type_object))
                return invalid(ret_error, "config.json: not a JSON object");
        if (!json_get(config, "ociVersion"))
                return invalid(ret_error, "ociVersion: missing");
        s->root_path = get_string(root, "path", "root.path", &r, ret_error);
        if (r < 0)
                return r;
        if (!s->root_path || !*s->root_path)
                return invalid(ret_error, "root.path: missing");
        s->root_readonly = json_object_get_boolean(json_get(root, "readonly"));
        s->hostname = get_string(config, "hostname", "hostname", &r, ret_error);
        if (r >= 0)
                r = parse_process(json_get(config, "process"), s, ret_error);
        if (r >= 0)
                r = parse_mounts(json_get(config, "mounts"), s, ret_error);
        if (r >= 0)
                r = parse_linux(json_get(config, "linux"), s, ret_error);
        if (r >= 0)
                r = parse_hooks(json_get(config, "hooks"), s, ret_error);
        if (r >= 0)
                r = parse_seccomp_annotation(json_get(config, "annotations"), s, ret_error);
        if (r >= 0 && json_get(config, "annotations")) {
                if (!json_object_is_type(json_get(config, "annotations"), json_type_object))
                        return invalid(ret_error, "annotations: not an object");
                s->annotations = json_object_get(json_get(config, "annotations"));
        }
        if (r < 0)
                return r;
        if (s->hostname && !spec_has_namespace(s, CLONE_NEWUTS))
                return invalid(ret_error, "hostname: '%s' set without a new uts namespace", s->hostname);
        *ret = TAKE_PTR(s);
        return 0;
}

int spec_load(const char *bundle, RuntimeSpec **ret, char **ret_error) {
        _cleanup_free_ char *path = NULL, *content = NULL;
        json_object *config;
        int r;

        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return -ENOMEM;
        r = read_full_file_error(path, CONFIG_MAX_SIZE, &content, NULL, ret_error);
        if (r < 0)
                return r;
        config = json_tokener_parse(content);
        if (!config)
                return invalid(ret_error, "%s: not valid JSON", path);
        r = spec_parse(config, ret, ret_error);
        json_object_put(config);
        return r;
}

void spec_free(RuntimeSpec *s) {
        if (!s)
                return;
        free(s->root_path);
        free(s->hostname);
        strv_free(s->args);
        strv_free(s->env);
        free(s->cwd);
        free(s->additional_gids);
        free(s->rlimits);
        for (size_t i = 0; i < s->n_mounts; i++) {
                free(s->mounts[i].destination);
                free(s->mounts[i].source);
                free(s->mounts[i].type);
                free(s->mounts[i].data);
        }
        free(s->mounts);
        for (size_t i = 0; i < s->n_namespaces; i++)
                free(s->namespaces[i].path);
        for (size_t i = 0; i < s->n_devices; i++)
                free(s->devices[i].path);
        free(s->devices);
        free(s->uid_mappings);
        free(s->gid_mappings);
        strv_free(s->masked_paths);
        strv_free(s->readonly_paths);
        strv_free(s->sysctl);
        free(s->cgroups_path);
        seccomp_filter_free(s->seccomp);
        json_object_put(s->annotations);
        for (int kind = 0; kind < _HOOK_MAX; kind++)
                hooks_free(s->hooks[kind], s->n_hooks[kind]);
        cgroup_resources_done(&s->resources);
        free(s);
}

bool spec_joins_user_namespace(const RuntimeSpec *s) {
        for (size_t i = 0; i < s->n_namespaces; i++)
                if (s->namespaces[i].type == CLONE_NEWUSER && s->namespaces[i].path)
                        return true;
        return false;
}

bool spec_has_namespace(const RuntimeSpec *s, int type) {
        for (size_t i = 0; i < s->n_namespaces; i++)
                if (s->namespaces[i].type == type)
                        return true;
        return false;
}
