/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include "http-head.h"
#include "macro.h"
#include "tests.h"

static const char *const request = "GET /exec/ns/p/c?command=ls HTTP/1.1\r\n"
                                   "Host: 10.250.0.11:10250\r\n"
                                   "upgrade: websocket\r\n"
                                   "Sec-WebSocket-Protocol:  v4.channel.k8s.io, channel.k8s.io \r\n"
                                   "X-Empty:\r\n"
                                   "Sec-WebSocket-Protocol: second\r\n"
                                   "\r\n"
                                   "Not-A-Header: after the head\r\n";

TEST(has_is_case_insensitive_in_the_name_and_sees_every_line) {
        check(http_header_has(request, "Upgrade", "websocket"));
        check(http_header_has(request, "sec-websocket-protocol", "channel.k8s.io"));
        check(http_header_has(request, "sec-websocket-protocol", "second"));
        check(!http_header_has(request, "upgrade", "SPDY/3.1"));
        check(!http_header_has(request, "Not-A-Header", ""));
        check(!http_header_has(request, "Host:", ""));
        check(!http_header_has("", "Host", ""));
}

TEST(get_trims_and_takes_the_first) {
        _cleanup_free_ char *protocols = http_header_get(request, "SEC-WEBSOCKET-PROTOCOL"),
                            *empty = http_header_get(request, "x-empty"), *none = http_header_get(request, "Cookie");

        check_streq(protocols, "v4.channel.k8s.io, channel.k8s.io");
        check_streq(empty, "");
        check(!none);
}

int main(void) {
        RUN(has_is_case_insensitive_in_the_name_and_sees_every_line);
        RUN(get_trims_and_takes_the_first);
        return 0;
}
