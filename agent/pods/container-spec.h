/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* A pod's container as an OCI runtime config (config.json), the way kubelet's
 * generateContainerConfig and containerd's CRI plugin make it together:
 *
 * - process: command/args over the image's Entrypoint/Cmd by Kubernetes' rules; env =
 *   the image's Env with, over it, what kubelet makes: extra_env (the Service variables,
 *   service-links.h), then envFrom's ConfigMaps and Secrets (with their prefix), then the
 *   container's env over those (value, valueFrom.fieldRef, configMapKeyRef, secretKeyRef;
 *   the objects through lookup). $(VAR) in env values, command and
 *   args is expanded from kubelet's part only, as kubelet does: never from the image's Env;
 *   workingDir; user from runAsUser/runAsGroup (container, then pod) or the image's User
 *   (numeric or looked up in the root's /etc/passwd and /etc/group), supplementalGroups
 *   and fsGroup; runAsNonRoot enforced; tty.
 * - security: containerd's default capabilities plus add minus drop (all of them when
 *   privileged); allowPrivilegeEscalation false → noNewPrivileges; seccompProfile
 *   RuntimeDefault → the runtime's default profile (Unconfined, kubelet's default, →
 *   none); readOnlyRootFilesystem; containerd's masked and read-only paths (none when
 *   privileged).
 * - namespaces: a new pid and mount namespace; network, IPC and UTS from the pod's
 *   sandbox, or the host's with hostNetwork/hostIPC.
 * - mounts: containerd's default set, the pod's /etc/hosts, /etc/hostname,
 *   /etc/resolv.conf, the termination log, and each volumeMount (subPath inside).
 * - resources: cpu limit → CFS quota, cpu request → shares, memory limit; oom_score_adj
 *   by QoS class as kubelet computes it; linux.cgroupsPath; pod sysctls. */

typedef struct ContainerSpecVolume {
        const char *name;
        const char *host_path; /* what the volume is on this node */
        bool read_only;        /* the volume itself is (configMap, secret, projected) */
} ContainerSpecVolume;

/* A ConfigMap ("ConfigMap") or Secret ("Secret") of the pod's namespace as the API serves
 * it, fetched before: NULL when it does not exist (or could not be had). */
typedef json_object *(*ContainerSpecLookup)(void *userdata, const char *kind, const char *name);

typedef struct ContainerSpecContext {
        json_object *pod;          /* the Pod object */
        json_object *container;    /* an element of its spec.containers or spec.initContainers */
        json_object *image_config; /* the image config's "config" (Env, Entrypoint, Cmd, WorkingDir, User); may be NULL */
        const char *rootfs;        /* the container's root */
        const char *sandbox_dir;   /* its net, ipc and uts namespaces */
        const char *netns_path;    /* the network namespace instead of the sandbox's; may be NULL */
        const char *pod_ip, *host_ip, *node_name;
        const char *hosts_file, *hostname_file, *resolv_conf, *termination_log; /* NULL: not bound */
        const char *cgroups_path;
        uint64_t node_memory; /* bytes, for a burstable container's oom_score_adj */
        int64_t allocatable_cpu_milli, allocatable_memory; /* the node's, for resourceFieldRef */
        const ContainerSpecVolume *volumes;
        size_t n_volumes;
        char **extra_env; /* the Service variables, "NAME=value", NULL-terminated; may be NULL */
        ContainerSpecLookup lookup; /* for env valueFrom and envFrom; NULL: none can be had */
        void *userdata;
} ContainerSpecContext;

/* The ConfigMaps and Secrets the containers' env and envFrom refer to: need(kind, name,
 * optional) once per reference, to fetch them before the containers are made. */
void container_env_required(json_object *pod,
                            void (*need)(void *userdata, const char *kind, const char *name, bool optional),
                            void *userdata);

/* On failure -errno and *ret_error says what, naming the pod and container: "pod
 * default/kubia-x: container kubia: env KEY: configMapKeyRef cfg/key: not found". */
int container_spec_build(const ContainerSpecContext *ctx, json_object **ret_config, char **ret_error);

/* $(VAR) references in s replaced from env ("NAME=value" entries, the last of a name
 * wins); "$$" is a "$"; unknown references stay as they are (kubelet's expansion.Expand). */
char *container_spec_expand(const char *s, char **env, size_t n_env);

/* The pod's QoS class: "Guaranteed", "Burstable" or "BestEffort". */
const char *pod_qos_class(json_object *pod);

/* The pod-level cgroup's limits, as kubelet's ResourceConfigForPod makes them: CPU shares
 * from the requests' sum, a quota (µs per period) and a memory limit only when every
 * container has a limit (-1: none); an init container counts when it asks for more
 * than the containers together. */
typedef struct PodCgroupResources {
        int64_t cpu_shares, cpu_quota, cpu_period, memory_limit;
} PodCgroupResources;

void pod_cgroup_resources(json_object *pod, PodCgroupResources *ret);
