/* SPDX-License-Identifier: Apache-2.0 */
#include "macro.h"
#include "spdy.h"
#include "tests.h"

static const uint8_t *bytes(const SpdyBuffer *b) {
        return (const uint8_t *) b->data;
}

TEST(syn_stream_and_reply_round_trip) {
        static const char *const pairs[] = { "streamtype", "stdin", "port", "80" };
        SpdyZlib client, server;
        SpdyBuffer b = {};
        SpdyHeaders h = {};
        SpdyFrame f;
        ssize_t n;

        check_int(spdy_zlib_init(&client), ==, 0);
        check_int(spdy_zlib_init(&server), ==, 0);
        /* Two blocks through the same streams: the second relies on the first's state. */
        for (uint32_t id = 1; id <= 3; id += 2) {
                b.size = 0;
                check_int(spdy_append_syn_stream(&b, &client, id, 0, pairs, 2), ==, 0);
                check_int(bytes(&b)[0], ==, 0x80);
                check_int(bytes(&b)[1], ==, 3);
                check_int(bytes(&b)[3], ==, SPDY_SYN_STREAM);
                /* Every prefix is incomplete. */
                for (size_t cut = 0; cut < b.size; cut++)
                        check_int(spdy_frame_parse(bytes(&b), cut, &f), ==, 0);
                n = spdy_frame_parse(bytes(&b), b.size, &f);
                check_int(n, ==, (ssize_t) b.size);
                check(f.control);
                check_int(f.type, ==, SPDY_SYN_STREAM);
                check_int(f.stream_id, ==, id);
                check_int(spdy_headers_decode(&server, f.payload, f.size, &h), ==, 0);
                check_int(h.n, ==, 2);
                check_streq(spdy_headers_get(&h, "streamtype"), "stdin");
                check_streq(spdy_headers_get(&h, "port"), "80");
                check(!spdy_headers_get(&h, "nope"));
                spdy_headers_clear(&h);
        }
        /* The reply: no headers, on the other pair of streams. */
        b.size = 0;
        check_int(spdy_append_syn_reply(&b, &server, 3, SPDY_FLAG_FIN, NULL, 0), ==, 0);
        check_int(spdy_frame_parse(bytes(&b), b.size, &f), ==, (ssize_t) b.size);
        check_int(f.type, ==, SPDY_SYN_REPLY);
        check_int(f.flags, ==, SPDY_FLAG_FIN);
        check_int(f.stream_id, ==, 3);
        check_int(spdy_headers_decode(&client, f.payload, f.size, &h), ==, 0);
        check_int(h.n, ==, 0);
        spdy_headers_clear(&h);
        /* A block that is not zlib breaks the stream. */
        check_int(spdy_headers_decode(&server, (const uint8_t *) "garbage!", 8, &h), ==, -EBADMSG);
        spdy_zlib_done(&client);
        spdy_zlib_done(&server);
        free(b.data);
}

TEST(data_and_control_frames) {
        SpdyBuffer b = {};
        SpdyFrame f;
        ssize_t n;
        size_t at = 0;

        check_int(spdy_append_data(&b, 5, SPDY_FLAG_FIN, "hello", 5), ==, 0);
        check_int(spdy_append_ping(&b, 7), ==, 0);
        check_int(spdy_append_rst_stream(&b, 9, 3), ==, 0);
        check_int(spdy_append_goaway(&b, 11, 0), ==, 0);
        check_int(spdy_append_data(&b, 1, 0, NULL, 0), ==, 0);

        n = spdy_frame_parse(bytes(&b), b.size, &f);
        check_int(n, ==, 13);
        check(!f.control);
        check_int(f.stream_id, ==, 5);
        check_int(f.flags, ==, SPDY_FLAG_FIN);
        check_int(f.size, ==, 5);
        check(memcmp(f.payload, "hello", 5) == 0);
        at += (size_t) n;
        n = spdy_frame_parse(bytes(&b) + at, b.size - at, &f);
        check_int(n, ==, 12);
        check_int(f.type, ==, SPDY_PING);
        check_int(f.value, ==, 7);
        at += (size_t) n;
        n = spdy_frame_parse(bytes(&b) + at, b.size - at, &f);
        check_int(n, ==, 16);
        check_int(f.type, ==, SPDY_RST_STREAM);
        check_int(f.stream_id, ==, 9);
        check_int(f.value, ==, 3);
        at += (size_t) n;
        n = spdy_frame_parse(bytes(&b) + at, b.size - at, &f);
        check_int(n, ==, 16);
        check_int(f.type, ==, SPDY_GOAWAY);
        check_int(f.stream_id, ==, 11);
        at += (size_t) n;
        n = spdy_frame_parse(bytes(&b) + at, b.size - at, &f);
        check_int(n, ==, 8);
        check(!f.control);
        check_int(f.size, ==, 0);
        at += (size_t) n;
        check_int(at, ==, b.size);
        free(b.data);
}

