/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

static uint32_t prefix_mask(unsigned prefixlen) {
        return prefixlen == 0 ? 0 : UINT32_MAX << (32 - prefixlen);
}

int ipv4_prefix_parse(const char *s, Ipv4Prefix *ret) {
        char addr[INET_ADDRSTRLEN];
        const char *slash;
        struct in_addr a;
        char *end;
        unsigned long n;

        if (!s)
                return -EINVAL;
        slash = strchr(s, '/');
        if (!slash || (size_t) (slash - s) >= sizeof(addr) || slash == s)
                return -EINVAL;
        memcpy(addr, s, (size_t) (slash - s));
        addr[slash - s] = 0;
        if (inet_pton(AF_INET, addr, &a) != 1)
                return -EINVAL;

        if (slash[1] < '0' || slash[1] > '9')
                return -EINVAL;
        errno = 0;
        n = strtoul(slash + 1, &end, 10);
        if (errno != 0 || *end != 0 || n > 32 || (slash[1] == '0' && slash[2] != 0))
                return -EINVAL;
        if (ntohl(a.s_addr) & ~prefix_mask((unsigned) n))
                return -EINVAL;

        *ret = (Ipv4Prefix) { .addr = a, .prefixlen = (unsigned) n };
        return 0;
}

const char *ipv4_prefix_to_string(const Ipv4Prefix *p, char buf[static IPV4_PREFIX_STRLEN]) {
        char a[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &p->addr, a, sizeof(a));
        snprintf(buf, IPV4_PREFIX_STRLEN, "%s/%u", a, p->prefixlen);
        return buf;
}

bool ipv4_prefix_contains(const Ipv4Prefix *p, struct in_addr a) {
        uint32_t mask = prefix_mask(p->prefixlen);

        return (ntohl(a.s_addr) & mask) == ntohl(p->addr.s_addr);
}

uint64_t ipv4_prefix_size(const Ipv4Prefix *p) {
        return UINT64_C(1) << (32 - p->prefixlen);
}

struct in_addr ipv4_prefix_nth(const Ipv4Prefix *p, uint32_t i) {
        return (struct in_addr) { .s_addr = htonl(ntohl(p->addr.s_addr) + i) };
}
