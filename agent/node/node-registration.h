/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "agent-config.h"
#include "kube-client.h"

/* Keeps this machine registered as a Node: creates the Node object (or finds it), reports
 * its status on change and at least every 5 minutes (checked every 10 s), and renews its
 * Lease in kube-node-lease every 10 s (leaseDurationSeconds 40), as the kubelet does.
 * Failed requests are logged and retried at the next tick. */
typedef struct NodeRegistration NodeRegistration;

typedef struct NodeRegistrationConfig {
        const char *name;
        const char *internal_ip; /* NULL: none reported */
        const char *root_dir;    /* its file system is the node's ephemeral storage */
        unsigned kubelet_port;   /* the kubelet API's; 0: 10250 */
        const NodeTaint *taints; /* registered with (registerWithTaints) */
        size_t n_taints;
        /* Set when the pod CIDR comes from the Node's spec.podCIDR (no --pod-cidr): called
         * once, with the first one the Node object shows; until then the node is not Ready
         * (the pod network is not) and the Node is looked up at every tick. */
        void (*on_pod_cidr)(const char *pod_cidr, void *userdata);
        /* Runs once the Node object exists (created, or found from an earlier run). */
        void (*registered)(void *userdata);
        void *userdata;
} NodeRegistrationConfig;

int node_registration_new(KubeClient *client, const NodeRegistrationConfig *config, NodeRegistration **ret);
void node_registration_free(NodeRegistration *a);
static inline void node_registration_freep(NodeRegistration **a) {
        node_registration_free(*a);
}