TEST(malformed) {
        SpdyFrame f;
        /* SPDY/2 */
        static const uint8_t v2[] = { 0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1 };
        /* PING with 3 bytes */
        static const uint8_t short_ping[] = { 0x80, 3, 0, 6, 0, 0, 0, 3, 0, 0, 1 };
        /* SYN_STREAM for stream 0 */
        static const uint8_t stream0[] = { 0x80, 3, 0, 1, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
        /* SETTINGS claiming more entries than it holds */
        static const uint8_t settings[] = { 0x80, 3, 0, 4, 0, 0, 0, 4, 0, 0, 0, 2 };
        /* a data frame of 16 MiB - 1 */
        static const uint8_t huge[] = { 0, 0, 0, 1, 0, 0xff, 0xff, 0xff };
        /* an unknown control type parses */
        static const uint8_t unknown[] = { 0x80, 3, 0, 0x42, 0, 0, 0, 1, 9 };

        check_int(spdy_frame_parse(v2, sizeof(v2), &f), ==, -EBADMSG);
        check_int(spdy_frame_parse(short_ping, sizeof(short_ping), &f), ==, -EBADMSG);
        check_int(spdy_frame_parse(stream0, sizeof(stream0), &f), ==, -EBADMSG);
        check_int(spdy_frame_parse(settings, sizeof(settings), &f), ==, -EBADMSG);
        check_int(spdy_frame_parse(huge, sizeof(huge), &f), ==, -EMSGSIZE);
        check_int(spdy_frame_parse(unknown, sizeof(unknown), &f), ==, (ssize_t) sizeof(unknown));
        check_int(f.type, ==, 0x42);
        check_int(f.size, ==, 1);
}

TEST(header_pairs_are_bounded) {
        /* Uncompressed blocks that lie about their lengths, through a real compressor. */
        static const uint8_t lies[][12] = {
                { 0, 0, 0, 9 },                             /* 9 pairs in 0 bytes */
                { 0, 0, 0, 1, 0, 0, 0, 0 },                 /* an empty name */
                { 0, 0, 0, 1, 0, 0, 0, 200, 'a' },          /* a name past the end */
                { 0, 0, 0, 1, 0, 0, 0, 1, 'a', 0, 0, 0 },   /* no value length */
        };
        static const size_t sizes[] = { 4, 8, 9, 12 };

        for (size_t i = 0; i < ELEMENTSOF(lies); i++) {
                SpdyZlib a, b;
                SpdyHeaders h = {};
                uint8_t out[256];

                check_int(spdy_zlib_init(&a), ==, 0);
                check_int(spdy_zlib_init(&b), ==, 0);
                a.out.next_in = (Bytef *) lies[i];
                a.out.avail_in = (uInt) sizes[i];
                a.out.next_out = out;
                a.out.avail_out = sizeof(out);
                check_int(deflate(&a.out, Z_SYNC_FLUSH), ==, Z_OK);
                check_int(spdy_headers_decode(&b, out, sizeof(out) - a.out.avail_out, &h), ==, -EBADMSG);
                spdy_zlib_done(&a);
                spdy_zlib_done(&b);
        }
}

int main(void) {
        RUN(syn_stream_and_reply_round_trip);
        RUN(data_and_control_frames);
        RUN(malformed);
        RUN(header_pairs_are_bounded);
        return 0;
}
