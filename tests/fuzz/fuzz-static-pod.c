/* SPDX-License-Identifier: Apache-2.0 */
/* A manifest file's Pod as the static pods' source takes it: checked for references to
 * other API objects, given kubelet's defaults, made into its mirror pod. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json-util.h"
#include "macro.h"
#include "static-pod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size), *error = NULL, *uid = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL, *pod = NULL, *mirror = NULL;

        if (!text || !(o = json_tokener_parse(text)))
                return 0;
        if (static_pod_check(o, &error) < 0 && !error)
                abort();
        uid = static_pod_uid(o, "node-a", "/etc/kubernetes/manifests/p.yaml");
        if (!uid || strlen(uid) != 32)
                abort();
        pod = static_pod_from_manifest(o, "node-a", "/etc/kubernetes/manifests/p.yaml", "now");
        if (!pod) {
                if (json_get_string(o, "metadata", "name", NULL))
                        abort();
                return 0;
        }
        if (!streq(json_get_string(pod, "metadata", "uid", NULL) ?: "", uid))
                abort();
        mirror = mirror_pod_new(pod, "node-a", "node-uid");
        if (!mirror || !pod_is_mirror(mirror) || pod_is_mirror(pod))
                abort();
        return 0;
}
