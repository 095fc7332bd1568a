/* SPDX-License-Identifier: Apache-2.0 */
#include "json-util.h"
#include "standalone-services.h"
#include "tests.h"

static Ipv4Prefix cidr(const char *text) {
        Ipv4Prefix p;

        check_int(ipv4_prefix_parse(text, &p), ==, 0);
        return p;
}

static json_object *parse(const char *text) {
        json_object *o = json_tokener_parse(text);

        check(o);
        return o;
}

static void test_cluster_ip(void) {
        _cleanup_(json_object_putp) json_object *services = parse(
                "[{\"metadata\": {\"name\": \"web\"}, \"spec\": {\"ports\": [{\"port\": 80}]}},"
                " {\"metadata\": {\"name\": \"fixed\", \"namespace\": \"x\"}, \"spec\": {\"clusterIP\": \"10.96.0.7\"}}]");
        _cleanup_(json_object_putp) json_object *again = parse("[{\"metadata\": {\"name\": \"web\"}, \"spec\": {}}]");
        json_object *web = json_object_array_get_idx(services, 0), *fixed = json_object_array_get_idx(services, 1);
        const char *ip;
        char key[64];

        service_complete(web, services, cidr("10.96.0.0/12"));
        service_complete(fixed, services, cidr("10.96.0.0/12"));
        check_streq(json_get_string(web, "metadata", "namespace", NULL), "default");
        ip = json_get_string(web, "spec", "clusterIP", NULL);
        check(ip && strncmp(ip, "10.", 3) == 0 && !streq(ip, "10.96.0.0") && !streq(ip, "10.96.0.1"));
        check_streq(json_object_get_string(json_object_array_get_idx(json_object_object_get(
                            json_object_object_get(web, "spec"), "clusterIPs"), 0)), ip);
        check_streq(json_get_string(fixed, "spec", "clusterIP", NULL), "10.96.0.7");
        check(!json_object_object_get(json_object_object_get(web, "spec"), "ports") ||
              !json_object_object_get(json_object_array_get_idx(json_object_object_get(json_object_object_get(web, "spec"),
                                                                                        "ports"), 0), "nodePort"));
        /* The same name, the same address. */
        service_complete(json_object_array_get_idx(again, 0), again, cidr("10.96.0.0/12"));
        check_streq(json_get_string(json_object_array_get_idx(again, 0), "spec", "clusterIP", NULL), ip);
        service_key(web, key, sizeof(key));
        check_streq(key, "default/web");
}

static void test_cluster_ip_taken(void) {
        /* A /29 has 5 addresses to give (.2 to .6): the fifth service gets the last free one. */
        _cleanup_(json_object_putp) json_object *services = parse(
                "[{\"metadata\": {\"name\": \"a\"}, \"spec\": {}}, {\"metadata\": {\"name\": \"b\"}, \"spec\": {}},"
                " {\"metadata\": {\"name\": \"c\"}, \"spec\": {}}, {\"metadata\": {\"name\": \"d\"}, \"spec\": {}},"
                " {\"metadata\": {\"name\": \"e\"}, \"spec\": {}}, {\"metadata\": {\"name\": \"f\"}, \"spec\": {}}]");
        bool seen[8] = {};

        for (size_t i = 0; i < json_object_array_length(services); i++)
                service_complete(json_object_array_get_idx(services, i), services, cidr("10.0.0.0/29"));
        for (size_t i = 0; i < 5; i++) {
                const char *ip = json_get_string(json_object_array_get_idx(services, i), "spec", "clusterIP", NULL);
                int last;
                check(ip && sscanf(ip, "10.0.0.%d", &last) == 1 && last >= 2 && last <= 6 && !seen[last]);
                seen[last] = true;
        }
        check(!json_get_string(json_object_array_get_idx(services, 5), "spec", "clusterIP", NULL));
}

static void test_node_ports(void) {
        _cleanup_(json_object_putp) json_object *services = parse(
                "[{\"metadata\": {\"name\": \"np\"}, \"spec\": {\"type\": \"NodePort\", \"ports\": "
                "[{\"port\": 80}, {\"port\": 443, \"nodePort\": 30443}, {\"port\": 8080}]}}]");
        json_object *ports = json_object_object_get(json_object_object_get(json_object_array_get_idx(services, 0), "spec"), "ports");
        int a, b;

        service_complete(json_object_array_get_idx(services, 0), services, cidr("10.96.0.0/12"));
        a = json_object_get_int(json_object_object_get(json_object_array_get_idx(ports, 0), "nodePort"));
        b = json_object_get_int(json_object_object_get(json_object_array_get_idx(ports, 2), "nodePort"));
        check_int(json_object_get_int(json_object_object_get(json_object_array_get_idx(ports, 1), "nodePort")), ==, 30443);
        check(a >= NODEPORT_MIN && a <= NODEPORT_MAX && b >= NODEPORT_MIN && b <= NODEPORT_MAX);
        check(a != b && a != 30443 && b != 30443);
}

