/* SPDX-License-Identifier: Apache-2.0 */
/* Node objects as the API server gives them (any node's, its annotations written by
 * whoever may patch it), through what the pod routes read of them. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "macro.h"
#include "pod-routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size);
        json_object *o;
        RouteNode n = {};

        if (!text || !(o = json_tokener_parse(text)))
                return 0;
        if (route_node_parse(o, &n) >= 0) {
                if (!n.name)
                        abort();
                /* A pod CIDR is a network: no host bits. */
                if (n.have_pod_cidr && ipv4_prefix_size(&n.pod_cidr) < 2 && n.pod_cidr.prefixlen != 32)
                        abort();
        }
        route_node_done(&n);
        json_object_put(o);
        return 0;
}
