/* SPDX-License-Identifier: Apache-2.0 */
#include <json-c/json.h>

#include "macro.h"
#include "pod-spec.h"
#include "tests.h"

/* Parses text; returns the error (or "" on success) and the spec in *ret. */
static char *parse(const char *text, PodSpec **ret) {
        json_object *pod = json_tokener_parse(text);
        char *error = NULL;
        int r;

        check(pod);
        *ret = NULL;
        r = pod_spec_parse(pod, ret, &error);
        json_object_put(pod);
        if (r >= 0) {
                check(*ret);
                check(!error);
                return strdup("");
        }
        check_int(r, ==, -EINVAL);
        check(!*ret);
        check(error);
        return error;
}

static void check_error(const char *text, const char *expected) {
        _cleanup_free_ char *error = NULL;
        PodSpec *s;

        error = parse(text, &s);
        check_streq(error, expected);
}

TEST(defaults) {
        _cleanup_free_ char *error = NULL;
        PodSpec *s;

        error = parse("{\"metadata\": {\"name\": \"web\", \"uid\": \"u1\"}, \"spec\": {\"containers\": [{\"name\": \"c\"}]}}", &s);
        check_streq(error, "");
        check_streq(s->namespace, "default");
        check_streq(s->name, "web");
        check_streq(s->uid, "u1");
        check_int(s->restart_policy, ==, POD_RESTART_ALWAYS);
        check_int(s->termination_grace_seconds, ==, 30);
        check_int(s->active_deadline_seconds, ==, -1);
        check(!s->host_network);
        check(s->enable_service_links);
        check(!s->deleting);
        check_int(s->deletion_grace_seconds, ==, -1);
        check_int(s->n_containers, ==, 1);
        check_int(s->n_init, ==, 0);
        check_streq(s->containers[0].name, "c");
        check_streq(s->containers[0].image, "");
        check(!s->containers[0].image_pull_policy);
        check(!s->containers[0].startup_probe && !s->containers[0].readiness_probe && !s->containers[0].liveness_probe);
        check(!s->containers[0].init);
        pod_spec_free(s);
}

TEST(fields) {
        _cleanup_free_ char *error = NULL;
        PodSpec *s;

        error = parse("{\"metadata\": {\"name\": \"web\", \"namespace\": \"ns\", \"uid\": \"u1\", "
                      "\"deletionTimestamp\": \"2026-01-01T00:00:00Z\", \"deletionGracePeriodSeconds\": 5}, "
                      "\"spec\": {\"restartPolicy\": \"OnFailure\", \"terminationGracePeriodSeconds\": 0, "
                      "\"activeDeadlineSeconds\": 7, "
                      "\"hostNetwork\": true, \"enableServiceLinks\": false, "
                      "\"initContainers\": [{\"name\": \"setup\", \"image\": \"busybox\"}], "
                      "\"containers\": [{\"name\": \"app\", \"image\": \"nginx:1\", \"imagePullPolicy\": \"Never\", "
                      "\"startupProbe\": {\"exec\": {}}, \"readinessProbe\": {\"tcpSocket\": {\"port\": 80}}, "
                      "\"livenessProbe\": {\"httpGet\": {\"port\": 80}}}]}}",
                      &s);
        check_streq(error, "");
        check_streq(s->namespace, "ns");
        check_int(s->restart_policy, ==, POD_RESTART_ON_FAILURE);
        check_int(s->termination_grace_seconds, ==, 0);
        check_int(s->active_deadline_seconds, ==, 7);
        check(s->host_network);
        check(!s->enable_service_links);
        check(s->deleting);
        check_int(s->deletion_grace_seconds, ==, 5);
        check_int(s->n_containers, ==, 2);
        check_int(s->n_init, ==, 1);
        check_streq(s->containers[0].name, "setup");
        check_streq(s->containers[0].image, "busybox");
        check(s->containers[0].init);
        check_streq(s->containers[1].name, "app");
        check_streq(s->containers[1].image, "nginx:1");
        check_streq(s->containers[1].image_pull_policy, "Never");
        check(!s->containers[1].init);
        check(s->containers[1].startup_probe && s->containers[1].readiness_probe && s->containers[1].liveness_probe);
        check(json_object_object_get_ex(s->containers[1].json, "livenessProbe", NULL));
        pod_spec_free(s);

        free(error);
        error = parse("{\"metadata\": {\"name\": \"p\", \"uid\": \"u\"}, \"spec\": {\"restartPolicy\": \"Never\"}}", &s);
        check_streq(error, "");
        check_int(s->restart_policy, ==, POD_RESTART_NEVER);
        check_int(s->n_containers, ==, 0);
        pod_spec_free(s);
}

