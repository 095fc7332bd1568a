/* SPDX-License-Identifier: Apache-2.0 */
/* A bundle's config.json through the runtime's parser. */
#include "fuzz.h"
#include "macro.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size), *error = NULL;
        RuntimeSpec *spec = NULL;
        json_object *o;

        if (!text || !(o = json_tokener_parse(text)))
                return 0;
        if (spec_parse(o, &spec, &error) >= 0)
                spec_free(spec);
        json_object_put(o);
        return 0;
}
