/* SPDX-License-Identifier: Apache-2.0 */
/* The target of a port-forward request to the kubelet API: /portForward/<ns>/<pod>[/<uid>],
 * parts that go into paths. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "portforward-stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char ns[PORTFORWARD_NAME_MAX], pod[PORTFORWARD_NAME_MAX], uid[PORTFORWARD_NAME_MAX];
        char *target = strndup((const char *) data, size);

        if (!target)
                return 0;
        if (portforward_target_parse(target, ns, pod, uid) == 0 &&
            (!*ns || !*pod || strchr(ns, '/') || strchr(pod, '/') || strchr(uid, '/') || strstr(ns, "..") ||
             strstr(pod, "..") || strstr(uid, "..")))
                abort();
        free(target);
        return 0;
}
