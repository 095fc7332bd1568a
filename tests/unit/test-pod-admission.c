/* SPDX-License-Identifier: Apache-2.0 */
#include <systemd/sd-event.h>

#include "json-util.h"
#include "macro.h"
#include "pod-admission.h"
#include "pod-set.h"
#include "tests.h"

/* A pod whose one container has these ports (a JSON list). */
static json_object *pod_with(const char *uid, const char *ports) {
        _cleanup_free_ char *text = NULL;
        json_object *pod;

        check(asprintf(&text, "{\"metadata\": {\"name\": \"p-%s\", \"uid\": \"%s\"}, \"spec\": {\"containers\": "
                              "[{\"name\": \"c\", \"ports\": %s}]}}", uid, uid, ports) > 0);
        pod = json_tokener_parse(text);
        check(pod);
        return pod;
}

/* Whether a pod with ports b is admitted beside one with ports a. */
static bool fits(const char *a, const char *b) {
        _cleanup_(json_object_putp) json_object *first = pod_with("a", a), *second = pod_with("b", b);
        const char *reason = NULL, *message = NULL;
        int r = pod_admit(second, &first, 1, &reason, &message);

        check(r >= 0);
        if (r == 0) {
                check_streq(reason, "NodePorts");
                check_streq(message, "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports");
        }
        return r > 0;
}

/* The scheduler's NodePorts cases (HostPortInfo.CheckConflict). */
TEST(conflicts_as_the_scheduler_sees_them) {
        const char *tcp8080 = "[{\"containerPort\": 80, \"hostPort\": 8080, \"protocol\": \"TCP\"}]";

        check(!fits(tcp8080, tcp8080));
        /* The API's defaults: protocol TCP, hostIP every address. */
        check(!fits(tcp8080, "[{\"containerPort\": 81, \"hostPort\": 8080}]"));
        check(!fits(tcp8080, "[{\"containerPort\": 81, \"hostPort\": 8080, \"hostIP\": \"\"}]"));
        check(fits(tcp8080, "[{\"containerPort\": 80, \"hostPort\": 8080, \"protocol\": \"UDP\"}]"));
        check(fits(tcp8080, "[{\"containerPort\": 80, \"hostPort\": 8081}]"));
        /* Specific addresses conflict with each other only when equal, and always with
         * 0.0.0.0, both ways. */
        check(fits("[{\"containerPort\": 80, \"hostPort\": 8080, \"hostIP\": \"127.0.0.1\"}]",
                   "[{\"containerPort\": 80, \"hostPort\": 8080, \"hostIP\": \"127.0.0.2\"}]"));
        check(!fits("[{\"containerPort\": 80, \"hostPort\": 8080, \"hostIP\": \"127.0.0.1\"}]",
                    "[{\"containerPort\": 80, \"hostPort\": 8080, \"hostIP\": \"127.0.0.1\"}]"));
        check(!fits("[{\"containerPort\": 80, \"hostPort\": 8080, \"hostIP\": \"127.0.0.1\"}]", tcp8080));
        check(!fits(tcp8080, "[{\"containerPort\": 80, \"hostPort\": 8080, \"hostIP\": \"10.0.0.1\"}]"));
        /* Without a hostPort a containerPort holds nothing on the node. */
        check(fits("[{\"containerPort\": 8080}]", "[{\"containerPort\": 8080}]"));
        check(fits("[{\"containerPort\": 80, \"hostPort\": 0}]", "[{\"containerPort\": 80, \"hostPort\": 0}]"));
        check(fits("[]", tcp8080) && fits(tcp8080, "[]"));
        /* One port of several is enough. */
        check(!fits("[{\"containerPort\": 1, \"hostPort\": 9000}, {\"containerPort\": 2, \"hostPort\": 9001, \"protocol\": \"UDP\"}]",
                    "[{\"containerPort\": 3, \"hostPort\": 9001, \"protocol\": \"UDP\"}]"));
}

