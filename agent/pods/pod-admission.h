/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kubelet's admission of a pod bound to the node, before its worker starts (kubelet's
 * lifecycle.predicateAdmitHandler): of the scheduler's predicates it runs, the one that
 * the node itself can fail here is NodePorts, a hostPort that a pod already admitted
 * holds. A rejected pod is Failed with kubelet's reason and message (pod-set.h). */

/* A hostPort a pod asks for, as the scheduler's HostPortInfo keys it. Strings point into
 * the pod, or are the defaults. */
typedef struct PodHostPort {
        const char *host_ip;  /* "0.0.0.0" when unset: every address */
        const char *protocol; /* "TCP" when unset */
        int32_t host_port, container_port;
} PodHostPort;

typedef enum PodHostPortsOf {
        /* The containers' and the restartable init containers' (they run as long as the
         * pod): the ports a pod holds, the scheduler's GetHostPorts. */
        POD_HOST_PORTS_HELD,
        /* The containers' only: what kubelet hands the runtime to map (its
         * generatePodSandboxConfig). */
        POD_HOST_PORTS_MAPPED,
} PodHostPortsOf;

/* The ports of pod with a hostPort above 0, in the spec's order; *ret NULL when none. */
int pod_host_ports(json_object *pod, PodHostPortsOf which, PodHostPort **ret, size_t *ret_n);

/* Whether a port of want is taken by one of used: the same protocol and port, and the
 * same host IP or either one 0.0.0.0 (HostPortInfo.CheckConflict). */
bool pod_host_ports_conflict(const PodHostPort *want, size_t n_want, const PodHostPort *used, size_t n_used);

/* Kubelet's word for a pod whose hostPorts are taken: the event's reason and message;
 * the pod's status message is "Pod was rejected: " and the message. */
#define POD_ADMISSION_NODE_PORTS_REASON "NodePorts"
#define POD_ADMISSION_NODE_PORTS_MESSAGE \
        "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"

/* 1 when pod may run beside the admitted pods, 0 when it may not (*ret_reason and
 * *ret_message say why, as kubelet says it), -ENOMEM. */
int pod_admit(json_object *pod, json_object *const *admitted, size_t n_admitted, const char **ret_reason,
              const char **ret_message);
