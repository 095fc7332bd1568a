/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "pod-cgroup.h"
#include <systemd/sd-event.h>

#include "image-manager.h"
#include "hostports.h"
#include "image-store.h"
#include "pod-network.h"
#include "service-store.h"
#include "volumes.h"

/* A worker per pod, on the event loop, doing what kubelet's pod workers do with
 * containerd: the sandbox (shared namespaces, network, /etc/hosts, resolv.conf), the
 * volumes, the images, the init containers in order and then the containers (with the
 * Service variables of the moment each starts, as kubelet gives them), each run
 * by a monitor process of its own (`stevedore-runc monitor`: it owns the stdio and the
 * CRI log and outlives the agent), restarts by restartPolicy with kubelet's back-off
 * (10 s doubling to 5 min, reset after 10 min running), and graceful termination
 * (SIGTERM, the grace period, SIGKILL). Whatever changes, status_changed gets the pod's
 * new status (a PodStatus object as the API holds it). */

typedef struct PodWorker PodWorker;

typedef struct PodRuntime {
        sd_event *event;
        ImageStore *images;
        ImageManager *image_manager; /* pulls by imagePullPolicy; NULL: the store's images only */
        PodNetwork *network; /* NULL: pods get the host's network */
        HostPorts *host_ports; /* the pods' hostPorts mapped; NULL: not mapped */
        PodCgroups *cgroups; /* the cgroup driver */
        const char *state_dir;    /* pods/<uid>/ (volumes) below it */
        const char *run_dir;      /* pods/<uid>/ (sandbox, bundles) and runtime/ below it */
        const char *log_dir;      /* pods/ and containers/ below it (/var/log) */
        const char *runtime_path; /* stevedore-runc, which runs the monitors */
        const char *node_name, *node_ip;
        uint64_t node_memory;
        int64_t allocatable_cpu_milli, allocatable_memory; /* the node's, for resourceFieldRef */
        /* DNS as kubelet's resolvConf (read for each pod; NULL or "": none), clusterDNS
         * (NULL-terminated; NULL: none) and clusterDomain (NULL: none) give it. */
        const char *resolv_conf;
        char *const *cluster_dns;
        const char *cluster_domain;
        /* The Services whose variables the containers get (service-links.h), asked as each
         * container starts; NULL: none. */
        ServiceStore *services;
        /* The status changed: a PodStatus (borrowed for the call). */
        void (*status_changed)(PodWorker *w, json_object *status, void *userdata);
        /* Something kubelet reports as an event: type Normal or Warning. */
        void (*emit_event)(PodWorker *w, const char *type, const char *reason, const char *message, void *userdata);
        /* Everything of the pod is gone after its termination. */
        void (*terminated)(PodWorker *w, void *userdata);
        void *userdata;
} PodRuntime;

/* Starts running pod (a Pod object; the worker keeps a reference). objects holds what
 * its data volumes need, fetched by the caller (volumes_required): "ConfigMap/<name>",
 * "Secret/<name>", "ServiceAccountToken/<name>" → the object; may be NULL. A pod it cannot run: -EINVAL
 * and *ret_error naming the pod and the field (pod_spec_parse). */
int pod_worker_new(const PodRuntime *runtime, json_object *pod, json_object *objects, PodWorker **ret,
                   char **ret_error);
/* A new version of the pod: a deletionTimestamp (or terminate) stops it gracefully. */
void pod_worker_update(PodWorker *w, json_object *pod);
/* Stops the pod: its containers get SIGTERM, then SIGKILL after grace_seconds (-1: the
 * pod's terminationGracePeriodSeconds); then everything is removed and terminated runs. */
void pod_worker_terminate(PodWorker *w, int64_t grace_seconds);
void pod_worker_free(PodWorker *w);

/* What an earlier agent's worker left on the node of pod uid: its run or state dir. */
bool pod_left_on_node(const PodRuntime *runtime, const char *uid);
/* The Pod object an earlier agent's worker ran as uid (its run dir's pod.json), marked
 * for deletion after grace_seconds: a worker started with it takes over what is left of
 * the pod and stops it. -ENOENT when there is none, -EBADMSG when it is not that pod's. */
int pod_left_object(const PodRuntime *runtime, const char *uid, int64_t grace_seconds, json_object **ret);
/* A pod no worker of this agent runs that has nothing running (it finished, or never got
 * a container): what it still holds on the node (network, volumes, hostPorts, cgroup,
 * sandbox, its run and state dirs) is released; its logs stay for `kubectl logs`. */
void pod_release_leftovers(const PodRuntime *runtime, json_object *pod);

/* The current PodStatus (owned by the worker). */
json_object *pod_worker_status(PodWorker *w);
