/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base64.h"
#include "container-spec.h"
#include "error.h"
#include "json-util.h"
#include "macro.h"
#include "pod-files.h"
#include "quantity.h"
#include "seccomp-default.h"
#include "spec.h"

/* containerd's defaults (pkg/oci/spec.go). */
static const char *const masked_paths[] = {
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap", NULL,
};
static const char *const readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* v is NULL-terminated once an item is in (NULL before). */
typedef struct Strv {
        char **v;
        size_t n;
} Strv;

static void strv_done(Strv *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
}

static int strv_push(Strv *s, char *item) {
        char **grown;

        if (!item)
                return -ENOMEM;
        grown = realloc(s->v, (s->n + 2) * sizeof(char *));
        if (!grown) {
                free(item);
                return -ENOMEM;
        }
        s->v = grown;
        s->v[s->n++] = item;
        s->v[s->n] = NULL;
        return 0;
}

/* NAME=value into env, replacing an earlier NAME. */
static int env_set(Strv *env, const char *name, const char *value) {
        size_t len = strlen(name);
        char *item = NULL;

        if (asprintf(&item, "%s=%s", name, value) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < env->n; i++)
                if (strncmp(env->v[i], name, len) == 0 && env->v[i][len] == '=') {
                        free(env->v[i]);
                        env->v[i] = item;
                        return 0;
                }
        return strv_push(env, item);
}

typedef struct Builder {
        const ContainerSpecContext *ctx;
        const char *pod_namespace, *pod_name, *container_name;
        char *error;
} Builder;

/* error_set() with the pod and container in front: "pod default/web: container app: …". */
#define fail(b, r, format, ...)                                                                    \
        error_set(&(b)->error, r, "pod %s/%s: container %s: " format, (b)->pod_namespace, (b)->pod_name, \
                  (b)->container_name, ##__VA_ARGS__)

/* kubelet's expansion.Expand. missing NULL: an unknown reference stays as it was written;
 * else it expands to nothing, and its name, as an empty value's, goes to missing
 * (ExpandContainerVolumeMounts' "missing value for A, B"). */
static char *expand(const char *s, char **env, size_t n_env, FILE *missing) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);
        bool any_missing = false;

        if (!f)
                return NULL;
        while (*s) {
                const char *close;

                if (s[0] == '$' && s[1] == '$') {
                        fputc('$', f);
                        s += 2;
                        continue;
                }
                if (s[0] == '$' && s[1] == '(' && (close = strchr(s + 2, ')'))) {
                        size_t len = (size_t) (close - s - 2);
                        const char *value = NULL;

                        for (size_t i = 0; i < n_env; i++)
                                if (strncmp(env[i], s + 2, len) == 0 && env[i][len] == '=')
                                        value = env[i] + len + 1;
                        if (missing && (!value || !*value)) {
                                fprintf(missing, "%s%.*s", any_missing ? ", " : "", (int) len, s + 2);
                                any_missing = true;
                        } else if (value) {
                                fputs(value, f);
                        } else {
                                fwrite(s, 1, (size_t) (close + 1 - s), f);
                        }
                        s = close + 1;
                        continue;
                }
                fputc(*s++, f);
        }
        return fclose(f) < 0 ? NULL : out;
}

char *container_spec_expand(const char *s, char **env, size_t n_env) {
        return expand(s, env, n_env, NULL);
}

static PodFieldContext field_context(const ContainerSpecContext *ctx) {
        return (PodFieldContext) { ctx->pod_ip, ctx->host_ip, ctx->node_name, ctx->allocatable_cpu_milli,
                                   ctx->allocatable_memory };
}

static int field_ref(Builder *b, const char *path, char **ret) {
        PodFieldContext fields = field_context(b->ctx);
        int r = pod_field_value(b->ctx->pod, &fields, path, ret);

        return r == -EINVAL ? fail(b, -EINVAL, "fieldRef.fieldPath '%s' is not supported", path) : r;
}

/* resourceFieldRef: of this container unless it names another. */
static int resource_ref(Builder *b, const char *name, json_object *ref, char **ret) {
        PodFieldContext fields = field_context(b->ctx);
        const char *resource = json_get_string(ref, "resource", NULL) ?: "";
        const char *container = json_get_string(ref, "containerName", NULL);
        int r = pod_resource_value(b->ctx->pod, &fields, container && *container ? container : b->container_name,
                                   resource, json_get_string(ref, "divisor", NULL), ret);

        if (r == -EINVAL)
                return fail(b, r, "env %s: resourceFieldRef: resource '%s' or its divisor is not supported", name, resource);
        if (r == -ENOENT)
                return fail(b, r, "env %s: resourceFieldRef: no container %s", name, container);
        return r;
}

/* A value of a ConfigMap's data as it is, of a Secret's decoded: -EINVAL when that is
 * not base64. */
static int decode_value(const char *kind, const char *text, char **ret) {
        size_t size;

        if (streq(kind, "Secret"))
                return base64_decode(text, strlen(text), ret, &size) < 0 ? -EINVAL : 0;
        *ret = strdup(text);
        return *ret ? 0 : -ENOMEM;
}

