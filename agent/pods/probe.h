/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
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

/* What probes and lifecycle hooks (lifecycle-hook.c) share of a handler. */
/* A port by number or by the container's port name; 0 when neither. */
int handler_port(json_object *port, json_object *container);
/* prefix + an exec action's command, NULL-terminated; NULL without a command. */
char **handler_exec_argv(char *const *prefix, json_object *command);
/* argv in the background, its stdio /dev/null, the agent's blocked signals unblocked:
 * a pidfd of it (and *ret_pid), or -errno. */
int handler_spawn(char *const *argv, pid_t *ret_pid);
/* Reaps the command of pidfd, which has exited: 1 when it exited 0, else 0 and message
 * ("command terminated with exit code 3"; 128+n for signal n); -errno. */
int handler_reap(int pidfd, char *message, size_t size);
