/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json-util.h"
#include "macro.h"
#include "pod-spec.h"

static const char *const restart_policies[] = {
        [POD_RESTART_ALWAYS] = "Always",
        [POD_RESTART_ON_FAILURE] = "OnFailure",
        [POD_RESTART_NEVER] = "Never",
};

static int parse_restart_policy(json_object *spec, PodRestartPolicy *ret) {
        json_object *v = json_get(spec, "restartPolicy");
        const char *s = json_get_string(spec, "restartPolicy", NULL);

        if (!v) {
                *ret = POD_RESTART_ALWAYS;
                return 0;
        }
        for (size_t i = 0; s && i < ELEMENTSOF(restart_policies); i++)
                if (streq(s, restart_policies[i])) {
                        *ret = (PodRestartPolicy) i;
                        return 0;
                }
        return -EINVAL;
}

/* An integer field, or def when it is absent or null; -EINVAL for another type. */
static int parse_int64(json_object *o, const char *key, int64_t def, int64_t *ret) {
        json_object *v = json_get(o, key);

        if (!v) {
                *ret = def;
                return 0;
        }
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        *ret = json_object_get_int64(v);
        return 0;
}

static int parse_container(json_object *o, bool init, PodSpecContainer *ret, const char *key, const char *field,
                           size_t i, char **ret_error) {
        if (!json_object_is_type(o, json_type_object))
                return error_set(ret_error, -EINVAL, "pod %s: %s[%zu]: not an object", key, field, i);
        *ret = (PodSpecContainer) {
                .json = o,
                .name = json_get_string(o, "name", NULL),
                .image = json_get_string(o, "image", NULL) ?: "",
                .image_pull_policy = json_get_string(o, "imagePullPolicy", NULL),
                .startup_probe = json_get(o, "startupProbe"),
                .readiness_probe = json_get(o, "readinessProbe"),
                .liveness_probe = json_get(o, "livenessProbe"),
                .post_start = json_get(json_get(o, "lifecycle"), "postStart"),
                .pre_stop = json_get(json_get(o, "lifecycle"), "preStop"),
                .init = init,
                .restartable = init && streq(json_get_string(o, "restartPolicy", NULL) ?: "", "Always"),
        };
        /* Its name makes its directories and runtime id. */
        if (!ret->name || !*ret->name || strchr(ret->name, '/') || streq(ret->name, ".") || streq(ret->name, ".."))
                return error_set(ret_error, -EINVAL, "pod %s: %s[%zu]: name: %s", key, field, i,
                                 ret->name ? "not a valid name" : "missing");
        return 0;
}

int pod_spec_parse_ephemeral(json_object *container, const char *key, size_t i, PodSpecContainer *ret,
                             char **ret_error) {
        int r = parse_container(container, false, ret, key, "spec.ephemeralContainers", i, ret_error);

        ret->ephemeral = true;
        /* The API refuses probes and lifecycle handlers for them; none are run either. */
        ret->startup_probe = ret->readiness_probe = ret->liveness_probe = ret->post_start = ret->pre_stop = NULL;
        return r;
}

static int parse_containers(PodSpec *s, json_object *spec, const char *key, char **ret_error) {
        json_object *inits = json_get(spec, "initContainers"), *mains = json_get(spec, "containers");
        int r;

        if (inits && !json_object_is_type(inits, json_type_array))
                return error_set(ret_error, -EINVAL, "pod %s: spec.initContainers: not a list", key);
        if (mains && !json_object_is_type(mains, json_type_array))
                return error_set(ret_error, -EINVAL, "pod %s: spec.containers: not a list", key);
        s->n_init = inits ? json_object_array_length(inits) : 0;
        s->n_containers = s->n_init + (mains ? json_object_array_length(mains) : 0);
        s->containers = calloc(s->n_containers + 1, sizeof(PodSpecContainer));
        if (!s->containers)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_containers; i++) {
                bool init = i < s->n_init;
                size_t j = init ? i : i - s->n_init;

                r = parse_container(json_object_array_get_idx(init ? inits : mains, j), init, &s->containers[i], key,
                                    init ? "spec.initContainers" : "spec.containers", j, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse(PodSpec *s, char **ret_error) {
        json_object *meta = json_get(s->pod, "metadata"), *spec = json_get(s->pod, "spec"), *host_network, *links;
        char key[512];
        int r;

        if (!json_object_is_type(s->pod, json_type_object))
                return error_set(ret_error, -EINVAL, "pod: not an object");
        s->name = json_get_string(meta, "name", NULL);
        s->namespace = json_get_string(meta, "namespace", NULL) ?: "default";
        s->uid = json_get_string(meta, "uid", NULL);
        if (!s->name || !*s->name)
                return error_set(ret_error, -EINVAL, "pod: metadata.name: missing");
        snprintf(key, sizeof(key), "%s/%s", s->namespace, s->name);
        /* The uid names the pod's directories. */
        if (!s->uid || !*s->uid || strchr(s->uid, '/') || strchr(s->uid, '.'))
                return error_set(ret_error, -EINVAL, "pod %s: metadata.uid: %s", key,
                                 s->uid ? "not a valid uid" : "missing");
        r = parse_restart_policy(spec, &s->restart_policy);
        if (r < 0)
                return error_set(ret_error, r, "pod %s: spec.restartPolicy: not Always, OnFailure or Never", key);
        r = parse_int64(spec, "terminationGracePeriodSeconds", POD_TERMINATION_GRACE_SECONDS_DEFAULT,
                        &s->termination_grace_seconds);
        if (r < 0)
                return error_set(ret_error, r, "pod %s: spec.terminationGracePeriodSeconds: not an integer", key);
        s->active_deadline_seconds = pod_spec_active_deadline(s->pod);
        host_network = json_get(spec, "hostNetwork");
        s->host_network = json_object_get_boolean(host_network);
        links = json_get(spec, "enableServiceLinks");
        s->enable_service_links = !links || json_object_get_boolean(links);
        s->deleting = pod_spec_deletion(s->pod, &s->deletion_grace_seconds);
        return parse_containers(s, spec, key, ret_error);
}

bool pod_spec_deletion(json_object *pod, int64_t *ret_grace_seconds) {
        json_object *meta = json_get(pod, "metadata");

        /* A pod being deleted is stopped whatever else is wrong with it. */
        if (parse_int64(meta, "deletionGracePeriodSeconds", -1, ret_grace_seconds) < 0)
                *ret_grace_seconds = -1;
        return json_get(meta, "deletionTimestamp");
}

int64_t pod_spec_active_deadline(json_object *pod) {
        int64_t seconds;

        if (parse_int64(json_get(pod, "spec"), "activeDeadlineSeconds", -1, &seconds) < 0 || seconds < 0)
                return -1;
        return seconds;
}

int pod_spec_parse(json_object *pod, PodSpec **ret, char **ret_error) {
        _cleanup_(pod_spec_freep) PodSpec *s = calloc(1, sizeof(PodSpec));
        int r;

        if (!s)
                return -ENOMEM;
        s->pod = json_object_get(pod);
        r = parse(s, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

PodSpec *pod_spec_free(PodSpec *s) {
        if (!s)
                return NULL;
        free(s->containers);
        json_object_put(s->pod);
        free(s);
        return NULL;
}
