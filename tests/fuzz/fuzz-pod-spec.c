/* SPDX-License-Identifier: Apache-2.0 */
/* Pods as the API server or a manifest gives them, through the parser the pod worker
 * starts with, and through the hostPorts that admission and the mappings read. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "macro.h"
#include "pod-admission.h"
#include "pod-spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size), *error = NULL;
        json_object *o;
        PodSpec *s = NULL;

        if (!text || !(o = json_tokener_parse(text)))
                return 0;
        if (pod_spec_parse(o, &s, &error) >= 0) {
                /* Every string the worker formats into paths and messages is there. */
                if (!s->name || !s->namespace || !s->uid)
                        abort();
                for (size_t i = 0; i < s->n_containers; i++)
                        if (!s->containers[i].name || !s->containers[i].image || s->containers[i].init != (i < s->n_init))
                                abort();
        } else if (s)
                abort();
        pod_spec_free(s);
        for (PodHostPortsOf which = POD_HOST_PORTS_HELD; which <= POD_HOST_PORTS_MAPPED; which++) {
                _cleanup_free_ PodHostPort *ports = NULL;
                size_t n;

                if (pod_host_ports(o, which, &ports, &n) < 0)
                        continue;
                for (size_t i = 0; i < n; i++)
                        if (!ports[i].host_ip || !ports[i].protocol || ports[i].host_port < 1 || ports[i].host_port > 65535)
                                abort();
                /* A pod's ports always conflict with themselves. */
                if (n > 0 && !pod_host_ports_conflict(ports, n, ports, n))
                        abort();
        }
        json_object_put(o);
        return 0;
}
