/* SPDX-License-Identifier: Apache-2.0 */
/* Services and EndpointSlices as the API server sends them, through the parser and the
 * ruleset builder (dump only: nothing is programmed). */
#include <stdio.h>

#include "fuzz.h"
#include "macro.h"
#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size);
        json_object *o, *items;
        ProxyConfig config = {};
        Proxy *p;
        FILE *devnull;

        if (!text || !(o = json_tokener_parse(text)))
                return 0;
        if (proxy_new(&config, &p) < 0) {
                json_object_put(o);
                return 0;
        }
        /* {"services": [...], "slices": [...]} */
        if (json_object_object_get_ex(o, "services", &items) && json_object_is_type(items, json_type_array))
                for (size_t i = 0; i < json_object_array_length(items); i++)
                        (void) proxy_service_update(p, json_object_array_get_idx(items, i));
        if (json_object_object_get_ex(o, "slices", &items) && json_object_is_type(items, json_type_array))
                for (size_t i = 0; i < json_object_array_length(items); i++)
                        (void) proxy_slice_update(p, json_object_array_get_idx(items, i));
        devnull = fopen("/dev/null", "w");
        if (devnull) {
                (void) proxy_sync(p, PROXY_SYNC_DUMP, devnull);
                fclose(devnull);
        }
        proxy_free(p);
        json_object_put(o);
        return 0;
}
