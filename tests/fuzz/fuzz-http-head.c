/* SPDX-License-Identifier: Apache-2.0 */
/* An upgrade request's head as the kubelet API reads its headers (the WebSocket key and
 * subprotocols, SPDY's Upgrade). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http-head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *request = strndup((const char *) data, size), *value;

        if (!request)
                return 0;
        (void) http_header_has(request, "upgrade", "websocket");
        value = http_header_get(request, "sec-websocket-protocol");
        if (value && (strstr(value, "\r\n") || (*value && (value[0] == ' ' || value[strlen(value) - 1] == ' '))))
                abort();
        free(value);
        free(request);
        return 0;
}
