/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

/* SPDY/3.1 framing, the multiplexing `kubectl exec` reaches the kubelet API with (the API
 * server upgrades its HTTP/1.1 request to "SPDY/3.1", as k8s.io/apimachinery's
 * httpstream/spdy and moby/spdystream speak it). Frames: an 8-byte head (control: version
 * 3 and a type; data: a 31-bit stream id), 8 bits of flags and a 24-bit length. Header
 * blocks are zlib streams (one per direction for the whole connection) primed with the
 * SPDY/3 dictionary. */

enum {
        SPDY_SYN_STREAM = 1,
        SPDY_SYN_REPLY = 2,
        SPDY_RST_STREAM = 3,
        SPDY_SETTINGS = 4,
        SPDY_PING = 6,
        SPDY_GOAWAY = 7,
        SPDY_HEADERS = 8,
        SPDY_WINDOW_UPDATE = 9,
};

#define SPDY_FLAG_FIN 0x01
#define SPDY_VERSION 3
#define SPDY_FRAME_HEAD 8
#define SPDY_FRAME_MAX (1u << 20) /* longer frames are refused (the format allows 16 MiB) */
#define SPDY_HEADERS_MAX (64u << 10)

typedef struct SpdyFrame {
        bool control;
        uint16_t type; /* control frames */
        uint8_t flags;
        uint32_t stream_id; /* data frames; SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE */
        uint32_t value;     /* RST_STREAM and GOAWAY: status; PING: id; WINDOW_UPDATE: delta */
        const uint8_t *payload; /* data frames: the data; SYN_STREAM, SYN_REPLY, HEADERS: the
                                 * compressed header block */
        size_t size;
} SpdyFrame;

/* One frame from the front of buf: the bytes it took, 0 when buf holds only part of it,
 * -EBADMSG (malformed, or a control frame of a version other than 3), -EMSGSIZE (longer
 * than SPDY_FRAME_MAX). Unknown control types parse, with their payload. */
ssize_t spdy_frame_parse(const uint8_t *buf, size_t size, SpdyFrame *ret);

typedef struct SpdyHeader {
        char *name, *value; /* value: several are NUL-separated, as SPDY/3 puts them */
        size_t value_size;
} SpdyHeader;

typedef struct SpdyHeaders {
        SpdyHeader *items;
        size_t n;
} SpdyHeaders;

void spdy_headers_clear(SpdyHeaders *h);
/* The first value of name (lower case, as SPDY/3 sends names), or NULL. */
const char *spdy_headers_get(const SpdyHeaders *h, const char *name);

/* A connection's two header compression contexts. */
typedef struct SpdyZlib {
        z_stream in, out;
        bool in_ready, out_ready, in_primed;
} SpdyZlib;

int spdy_zlib_init(SpdyZlib *z);
void spdy_zlib_done(SpdyZlib *z);

/* Inflates a header block and parses its name/value pairs: -EBADMSG when it does not
 * inflate or parse, -EMSGSIZE past SPDY_HEADERS_MAX. Every block of the connection must
 * pass through here in order: they share one zlib stream. */
int spdy_headers_decode(SpdyZlib *z, const uint8_t *block, size_t size, SpdyHeaders *ret);
/* The uncompressed header block of n pairs, appended to *buf (for tests and encode). */
int spdy_headers_serialize(const char *const *pairs, size_t n, char **buf, size_t *size, size_t *allocated);

/* Frames appended to a growing buffer (lib/buffer.h). */
typedef struct SpdyBuffer {
        char *data;
        size_t size, allocated;
} SpdyBuffer;

int spdy_append_data(SpdyBuffer *b, uint32_t stream_id, uint8_t flags, const void *data, size_t size);
/* SYN_REPLY (or SYN_STREAM with type) carrying n name/value pairs, compressed with z. */
int spdy_append_syn_reply(SpdyBuffer *b, SpdyZlib *z, uint32_t stream_id, uint8_t flags, const char *const *pairs,
                          size_t n);
int spdy_append_syn_stream(SpdyBuffer *b, SpdyZlib *z, uint32_t stream_id, uint8_t flags, const char *const *pairs,
                           size_t n);
int spdy_append_rst_stream(SpdyBuffer *b, uint32_t stream_id, uint32_t status);
int spdy_append_ping(SpdyBuffer *b, uint32_t id);
int spdy_append_goaway(SpdyBuffer *b, uint32_t last_stream_id, uint32_t status);
