/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* The server side of a WebSocket connection of the kubelet API (exec, as
 * k8s.io/apimachinery's wsstream serves it) on the event loop: the 101 answer with the
 * accepted key and the chosen subprotocol, then frames by libwslay over TLS — pings
 * answered, the close handshake done, messages handed whole to the owner and queued
 * for the client as the socket takes them. */
typedef struct WsConn WsConn;

typedef struct WsConnHandlers {
        /* A text or binary message from the client. */
        int (*message)(WsConn *c, const uint8_t *data, size_t size, void *userdata);
        /* What is queued went over (full) or back under WS_CONN_OUTPUT_HIGH. May be NULL. */
        void (*throttle)(WsConn *c, bool full, void *userdata);
        /* The connection is over (closed by either side, or failed): the owner frees it,
         * here or later. Only called from the connection's own I/O event. */
        void (*closed)(WsConn *c, void *userdata);
} WsConnHandlers;

#define WS_CONN_OUTPUT_HIGH (1u << 20)

/* Whether an HTTP request head asks for a WebSocket with one of protocols (NULL-
 * terminated, in the server's order of preference): 0 and *ret_protocol (one of
 * protocols), or the HTTP status (400) to answer with and *ret_message. */
int ws_upgrade_check(const char *request, const char *const *protocols, const char **ret_protocol,
                     char **ret_message);

/* Takes ssl and fd (also on failure); queues the 101 answer for request (its
 * Sec-WebSocket-Key) and protocol, and reads leftover (what came after the head) first. */
int ws_conn_new(sd_event *event, SSL *ssl, int fd, const char *request, const char *protocol, const void *leftover,
                size_t n, const WsConnHandlers *handlers, void *userdata, WsConn **ret);
void ws_conn_free(WsConn *c);

/* Queues a binary message. */
int ws_conn_send(WsConn *c, const void *data, size_t size);
/* The close frame (normal closure) after what is queued; the client answers it and the
 * connection ends. */
int ws_conn_close(WsConn *c);
/* Writes what is queued: 0, or -errno when the connection failed (the owner closes it). */
int ws_conn_flush(WsConn *c);
