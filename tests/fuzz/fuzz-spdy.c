/* SPDX-License-Identifier: Apache-2.0 */
/* What a client sends the kubelet API after an exec or port-forward upgrade: SPDY/3.1
 * frames, their header blocks through one zlib stream, port-forward's stream headers. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "portforward-stream.h"
#include "spdy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SpdyZlib z;
        SpdyFrame f;
        size_t at = 0;
        ssize_t n;

        if (spdy_zlib_init(&z) < 0)
                return 0;
        while ((n = spdy_frame_parse(data + at, size - at, &f)) > 0) {
                if (f.size > (size_t) n || f.payload < data + at || f.payload + f.size > data + at + (size_t) n)
                        abort();
                at += (size_t) n;
                if (f.control && (f.type == SPDY_SYN_STREAM || f.type == SPDY_SYN_REPLY || f.type == SPDY_HEADERS)) {
                        SpdyHeaders h = {};
                        PortForwardStream stream;
                        const char *error;
                        if (spdy_headers_decode(&z, f.payload, f.size, &h) < 0)
                                break;
                        (void) spdy_headers_get(&h, "streamtype");
                        if (portforward_stream_parse(&h, f.stream_id, &stream, &error) == 0 &&
                            (stream.port == 0 || strlen(stream.request_id) >= sizeof(stream.request_id)))
                                abort();
                        spdy_headers_clear(&h);
                }
        }
        spdy_zlib_done(&z);
        return 0;
}
