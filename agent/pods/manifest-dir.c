/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "error.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "manifest-dir.h"
#include "manifest.h"

struct ManifestDir {
        char *path;
        ManifestDirRead read;
        void *userdata;
        json_object *errors; /* path → its parse error at the last reading: logged once */
        sd_event_source *inotify, *reload, *check;
};

static bool is_manifest(const char *name) {
        size_t n = strlen(name);

        return name[0] != '.' && ((n > 5 && streq(name + n - 5, ".yaml")) || (n > 4 && streq(name + n - 4, ".yml")) ||
                                  (n > 5 && streq(name + n - 5, ".json")));
}

static void files_free(ManifestFile *files, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free((char *) files[i].path);
                if (files[i].objects)
                        manifest_objects_free(files[i].objects);
        }
        free(files);
}

static int reload(sd_event_source *source, void *userdata) {
        ManifestDir *d = userdata;
        struct dirent **entries = NULL;
        ManifestFile *files = NULL;
        _cleanup_(json_object_putp) json_object *errors = json_object_new_object();
        size_t n_files = 0;
        int n;

        if (!errors) {
                log_oom();
                return 0;
        }

        /* A directory gone has no pods (as kubelet's); any other failure changes nothing. */
        n = scandir(d->path, &entries, NULL, alphasort);
        if (n < 0) {
                int r = -errno;
                log_error_errno(r, "manifests: read %s: %m", d->path);
                if (r != -ENOENT)
                        return 0;
        }
        if (n > 0)
                files = calloc(n, sizeof(ManifestFile));
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *error = NULL;
                json_object **objects = NULL;
                int r;

                if (files && is_manifest(entries[i]->d_name) && asprintf(&path, "%s/%s", d->path, entries[i]->d_name) >= 0) {
                        r = manifest_objects_load(path, &objects, &error);
                        if (r < 0) {
                                const char *message = error ?: strerror(-r);
                                const char *before = json_object_get_string(json_get(d->errors, path));
                                if (!before || !streq(before, message))
                                        log_error("manifest %s", message);
                                json_object_object_add(errors, path, json_object_new_string(message));
                        }
                        files[n_files++] = (ManifestFile) { .path = TAKE_PTR(path), .objects = objects };
                }
                free(entries[i]);
        }
        free(entries);
        if (n > 0 && !files) {
                log_oom();
                return 0;
        }
        json_object_put(d->errors);
        d->errors = TAKE_PTR(errors);
        d->read(files, n_files, d->userdata);
        files_free(files, n_files);
        return 0;
}

/* Changes that come together are read together. */
static void schedule_reload(ManifestDir *d) {
        (void) sd_event_source_set_enabled(d->reload, SD_EVENT_ONESHOT);
}

static int on_inotify(sd_event_source *source, const struct inotify_event *event, void *userdata) {
        schedule_reload(userdata);
        return 0;
}

static int on_check(sd_event_source *source, uint64_t usec, void *userdata) {
        ManifestDir *d = userdata;

        schedule_reload(d);
        (void) sd_event_source_set_time_relative(source, MANIFEST_DIR_CHECK_USEC);
        (void) sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        return 0;
}

int manifest_dir_new(sd_event *event, const char *path, ManifestDirRead read, void *userdata, ManifestDir **ret,
                     char **ret_error) {
        _cleanup_(manifest_dir_freep) ManifestDir *d = calloc(1, sizeof(ManifestDir));
        int r;

        if (!d || !(d->path = strdup(path)))
                return error_set(ret_error, -ENOMEM, "%m");
        d->read = read;
        d->userdata = userdata;
        r = sd_event_add_defer(event, &d->reload, reload, d);
        if (r < 0)
                return error_set(ret_error, r, "%m");
        r = sd_event_add_inotify(event, &d->inotify, path,
                                 IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ATTRIB |
                                         IN_ONLYDIR,
                                 on_inotify, d);
        if (r < 0)
                return error_set(ret_error, r, "watch: %m");
        r = sd_event_add_time_relative(event, &d->check, CLOCK_MONOTONIC, MANIFEST_DIR_CHECK_USEC, 0, on_check, d);
        if (r < 0)
                return error_set(ret_error, r, "%m");
        *ret = TAKE_PTR(d);
        return 0;
}

void manifest_dir_free(ManifestDir *d) {
        sd_event_source_disable_unref(d->inotify);
        sd_event_source_disable_unref(d->reload);
        sd_event_source_disable_unref(d->check);
        json_object_put(d->errors);
        free(d->path);
        free(d);
}
