/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "portforward-stream.h"
#include "tests.h"

/* The headers as a client's SYN_STREAM carries them: through the compressor and back. */
static int parse(const char *const *pairs, size_t n, uint32_t stream_id, PortForwardStream *ret, const char **error) {
        SpdyZlib client, server;
        SpdyBuffer b = {};
        SpdyHeaders h = {};
        SpdyFrame f;
        int r;

        check_int(spdy_zlib_init(&client), ==, 0);
        check_int(spdy_zlib_init(&server), ==, 0);
        check_int(spdy_append_syn_stream(&b, &client, stream_id, 0, pairs, n), ==, 0);
        check_int(spdy_frame_parse((const uint8_t *) b.data, b.size, &f), ==, (ssize_t) b.size);
        check_int(spdy_headers_decode(&server, f.payload, f.size, &h), ==, 0);
        *error = NULL;
        r = portforward_stream_parse(&h, stream_id, ret, error);
        check(r == 0 ? !*error : !!*error);
        spdy_headers_clear(&h);
        spdy_zlib_done(&client);
        spdy_zlib_done(&server);
        free(b.data);
        return r;
}

TEST(pairs) {
        static const char *const error[] = { "streamtype", "error", "port", "8080", "requestid", "7" };
        static const char *const data[] = { "streamtype", "data", "port", "65535", "requestid", "7" };
        PortForwardStream s;
        const char *e;

        check_int(parse(error, 3, 1, &s, &e), ==, 0);
        check_int(s.type, ==, PORTFORWARD_ERROR);
        check_int(s.port, ==, 8080);
        check_streq(s.request_id, "7");
        check_int(parse(data, 3, 3, &s, &e), ==, 0);
        check_int(s.type, ==, PORTFORWARD_DATA);
        check_int(s.port, ==, 65535);
        check_streq(s.request_id, "7");
}

TEST(old_clients_pair_by_stream_id) {
        static const char *const error[] = { "streamtype", "error", "port", "80" };
        static const char *const data[] = { "streamtype", "data", "port", "80" };
        PortForwardStream s;
        const char *e;

        check_int(parse(error, 2, 5, &s, &e), ==, 0);
        check_streq(s.request_id, "5");
        check_int(parse(data, 2, 7, &s, &e), ==, 0);
        check_streq(s.request_id, "5");
}

TEST(refused) {
        static const char *const bad[][6] = {
                { "streamtype", "data", "requestid", "1", "x", "y" },       /* no port */
                { "streamtype", "data", "port", "", "requestid", "1" },     /* empty port */
                { "streamtype", "data", "port", "0", "requestid", "1" },    /* port 0 */
                { "streamtype", "data", "port", "65536", "requestid", "1" }, /* past 16 bits */
                { "streamtype", "data", "port", "-80", "requestid", "1" },
                { "streamtype", "data", "port", "80x", "requestid", "1" },
                { "streamtype", "data", "port", "99999999999999999999", "requestid", "1" },
                { "port", "80", "requestid", "1", "x", "y" },               /* no streamType */
                { "streamtype", "stdin", "port", "80", "requestid", "1" },  /* not a port-forward type */
                { "streamtype", "Data", "port", "80", "requestid", "1" },
                { "streamtype", "data", "port", "80", "requestid",
                  "0123456789012345678901234567890123456789012345678901234567890123456789" },
        };
        PortForwardStream s;
        const char *e;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                check_int(parse(bad[i], 3, 1, &s, &e), ==, -EINVAL);
}

TEST(targets) {
        char ns[PORTFORWARD_NAME_MAX], pod[PORTFORWARD_NAME_MAX], uid[PORTFORWARD_NAME_MAX];
        static const char *const bad[] = {
                "/portForward/", "/portForward/default", "/portForward/default/", "/portForward//kubia",
                "/portForward/default/kubia/", "/portForward/default/kubia/uid/more", "/portForward/Default/kubia",
                "/portForward/default/ku*bia", "/portForward/default/..", "/portForward/../kubia", "/exec/default/kubia",
                "/portforward/default/kubia", "/portForward/default/kubia%2F..",
        };
        char long_name[300];

        check_int(portforward_target_parse("/portForward/default/kubia-pf", ns, pod, uid), ==, 0);
        check_streq(ns, "default");
        check_streq(pod, "kubia-pf");
        check_streq(uid, "");
        check_int(portforward_target_parse("/portForward/kube-system/a.b/1234-abcd?x=/y", ns, pod, uid), ==, 0);
        check_streq(ns, "kube-system");
        check_streq(pod, "a.b");
        check_streq(uid, "1234-abcd");
        check_int(portforward_target_parse("/portForward/default/kubia?port=80", ns, pod, uid), ==, 0);
        check_streq(pod, "kubia");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                check_int(portforward_target_parse(bad[i], ns, pod, uid), ==, -EINVAL);
        snprintf(long_name, sizeof(long_name), "/portForward/default/%0256d", 0);
        check_int(portforward_target_parse(long_name, ns, pod, uid), ==, -EINVAL);
}

int main(void) {
        RUN(pairs);
        RUN(old_clients_pair_by_stream_id);
        RUN(refused);
        RUN(targets);
        return 0;
}
