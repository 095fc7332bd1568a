/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

/* A container's probe (startupProbe, readinessProbe, livenessProbe) as kubelet runs it, on the event
 * loop: after initialDelaySeconds, every periodSeconds, an httpGet (a 2xx or 3xx answer)
 * or tcpSocket (a connection) to the pod's IP within timeoutSeconds; the result flips
 * after failureThreshold failures or successThreshold successes in a row. Named ports are
 * the container's ports; an exec probe runs its command in the container (exec_prefix +
 * command, e.g. stevedore-runc --root R exec ID) and succeeds when it exits 0. */
typedef struct Probe Probe;

/* The probe's result changed; message says why when it failed ("Get
 * \"http://10.0.0.5:8080/healthz\": connection refused", "HTTP probe failed with
 * statuscode: 500"). The handler may free the probe. */
typedef void (*ProbeHandler)(Probe *p, bool success, const char *message, void *userdata);

/* spec: the probe object; container: its container (for named ports); exec_prefix:
 * NULL-terminated, for exec probes. */
int probe_new(sd_event *event, json_object *spec, json_object *container, const char *pod_ip,
              char *const *exec_prefix, ProbeHandler handler, void *userdata, Probe **ret);
void probe_free(Probe *p);