TEST(held_and_mapped_ports) {
        _cleanup_(json_object_putp) json_object *pod = json_tokener_parse(
                "{\"spec\": {\"initContainers\": ["
                "  {\"name\": \"once\", \"ports\": [{\"containerPort\": 1, \"hostPort\": 7001}]},"
                "  {\"name\": \"sidecar\", \"restartPolicy\": \"Always\", \"ports\": [{\"containerPort\": 2, \"hostPort\": 7002}]}],"
                " \"containers\": [{\"name\": \"c\", \"ports\": ["
                "  {\"containerPort\": 8080, \"hostPort\": 80, \"hostIP\": \"198.51.100.1\", \"protocol\": \"UDP\"},"
                "  {\"containerPort\": 9090}]}]}}");
        _cleanup_free_ PodHostPort *held = NULL, *mapped = NULL;
        size_t n_held, n_mapped;

        check(pod);
        check_int(pod_host_ports(pod, POD_HOST_PORTS_HELD, &held, &n_held), ==, 0);
        check_int(n_held, ==, 2);
        check_int(held[0].host_port, ==, 7002);
        check_streq(held[0].host_ip, "0.0.0.0");
        check_streq(held[0].protocol, "TCP");
        check_int(held[1].host_port, ==, 80);
        check_int(held[1].container_port, ==, 8080);
        check_streq(held[1].host_ip, "198.51.100.1");
        check_streq(held[1].protocol, "UDP");
        /* kubelet maps the containers' ports only. */
        check_int(pod_host_ports(pod, POD_HOST_PORTS_MAPPED, &mapped, &n_mapped), ==, 0);
        check_int(n_mapped, ==, 1);
        check_int(mapped[0].host_port, ==, 80);
}

static json_object *last_status;
static char *last_event;

static void on_status(PodEntry *e, json_object *status, void *userdata) {
        json_object_put(last_status);
        last_status = json_object_get(status);
}

static void on_event(PodEntry *e, const char *type, const char *reason, const char *message, void *userdata) {
        free(last_event);
        check(asprintf(&last_event, "%s %s: %s", type, reason, message) > 0);
}

static const PodSource source = { .status_changed = on_status, .emit_event = on_event };

TEST(a_rejected_pod_is_failed_with_kubelets_words) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(pod_set_freep) PodSet *set = NULL;
        _cleanup_(json_object_putp) json_object *a = pod_with("a", "[{\"containerPort\": 8080, \"hostPort\": 8080}]");
        _cleanup_(json_object_putp) json_object *b = pod_with("b", "[{\"containerPort\": 8080, \"hostPort\": 8080}]");
        _cleanup_(json_object_putp) json_object *c = pod_with("c", "[{\"containerPort\": 8080, \"hostPort\": 8080}]");
        PodEntry *ea, *eb, *ec;

        check_int(sd_event_new(&event), >=, 0);
        PodRuntime rt = { .event = event, .run_dir = "/nonexistent", .log_dir = "/var/log" };
        check_int(pod_set_new(NULL, NULL, &set), ==, 0);
        check_int(pod_set_attach(set, &rt), ==, 0);
        check_int(pod_set_add(set, &source, a, NULL, &ea), ==, 0);
        check_int(pod_set_add(set, &source, b, NULL, &eb), ==, 0);
        check(pod_set_admit(ea));
        check(!last_status && !last_event);
        check(!pod_set_admit(eb));
        check_streq(json_get_string(last_status, "phase", NULL), "Failed");
        check_streq(json_get_string(last_status, "reason", NULL), "NodePorts");
        check_streq(json_get_string(last_status, "message", NULL),
                    "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports");
        check_streq(last_event,
                    "Warning NodePorts: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports");
        check(pod_entry_status(eb) == last_status);

        /* A rejected pod holds nothing, and neither does one whose worker ended. */
        ea->ended = true;
        check_int(pod_set_add(set, &source, c, NULL, &ec), ==, 0);
        check(pod_set_admit(ec));
        check(!pod_entry_status(ec));

        json_object_put(last_status);
        free(last_event);
}

int main(void) {
        RUN(conflicts_as_the_scheduler_sees_them);
        RUN(held_and_mapped_ports);
        RUN(a_rejected_pod_is_failed_with_kubelets_words);
        return 0;
}
