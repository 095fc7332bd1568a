/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buffer.h"
#include "http-head.h"
#include "log.h"
#include "macro.h"
#include "spdy-conn.h"

#define READ_CHUNK 16384

struct SpdyConn {
        sd_event *event;
        SSL *ssl;
        int fd;
        sd_event_source *io, *resume;
        SpdyZlib z;
        bool z_ready;
        char *in;
        size_t n_in, in_allocated;
        SpdyBuffer out; /* what is not yet written */
        bool ignoring, paused, full;
        SpdyConnHandlers handlers;
        void *userdata;
        char *what;
};

void spdy_conn_free(SpdyConn *c) {
        if (!c)
                return;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->resume);
        if (c->ssl)
                SSL_free(c->ssl);
        safe_close(c->fd);
        if (c->z_ready)
                spdy_zlib_done(&c->z);
        free(c->in);
        free(c->out.data);
        free(c->what);
        sd_event_unref(c->event);
        free(c);
}

static void spdy_conn_freep(SpdyConn **c) {
        spdy_conn_free(*c);
}

static void update_events(SpdyConn *c) {
        bool full = c->out.size >= SPDY_CONN_OUTPUT_HIGH;
        uint32_t events = (c->paused ? 0 : EPOLLIN) | (c->out.size > 0 ? EPOLLOUT : 0);

        /* Off rather than an empty mask: epoll reports a hang-up regardless. */
        if (events)
                (void) sd_event_source_set_io_events(c->io, events);
        (void) sd_event_source_set_enabled(c->io, events ? SD_EVENT_ON : SD_EVENT_OFF);
        if (full != c->full && c->handlers.throttle) {
                c->full = full;
                c->handlers.throttle(c, full, c->userdata);
        }
}

/* What was written leaves the buffer (the TLS connection accepts a moved buffer when it
 * retries a write). */
int spdy_conn_flush(SpdyConn *c) {
        size_t written = 0;

        while (written < c->out.size) {
                int r = SSL_write(c->ssl, c->out.data + written, (int) MIN(c->out.size - written, (size_t) INT_MAX));
                if (r <= 0) {
                        int error = SSL_get_error(c->ssl, r);
                        ERR_clear_error();
                        if (error != SSL_ERROR_WANT_WRITE && error != SSL_ERROR_WANT_READ)
                                return -ECONNRESET;
                        break;
                }
                written += (size_t) r;
        }
        if (written > 0 && written < c->out.size)
                memmove(c->out.data, c->out.data + written, c->out.size - written);
        c->out.size -= written;
        update_events(c);
        return 0;
}

int spdy_conn_reply(SpdyConn *c, uint32_t stream_id) {
        return spdy_append_syn_reply(&c->out, &c->z, stream_id, 0, NULL, 0);
}

int spdy_conn_reset(SpdyConn *c, uint32_t stream_id, uint32_t status) {
        return spdy_append_rst_stream(&c->out, stream_id, status);
}

int spdy_conn_data(SpdyConn *c, uint32_t stream_id, uint8_t flags, const void *data, size_t size) {
        return spdy_append_data(&c->out, stream_id, flags, data, size);
}

void spdy_conn_ignore_input(SpdyConn *c) {
        c->ignoring = true;
}

static int on_frame(SpdyConn *c, const SpdyFrame *f) {
        _cleanup_(spdy_headers_clear) SpdyHeaders headers = {};
        int r;

        if (!f->control)
                return c->handlers.data(c, f, c->userdata);
        switch (f->type) {
        case SPDY_SYN_STREAM:
                r = spdy_headers_decode(&c->z, f->payload, f->size, &headers);
                if (r < 0)
                        return r;
                return c->handlers.syn_stream(c, f, &headers, c->userdata);
        case SPDY_SYN_REPLY:
        case SPDY_HEADERS:
                /* Not expected from a client, but the header stream must stay in step. */
                return spdy_headers_decode(&c->z, f->payload, f->size, &headers);
        case SPDY_RST_STREAM:
                return c->handlers.rst_stream(c, f->stream_id, c->userdata);
        case SPDY_PING:
                return spdy_append_ping(&c->out, f->value);
        case SPDY_GOAWAY:
                return -ECONNRESET;
        default:
                return 0; /* SETTINGS, WINDOW_UPDATE */
        }
}

/* The whole frames received so far, while reading is on; -errno when the connection
 * must close. */
