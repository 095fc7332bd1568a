/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "error.h"
#include "fileio.h"
#include "json-util.h"
#include "macro.h"
#include "pod-paths.h"
#include "quantity.h"
#include "volumes.h"

#define DEFAULT_MODE 0644

typedef struct Setup {
        json_object *pod;
        const PodFieldContext *fields;
        VolumeLookup lookup;
        void *userdata;
        const char *volume;
        char *error;
} Setup;

/* error_set() with the pod and volume in front: "pod default/web: volume config: …". */
#define volume_error(s, r, format, ...)                                                            \
        error_set(&(s)->error, r, "pod %s/%s: volume %s: " format,                                 \
                  json_get_string((s)->pod, "metadata", "namespace", NULL) ?: "default",          \
                  json_get_string((s)->pod, "metadata", "name", NULL) ?: "", (s)->volume, ##__VA_ARGS__)

static void need_source(json_object *source, const char *kind, const char *key,
                        void (*need)(void *, const char *, const char *, bool), void *userdata) {
        const char *name = json_get_string(source, key, NULL);

        if (name)
                need(userdata, kind, name, json_object_get_boolean(json_get(source, "optional")));
}

void volumes_required(json_object *pod, void (*need)(void *userdata, const char *kind, const char *name, bool optional),
                      void *userdata) {
        json_object *volumes = json_get(json_get(pod, "spec"), "volumes");

        for (size_t i = 0; i < json_array_length(volumes); i++) {
                json_object *v = json_object_array_get_idx(volumes, i), *sources = json_get(json_get(v, "projected"), "sources");

                need_source(json_get(v, "configMap"), "ConfigMap", "name", need, userdata);
                need_source(json_get(v, "secret"), "Secret", "secretName", need, userdata);
                for (size_t k = 0; k < json_array_length(sources); k++) {
                        json_object *src = json_object_array_get_idx(sources, k);
                        need_source(json_get(src, "configMap"), "ConfigMap", "name", need, userdata);
                        need_source(json_get(src, "secret"), "Secret", "name", need, userdata);
                        if (json_get(src, "serviceAccountToken"))
                                need(userdata, "ServiceAccountToken",
                                     json_get_string(pod, "spec", "serviceAccountName", NULL) ?: "default", false);
                }
        }
}

/* One file of a data volume, before it is written. */
typedef struct Payload {
        char *path;
        char *data;
        size_t size;
        mode_t mode;
} Payload;

typedef struct Payloads {
        Payload *items;
        size_t n;
} Payloads;

static void payloads_done(Payloads *p) {
        for (size_t i = 0; i < p->n; i++) {
                free(p->items[i].path);
                free(p->items[i].data);
        }
        free(p->items);
}

static bool relative_path_valid(const char *path) {
        if (!*path || path[0] == '/' || streq(path, "..") || strncmp(path, "../", 3) == 0 || strstr(path, "/../") ||
            (strlen(path) >= 3 && streq(path + strlen(path) - 3, "/..")) || strncmp(path, "..", 2) == 0)
                return false;
        return true;
}

/* Takes data (size bytes). */
static int payload_add(Setup *s, Payloads *p, const char *path, char *data, size_t size, mode_t mode) {
        Payload *grown;

        if (!relative_path_valid(path)) {
                free(data);
                return volume_error(s, -EINVAL, "path '%s' must be relative, within the volume, and not start with '..'", path);
        }
        for (size_t i = 0; i < p->n; i++)
                if (streq(p->items[i].path, path)) {
                        free(data);
                        return volume_error(s, -EINVAL, "path '%s' appears twice", path);
                }
        grown = realloc(p->items, (p->n + 1) * sizeof(Payload));
        if (!grown) {
                free(data);
                return -ENOMEM;
        }
        p->items = grown;
        p->items[p->n] = (Payload) { strdup(path), data, size, mode };
        if (!p->items[p->n].path) {
                free(data);
                return -ENOMEM;
        }
        p->n++;
        return 0;
}

static mode_t mode_of(json_object *o, const char *key, mode_t fallback) {
        json_object *m = json_get(o, key);

        return m && json_object_is_type(m, json_type_int) ? (mode_t) (json_object_get_int(m) & 07777) : fallback;
}

/* The keys of a ConfigMap (data, binaryData) or Secret (data, base64) to files: all of
 * them, or items[] (key → path, mode). */
static int add_object_keys(Setup *s, Payloads *p, json_object *object, const char *kind, const char *name,
                           json_object *items, mode_t mode) {
        bool secret = streq(kind, "Secret");
        json_object *data = json_get(object, "data"), *binary = json_get(object, "binaryData");
        int r;

        for (size_t i = 0; i < (items ? json_array_length(items) : 1); i++) {
                json_object *item = items ? json_object_array_get_idx(items, i) : NULL;
                const char *only = items ? json_get_string(item, "key", NULL) : NULL;
                bool found = false;

                for (int pass = 0; pass < 2; pass++) {
                        json_object *map = pass == 0 ? data : binary;
                        bool encoded = secret || pass == 1;

                        if (!map || !json_object_is_type(map, json_type_object))
                                continue;
                        json_object_object_foreach(map, key, value) {
                                const char *text = json_object_get_string(value);
                                char *bytes = NULL;
                                size_t size = 0;

                                if (only && !streq(key, only))
                                        continue;
                                found = true;
                                if (encoded) {
                                        r = base64_decode(text ?: "", strlen(text ?: ""), &bytes, &size);
                                        if (r < 0)
                                                return volume_error(s, -EINVAL, "%s %s: key %s is not valid base64", kind, name, key);
                                } else {
                                        bytes = strdup(text ?: "");
                                        size = strlen(text ?: "");
                                        if (!bytes)
                                                return -ENOMEM;
                                }
                                r = payload_add(s, p, items ? json_get_string(item, "path", NULL) ?: key : key, bytes, size,
                                                items ? mode_of(item, "mode", mode) : mode);
                                if (r < 0)
                                        return r;
                        }
                }
                if (only && !found)
                        return volume_error(s, -ENOENT, "%s %s has no key '%s'", kind, name, only);
        }
        return 0;
}

static int add_object(Setup *s, Payloads *p, json_object *source, const char *kind, const char *name_key, mode_t mode) {
        const char *name = json_get_string(source, name_key, NULL) ?: "";
        json_object *object = s->lookup ? s->lookup(s->userdata, kind, name) : NULL;

        if (!object)
                return json_object_get_boolean(json_get(source, "optional")) ? 0
                                                                          : volume_error(s, -ENOENT, "%s %s: not found", kind, name);
        return add_object_keys(s, p, object, kind, name, json_get(source, "items"), mode);
}

static int add_downward(Setup *s, Payloads *p, json_object *items, mode_t mode) {
        for (size_t i = 0; i < json_array_length(items); i++) {
                json_object *item = json_object_array_get_idx(items, i);
                const char *path = json_get_string(item, "path", NULL) ?: "";
                const char *field = json_get_string(item, "fieldRef", "fieldPath", NULL);
                json_object *resource = json_get(item, "resourceFieldRef");
                char *value = NULL;
                int r;

                if (!field && !resource)
                        return volume_error(s, -EOPNOTSUPP, "downwardAPI item %s: fieldRef or resourceFieldRef is required",
                                            path);
                if (!field) {
                        const char *name = json_get_string(resource, "resource", NULL) ?: "";
                        r = pod_resource_value(s->pod, s->fields, json_get_string(resource, "containerName", NULL) ?: "",
                                               name, json_get_string(resource, "divisor", NULL), &value);
                        if (r == -EINVAL || r == -ENOENT)
                                return volume_error(s, r, "downwardAPI item %s: resourceFieldRef %s of container %s: %s",
                                                    path, name, json_get_string(resource, "containerName", NULL) ?: "",
                                                    r == -ENOENT ? "no such container" : "not supported");
                        if (r < 0)
                                return r;
                } else if (streq(field, "metadata.labels") || streq(field, "metadata.annotations")) {
                        /* Labels and annotations whole, as key="value" lines. */
                        json_object *map = json_get(json_get(s->pod, "metadata"), field + strlen("metadata."));
                        size_t size = 0;
                        FILE *f = open_memstream(&value, &size);
                        if (!f)
                                return -ENOMEM;
                        if (map && json_object_is_type(map, json_type_object)) {
                                json_object_object_foreach(map, key, v) fprintf(f, "%s=\"%s\"\n", key, json_object_get_string(v));
                        }
                        fclose(f);
                } else {
                        r = pod_field_value(s->pod, s->fields, field, &value);
                        if (r < 0)
                                return r == -EINVAL ? volume_error(s, -EINVAL, "fieldRef.fieldPath '%s' is not supported", field) : r;
                }
                r = payload_add(s, p, path, value, strlen(value), mode_of(item, "mode", mode));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_projected(Setup *s, Payloads *p, json_object *projected) {
        json_object *sources = json_get(projected, "sources");
        mode_t mode = mode_of(projected, "defaultMode", DEFAULT_MODE);
        int r;

        for (size_t i = 0; i < json_array_length(sources); i++) {
                json_object *src = json_object_array_get_idx(sources, i), *token_source;

                if (json_get(src, "configMap"))
                        r = add_object(s, p, json_get(src, "configMap"), "ConfigMap", "name", mode);
                else if (json_get(src, "secret"))
                        r = add_object(s, p, json_get(src, "secret"), "Secret", "name", mode);
                else if (json_get(src, "downwardAPI"))
                        r = add_downward(s, p, json_get(json_get(src, "downwardAPI"), "items"), mode);
                else if ((token_source = json_get(src, "serviceAccountToken"))) {
                        const char *sa = json_get_string(s->pod, "spec", "serviceAccountName", NULL) ?: "default";
                        json_object *token = s->lookup ? s->lookup(s->userdata, "ServiceAccountToken", sa) : NULL;
                        const char *text = json_get_string(token, "token", NULL);
                        char *copy;

                        if (!text)
                                return volume_error(s, -ENOENT, "no token for service account %s", sa);
                        copy = strdup(text);
                        if (!copy)
                                return -ENOMEM;
                        r = payload_add(s, p, json_get_string(token_source, "path", NULL) ?: "token", copy, strlen(copy), mode);
                } else
                        r = volume_error(s, -EOPNOTSUPP, "projected source %zu: not a configMap, secret, downwardAPI or "
                                         "serviceAccountToken", i);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_payload_file(int dir_fd, const Payload *item) {
        _cleanup_free_ char *copy = strdup(item->path);
        _cleanup_close_ int fd = -EBADF;
        char *slash;

        if (!copy)
                return -ENOMEM;
        /* Subdirectories first ("a/b/c" makes a and a/b). */
        for (slash = strchr(copy, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                if (mkdirat(dir_fd, copy, 0755) < 0 && errno != EEXIST)
                        return negative_errno();
                *slash = '/';
        }
        fd = openat(dir_fd, item->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, item->mode);
        if (fd < 0 || (item->size > 0 && write(fd, item->data, item->size) != (ssize_t) item->size) ||
            fchmod(fd, item->mode) < 0)
                return negative_errno();
        return 0;
}

/* kubelet's atomic writer: volume/..<time>/files, volume/..data → ..<time>, and a
 * symlink per top-level name through ..data. */
static int write_payloads(Setup *s, const char *dir, const Payloads *p) {
        _cleanup_close_ int dir_fd = -EBADF, data_fd = -EBADF;
        char stamp[64], previous[256];
        ssize_t old;
        struct timespec ts;
        struct tm tm;
        int r;

        r = mkdir_p(dir, 0755);
        if (r < 0)
                return volume_error(s, r, "create %s: %m", dir);
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return volume_error(s, -errno, "open %s: %m", dir);
        clock_gettime(CLOCK_REALTIME, &ts);
        strftime(stamp, sizeof(stamp), "..%Y_%m_%d_%H_%M_%S", gmtime_r(&ts.tv_sec, &tm));
        snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp), ".%09ld", ts.tv_nsec);
        if (mkdirat(dir_fd, stamp, 0755) < 0 || (data_fd = openat(dir_fd, stamp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return volume_error(s, -errno, "create %s/%s: %m", dir, stamp);
        for (size_t i = 0; i < p->n; i++) {
                _cleanup_free_ char *top = strndup(p->items[i].path, strcspn(p->items[i].path, "/")), *target = NULL;

                r = write_payload_file(data_fd, &p->items[i]);
                if (r < 0)
                        return volume_error(s, r, "write %s: %m", p->items[i].path);
                if (!top || asprintf(&target, "..data/%s", top) < 0)
                        return -ENOMEM;
                if (symlinkat(target, dir_fd, top) < 0 && errno != EEXIST)
                        return volume_error(s, -errno, "link %s: %m", top);
        }
        /* The new version appears at once (a rename over ..data), as kubelet's writer
         * does it, and the one it replaces goes. */
        old = readlinkat(dir_fd, "..data", previous, sizeof(previous) - 1);
        previous[old > 0 ? old : 0] = '\0';
        (void) unlinkat(dir_fd, "..data_tmp", 0);
        if (symlinkat(stamp, dir_fd, "..data_tmp") < 0 || renameat(dir_fd, "..data_tmp", dir_fd, "..data") < 0)
                return volume_error(s, -errno, "link ..data: %m");
        if (old > 0 && strncmp(previous, "..", 2) == 0 && !strchr(previous, '/'))
                (void) rm_rf_at(dir_fd, previous);
        return 0;
}

/* hostPath.type: checked, or created (DirectoryOrCreate, FileOrCreate). */
static int host_path(Setup *s, json_object *hp) {
        const char *path = json_get_string(hp, "path", NULL), *type = json_get_string(hp, "type", NULL) ?: "";
        struct stat st;
        bool exists;

        if (!path || path[0] != '/')
                return volume_error(s, -EINVAL, "hostPath.path '%s' is not absolute", path ?: "");
        exists = stat(path, &st) >= 0;
        if (streq(type, "DirectoryOrCreate") && !exists) {
                int r = mkdir_p(path, 0755);
                return r < 0 ? volume_error(s, r, "create directory %s: %m", path) : 0;
        }
        if (streq(type, "FileOrCreate") && !exists) {
                _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
                return fd < 0 ? volume_error(s, -errno, "create file %s: %m", path) : 0;
        }
        if (!*type || streq(type, "DirectoryOrCreate") || streq(type, "FileOrCreate"))
                return 0;
        if (!exists)
                return volume_error(s, -ENOENT, "hostPath type check: %s does not exist", path);
        if ((streq(type, "Directory") && !S_ISDIR(st.st_mode)) || (streq(type, "File") && !S_ISREG(st.st_mode)) ||
            (streq(type, "Socket") && !S_ISSOCK(st.st_mode)) || (streq(type, "CharDevice") && !S_ISCHR(st.st_mode)) ||
            (streq(type, "BlockDevice") && !S_ISBLK(st.st_mode)))
                return volume_error(s, -EINVAL, "hostPath type check: %s is not a %s", path, type);
        return 0;
}

static int empty_dir(Setup *s, json_object *ed, const char *dir) {
        const char *medium = json_get_string(ed, "medium", NULL), *limit = json_get_string(ed, "sizeLimit", NULL);
        int r = mkdir_p(dir, 0777);

        if (r < 0)
                return volume_error(s, r, "create %s: %m", dir);
        /* kubelet's emptyDir is world-writable whatever the umask. */
        if (chmod(dir, 0777) < 0)
                return volume_error(s, -errno, "chmod %s: %m", dir);
        if (medium && streq(medium, "Memory")) {
                char options[64] = "mode=0777";
                int64_t bytes;

                if (limit && quantity_parse(limit, &bytes) >= 0 && bytes > 0)
                        snprintf(options, sizeof(options), "mode=0777,size=%" PRId64, bytes);
                if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, options) < 0)
                        return volume_error(s, -errno, "mount a tmpfs on %s: %m", dir);
        }
        return 0;
}

void volumes_free(ContainerSpecVolume *volumes, size_t n) {
        for (size_t i = 0; i < n; i++)
                free((char *) volumes[i].host_path);
        free(volumes);
}

/* A data volume's files: the configMap, secret, downwardAPI or projected source's. */
static int data_volume(Setup *s, json_object *v, const char *dir) {
        _cleanup_(payloads_done) Payloads payloads = {};
        json_object *source;
        int r;

        if ((source = json_get(v, "configMap")))
                r = add_object(s, &payloads, source, "ConfigMap", "name", mode_of(source, "defaultMode", DEFAULT_MODE));
        else if ((source = json_get(v, "secret")))
                r = add_object(s, &payloads, source, "Secret", "secretName", mode_of(source, "defaultMode", DEFAULT_MODE));
        else if ((source = json_get(v, "downwardAPI")))
                r = add_downward(s, &payloads, json_get(source, "items"), mode_of(source, "defaultMode", DEFAULT_MODE));
        else if ((source = json_get(v, "projected")))
                r = add_projected(s, &payloads, source);
        else
                r = volume_error(s, -EOPNOTSUPP, "not a volume type this node supports (emptyDir, hostPath, "
                                 "configMap, secret, downwardAPI, projected)");
        if (r < 0)
                return r;
        return write_payloads(s, dir, &payloads);
}

/* The volume v on this node, described in *ret. */
static int setup_volume(Setup *s, json_object *v, const char *pod_dir, ContainerSpecVolume *ret) {
        json_object *source;
        char *dir = NULL;
        int r;

        s->volume = json_get_string(v, "name", NULL) ?: "";
        ret->name = s->volume;
        if ((source = json_get(v, "hostPath"))) {
                r = host_path(s, source);
                ret->host_path = strdup(json_get_string(source, "path", NULL) ?: "/");
                if (!ret->host_path)
                        return -ENOMEM;
                return r;
        }
        dir = pod_volume_dir(pod_dir, s->volume);
        if (!dir)
                return -ENOMEM;
        ret->host_path = dir;
        if (!relative_path_valid(s->volume) || strchr(s->volume, '/'))
                return volume_error(s, -EINVAL, "not a valid volume name");
        if ((source = json_get(v, "emptyDir")))
                return empty_dir(s, source, dir);
        ret->read_only = true;
        return data_volume(s, v, dir);
}

int volumes_setup(json_object *pod, const char *pod_dir, const PodFieldContext *fields, VolumeLookup lookup,
                  void *userdata, ContainerSpecVolume **ret, size_t *ret_n, char **ret_error) {
        json_object *list = json_get(json_get(pod, "spec"), "volumes");
        size_t n = json_array_length(list);
        ContainerSpecVolume *volumes = calloc(n + 1, sizeof(ContainerSpecVolume));
        Setup s = { .pod = pod, .fields = fields, .lookup = lookup, .userdata = userdata };
        int r;

        if (!volumes)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r = setup_volume(&s, json_object_array_get_idx(list, i), pod_dir, &volumes[i]);
                if (r < 0) {
                        volumes_free(volumes, n);
                        if (ret_error)
                                *ret_error = TAKE_PTR(s.error);
                        free(s.error);
                        return r;
                }
        }
        *ret = volumes;
        *ret_n = n;
        return 0;
}

int volumes_teardown(const char *pod_dir) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_close_ int pod_fd = -EBADF;
        struct dirent *de;

        dir = pod_volumes_dir(pod_dir);
        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        /* A Memory emptyDir is a mount: unmounted before anything is removed. */
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                if (de->d_name[0] == '.' || asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        continue;
                (void) umount2(path, MNT_DETACH);
        }
        pod_fd = open(pod_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pod_fd < 0)
                return -errno;
        return rm_rf_at(pod_fd, "volumes");
}
