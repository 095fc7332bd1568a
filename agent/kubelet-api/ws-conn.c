/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#include "base64.h"
#include "http-head.h"
#include "ws-conn.h"

/* RFC 6455's GUID for Sec-WebSocket-Accept. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MESSAGE_MAX (16u << 20)

struct WsConn {
        sd_event *event;
        SSL *ssl;
        int fd;
        sd_event_source *io;
        wslay_event_context_ptr ctx;
        char *answer; /* the 101, until written */
        size_t n_answer, answer_written;
        uint8_t *leftover; /* read with the request's head: the first frames */
        size_t n_leftover, leftover_read;
        bool full;
        bool close_pending; /* the close frame, once the messages before it went */
        WsConnHandlers handlers;
        void *userdata;
};

void ws_conn_free(WsConn *c) {
        if (!c)
                return;
        sd_event_source_disable_unref(c->io);
        if (c->ctx)
                wslay_event_context_free(c->ctx);
        if (c->ssl)
                SSL_free(c->ssl);
        safe_close(c->fd);
        free(c->answer);
        free(c->leftover);
        sd_event_unref(c->event);
        free(c);
}

static void ws_conn_freep(WsConn **c) {
        ws_conn_free(*c);
}

int ws_upgrade_check(const char *request, const char *const *protocols, const char **ret_protocol,
                     char **ret_message) {
        _cleanup_free_ char *offered = http_header_get(request, "sec-websocket-protocol");

        *ret_message = NULL;
        if (!http_header_has(request, "upgrade", "websocket") && !http_header_has(request, "upgrade", "WebSocket"))
                return (*ret_message = strdup("unable to upgrade: missing upgrade headers in request\n")) ? 400 : -ENOMEM;
        if (!http_header_has(request, "sec-websocket-key", "") || !http_header_has(request, "sec-websocket-version", "13"))
                return (*ret_message = strdup("unable to upgrade: not a WebSocket version 13 handshake\n")) ? 400 : -ENOMEM;
        /* The first of the client's list that is ours, as wsstream picks it. */
        for (char *save = NULL, *p = offered ? strtok_r(offered, ", ", &save) : NULL; p; p = strtok_r(NULL, ", ", &save))
                for (size_t i = 0; protocols[i]; i++)
                        if (streq(p, protocols[i])) {
                                *ret_protocol = protocols[i];
                                return 0;
                        }
        return (*ret_message = strdup("unable to upgrade: no subprotocol the server supports was requested\n")) ? 400
                                                                                                                 : -ENOMEM;
}

static void update_events(WsConn *c) {
        bool full = wslay_event_get_queued_msg_length(c->ctx) >= WS_CONN_OUTPUT_HIGH;
        uint32_t events = (wslay_event_want_read(c->ctx) ? EPOLLIN : 0) |
                          (c->answer || c->close_pending || wslay_event_want_write(c->ctx) ? EPOLLOUT : 0);

        if (events)
                (void) sd_event_source_set_io_events(c->io, events);
        (void) sd_event_source_set_enabled(c->io, events ? SD_EVENT_ON : SD_EVENT_OFF);
        if (full != c->full && c->handlers.throttle) {
                c->full = full;
                c->handlers.throttle(c, full, c->userdata);
        }
}

/* The 101 goes out before any frame. */
static int write_answer(WsConn *c) {
        while (c->answer && c->answer_written < c->n_answer) {
                int r = SSL_write(c->ssl, c->answer + c->answer_written, (int) (c->n_answer - c->answer_written));
                if (r <= 0) {
                        int error = SSL_get_error(c->ssl, r);
                        ERR_clear_error();
                        return error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ ? 0 : -ECONNRESET;
                }
                c->answer_written += (size_t) r;
        }
        free(c->answer);
        c->answer = NULL;
        return 1;
}

/* Sends what is queued; libwslay sends a control frame before data queued earlier, so
 * the close frame is queued only once the messages are out. */
static int send_queued(WsConn *c) {
        if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0)
                return -ECONNRESET;
        if (c->close_pending && wslay_event_get_queued_msg_count(c->ctx) == 0) {
                int r = wslay_event_queue_close(c->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
                c->close_pending = false;
                if (r != 0 && r != WSLAY_ERR_NO_MORE_MSG)
                        return -ECONNRESET;
                if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0)
                        return -ECONNRESET;
        }
        return 0;
}

int ws_conn_flush(WsConn *c) {
        int r = write_answer(c);

        if (r > 0)
                r = send_queued(c);
        update_events(c);
        return r < 0 ? r : 0;
}

