/* SPDX-License-Identifier: Apache-2.0 */
/* A pull's result as an OCI image layout (image-spec image-layout.md): oci-layout and
 * index.json beside the blobs/ the pull wrote. */
#include <json-c/json.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "registry.h"

#define INDEX_MAX_SIZE (16 * 1024 * 1024)
#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define ANNOTATION_CONTAINERD_NAME "io.containerd.image.name"

static bool entry_named(json_object *entry, const char *ref_name) {
        json_object *a, *v;

        return json_object_is_type(entry, json_type_object) && json_object_object_get_ex(entry, "annotations", &a) &&
               json_object_is_type(a, json_type_object) && json_object_object_get_ex(a, ANNOTATION_REF_NAME, &v) &&
               json_object_is_type(v, json_type_string) && streq(json_object_get_string(v), ref_name);
}

int registry_layout_add(const char *dir, const char *ref_name, const char *media_type, const char *digest,
                        uint64_t size) {
        _cleanup_free_ char *path = NULL, *content = NULL;
        _cleanup_(json_object_putp) json_object *index = NULL;
        json_object *manifests = NULL, *desc, *annotations, *kept;
        const char *text;
        int r;

        r = mkdir_p(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "layout %s: create: %m", dir);
        if (asprintf(&path, "%s/oci-layout", dir) < 0)
                return -ENOMEM;
        r = write_file_atomic(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644);
        if (r < 0)
                return log_error_errno(r, "layout %s: write oci-layout: %m", dir);

        free(path);
        if (asprintf(&path, "%s/index.json", dir) < 0)
                return -ENOMEM;
        r = read_full_file(path, INDEX_MAX_SIZE, &content, NULL);
        if (r >= 0) {
                index = json_tokener_parse(content);
                if (!index || !json_object_is_type(index, json_type_object) ||
                    !json_object_object_get_ex(index, "manifests", &manifests) ||
                    !json_object_is_type(manifests, json_type_array))
                        return log_error_errno(EINVAL, "layout %s: index.json is not an image index", dir);
        } else if (r != -ENOENT)
                return log_error_errno(r, "layout %s: read index.json: %m", dir);
        else {
                index = json_object_new_object();
                if (!index)
                        return -ENOMEM;
                json_object_object_add(index, "schemaVersion", json_object_new_int(2));
                json_object_object_add(index, "mediaType", json_object_new_string("application/vnd.oci.image.index.v1+json"));
        }

        /* the entries of other names stay, in their order; this name's goes last */
        kept = json_object_new_array();
        if (!kept)
                return -ENOMEM;
        for (size_t i = 0; manifests && i < json_object_array_length(manifests); i++) {
                json_object *e = json_object_array_get_idx(manifests, i);

                if (!entry_named(e, ref_name))
                        json_object_array_add(kept, json_object_get(e));
        }
        desc = json_object_new_object();
        annotations = json_object_new_object();
        if (!desc || !annotations) {
                json_object_put(kept);
                json_object_put(desc);
                json_object_put(annotations);
                return -ENOMEM;
        }
        json_object_object_add(desc, "mediaType", json_object_new_string(media_type));
        json_object_object_add(desc, "digest", json_object_new_string(digest));
        json_object_object_add(desc, "size", json_object_new_int64((int64_t) size));
        json_object_object_add(annotations, ANNOTATION_CONTAINERD_NAME, json_object_new_string(ref_name));
        json_object_object_add(annotations, ANNOTATION_REF_NAME, json_object_new_string(ref_name));
        json_object_object_add(desc, "annotations", annotations);
        json_object_array_add(kept, desc);
        json_object_object_add(index, "manifests", kept);

        text = json_object_to_json_string_ext(index, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "layout %s: write index.json: %m", dir);
        return 0;
}
