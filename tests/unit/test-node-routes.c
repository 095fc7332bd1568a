/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>

#include "node-routes.h"
#include "tests.h"

static NodeRoute route(const char *dst, const char *gateway, int ifindex, bool onlink) {
        NodeRoute r = { .ifindex = ifindex, .onlink = onlink };

        check_int(ipv4_prefix_parse(dst, &r.dst), ==, 0);
        check_int(inet_pton(AF_INET, gateway, &r.gateway), ==, 1);
        return r;
}

static bool holds(const NodeRoute *list, size_t n, const char *dst, const char *gateway) {
        NodeRoute want = route(dst, gateway, 0, false);

        for (size_t i = 0; i < n; i++)
                if (list[i].dst.addr.s_addr == want.dst.addr.s_addr && list[i].dst.prefixlen == want.dst.prefixlen &&
                    list[i].gateway.s_addr == want.gateway.s_addr)
                        return true;
        return false;
}

TEST(nothing_to_do_when_present_is_desired) {
        NodeRoute desired[] = { route("10.244.1.0/24", "10.250.0.11", 2, false),
                                route("10.244.2.0/24", "10.244.2.0", 5, true) };
        NodeRoute present[] = { desired[1], desired[0] };
        NodeRoute del[2], add[2];
        size_t n_del, n_add;

        node_routes_diff(desired, 2, present, 2, del, &n_del, add, &n_add);
        check_int(n_del, ==, 0);
        check_int(n_add, ==, 0);
}

TEST(a_new_node_is_added_a_gone_one_deleted) {
        NodeRoute desired[] = { route("10.244.1.0/24", "10.250.0.11", 2, false),
                                route("10.244.3.0/24", "10.250.0.13", 2, false) };
        NodeRoute present[] = { route("10.244.1.0/24", "10.250.0.11", 2, false),
                                route("10.244.2.0/24", "10.250.0.12", 2, false) };
        NodeRoute del[2], add[2];
        size_t n_del, n_add;

        node_routes_diff(desired, 2, present, 2, del, &n_del, add, &n_add);
        check_int(n_del, ==, 1);
        check(holds(del, n_del, "10.244.2.0/24", "10.250.0.12"));
        check_int(n_add, ==, 1);
        check(holds(add, n_add, "10.244.3.0/24", "10.250.0.13"));
}

TEST(a_changed_route_is_replaced_not_deleted) {
        /* The node moved to another address, then to VXLAN: the route to its pod CIDR is
         * replaced in place, so its pods are never without one. */
        NodeRoute present[] = { route("10.244.1.0/24", "10.250.0.11", 2, false) };
        NodeRoute moved[] = { route("10.244.1.0/24", "10.250.0.21", 2, false) };
        NodeRoute vxlan[] = { route("10.244.1.0/24", "10.244.1.0", 7, true) };
        NodeRoute del[1], add[1];
        size_t n_del, n_add;

        node_routes_diff(moved, 1, present, 1, del, &n_del, add, &n_add);
        check_int(n_del, ==, 0);
        check_int(n_add, ==, 1);
        check(holds(add, n_add, "10.244.1.0/24", "10.250.0.21"));

        node_routes_diff(vxlan, 1, present, 1, del, &n_del, add, &n_add);
        check_int(n_del, ==, 0);
        check_int(n_add, ==, 1);
        check(add[0].onlink && add[0].ifindex == 7);
}

TEST(a_changed_pod_cidr_deletes_the_old_route) {
        NodeRoute present[] = { route("10.244.1.0/24", "10.250.0.11", 2, false) };
        NodeRoute desired[] = { route("10.244.9.0/24", "10.250.0.11", 2, false) };
        NodeRoute del[1], add[1];
        size_t n_del, n_add;

        node_routes_diff(desired, 1, present, 1, del, &n_del, add, &n_add);
        check_int(n_del, ==, 1);
        check(holds(del, n_del, "10.244.1.0/24", "10.250.0.11"));
        check_int(n_add, ==, 1);
        check(holds(add, n_add, "10.244.9.0/24", "10.250.0.11"));
}

TEST(no_nodes_left_deletes_everything) {
        NodeRoute present[] = { route("10.244.1.0/24", "10.250.0.11", 2, false),
                                route("10.244.2.0/24", "10.244.2.0", 5, true) };
        NodeRoute del[2], add[1];
        size_t n_del, n_add;

        node_routes_diff(NULL, 0, present, 2, del, &n_del, add, &n_add);
        check_int(n_del, ==, 2);
        check_int(n_add, ==, 0);
}

int main(void) {
        RUN(nothing_to_do_when_present_is_desired);
        RUN(a_new_node_is_added_a_gone_one_deleted);
        RUN(a_changed_route_is_replaced_not_deleted);
        RUN(a_changed_pod_cidr_deletes_the_old_route);
        RUN(no_nodes_left_deletes_everything);
        return 0;
}
