/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fields of a Pod that its worker acts on, read once (as the proxy reads a Service),
 * with the API's defaults filled in here and nowhere else. Strings point into the Pod
 * object, which the PodSpec keeps a reference to. What is handed on whole (a container to
 * container_spec_build, a probe to probe_new, the pod to its files and volumes) stays
 * JSON. */

typedef enum PodRestartPolicy {
        POD_RESTART_ALWAYS, /* the API's default */
        POD_RESTART_ON_FAILURE,
        POD_RESTART_NEVER,
} PodRestartPolicy;

#define POD_TERMINATION_GRACE_SECONDS_DEFAULT 30

typedef struct PodSpecContainer {
        json_object *json; /* the element of spec.initContainers or spec.containers */
        const char *name;
        const char *image;             /* "" when unset */
        const char *image_pull_policy; /* NULL: by the image's tag; checked when it is pulled */
        json_object *startup_probe, *readiness_probe, *liveness_probe; /* NULL: none */
        json_object *post_start, *pre_stop; /* lifecycle handlers; NULL: none */
        bool init;
        /* An init container with restartPolicy Always: a sidecar, which the next init
         * container waits to have started, and which runs (restarted whatever the pod's
         * policy) until the other containers have ended. */
        bool restartable;
        /* Of spec.ephemeralContainers (kubectl debug): added while the pod runs, never
         * restarted, counted for neither the phase nor readiness. */
        bool ephemeral;
} PodSpecContainer;

typedef struct PodSpec {
        json_object *pod;
        const char *namespace; /* "default" when unset */
        const char *name, *uid;
        PodRestartPolicy restart_policy;
        int64_t termination_grace_seconds;
        int64_t active_deadline_seconds; /* -1: none */
        bool host_network;
        bool enable_service_links; /* spec.enableServiceLinks, true by default */
        /* metadata.deletionTimestamp is set; deletion_grace_seconds: its
         * deletionGracePeriodSeconds, -1 when unset (the spec's period then). */
        bool deleting;
        int64_t deletion_grace_seconds;
        PodSpecContainer *containers; /* the init containers first, then the others */
        size_t n_containers, n_init;
} PodSpec;

/* spec.ephemeralContainers[i] of pod (its current version) into *ret; its strings point
 * into that JSON. -EINVAL and *ret_error naming the pod for one that cannot run. */
int pod_spec_parse_ephemeral(json_object *container, const char *key, size_t i, PodSpecContainer *ret,
                             char **ret_error);

/* -EINVAL and *ret_error naming the pod and the field for a pod the worker cannot run
 * ("pod default/web: spec.containers[1]: name: missing"), -ENOMEM. */
int pod_spec_parse(json_object *pod, PodSpec **ret, char **ret_error);
PodSpec *pod_spec_free(PodSpec *s);

/* What a new version of a pod may change for its worker, read without parsing the rest:
 * whether metadata.deletionTimestamp is set, and its deletionGracePeriodSeconds (-1 when
 * unset or not an integer: the spec's period then). */
bool pod_spec_deletion(json_object *pod, int64_t *ret_grace_seconds);
/* spec.activeDeadlineSeconds, which a pod's update may change; -1 when unset or invalid. */
int64_t pod_spec_active_deadline(json_object *pod);
static inline void pod_spec_freep(PodSpec **s) {
        pod_spec_free(*s);
}