static void test_endpoint_slice(void) {
        _cleanup_(json_object_putp) json_object *service = parse(
                "{\"metadata\": {\"name\": \"web\", \"namespace\": \"default\"}, \"spec\": {\"selector\": {\"app\": \"web\"},"
                " \"ports\": [{\"name\": \"http\", \"port\": 80, \"targetPort\": \"http\"}, {\"port\": 81, \"targetPort\": 9000,"
                " \"protocol\": \"UDP\"}]}}");
        _cleanup_(json_object_putp) json_object *web = parse(
                "{\"metadata\": {\"name\": \"w1\", \"labels\": {\"app\": \"web\", \"x\": \"y\"}}, \"spec\": {\"containers\":"
                " [{\"name\": \"c\", \"ports\": [{\"name\": \"http\", \"containerPort\": 8080}]}]}}");
        _cleanup_(json_object_putp) json_object *ready = parse(
                "{\"podIP\": \"10.244.0.5\", \"conditions\": [{\"type\": \"Ready\", \"status\": \"True\"}]}");
        _cleanup_(json_object_putp) json_object *not_ready = parse(
                "{\"podIP\": \"10.244.0.6\", \"conditions\": [{\"type\": \"Ready\", \"status\": \"False\"}]}");
        _cleanup_(json_object_putp) json_object *no_ip = parse("{}");
        _cleanup_(json_object_putp) json_object *other = parse(
                "{\"metadata\": {\"name\": \"o\", \"labels\": {\"app\": \"db\"}}, \"spec\": {}}");
        _cleanup_(json_object_putp) json_object *elsewhere = parse(
                "{\"metadata\": {\"name\": \"e\", \"namespace\": \"prod\", \"labels\": {\"app\": \"web\"}}, \"spec\": {}}");
        const EndpointPod pods[] = {
                { web, ready }, { web, not_ready }, { web, no_ip }, { other, ready }, { elsewhere, ready },
        };
        _cleanup_(json_object_putp) json_object *slice = service_endpoint_slice(service, pods, ELEMENTSOF(pods), "node-1");
        _cleanup_(json_object_putp) json_object *empty = service_endpoint_slice(service, NULL, 0, "node-1");
        json_object *endpoints = json_object_object_get(slice, "endpoints"), *ports = json_object_object_get(slice, "ports");

        check_streq(json_get_string(slice, "metadata", "name", NULL), "web-stevedore");
        check_streq(json_get_string(slice, "metadata", "labels", "kubernetes.io/service-name", NULL), "web");
        check_streq(json_get_string(slice, "addressType", NULL), "IPv4");
        check_int(json_object_array_length(endpoints), ==, 2);
        check_streq(json_object_get_string(json_object_array_get_idx(json_object_object_get(
                            json_object_array_get_idx(endpoints, 0), "addresses"), 0)), "10.244.0.5");
        check(json_object_get_boolean(json_object_object_get(
                json_object_object_get(json_object_array_get_idx(endpoints, 0), "conditions"), "ready")));
        check(!json_object_get_boolean(json_object_object_get(
                json_object_object_get(json_object_array_get_idx(endpoints, 1), "conditions"), "serving")));
        check_streq(json_get_string(json_object_array_get_idx(endpoints, 1), "nodeName", NULL), "node-1");
        check_int(json_object_array_length(ports), ==, 2);
        check_streq(json_get_string(json_object_array_get_idx(ports, 0), "name", NULL), "http");
        check_int(json_object_get_int(json_object_object_get(json_object_array_get_idx(ports, 0), "port")), ==, 8080);
        check_streq(json_get_string(json_object_array_get_idx(ports, 0), "protocol", NULL), "TCP");
        check_int(json_object_get_int(json_object_object_get(json_object_array_get_idx(ports, 1), "port")), ==, 9000);
        check_streq(json_get_string(json_object_array_get_idx(ports, 1), "protocol", NULL), "UDP");
        check_int(json_object_array_length(json_object_object_get(empty, "endpoints")), ==, 0);
        check_int(json_object_array_length(json_object_object_get(empty, "ports")), ==, 0);
}

int main(void) {
        test_cluster_ip();
        test_cluster_ip_taken();
        test_node_ports();
        test_endpoint_slice();
        return 0;
}