/* What a ConfigMap's or Secret's data holds for key: 0 and the value, -ENOENT without it. */
static int object_value(const char *kind, json_object *object, const char *key, char **ret) {
        json_object *value = json_get(json_get(object, "data"), key);
        const char *text = value ? json_object_get_string(value) : NULL;

        return text ? decode_value(kind, text, ret) : -ENOENT;
}

/* One env entry's value. *ret NULL: an optional reference that is missing (no variable). */
static int env_value(Builder *b, json_object *entry, const char *name, Strv *env, char **ret) {
        json_object *from = json_get(entry, "valueFrom"), *ref, *object;
        const char *kind = NULL, *object_name, *key;
        bool optional;
        int r;

        *ret = NULL;
        if (!from) {
                *ret = container_spec_expand(json_get_string(entry, "value", NULL) ?: "", env->v, env->n);
                return *ret ? 0 : -ENOMEM;
        }
        if ((ref = json_get(from, "fieldRef")))
                return field_ref(b, json_get_string(ref, "fieldPath", NULL) ?: "", ret);
        if ((ref = json_get(from, "resourceFieldRef")))
                return resource_ref(b, name, ref, ret);
        if ((ref = json_get(from, "configMapKeyRef")))
                kind = "ConfigMap";
        else if ((ref = json_get(from, "secretKeyRef")))
                kind = "Secret";
        else
                return fail(b, -EINVAL, "env %s: valueFrom: only fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef are supported",
                            name);
        object_name = json_get_string(ref, "name", NULL) ?: "";
        key = json_get_string(ref, "key", NULL) ?: "";
        optional = json_object_get_boolean(json_get(ref, "optional"));
        object = b->ctx->lookup ? b->ctx->lookup(b->ctx->userdata, kind, object_name) : NULL;
        if (!object)
                return optional ? 0 : fail(b, -ENOENT, "env %s: %s %s not found", name, kind, object_name);
        r = object_value(kind, object, key, ret);
        if (r == -ENOENT && optional)
                return 0;
        if (r == -ENOENT)
                return fail(b, r, "env %s: couldn't find key %s in %s %s", name, key, kind, object_name);
        if (r < 0)
                return fail(b, r, "env %s: %s %s key %s: %m", name, kind, object_name, key);
        return 0;
}

/* envFrom, in order, each ConfigMap's or Secret's keys (with the entry's prefix) as
 * variables: kubelet's, before env, which overrides them. */