TEST(bad_input) {
        check_error("[]", "pod: not an object");
        check_error("{\"metadata\": {\"uid\": \"u\"}}", "pod: metadata.name: missing");
        check_error("{\"metadata\": {\"name\": \"p\"}}", "pod default/p: metadata.uid: missing");
        check_error("{\"metadata\": {\"name\": \"p\", \"uid\": \"../x\"}}", "pod default/p: metadata.uid: not a valid uid");
        check_error("{\"metadata\": {\"name\": \"p\", \"uid\": \"u\"}, \"spec\": {\"restartPolicy\": \"Sometimes\"}}",
                    "pod default/p: spec.restartPolicy: not Always, OnFailure or Never");
        check_error("{\"metadata\": {\"name\": \"p\", \"uid\": \"u\"}, \"spec\": {\"terminationGracePeriodSeconds\": \"x\"}}",
                    "pod default/p: spec.terminationGracePeriodSeconds: not an integer");
        check_error("{\"metadata\": {\"name\": \"p\", \"uid\": \"u\"}, \"spec\": {\"containers\": {}}}",
                    "pod default/p: spec.containers: not a list");
        check_error("{\"metadata\": {\"name\": \"p\", \"uid\": \"u\"}, \"spec\": {\"initContainers\": 1}}",
                    "pod default/p: spec.initContainers: not a list");
        check_error("{\"metadata\": {\"name\": \"p\", \"uid\": \"u\"}, \"spec\": {\"containers\": [{\"name\": \"a\"}, {\"image\": \"x\"}]}}",
                    "pod default/p: spec.containers[1]: name: missing");
        check_error("{\"metadata\": {\"name\": \"p\", \"uid\": \"u\"}, \"spec\": {\"initContainers\": [{\"name\": \"..\"}]}}",
                    "pod default/p: spec.initContainers[0]: name: not a valid name");
        check_error("{\"metadata\": {\"name\": \"p\", \"uid\": \"u\"}, \"spec\": {\"containers\": [3]}}",
                    "pod default/p: spec.containers[0]: not an object");
}

TEST(deletion) {
        static const struct {
                const char *metadata;
                bool deleting;
                int64_t grace;
        } cases[] = {
                { "{}", false, -1 },
                { "{\"deletionTimestamp\": \"2026-01-01T00:00:00Z\"}", true, -1 },
                { "{\"deletionTimestamp\": \"2026-01-01T00:00:00Z\", \"deletionGracePeriodSeconds\": 0}", true, 0 },
                /* Stopped all the same, with the spec's period. */
                { "{\"deletionTimestamp\": \"x\", \"deletionGracePeriodSeconds\": \"soon\"}", true, -1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = NULL;
                json_object *pod;
                int64_t grace = 99;

                check(asprintf(&text, "{\"metadata\": %s}", cases[i].metadata) > 0);
                pod = json_tokener_parse(text);
                check(pod);
                check_int(pod_spec_deletion(pod, &grace), ==, cases[i].deleting);
                check_int(grace, ==, cases[i].grace);
                json_object_put(pod);
        }
}

TEST(sidecars_and_hooks) {
        _cleanup_free_ char *error = NULL;
        PodSpec *s;

        error = parse("{\"metadata\": {\"name\": \"p\", \"uid\": \"u\"}, \"spec\": {"
                      "\"initContainers\": [{\"name\": \"proxy\", \"restartPolicy\": \"Always\"}, {\"name\": \"setup\"}], "
                      "\"containers\": [{\"name\": \"app\", \"restartPolicy\": \"Always\", \"lifecycle\": {"
                      "\"postStart\": {\"exec\": {\"command\": [\"true\"]}}, \"preStop\": {\"sleep\": {\"seconds\": 1}}}}]}}",
                      &s);
        check_streq(error, "");
        check(s->containers[0].restartable);
        check(!s->containers[1].restartable);
        /* Only an init container is a sidecar. */
        check(!s->containers[2].restartable);
        check(!s->containers[0].post_start && !s->containers[0].pre_stop);
        check(json_object_object_get_ex(s->containers[2].post_start, "exec", NULL));
        check(json_object_object_get_ex(s->containers[2].pre_stop, "sleep", NULL));
        pod_spec_free(s);
}

int main(void) {
        RUN(defaults);
        RUN(sidecars_and_hooks);
        RUN(deletion);
        RUN(fields);
        RUN(bad_input);
        return 0;
}
