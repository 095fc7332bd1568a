/* SPDX-License-Identifier: Apache-2.0 */
/* Pod and cluster CIDRs as they come from the Node object and the configuration. */
#include "cidr.h"
#include "fuzz.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size);
        char buf[IPV4_PREFIX_STRLEN];
        Ipv4Prefix p, again;

        if (!text || ipv4_prefix_parse(text, &p) < 0)
                return 0;
        /* What parses prints back as itself and parses to the same prefix. */
        if (ipv4_prefix_parse(ipv4_prefix_to_string(&p, buf), &again) < 0 ||
            again.addr.s_addr != p.addr.s_addr || again.prefixlen != p.prefixlen || strcmp(buf, text) != 0)
                abort();
        (void) ipv4_prefix_size(&p);
        (void) ipv4_prefix_nth(&p, 1);
        return 0;
}