static int env_from(Builder *b, Strv *kube) {
        json_object *list = json_get(b->ctx->container, "envFrom");
        int r;

        for (size_t i = 0; i < json_array_length(list); i++) {
                json_object *entry = json_object_array_get_idx(list, i), *ref, *object, *data;
                const char *kind = (ref = json_get(entry, "configMapRef")) ? "ConfigMap"
                                   : (ref = json_get(entry, "secretRef")) ? "Secret" : NULL;
                const char *name = json_get_string(ref, "name", NULL) ?: "", *prefix = json_get_string(entry, "prefix", NULL) ?: "";

                if (!kind)
                        return fail(b, -EINVAL, "envFrom[%zu]: configMapRef or secretRef is required", i);
                object = b->ctx->lookup ? b->ctx->lookup(b->ctx->userdata, kind, name) : NULL;
                if (!object) {
                        if (json_object_get_boolean(json_get(ref, "optional")))
                                continue;
                        return fail(b, -ENOENT, "envFrom: %s %s not found", kind, name);
                }
                data = json_get(object, "data");
                if (!json_object_is_type(data, json_type_object))
                        continue;
                json_object_object_foreach(data, key, value) {
                        _cleanup_free_ char *variable = NULL, *text = NULL;
                        r = decode_value(kind, json_object_get_string(value) ?: "", &text);
                        if (r < 0)
                                return fail(b, r, "envFrom: %s %s key %s: %m", kind, name, key);
                        if (asprintf(&variable, "%s%s", prefix, key) < 0 || env_set(kube, variable, text) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

static void need_ref(json_object *ref, const char *kind,
                     void (*need)(void *userdata, const char *kind, const char *name, bool optional), void *userdata) {
        const char *name = json_get_string(ref, "name", NULL);

        if (name)
                need(userdata, kind, name, json_object_get_boolean(json_get(ref, "optional")));
}

void container_env_required(json_object *pod,
                            void (*need)(void *userdata, const char *kind, const char *name, bool optional),
                            void *userdata) {
        static const char *const lists[] = { "initContainers", "containers" };

        for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
                json_object *containers = json_get(json_get(pod, "spec"), lists[l]);
                for (size_t i = 0; i < json_array_length(containers); i++) {
                        json_object *c = json_object_array_get_idx(containers, i);
                        json_object *env = json_get(c, "env"), *from = json_get(c, "envFrom");
                        for (size_t j = 0; j < json_array_length(env); j++) {
                                json_object *v = json_get(json_object_array_get_idx(env, j), "valueFrom");
                                need_ref(json_get(v, "configMapKeyRef"), "ConfigMap", need, userdata);
                                need_ref(json_get(v, "secretKeyRef"), "Secret", need, userdata);
                        }
                        for (size_t j = 0; j < json_array_length(from); j++) {
                                json_object *f = json_object_array_get_idx(from, j);
                                need_ref(json_get(f, "configMapRef"), "ConfigMap", need, userdata);
                                need_ref(json_get(f, "secretRef"), "Secret", need, userdata);
                        }
                }
        }
}

/* kube: what kubelet hands the runtime — the Service variables, then envFrom's, then the
 * container's env over them, each value's $(VAR) expanded from those before it (never from the image's
 * env, which kubelet does not know). env: the image's env with kube over it, as
 * containerd merges them. */
static int build_env(Builder *b, Strv *env, Strv *kube) {
        json_object *image_env = json_get(b->ctx->image_config, "Env"), *list = json_get(b->ctx->container, "env");
        int r;

        for (char **e = b->ctx->extra_env; e && *e; e++) {
                _cleanup_free_ char *name = strndup(*e, strcspn(*e, "="));
                if (!name || (r = env_set(kube, name, (*e)[strlen(name)] ? *e + strlen(name) + 1 : "")) < 0)
                        return -ENOMEM;
        }
        r = env_from(b, kube);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_array_length(list); i++) {
                json_object *entry = json_object_array_get_idx(list, i);
                const char *name = json_get_string(entry, "name", NULL);
                _cleanup_free_ char *value = NULL;

                if (!name || !*name)
                        return fail(b, -EINVAL, "env[%zu]: a name is required", i);
                r = env_value(b, entry, name, kube, &value);
                if (r < 0)
                        return r;
                if (value && (r = env_set(kube, name, value)) < 0)
                        return r;
        }
        for (size_t i = 0; i < json_array_length(image_env); i++) {
                const char *item = json_object_get_string(json_object_array_get_idx(image_env, i));
                const char *eq = item ? strchr(item, '=') : NULL;
                _cleanup_free_ char *name = eq ? strndup(item, (size_t) (eq - item)) : NULL;

                if (name && (r = env_set(env, name, eq + 1)) < 0)
                        return r;
        }
        for (size_t i = 0; i < kube->n; i++) {
                _cleanup_free_ char *name = strndup(kube->v[i], strcspn(kube->v[i], "="));
                if (!name || (r = env_set(env, name, kube->v[i] + strlen(name) + 1)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int push_expanded(Strv *args, json_object *list, Strv *env) {
        for (size_t i = 0; i < json_array_length(list); i++) {
                const char *a = json_object_get_string(json_object_array_get_idx(list, i));
                int r = strv_push(args, container_spec_expand(a ?: "", env->v, env->n));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Kubernetes' rules: command replaces the image's Entrypoint (and drops its Cmd); args
 * replace the Cmd. Only command and args are expanded, from kubelet's env (kube). */
static int build_args(Builder *b, Strv *env, Strv *args) {
        json_object *command = json_get(b->ctx->container, "command"), *cargs = json_get(b->ctx->container, "args");
        json_object *entrypoint = json_get(b->ctx->image_config, "Entrypoint"), *cmd = json_get(b->ctx->image_config, "Cmd");
        int r;

        r = json_array_length(command) > 0 ? push_expanded(args, command, env) : push_expanded(args, entrypoint, &(Strv) {});
        if (r < 0)
                return r;
        if (json_array_length(cargs) > 0)
                r = push_expanded(args, cargs, env);
        else if (json_array_length(command) == 0)
                r = push_expanded(args, cmd, &(Strv) {});
        if (r < 0)
                return r;
        if (args->n == 0)
                return fail(b, -EINVAL, "no command: neither the container nor its image gives one");
        return 0;
}

/* name's number in the root's /etc/passwd (field 3, and its group, field 4) or /etc/group. */
static int lookup_in_root(const char *rootfs, const char *file, const char *name, long *ret_id, long *ret_gid) {
        struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        _cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC), fd = -EBADF;
        _cleanup_fclose_ FILE *f = NULL;
        char line[1024];

        if (root < 0)
                return -errno;
        fd = (int) syscall(SYS_openat2, root, file, &how, sizeof(how));
        if (fd < 0 || !(f = fdopen(fd, "re")))
                return -errno;
        fd = -EBADF;
        while (fgets(line, sizeof(line), f)) {
                char *fields[4] = {}, *p = line;
                size_t n = 0;

                for (char *field; n < 4 && (field = strsep(&p, ":\n")); n++)
                        fields[n] = field;
                if (n >= 3 && streq(fields[0], name)) {
                        *ret_id = strtol(fields[2], NULL, 10);
                        if (ret_gid)
                                *ret_gid = n >= 4 ? strtol(fields[3], NULL, 10) : 0;
                        return 0;
                }
        }
        return -ENOENT;
}

static bool parse_id(const char *s, long *ret) {
        char *end;
        long v;

        if (!*s)
                return false;
        v = strtol(s, &end, 10);
        if (*end || v < 0 || v > UINT32_MAX - 1)
                return false;
        *ret = v;
        return true;
}

static json_object *security_context_field(json_object *container, json_object *pod, const char *key) {
        return json_get(json_get(container, "securityContext"), key) ?:
               json_get(json_get(json_get(pod, "spec"), "securityContext"), key);
}

static int build_user(Builder *b, json_object *process) {
        json_object *pod = b->ctx->pod, *container = b->ctx->container;
        json_object *run_as_user = security_context_field(container, pod, "runAsUser");
        json_object *run_as_group = security_context_field(container, pod, "runAsGroup");
        json_object *pod_sc = json_get(json_get(pod, "spec"), "securityContext");
        const char *image_user = json_get_string(b->ctx->image_config, "User", NULL);
        long uid = 0, gid = 0;
        json_object *user = json_object_new_object(), *gids, *groups;

        json_object_object_add(process, "user", user);
        if (image_user && *image_user) {
                _cleanup_free_ char *name = strdup(image_user);
                char *group = name ? strchr(name, ':') : NULL;
                long name_gid = 0;

                if (!name)
                        return -ENOMEM;
                if (group)
                        *group++ = '\0';
                if (!parse_id(name, &uid) && lookup_in_root(b->ctx->rootfs, "/etc/passwd", name, &uid, &name_gid) < 0)
                        return fail(b, -ENOENT, "the image's user '%s' is not in its /etc/passwd", name);
                gid = name_gid;
                if (group && !parse_id(group, &gid) && lookup_in_root(b->ctx->rootfs, "/etc/group", group, &gid, NULL) < 0)
                        return fail(b, -ENOENT, "the image's group '%s' is not in its /etc/group", group);
        }
        if (run_as_user) {
                uid = (long) json_object_get_int64(run_as_user);
                if (!run_as_group)
                        gid = 0;
        }
        if (run_as_group)
                gid = (long) json_object_get_int64(run_as_group);
        if (json_object_get_boolean(security_context_field(container, pod, "runAsNonRoot")) && uid == 0)
                return fail(b, -EPERM, "container has runAsNonRoot and image will run as root");
        json_object_object_add(user, "uid", json_object_new_int64(uid));
        json_object_object_add(user, "gid", json_object_new_int64(gid));
        gids = json_object_new_array();
        groups = json_get(pod_sc, "supplementalGroups");
        for (size_t i = 0; i < json_array_length(groups); i++)
                json_object_array_add(gids, json_object_get(json_object_array_get_idx(groups, i)));
        if (json_get(pod_sc, "fsGroup"))
                json_object_array_add(gids, json_object_get(json_get(pod_sc, "fsGroup")));
        json_object_object_add(user, "additionalGids", gids);
        return 0;
}

static int capability_of(Builder *b, const char *kube_name) {
        char name[64];
        int cap;

        snprintf(name, sizeof(name), "%s%s", strncmp(kube_name, "CAP_", 4) == 0 ? "" : "CAP_", kube_name);
        cap = capability_from_name(name);
        return cap >= 0 ? cap : fail(b, -EINVAL, "securityContext.capabilities: '%s' is not a capability", kube_name);
}

/* A capabilities list ("add" or "drop"): has_all if it names ALL, the mask of the others. */
static int capability_list(Builder *b, json_object *list, bool *ret_has_all, uint64_t *ret_mask) {
        *ret_has_all = false;
        *ret_mask = 0;
        for (size_t i = 0; i < json_array_length(list); i++) {
                const char *name = json_object_get_string(json_object_array_get_idx(list, i)) ?: "";
                int cap;

                if (streq(name, "ALL")) {
                        *ret_has_all = true;
                        continue;
                }
                cap = capability_of(b, name);
                if (cap < 0)
                        return cap;
                *ret_mask |= UINT64_C(1) << cap;
        }
        return 0;
}

/* containerd's WithCapabilities: ALL in add gives every one, ALL in drop none, whatever
 * their order; then the named ones are added, then the named ones dropped (drop ALL, add
 * NET_BIND_SERVICE: that one only). Privileged: all, add and drop ignored. */
static int build_capabilities(Builder *b, bool privileged, json_object *process) {
        json_object *caps = json_get(json_get(b->ctx->container, "securityContext"), "capabilities"), *sets;
        uint64_t all = (UINT64_C(2) << CAP_LAST_CAP) - 1, mask = privileged ? all : runtime_default_capabilities();
        uint64_t add, drop;
        bool add_all, drop_all;
        int r;

        r = capability_list(b, json_get(caps, "add"), &add_all, &add);
        if (r < 0)
                return r;
        r = capability_list(b, json_get(caps, "drop"), &drop_all, &drop);
        if (r < 0)
                return r;
        if (!privileged) {
                if (add_all)
                        mask = all;
                if (drop_all)
                        mask = 0;
                mask = (mask | add) & ~drop;
        }
        sets = json_object_new_object();
        for (const char *const *set = (const char *const[]) { "bounding", "effective", "permitted", NULL }; *set; set++) {
                json_object *list = json_object_new_array();
                for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
                        if (mask & (UINT64_C(1) << cap) && capability_to_name(cap))
                                json_object_array_add(list, json_object_new_string(capability_to_name(cap)));
                json_object_object_add(sets, *set, list);
        }
        json_object_object_add(process, "capabilities", sets);
        return 0;
}

/* items: NULL-terminated, or NULL for none. */
static json_object *string_array(const char *const *items) {
        json_object *a = json_object_new_array();

        for (; items && *items; items++)
                json_object_array_add(a, json_object_new_string(*items));
        return a;
}

static void add_mount(json_object *mounts, const char *destination, const char *type, const char *source,
                      const char *const *options) {
        json_object *m = json_object_new_object();

        json_object_object_add(m, "destination", json_object_new_string(destination));
        json_object_object_add(m, "type", json_object_new_string(type));
        json_object_object_add(m, "source", json_object_new_string(source));
        json_object_object_add(m, "options", string_array(options));
        json_object_array_add(mounts, m);
}

static void add_bind(json_object *mounts, const char *destination, const char *source, bool read_only) {
        add_mount(mounts, destination, "bind", source,
                  (const char *const[]) { "rbind", "rprivate", read_only ? "ro" : "rw", NULL });
}

/* kubelet's subPath of a volumeMount: subPathExpr expanded from the container's env (every
 * name it uses set and not empty), relative, no ".." part. *ret NULL: none. */
static int mount_subpath(Builder *b, size_t i, json_object *vm, Strv *env, char **ret) {
        const char *expr = json_get_string(vm, "subPathExpr", NULL), *sub = json_get_string(vm, "subPath", NULL);
        _cleanup_free_ char *path = NULL, *missing = NULL;
        size_t n_missing = 0;

        *ret = NULL;
        if (expr && *expr) {
                _cleanup_fclose_ FILE *f = open_memstream(&missing, &n_missing);
                if (!f || !(path = expand(expr, env->v, env->n, f)) || fflush(f) < 0)
                        return -ENOMEM;
                if (n_missing > 0)
                        return fail(b, -EINVAL, "volumeMounts[%zu]: subPathExpr %s: missing value for %s", i, expr, missing);
        } else if (sub && *sub && !(path = strdup(sub)))
                return -ENOMEM;
        if (!path || !*path)
                return 0;
        if (path[0] == '/')
                return fail(b, -EINVAL, "volumeMounts[%zu]: error SubPath `%s` must not be an absolute path", i, path);
        for (const char *part = path; part; part = strchr(part, '/') ? strchr(part, '/') + 1 : NULL)
                if (strncmp(part, "..", 2) == 0 && (part[2] == '/' || part[2] == '\0'))
                        return fail(b, -EINVAL, "volumeMounts[%zu]: unable to provision SubPath `%s`: must not contain '..'",
                                    i, path);
        *ret = TAKE_PTR(path);
        return 0;
}

/* A subPath not there yet becomes a directory, each missing part with the volume's own
 * mode, inside the volume whatever its symlinks say (kubelet's SafeMakeDir). */
static int make_subpath(const char *volume, const char *sub) {
        struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        _cleanup_close_ int root = open(volume, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *path = strdup(sub);
        struct stat st;

        if (root < 0 || fstat(root, &st) < 0)
                return -errno;
        if (!path)
                return -ENOMEM;
        for (char *end = path; end;) {
                _cleanup_close_ int parent = -EBADF;
                char *name;

                if ((end = strchr(end, '/')))
                        *end = '\0';
                name = strrchr(path, '/');
                if (name) {
                        *name = '\0';
                        parent = (int) syscall(SYS_openat2, root, path, &how, sizeof(how));
                        *name++ = '/';
                } else {
                        parent = fcntl(root, F_DUPFD_CLOEXEC, 3);
                        name = path;
                }
                if (parent < 0)
                        return -errno;
                if (*name && mkdirat(parent, name, st.st_mode & 07777) == 0)
                        (void) fchmodat(parent, name, st.st_mode & 07777, 0);
                else if (*name && errno != EEXIST)
                        return -errno;
                if (end)
                        *end++ = '/';
        }
        return 0;
}

static int build_mounts(Builder *b, bool privileged, json_object *config, Strv *env) {
        const ContainerSpecContext *ctx = b->ctx;
        json_object *mounts = json_object_new_array(), *volume_mounts = json_get(ctx->container, "volumeMounts");
        const char *termination = json_get_string(ctx->container, "terminationMessagePath", NULL) ?: "/dev/termination-log";

        json_object_object_add(config, "mounts", mounts);
        add_mount(mounts, "/proc", "proc", "proc", (const char *const[]) { "nosuid", "noexec", "nodev", NULL });
        add_mount(mounts, "/dev", "tmpfs", "tmpfs", (const char *const[]) { "nosuid", "strictatime", "mode=755", "size=65536k", NULL });
        add_mount(mounts, "/dev/pts", "devpts", "devpts",
                  (const char *const[]) { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL });
        add_mount(mounts, "/dev/mqueue", "mqueue", "mqueue", (const char *const[]) { "nosuid", "noexec", "nodev", NULL });
        add_mount(mounts, "/sys", "sysfs", "sysfs",
                  (const char *const[]) { "nosuid", "noexec", "nodev", privileged ? "rw" : "ro", NULL });
        add_mount(mounts, "/sys/fs/cgroup", "cgroup", "cgroup",
                  (const char *const[]) { "nosuid", "noexec", "nodev", "relatime", privileged ? "rw" : "ro", NULL });
        add_mount(mounts, "/dev/shm", "tmpfs", "shm",
                  (const char *const[]) { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL });
        if (ctx->hosts_file)
                add_bind(mounts, "/etc/hosts", ctx->hosts_file, false);
        if (ctx->hostname_file)
                add_bind(mounts, "/etc/hostname", ctx->hostname_file, false);
        if (ctx->resolv_conf)
                add_bind(mounts, "/etc/resolv.conf", ctx->resolv_conf, false);
        if (ctx->termination_log)
                add_bind(mounts, termination, ctx->termination_log, false);
        for (size_t i = 0; i < json_array_length(volume_mounts); i++) {
                json_object *vm = json_object_array_get_idx(volume_mounts, i);
                const char *name = json_get_string(vm, "name", NULL), *path = json_get_string(vm, "mountPath", NULL);
                const ContainerSpecVolume *v = NULL;
                _cleanup_free_ char *source = NULL, *sub = NULL;
                int r;

                for (size_t k = 0; k < ctx->n_volumes && name; k++)
                        if (streq(ctx->volumes[k].name, name))
                                v = &ctx->volumes[k];
                if (!v)
                        return fail(b, -ENOENT, "volumeMounts[%zu]: no volume named '%s'", i, name ?: "");
                if (!path || path[0] != '/')
                        return fail(b, -EINVAL, "volumeMounts[%zu]: mountPath '%s' is not absolute", i, path ?: "");
                r = mount_subpath(b, i, vm, env, &sub);
                if (r < 0)
                        return r;
                if (sub && !v->read_only && (r = make_subpath(v->host_path, sub)) < 0)
                        return fail(b, r, "volumeMounts[%zu]: make subPath %s in volume %s: %m", i, sub, name);
                if (asprintf(&source, "%s%s%s", v->host_path, sub ? "/" : "", sub ?: "") < 0)
                        return -ENOMEM;
                add_bind(mounts, path, source, v->read_only || json_object_get_boolean(json_get(vm, "readOnly")));
        }
        return 0;
}

static void add_namespace_path(json_object *list, const char *type, const char *path) {
        json_object *ns = json_object_new_object();

        json_object_object_add(ns, "type", json_object_new_string(type));
        json_object_object_add(ns, "path", json_object_new_string(path));
        json_object_array_add(list, ns);
}

static void add_namespace(json_object *list, const char *type, const char *dir, const char *file) {
        json_object *ns = json_object_new_object();

        json_object_object_add(ns, "type", json_object_new_string(type));
        if (dir) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", dir, file);
                json_object_object_add(ns, "path", json_object_new_string(path));
        }
        json_object_array_add(list, ns);
}

static int64_t quantity_of(json_object *resources, const char *kind, const char *name, bool milli) {
        const char *s = json_get_string(json_get(resources, kind), name, NULL);
        int64_t v = -1;

        if (!s)
                return -1;
        if ((milli ? quantity_parse_milli(s, &v) : quantity_parse(s, &v)) < 0)
                return -2;
        return v;
}

const char *pod_qos_class(json_object *pod) {
        json_object *spec = json_get(pod, "spec");
        bool any = false, guaranteed = true;

        for (const char *const *list = (const char *const[]) { "initContainers", "containers", NULL }; *list; list++)
                for (size_t i = 0; i < json_array_length(json_get(spec, *list)); i++) {
                        json_object *res = json_get(json_object_array_get_idx(json_get(spec, *list), i), "resources");
                        for (const char *const *r = (const char *const[]) { "cpu", "memory", NULL }; *r; r++) {
                                const char *limit = json_get_string(json_get(res, "limits"), *r, NULL);
                                const char *request = json_get_string(json_get(res, "requests"), *r, NULL) ?: limit;
                                if (limit || request)
                                        any = true;
                                if (!limit || !request || !streq(limit, request))
                                        guaranteed = false;
                        }
                }
        return !any ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable";
}

/* kubelet's MilliCPUToShares and MilliCPUToQuota (period 100 ms). */
static int64_t milli_cpu_to_shares(int64_t milli) {
        return milli > 0 ? (milli * 1024 / 1000 < 2 ? 2 : milli * 1024 / 1000) : 2;
}

static int64_t milli_cpu_to_quota(int64_t milli) {
        return milli * 100 < 1000 ? 1000 : milli * 100;
}

/* One sum (or maximum, for init containers) of the pod's: value -1 when a container
 * leaves it out (a limit then has no pod-wide value). */
static void pod_total(json_object *pod, const char *kind, const char *name, bool milli, int64_t *ret) {
        json_object *spec = json_get(pod, "spec");
        int64_t sum = 0, init_max = 0;
        bool all = true;

        for (size_t i = 0; i < json_array_length(json_get(spec, "containers")); i++) {
                int64_t v = quantity_of(json_get(json_object_array_get_idx(json_get(spec, "containers"), i), "resources"), kind,
                                        name, milli);
                if (v < 0 && streq(kind, "requests"))
                        v = quantity_of(json_get(json_object_array_get_idx(json_get(spec, "containers"), i), "resources"),
                                        "limits", name, milli);
                if (v < 0)
                        all = false;
                else
                        sum += v;
        }
        for (size_t i = 0; i < json_array_length(json_get(spec, "initContainers")); i++) {
                int64_t v = quantity_of(json_get(json_object_array_get_idx(json_get(spec, "initContainers"), i), "resources"),
                                        kind, name, milli);
                if (v > init_max)
                        init_max = v;
        }
        *ret = all || streq(kind, "requests") ? (sum > init_max ? sum : init_max) : -1;
}

void pod_cgroup_resources(json_object *pod, PodCgroupResources *ret) {
        int64_t cpu_request, cpu_limit, memory_limit;

        pod_total(pod, "requests", "cpu", true, &cpu_request);
        pod_total(pod, "limits", "cpu", true, &cpu_limit);
        pod_total(pod, "limits", "memory", false, &memory_limit);
        *ret = (PodCgroupResources) {
                .cpu_shares = milli_cpu_to_shares(cpu_request),
                .cpu_quota = cpu_limit > 0 ? milli_cpu_to_quota(cpu_limit) : -1,
                .cpu_period = 100000,
                .memory_limit = memory_limit > 0 ? memory_limit : -1,
        };
}

/* kubelet's GetContainerOOMScoreAdjust. */
static int oom_score_adj(const ContainerSpecContext *ctx, int64_t memory_request) {
        const char *qos = pod_qos_class(ctx->pod);
        int64_t adj;

        if (streq(qos, "Guaranteed"))
                return -997;
        if (streq(qos, "BestEffort"))
                return 1000;
        if (memory_request <= 0 || ctx->node_memory == 0)
                return 999;
        adj = 1000 - (1000 * memory_request) / (int64_t) ctx->node_memory;
        return (int) (adj < 2 ? 2 : adj > 999 ? 999 : adj);
}

static int build_linux(Builder *b, bool privileged, json_object *config) {
        const ContainerSpecContext *ctx = b->ctx;
        json_object *requested = json_get(ctx->container, "resources"), *spec = json_get(ctx->pod, "spec"), *sysctls;
        int64_t cpu_limit = quantity_of(requested, "limits", "cpu", true);
        int64_t cpu_request = quantity_of(requested, "requests", "cpu", true);
        int64_t memory_limit = quantity_of(requested, "limits", "memory", false);
        int64_t memory_request = quantity_of(requested, "requests", "memory", false);
        json_object *linux_cfg, *namespaces, *resources, *cpu, *memory, *sysctl;

        if (cpu_limit == -2 || cpu_request == -2 || memory_limit == -2 || memory_request == -2)
                return fail(b, -EINVAL, "resources: a quantity is malformed");
        linux_cfg = json_object_new_object();
        namespaces = json_object_new_array();
        resources = json_object_new_object();
        cpu = json_object_new_object();
        memory = json_object_new_object();
        json_object_object_add(config, "linux", linux_cfg);
        if (cpu_request < 0)
                cpu_request = cpu_limit;
        if (memory_request < 0)
                memory_request = memory_limit;

        add_namespace(namespaces, "pid", NULL, NULL);
        add_namespace(namespaces, "mount", NULL, NULL);
        if (!json_object_get_boolean(json_get(spec, "hostNetwork"))) {
                if (ctx->netns_path)
                        add_namespace_path(namespaces, "network", ctx->netns_path);
                else
                        add_namespace(namespaces, "network", ctx->sandbox_dir, "net");
                add_namespace(namespaces, "uts", ctx->sandbox_dir, "uts");
        }
        if (!json_object_get_boolean(json_get(spec, "hostIPC")))
                add_namespace(namespaces, "ipc", ctx->sandbox_dir, "ipc");
        json_object_object_add(linux_cfg, "namespaces", namespaces);

        json_object_object_add(cpu, "shares", json_object_new_int64(milli_cpu_to_shares(cpu_request)));
        if (cpu_limit > 0) {
                json_object_object_add(cpu, "period", json_object_new_int64(100000));
                json_object_object_add(cpu, "quota", json_object_new_int64(milli_cpu_to_quota(cpu_limit)));
        }
        json_object_object_add(resources, "cpu", cpu);
        if (memory_limit > 0)
                json_object_object_add(memory, "limit", json_object_new_int64(memory_limit));
        json_object_object_add(resources, "memory", memory);
        json_object_object_add(linux_cfg, "resources", resources);
        if (ctx->cgroups_path)
                json_object_object_add(linux_cfg, "cgroupsPath", json_object_new_string(ctx->cgroups_path));
        if (!privileged) {
                json_object_object_add(linux_cfg, "maskedPaths", string_array(masked_paths));
                json_object_object_add(linux_cfg, "readonlyPaths", string_array(readonly_paths));
        }
        sysctls = json_get(json_get(spec, "securityContext"), "sysctls");
        sysctl = json_object_new_object();
        for (size_t i = 0; i < json_array_length(sysctls); i++) {
                json_object *s = json_object_array_get_idx(sysctls, i);
                if (json_get_string(s, "name", NULL))
                        json_object_object_add(sysctl, json_get_string(s, "name", NULL),
                                               json_object_new_string(json_get_string(s, "value", NULL) ?: ""));
        }
        json_object_object_add(linux_cfg, "sysctl", sysctl);
        json_object_object_add(json_object_object_get(config, "process"), "oomScoreAdj",
                               json_object_new_int(oom_score_adj(ctx, memory_request)));
        return 0;
}

static int build_seccomp(Builder *b, bool privileged, json_object *config) {
        json_object *profile = security_context_field(b->ctx->container, b->ctx->pod, "seccompProfile");
        const char *type = json_get_string(profile, "type", NULL);
        json_object *annotations = json_object_new_object();

        json_object_object_add(config, "annotations", annotations);
        if (privileged || !type || streq(type, "Unconfined"))
                return 0;
        if (streq(type, "RuntimeDefault")) {
                json_object_object_add(annotations, SPEC_ANNOTATION_SECCOMP, json_object_new_string("runtime/default"));
                return 0;
        }
        return fail(b, -EOPNOTSUPP, "securityContext.seccompProfile: type '%s' is not supported", type);
}

/* A step failed: its message, or one naming the step, goes to the caller. */
static int build_failed(Builder *b, int r, const char *step, char **ret_error) {
        (void) fail(b, r, "%s: %m", step);
        if (ret_error)
                *ret_error = TAKE_PTR(b->error);
        free(b->error);
        return r;
}

int container_spec_build(const ContainerSpecContext *ctx, json_object **ret_config, char **ret_error) {
        _cleanup_(json_object_putp) json_object *config = json_object_new_object();
        _cleanup_(strv_done) Strv env = {}, kube_env = {}, args = {};
        json_object *meta = json_get(ctx->pod, "metadata"), *process = json_object_new_object(), *root;
        json_object *sc = json_get(ctx->container, "securityContext");
        Builder b = {
                .ctx = ctx,
                .pod_namespace = json_get_string(meta, "namespace", NULL) ?: "default",
                .pod_name = json_get_string(meta, "name", NULL) ?: "",
                .container_name = json_get_string(ctx->container, "name", NULL) ?: "",
        };
        bool privileged = json_object_get_boolean(json_get(sc, "privileged"));
        int r;

        if (!config || !process)
                return -ENOMEM;
        json_object_object_add(config, "ociVersion", json_object_new_string("1.0.2"));
        json_object_object_add(config, "process", process);
        root = json_object_new_object();
        json_object_object_add(root, "path", json_object_new_string(ctx->rootfs));
        json_object_object_add(root, "readonly",
                               json_object_new_boolean(json_object_get_boolean(json_get(sc, "readOnlyRootFilesystem"))));
        json_object_object_add(config, "root", root);

        r = build_env(&b, &env, &kube_env);
        if (r < 0)
                return build_failed(&b, r, "env", ret_error);
        r = build_args(&b, &kube_env, &args);
        if (r < 0)
                return build_failed(&b, r, "command and args", ret_error);
        r = build_user(&b, process);
        if (r < 0)
                return build_failed(&b, r, "user", ret_error);
        r = build_capabilities(&b, privileged, process);
        if (r < 0)
                return build_failed(&b, r, "capabilities", ret_error);
        r = build_mounts(&b, privileged, config, &kube_env);
        if (r < 0)
                return build_failed(&b, r, "mounts", ret_error);
        r = build_linux(&b, privileged, config);
        if (r < 0)
                return build_failed(&b, r, "linux", ret_error);
        r = build_seccomp(&b, privileged, config);
        if (r < 0)
                return build_failed(&b, r, "seccomp", ret_error);
        json_object_object_add(process, "args", string_array((const char *const *) args.v));
        json_object_object_add(process, "env", string_array((const char *const *) env.v));
        json_object_object_add(process, "cwd",
                               json_object_new_string(json_get_string(ctx->container, "workingDir", NULL) ?:
                                                      json_get_string(ctx->image_config, "WorkingDir", NULL) ?: "/"));
        json_object_object_add(process, "terminal",
                               json_object_new_boolean(json_object_get_boolean(json_get(ctx->container, "tty"))));
        json_object_object_add(process, "noNewPrivileges",
                               json_object_new_boolean(json_get(sc, "allowPrivilegeEscalation") &&
                                                       !json_object_get_boolean(json_get(sc, "allowPrivilegeEscalation"))));
        *ret_config = TAKE_PTR(config);
        return 0;
}
