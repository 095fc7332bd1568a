/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* An IPv4 prefix such as a node's spec.podCIDR. IPv6 pod CIDRs (dual-stack) will get
 * their own type next to this one; nothing here assumes there is only one family. */
typedef struct Ipv4Prefix {
        struct in_addr addr; /* network byte order, host bits zero */
        unsigned prefixlen;
} Ipv4Prefix;

#define IPV4_PREFIX_STRLEN (INET_ADDRSTRLEN + 3)

/* Parses "a.b.c.d/n". -EINVAL for anything else, including set host bits
 * ("10.244.1.5/24" names an address, not a network). */
int ipv4_prefix_parse(const char *s, Ipv4Prefix *ret);

/* Formats as "a.b.c.d/n" into buf (IPV4_PREFIX_STRLEN bytes). */
const char *ipv4_prefix_to_string(const Ipv4Prefix *p, char buf[static IPV4_PREFIX_STRLEN]);

bool ipv4_prefix_contains(const Ipv4Prefix *p, struct in_addr a);

/* Number of addresses in the prefix (2^(32-n)). */
uint64_t ipv4_prefix_size(const Ipv4Prefix *p);

/* The address at offset i from the network address (host byte order arithmetic). */
struct in_addr ipv4_prefix_nth(const Ipv4Prefix *p, uint32_t i);
