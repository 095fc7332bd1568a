/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "spdy.h"

/* The server side of an upgraded SPDY/3.1 connection of the kubelet API (exec and
 * port-forward, as k8s.io/apimachinery's httpstream/spdy serves them), on the event
 * loop: the 101 answer, frames read from TLS and parsed, their header blocks decoded,
 * PINGs answered, SETTINGS and WINDOW_UPDATE ignored (spdystream keeps no flow control
 * either), frames queued and written as the socket takes them. What the streams carry
 * is the owner's, through its handlers. */
typedef struct SpdyConn SpdyConn;

typedef struct SpdyConnHandlers {
        /* A stream the client opened (headers decoded); the handler answers it with
         * spdy_conn_reply() or spdy_conn_reset(). */
        int (*syn_stream)(SpdyConn *c, const SpdyFrame *f, const SpdyHeaders *headers, void *userdata);
        int (*data)(SpdyConn *c, const SpdyFrame *f, void *userdata);
        int (*rst_stream)(SpdyConn *c, uint32_t stream_id, void *userdata);
        /* What is queued went over (full) or back under SPDY_CONN_OUTPUT_HIGH: the owner
         * stops or resumes reading what it sends. May be NULL. */
        void (*throttle)(SpdyConn *c, bool full, void *userdata);
        /* The connection is over (the client closed it or went away, a handler or a frame
         * failed, GOAWAY): the owner frees it, here or later. Only ever called from the
         * connection's own I/O event, never from within spdy_conn_*() calls. */
        void (*closed)(SpdyConn *c, void *userdata);
} SpdyConnHandlers;

#define SPDY_CONN_OUTPUT_HIGH (1u << 20)

/* Whether an HTTP request head asks to upgrade to SPDY/3.1 with the stream protocol: 0,
 * or the HTTP status (400, 403) to answer with and *ret_message (kubelet's words). */
int spdy_upgrade_check(const char *request, const char *protocol, char **ret_message);

/* Takes ssl and fd (also on failure); queues the 101 answer for protocol and processes
 * leftover (what was read after the request's head). The format and its arguments name
 * the session in log messages ("exec in %s"). */
int spdy_conn_new(sd_event *event, SSL *ssl, int fd, const char *protocol, const void *leftover, size_t n,
                  const SpdyConnHandlers *handlers, void *userdata, SpdyConn **ret, const char *what_format, ...)
        _printf_(10, 11);
void spdy_conn_free(SpdyConn *c);

int spdy_conn_reply(SpdyConn *c, uint32_t stream_id);
int spdy_conn_reset(SpdyConn *c, uint32_t stream_id, uint32_t status);
/* A data frame of at most SPDY_FRAME_MAX; size 0 with SPDY_FLAG_FIN ends the stream. */
int spdy_conn_data(SpdyConn *c, uint32_t stream_id, uint8_t flags, const void *data, size_t size);
/* Writes what is queued: 0, or -errno when the connection failed (the owner closes it). */
int spdy_conn_flush(SpdyConn *c);
/* All is said: what the client sends from here is read (to notice it leave) and dropped. */
void spdy_conn_ignore_input(SpdyConn *c);
/* Stops or resumes handing frames to the handlers (the owner cannot take more data). */
int spdy_conn_set_reading(SpdyConn *c, bool on);
