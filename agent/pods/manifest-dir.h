/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-event.h>

/* A directory of manifest files, watched as kubelet watches its staticPodPath: the
 * files whose names do not start with a dot and end in .yaml, .yml or .json, in name
 * order, each with one or more documents (manifest.h). Read once the loop runs, again
 * when inotify reports a change (changes that come together are read together), and
 * every 20 s (kubelet's fileCheckFrequency) for what inotify may miss. The one reader
 * of both standalone mode (standalone.h) and the static pods (static-pods.h). */
typedef struct ManifestDir ManifestDir;

#define MANIFEST_DIR_CHECK_USEC (20 * 1000 * 1000ULL)

typedef struct ManifestFile {
        const char *path; /* <dir>/<name> */
        /* NULL-terminated; NULL when the file did not parse (its error is logged with
         * file:line:column): what it gave before should stay as it was. */
        json_object **objects;
} ManifestFile;

/* One reading of the directory: every manifest file, borrowed for the call. */
typedef void (*ManifestDirRead)(const ManifestFile *files, size_t n_files, void *userdata);

/* Watches path (which must be a directory). 0, or a negative errno with *ret_error. */
int manifest_dir_new(sd_event *event, const char *path, ManifestDirRead read, void *userdata, ManifestDir **ret,
                     char **ret_error);
void manifest_dir_free(ManifestDir *d);
static inline void manifest_dir_freep(ManifestDir **d) {
        if (*d)
                manifest_dir_free(*d);
}
