/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>

#include "cidr.h"
#include "tests.h"

static struct in_addr addr(const char *s) {
        struct in_addr a;

        check(inet_pton(AF_INET, s, &a) == 1);
        return a;
}

TEST(parse_and_format) {
        char buf[IPV4_PREFIX_STRLEN];
        Ipv4Prefix p;

        check_int(ipv4_prefix_parse("10.244.1.0/24", &p), ==, 0);
        check_int(p.prefixlen, ==, 24);
        check_streq(ipv4_prefix_to_string(&p, buf), "10.244.1.0/24");
        check_int(ipv4_prefix_parse("0.0.0.0/0", &p), ==, 0);
        check_int(ipv4_prefix_parse("192.0.2.7/32", &p), ==, 0);
        check_streq(ipv4_prefix_to_string(&p, buf), "192.0.2.7/32");
}

TEST(parse_refuses) {
        static const char *const bad[] = {
                "", "10.244.1.0", "10.244.1.0/", "/24", "10.244.1.0/33", "10.244.1.0/024",
                "10.244.1.5/24", "10.244.1.0/24x", "10.244.1/24", "10.244.1.0/-1", "fd00::/64",
                "10.244.1.0 /24", "10.244.1.0/+24", "999.1.1.0/24",
        };
        Ipv4Prefix p;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (ipv4_prefix_parse(bad[i], &p) != -EINVAL) {
                        fprintf(stderr, "accepted '%s'\n", bad[i]);
                        check(false);
                }
        check_int(ipv4_prefix_parse(NULL, &p), ==, -EINVAL);
}

TEST(contains_size_nth) {
        Ipv4Prefix p;
        char buf[INET_ADDRSTRLEN];
        struct in_addr a;

        check_int(ipv4_prefix_parse("10.244.0.0/16", &p), ==, 0);
        check(ipv4_prefix_contains(&p, addr("10.244.255.255")));
        check(!ipv4_prefix_contains(&p, addr("10.245.0.0")));
        check_int(ipv4_prefix_size(&p), ==, 65536);
        a = ipv4_prefix_nth(&p, 257);
        check_streq(inet_ntop(AF_INET, &a, buf, sizeof(buf)), "10.244.1.1");

        check_int(ipv4_prefix_parse("0.0.0.0/0", &p), ==, 0);
        check(ipv4_prefix_contains(&p, addr("203.0.113.9")));
        check_int(ipv4_prefix_size(&p), ==, UINT64_C(1) << 32);
}

int main(void) {
        RUN(parse_and_format);
        RUN(parse_refuses);
        RUN(contains_size_nth);
        return 0;
}
