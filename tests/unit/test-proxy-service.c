/* SPDX-License-Identifier: Apache-2.0 */
#include <netinet/in.h>

#include "macro.h"
#include "conntrack.h"
#include "service.h"
#include "tests.h"

static Service *parse_service(const char *text, int want, const char *want_error) {
        json_object *o = json_tokener_parse(text);
        _cleanup_free_ char *error = NULL;
        Service *s = NULL;

        check(o);
        check_int(service_parse(o, &s, &error), ==, want);
        if (want_error && (!error || !strstr(error, want_error))) {
                fprintf(stderr, "error '%s' lacks '%s'\n", error ? error : "(null)", want_error);
                check(false);
        }
        json_object_put(o);
        return s;
}

TEST(service_ports_and_named_target) {
        Service *s = parse_service(
                "{\"metadata\":{\"name\":\"kubia\",\"namespace\":\"web\"},\"spec\":{\"clusterIP\":\"10.96.0.10\","
                "\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\",\"nodePort\":30080},"
                "{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"},{\"port\":443,\"targetPort\":8443}]}}",
                0, NULL);

        check_streq(s->key, "web/kubia");
        check_int(s->n_ports, ==, 3);
        check_streq(s->ports[0].target_port_name, "http");
        check_int(s->ports[0].node_port, ==, 30080);
        check_int(s->ports[1].protocol, ==, IPPROTO_UDP);
        check_int(s->ports[1].target_port, ==, 53);
        check_int(s->ports[2].target_port, ==, 8443);
        service_free(s);
}

TEST(headless_and_ipv6) {
        Service *s = parse_service("{\"metadata\":{\"name\":\"h\"},\"spec\":{\"clusterIP\":\"None\"}}", 0, NULL);

        check(s->headless);
        service_free(s);
        check(!parse_service("{\"metadata\":{\"name\":\"v6\"},\"spec\":{\"clusterIP\":\"fd00::1\"}}", -EAFNOSUPPORT, NULL));
}

TEST(bad_services_name_the_field) {
        check(!parse_service("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.96.0.300\"}}", -EINVAL,
                             "service default/a: spec.clusterIP: '10.96.0.300' is not an IP address"));
        check(!parse_service("{\"metadata\":{\"name\":\"b\"},\"spec\":{\"clusterIP\":\"10.96.0.1\",\"ports\":[{\"port\":0}]}}",
                             -EINVAL, "service default/b: spec.ports[0].port: missing or not a port"));
        check(!parse_service("{\"metadata\":{\"name\":\"c\"},\"spec\":{\"clusterIP\":\"10.96.0.1\","
                             "\"ports\":[{\"port\":1,\"protocol\":\"ICMP\"}]}}",
                             -EINVAL, "spec.ports[0].protocol: 'ICMP' is not TCP, UDP or SCTP"));
        check(!parse_service("{\"metadata\":{\"name\":\"d\"},\"spec\":{\"clusterIP\":\"10.96.0.1\","
                             "\"ports\":[{\"port\":1,\"targetPort\":70000}]}}",
                             -EINVAL, "spec.ports[0].targetPort: not a port"));
        check(!parse_service("{\"spec\":{}}", -EINVAL, "metadata: missing or invalid name"));
}

TEST(endpoint_slice_conditions) {
        json_object *o = json_tokener_parse(
                "{\"metadata\":{\"name\":\"kubia-x\",\"namespace\":\"web\",\"labels\":{\"kubernetes.io/service-name\":\"kubia\"}},"
                "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":8080}],"
                "\"endpoints\":[{\"addresses\":[\"10.244.1.2\"]},"
                "{\"addresses\":[\"10.244.1.3\"],\"conditions\":{\"ready\":false,\"serving\":true,\"terminating\":true}}]}");
        _cleanup_free_ char *error = NULL;
        EndpointSlice *e = NULL;

        check_int(endpoint_slice_parse(o, &e, &error), ==, 0);
        check_streq(e->service, "web/kubia");
        check_int(e->n_ports, ==, 1);
        check_int(e->ports[0].port, ==, 8080);
        check_int(e->n_endpoints, ==, 2);
        check(e->endpoints[0].ready && e->endpoints[0].serving && !e->endpoints[0].terminating);
        check(!e->endpoints[1].ready && e->endpoints[1].serving && e->endpoints[1].terminating);
        endpoint_slice_free(e);
        json_object_put(o);

        o = json_tokener_parse("{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},"
                               "\"endpoints\":[{\"addresses\":[\"not-an-ip\"]}]}");
        check_int(endpoint_slice_parse(o, &e, &error), ==, -EINVAL);
        check(strstr(error, "endpointslice default/s: endpoints[0].addresses[0]: 'not-an-ip' is not an IPv4 address"));
        json_object_put(o);
}

TEST(external_addresses_and_policies) {
        Service *s = parse_service(
                "{\"metadata\":{\"name\":\"lb\"},\"spec\":{\"clusterIP\":\"10.96.0.20\",\"type\":\"LoadBalancer\","
                "\"ports\":[{\"port\":80}],\"externalIPs\":[\"203.0.113.10\",\"2001:db8::1\"],"
                "\"loadBalancerSourceRanges\":[\"198.51.100.0/24 \"],\"externalTrafficPolicy\":\"Local\","
                "\"sessionAffinity\":\"ClientIP\"},"
                "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"203.0.113.20\"},{\"hostname\":\"lb.example\"}]}}}",
                0, NULL);

        check_int(s->n_external_ips, ==, 1); /* the IPv6 one is for an IPv6 proxy */
        check_int(s->n_lb_ips, ==, 1);
        check_int(s->n_source_ranges, ==, 1);
        check_int(s->source_ranges[0].prefixlen, ==, 24);
        check(s->external_local && !s->internal_local);
        check_int(s->affinity_timeout, ==, 10800); /* the API's default */
        service_free(s);

        check(!parse_service("{\"metadata\":{\"name\":\"e\"},\"spec\":{\"clusterIP\":\"10.96.0.1\","
                             "\"externalIPs\":[\"nope\"]}}",
                             -EINVAL, "service default/e: spec.externalIPs[0]: 'nope' is not an IP address"));
        check(!parse_service("{\"metadata\":{\"name\":\"f\"},\"spec\":{\"clusterIP\":\"10.96.0.1\","
                             "\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":0}}}}",
                             -EINVAL, "timeoutSeconds: 0 is not 1-86400"));
}

TEST(udp_flows_sorted_and_unique) {
        struct in_addr a = { htonl(0x0af40102) }, b = { htonl(0x0af40103) };
        UdpFlows f = {};

        check_int(udp_flows_add_endpoint(&f, udp_flow_key(b, 53)), ==, 0);
        check_int(udp_flows_add_endpoint(&f, udp_flow_key(a, 53)), ==, 0);
        check_int(udp_flows_add_endpoint(&f, udp_flow_key(b, 53)), ==, 0);
        udp_flows_finish(&f);
        check_int(f.n_endpoints, ==, 2);
        check(f.endpoints[0] == udp_flow_key(a, 53) && f.endpoints[1] == udp_flow_key(b, 53));
        check_int(f.n_destinations, ==, 0);
        udp_flows_done(&f);
}

int main(void) {
        RUN(service_ports_and_named_target);
        RUN(headless_and_ipv6);
        RUN(bad_services_name_the_field);
        RUN(external_addresses_and_policies);
        RUN(udp_flows_sorted_and_unique);
        RUN(endpoint_slice_conditions);
        return 0;
}