/* What SSL_read or SSL_write returned, as libwslay's callbacks say it: the bytes, or -1
 * with WOULDBLOCK (try again when the socket is ready) or a failure. */
static ssize_t ssl_result(wslay_event_context_ptr ctx, SSL *ssl, int n) {
        if (n > 0)
                return n;
        int error = SSL_get_error(ssl, n);
        ERR_clear_error();
        wslay_event_set_error(ctx, error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE ? WSLAY_ERR_WOULDBLOCK
                                                                                                : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
}

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *userdata) {
        WsConn *c = userdata;
        int n;

        if (c->leftover_read < c->n_leftover) {
                size_t k = MIN(len, c->n_leftover - c->leftover_read);
                memcpy(buf, c->leftover + c->leftover_read, k);
                c->leftover_read += k;
                return (ssize_t) k;
        }
        n = SSL_read(c->ssl, buf, (int) MIN(len, (size_t) INT_MAX));
        return ssl_result(ctx, c->ssl, n);
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *userdata) {
        WsConn *c = userdata;
        int n = SSL_write(c->ssl, data, (int) MIN(len, (size_t) INT_MAX));

        return ssl_result(ctx, c->ssl, n);
}

static void on_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *userdata) {
        WsConn *c = userdata;

        if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
                return; /* close and pings: libwslay answers them */
        if (c->handlers.message(c, arg->msg, arg->msg_length, c->userdata) < 0)
                (void) wslay_event_queue_close(ctx, WSLAY_CODE_INTERNAL_SERVER_ERROR, NULL, 0);
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        WsConn *c = userdata;
        int r = write_answer(c);

        if (r > 0 && wslay_event_want_read(c->ctx) && wslay_event_recv(c->ctx) != 0)
                r = -ECONNRESET;
        if (r > 0)
                r = send_queued(c);
        if (r < 0 || (!c->answer && !c->close_pending && !wslay_event_want_read(c->ctx) &&
                      !wslay_event_want_write(c->ctx))) {
                c->handlers.closed(c, c->userdata); /* may free c */
                return 0;
        }
        update_events(c);
        return 0;
}

static char *accept_key(const char *request) {
        _cleanup_free_ char *key = http_header_get(request, "sec-websocket-key"), *joined = NULL;
        unsigned char digest[SHA_DIGEST_LENGTH];

        if (!key || asprintf(&joined, "%s" WS_GUID, key) < 0)
                return NULL;
        SHA1((const unsigned char *) joined, strlen(joined), digest);
        return base64_encode(digest, sizeof(digest));
}

int ws_conn_new(sd_event *event, SSL *ssl, int fd, const char *request, const char *protocol, const void *leftover,
                size_t n, const WsConnHandlers *handlers, void *userdata, WsConn **ret) {
        static const struct wslay_event_callbacks callbacks = {
                .recv_callback = on_recv, .send_callback = on_send, .on_msg_recv_callback = on_message,
        };
        _cleanup_(ws_conn_freep) WsConn *c = calloc(1, sizeof(WsConn));
        _cleanup_free_ char *accept = NULL;
        int r;

        if (!c) {
                SSL_free(ssl);
                safe_close(fd);
                return -ENOMEM;
        }
        c->event = sd_event_ref(event);
        SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
        c->ssl = ssl;
        c->fd = fd;
        c->handlers = *handlers;
        c->userdata = userdata;
        accept = accept_key(request);
        if (!accept || asprintf(&c->answer, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                                            "Sec-WebSocket-Protocol: %s\r\n\r\n", accept, protocol) < 0)
                return -ENOMEM;
        c->n_answer = strlen(c->answer);
        if (n > 0) {
                c->leftover = malloc(n);
                if (!c->leftover)
                        return -ENOMEM;
                memcpy(c->leftover, leftover, n);
                c->n_leftover = n;
        }
        if (wslay_event_context_server_init(&c->ctx, &callbacks, c) != 0)
                return -ENOMEM;
        wslay_event_config_set_max_recv_msg_length(c->ctx, WS_MESSAGE_MAX);
        r = sd_event_add_io(event, &c->io, fd, EPOLLIN | EPOLLOUT, on_io, c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int ws_conn_send(WsConn *c, const void *data, size_t size) {
        struct wslay_event_msg msg = { .opcode = WSLAY_BINARY_FRAME, .msg = data, .msg_length = size };

        return wslay_event_queue_msg(c->ctx, &msg) == 0 ? 0 : -ECONNRESET;
}

int ws_conn_close(WsConn *c) {
        c->close_pending = true;
        return 0;
}
