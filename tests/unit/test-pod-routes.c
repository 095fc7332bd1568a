/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>

#include "json-util.h"
#include "pod-routes.h"
#include "tests.h"
#include "vxlan.h"

static RouteNode parse(const char *json) {
        _cleanup_(json_object_putp) json_object *o = json_tokener_parse(json);
        RouteNode n = {};

        check(o);
        check_int(route_node_parse(o, &n), ==, 0);
        return n;
}

TEST(node_with_everything) {
        RouteNode n = parse("{\"metadata\":{\"name\":\"node-2\",\"annotations\":{\"stevedore.io/backend-data\":"
                            "\"{\\\"VNI\\\":1,\\\"VtepMAC\\\":\\\"5a:1b:2c:3d:4e:5F\\\"}\"}},"
                            "\"spec\":{\"podCIDR\":\"10.244.2.0/24\"},\"status\":{\"addresses\":["
                            "{\"type\":\"Hostname\",\"address\":\"node-2\"},"
                            "{\"type\":\"InternalIP\",\"address\":\"10.250.0.12\"}]}}");
        char ip[INET_ADDRSTRLEN], cidr[IPV4_PREFIX_STRLEN], mac[18];

        check_streq(n.name, "node-2");
        check(n.have_pod_cidr && n.have_ip && n.have_vtep_mac);
        check_streq(ipv4_prefix_to_string(&n.pod_cidr, cidr), "10.244.2.0/24");
        check_streq(inet_ntop(AF_INET, &n.ip, ip, sizeof(ip)), "10.250.0.12");
        mac_format(n.vtep_mac, mac);
        check_streq(mac, "5a:1b:2c:3d:4e:5f");
        route_node_done(&n);
}

TEST(what_is_missing_or_wrong_is_left_out) {
        /* Not yet given a pod CIDR, an IPv6 address only, another VNI's VTEP. */
        RouteNode n = parse("{\"metadata\":{\"name\":\"n\",\"annotations\":{\"stevedore.io/backend-data\":"
                            "\"{\\\"VNI\\\":2,\\\"VtepMAC\\\":\\\"5a:1b:2c:3d:4e:5f\\\"}\"}},"
                            "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"fd00::2\"}]}}");

        check(!n.have_pod_cidr && !n.have_ip && !n.have_vtep_mac);
        route_node_done(&n);

        n = parse("{\"metadata\":{\"name\":\"n\",\"annotations\":{\"stevedore.io/backend-data\":\"not json\"}},"
                  "\"spec\":{\"podCIDR\":\"10.244.2.9/24\"}}");
        check(!n.have_pod_cidr && !n.have_vtep_mac);
        route_node_done(&n);

        _cleanup_(json_object_putp) json_object *nameless = json_tokener_parse("{\"spec\":{}}");
        RouteNode none = {};
        check_int(route_node_parse(nameless, &none), ==, -EINVAL);
}

TEST(kind_by_mode) {
        check_int(pod_route_kind(POD_ROUTES_AUTO, true), ==, POD_ROUTE_HOST_GW);
        check_int(pod_route_kind(POD_ROUTES_AUTO, false), ==, POD_ROUTE_VXLAN);
        check_int(pod_route_kind(POD_ROUTES_HOST_GW, true), ==, POD_ROUTE_HOST_GW);
        check_int(pod_route_kind(POD_ROUTES_HOST_GW, false), ==, POD_ROUTE_NONE);
        check_int(pod_route_kind(POD_ROUTES_VXLAN, true), ==, POD_ROUTE_VXLAN);
        check_int(pod_route_kind(POD_ROUTES_VXLAN, false), ==, POD_ROUTE_VXLAN);
}

int main(void) {
        RUN(node_with_everything);
        RUN(what_is_missing_or_wrong_is_left_out);
        RUN(kind_by_mode);
        return 0;
}