static int process_input(SpdyConn *c) {
        size_t at = 0;
        int r = 0;

        while (!c->ignoring && !c->paused) {
                SpdyFrame f;
                ssize_t used = spdy_frame_parse((const uint8_t *) c->in + at, c->n_in - at, &f);
                if (used <= 0) {
                        r = (int) used;
                        break;
                }
                at += (size_t) used;
                r = on_frame(c, &f);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                if (r != -ECONNRESET)
                        log_warning_errno(r, "kubelet API: %s: bad SPDY frame: %m", c->what);
                return r;
        }
        if (at > 0 && at < c->n_in)
                memmove(c->in, c->in + at, c->n_in - at);
        c->n_in -= at;
        return spdy_conn_flush(c);
}

/* Reads what TLS has (while reading is on) and processes it: -errno when the connection
 * is over. */
static int receive(SpdyConn *c) {
        char buf[READ_CHUNK];
        int r = process_input(c);

        while (r >= 0 && !c->paused) {
                int n = SSL_read(c->ssl, buf, sizeof(buf));

                if (n <= 0) {
                        int error = SSL_get_error(c->ssl, n);
                        ERR_clear_error();
                        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE)
                                break;
                        return -ECONNRESET; /* the client is done, or gone */
                }
                if (c->ignoring)
                        continue;
                r = buffer_append(&c->in, &c->n_in, &c->in_allocated, buf, (size_t) n, 2 * SPDY_FRAME_MAX);
                if (r < 0)
                        return r;
                r = process_input(c);
        }
        return r;
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        SpdyConn *c = userdata;

        if (receive(c) < 0)
                c->handlers.closed(c, c->userdata); /* may free c */
        return 0;
}

static int on_resume(sd_event_source *source, void *userdata) {
        SpdyConn *c = userdata;

        c->resume = sd_event_source_disable_unref(c->resume);
        return on_io(c->io, c->fd, EPOLLIN, c);
}

int spdy_conn_set_reading(SpdyConn *c, bool on) {
        if (c->paused == !on)
                return 0;
        c->paused = !on;
        update_events(c);
        if (c->paused) {
                c->resume = sd_event_source_disable_unref(c->resume);
                return 0;
        }
        /* Frames already read, or decrypted and kept by TLS, get no EPOLLIN: a turn of the
         * loop processes them. */
        return sd_event_add_defer(c->event, &c->resume, on_resume, c);
}

int spdy_upgrade_check(const char *request, const char *protocol, char **ret_message) {
        *ret_message = NULL;
        if (!http_header_has(request, "upgrade", "SPDY/3.1") && !http_header_has(request, "upgrade", "spdy/3.1"))
                return (*ret_message = strdup("unable to upgrade: missing upgrade headers in request\n")) ? 400 : -ENOMEM;
        if (!http_header_has(request, "x-stream-protocol-version", protocol))
                return asprintf(ret_message,
                                "unable to upgrade: unable to negotiate protocol: client supports no protocol the "
                                "server does (%s)\n", protocol) < 0 ? -ENOMEM : 403;
        return 0;
}

int spdy_conn_new(sd_event *event, SSL *ssl, int fd, const char *protocol, const void *leftover, size_t n,
                  const SpdyConnHandlers *handlers, void *userdata, SpdyConn **ret, const char *what_format, ...) {
        _cleanup_(spdy_conn_freep) SpdyConn *c = calloc(1, sizeof(SpdyConn));
        _cleanup_free_ char *answer = NULL;
        va_list ap;
        int r;

        if (!c) {
                SSL_free(ssl);
                safe_close(fd);
                return -ENOMEM;
        }
        c->event = sd_event_ref(event);
        /* Output is queued in a buffer that grows and moves; partial writes let it drain. */
        SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
        c->ssl = ssl;
        c->fd = fd;
        c->handlers = *handlers;
        c->userdata = userdata;
        va_start(ap, what_format);
        r = vasprintf(&c->what, what_format, ap);
        va_end(ap);
        if (r < 0) {
                c->what = NULL; /* undefined after a failure */
                return -ENOMEM;
        }
        if (asprintf(&answer, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                              "X-Stream-Protocol-Version: %s\r\n\r\n", protocol) < 0)
                return -ENOMEM;
        r = spdy_zlib_init(&c->z);
        if (r < 0)
                return r;
        c->z_ready = true;
        r = buffer_append(&c->out.data, &c->out.size, &c->out.allocated, answer, strlen(answer), SIZE_MAX / 2);
        if (r < 0)
                return r;
        if (n > 0) {
                r = buffer_append(&c->in, &c->n_in, &c->in_allocated, leftover, n, 2 * SPDY_FRAME_MAX);
                if (r < 0)
                        return r;
        }
        r = sd_event_add_io(event, &c->io, fd, EPOLLIN | EPOLLOUT, on_io, c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}
