/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

/* A container's postStart or preStop hook (a LifecycleHandler) run once, as kubelet's
 * handler runner does, on the event loop:
 * - exec: the command in the container (exec_prefix + command, e.g. stevedore-runc
 *   --root R exec ID); it succeeds when it exits 0.
 * - httpGet: a GET to scheme://host:port/path (host: the pod's IP by default; a named port
 *   is the container's; HTTPS is not verified, as kubelet does not); any HTTP answer
 *   succeeds.
 * - sleep: seconds pass.
 * timeout_usec (0: none) bounds it; the hook is then reported failed. */
typedef struct LifecycleHook LifecycleHook;

/* It ended; message says why when it failed ("command terminated with exit code 1",
 * "Get \"http://10.244.1.5:8080/x\": Connection refused"). The handler may free the hook. */
typedef void (*LifecycleHookDone)(LifecycleHook *h, bool success, const char *message, void *userdata);

/* -EINVAL when the handler has no action this node runs (tcpSocket, or none), with
 * *ret_error saying so. */
int lifecycle_hook_run(sd_event *event, json_object *handler, json_object *container, const char *pod_ip,
                       char *const *exec_prefix, uint64_t timeout_usec, LifecycleHookDone done, void *userdata,
                       LifecycleHook **ret, char **ret_error);
/* Stops it if it still runs (its command is killed); done is not called. */
LifecycleHook *lifecycle_hook_free(LifecycleHook *h);
static inline void lifecycle_hook_freep(LifecycleHook **h) {
        lifecycle_hook_free(*h);
}
