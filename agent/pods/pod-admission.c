/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>

#include "json-util.h"
#include "macro.h"
#include "pod-admission.h"

static int add_ports(json_object *containers, bool restartable_only, PodHostPort **ports, size_t *n,
                     size_t *allocated) {
        for (size_t i = 0; i < json_array_length(containers); i++) {
                json_object *c = json_object_array_get_idx(containers, i), *list = json_get(c, "ports");

                if (restartable_only && !streq(json_get_string(c, "restartPolicy", NULL) ?: "", "Always"))
                        continue;
                for (size_t k = 0; k < json_array_length(list); k++) {
                        json_object *p = json_object_array_get_idx(list, k);
                        int64_t host_port = json_object_get_int64(json_get(p, "hostPort"));
                        const char *host_ip = json_get_string(p, "hostIP", NULL);
                        const char *protocol = json_get_string(p, "protocol", NULL);

                        if (host_port <= 0 || host_port > 65535)
                                continue;
                        if (*n == *allocated) {
                                PodHostPort *grown = reallocarray(*ports, *allocated = MAX(*allocated * 2, (size_t) 4),
                                                                  sizeof(PodHostPort));
                                if (!grown)
                                        return -ENOMEM;
                                *ports = grown;
                        }
                        (*ports)[(*n)++] = (PodHostPort) {
                                .host_ip = host_ip && *host_ip ? host_ip : "0.0.0.0",
                                .protocol = protocol && *protocol ? protocol : "TCP",
                                .host_port = (int32_t) host_port,
                                .container_port = (int32_t) json_object_get_int64(json_get(p, "containerPort")),
                        };
                }
        }
        return 0;
}

int pod_host_ports(json_object *pod, PodHostPortsOf which, PodHostPort **ret, size_t *ret_n) {
        json_object *spec = json_get(pod, "spec");
        _cleanup_free_ PodHostPort *ports = NULL;
        size_t n = 0, allocated = 0;

        if ((which == POD_HOST_PORTS_HELD && add_ports(json_get(spec, "initContainers"), true, &ports, &n, &allocated) < 0) ||
            add_ports(json_get(spec, "containers"), false, &ports, &n, &allocated) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(ports);
        *ret_n = n;
        return 0;
}

static bool taken(const PodHostPort *want, const PodHostPort *used) {
        return want->host_port == used->host_port && streq(want->protocol, used->protocol) &&
               (streq(want->host_ip, "0.0.0.0") || streq(used->host_ip, "0.0.0.0") ||
                streq(want->host_ip, used->host_ip));
}

bool pod_host_ports_conflict(const PodHostPort *want, size_t n_want, const PodHostPort *used, size_t n_used) {
        for (size_t i = 0; i < n_want; i++)
                for (size_t k = 0; k < n_used; k++)
                        if (taken(&want[i], &used[k]))
                                return true;
        return false;
}

int pod_admit(json_object *pod, json_object *const *admitted, size_t n_admitted, const char **ret_reason,
              const char **ret_message) {
        _cleanup_free_ PodHostPort *want = NULL;
        size_t n_want;

        if (pod_host_ports(pod, POD_HOST_PORTS_HELD, &want, &n_want) < 0)
                return -ENOMEM;
        for (size_t i = 0; n_want > 0 && i < n_admitted; i++) {
                _cleanup_free_ PodHostPort *used = NULL;
                size_t n_used;

                if (pod_host_ports(admitted[i], POD_HOST_PORTS_HELD, &used, &n_used) < 0)
                        return -ENOMEM;
                if (pod_host_ports_conflict(want, n_want, used, n_used)) {
                        *ret_reason = POD_ADMISSION_NODE_PORTS_REASON;
                        *ret_message = POD_ADMISSION_NODE_PORTS_MESSAGE;
                        return 0;
                }
        }
        return 1;
}
