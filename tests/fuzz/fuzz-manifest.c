/* SPDX-License-Identifier: Apache-2.0 */
/* Manifest files (static pods, Services) as people write them: YAML or JSON. */
#include "fuzz.h"
#include "macro.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(manifest_objects_freep) json_object **objects = NULL;
        _cleanup_free_ char *error = NULL;

        if (size > 65536)
                return 0;
        (void) manifest_objects_parse((const char *) data, size, "fuzz.yaml", &objects, &error);
        return 0;
}
