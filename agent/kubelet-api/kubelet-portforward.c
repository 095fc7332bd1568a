/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buffer.h"
#include "error.h"
#include "kubelet-portforward.h"
#include "log.h"
#include "macro.h"
#include "netns.h"
#include "portforward-stream.h"
#include "spdy-conn.h"

#define STREAM_PROTOCOL "portforward.k8s.io"
#define STREAMS_TIMEOUT_USEC (30ULL * 1000 * 1000) /* kubelet's streamCreationTimeout */
#define SOCKET_READ 65536
#define TO_POD_HIGH (1u << 20) /* stop reading the client while a connection holds this much for its pod */

typedef struct Forward Forward;

struct PortForwardSession {
        sd_event *event;
        char *pod, *uid;  /* <namespace>/<name> */
        char *netns_path; /* NULL: the node's */
        SpdyConn *conn;
        Forward *forwards;
        unsigned stuffed; /* forwards holding TO_POD_HIGH or more for their pod */
        bool full;        /* the connection's output is over its mark: pods are not read */
};

/* One forwarded connection: the client's pair of streams and the TCP connection to the
 * pod. */
struct Forward {
        PortForwardSession *session;
        Forward *prev, *next;
        char request_id[PORTFORWARD_REQUEST_ID_MAX];
        uint16_t port;
        uint32_t error_stream, data_stream; /* 0: not (yet) open, or reset */
        int fd;
        sd_event_source *io, *timer;
        char *to_pod; /* from the client, not yet written */
        size_t n_to_pod, to_pod_allocated;
        bool connected, client_fin, pod_eof, shut_down, stuffed;
};

static void forward_free(Forward *f) {
        PortForwardSession *s = f->session;

        if (f->prev)
                f->prev->next = f->next;
        else
                s->forwards = f->next;
        if (f->next)
                f->next->prev = f->prev;
        if (f->stuffed && --s->stuffed == 0 && s->conn)
                (void) spdy_conn_set_reading(s->conn, true);
        sd_event_source_disable_unref(f->io);
        sd_event_source_disable_unref(f->timer);
        safe_close(f->fd);
        free(f->to_pod);
        free(f);
}

void portforward_session_free(PortForwardSession *s) {
        if (!s)
                return;
        spdy_conn_free(s->conn);
        s->conn = NULL;
        while (s->forwards)
                forward_free(s->forwards);
        free(s->pod);
        free(s->uid);
        free(s->netns_path);
        sd_event_unref(s->event);
        free(s);
}

/* --- the request -------------------------------------------------------------------- */

/* The pod's UID (want_uid if given) and network namespace, NULL for the node's
 * (hostNetwork). -ENOENT: no such pod runs here, or its sandbox is not set up. */
static int find_pod(const KubeletPortForwardConfig *config, const char *namespace, const char *pod,
                    const char *want_uid, char **ret_uid, char **ret_netns) {
        _cleanup_free_ char *uid = NULL, *netns = NULL;
        PodInfo info;
        int r;

        r = pod_set_find(config->pods, namespace, pod, want_uid, &info);
        if (r < 0)
                return r;
        if (!info.netns_path)
                return -ENOENT;
        uid = strdup(info.uid);
        if (!uid || (*info.netns_path && !(netns = strdup(info.netns_path))))
                return -ENOMEM;
        *ret_uid = TAKE_PTR(uid);
        *ret_netns = TAKE_PTR(netns);
        return 0;
}

int kubelet_portforward_prepare(const KubeletPortForwardConfig *config, const char *request, PortForwardSession **ret,
                                char **ret_message) {
        char namespace[PORTFORWARD_NAME_MAX], pod[PORTFORWARD_NAME_MAX], uid[PORTFORWARD_NAME_MAX], target[4096];
        _cleanup_free_ char *found_uid = NULL, *netns = NULL;
        PortForwardSession *s;
        int r;

        *ret_message = NULL;
        if (sscanf(request, "%*s %4095s", target) != 1 || portforward_target_parse(target, namespace, pod, uid) < 0)
                return (*ret_message = strdup("expected /portForward/<namespace>/<pod>\n")) ? 400 : -ENOMEM;
        r = spdy_upgrade_check(request, STREAM_PROTOCOL, ret_message);
        if (r != 0)
                return r;
        r = find_pod(config, namespace, pod, *uid ? uid : NULL, &found_uid, &netns);
        if (r == -ENOENT)
                return (*ret_message = strdup("pod does not exist\n")) ? 404 : -ENOMEM;
        if (r < 0)
                return r;
        s = calloc(1, sizeof(PortForwardSession));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(config->event);
        s->uid = TAKE_PTR(found_uid);
        s->netns_path = TAKE_PTR(netns);
        if (asprintf(&s->pod, "%s/%s", namespace, pod) < 0) {
                s->pod = NULL;
                portforward_session_free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

/* --- the pod's side ----------------------------------------------------------------- */

/* A TCP socket in the pod's network namespace. setns() moves only the calling thread, the
 * loop's, and the loop runs nothing else between entering and leaving (no call here
 * blocks or dispatches): so entering, making the socket and leaving is safe, and simpler
 * than a child passing a socket back over SCM_RIGHTS. A socket stays in the namespace it
 * was made in, so only socket() happens inside; connect() runs after, non-blocking. */
static int pod_socket(PortForwardSession *s, int *ret, char **ret_error) {
        _cleanup_close_ int ns = -EBADF;
        int saved = -EBADF, fd, r;

        if (s->netns_path) {
                r = netns_open(s->netns_path, &ns);
                if (r < 0)
                        return error_set(ret_error, r, "open %s: %m", s->netns_path);
                r = netns_enter(ns, &saved);
                if (r < 0)
                        return error_set(ret_error, r, "enter %s: %m", s->netns_path);
        }
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        r = fd < 0 ? -errno : 0;
        if (netns_leave(&saved) < 0)
                abort(); /* cannot continue in the pod's namespace */
        *ret = fd;
        if (r < 0)
                return error_set(ret_error, r, "socket in %s: %m", s->netns_path ?: "the node's network namespace");
        return 0;
}

/* The end of a forwarded connection, as kubelet's: the failure (if any) on the error
 * stream, both streams of ours closed, the pod's connection closed. 1 (f is gone), or
 * -errno when the frames cannot be queued (the session must close); the functions below
 * that may end the forward answer alike, 0 when it goes on. */
static int forward_end(Forward *f, const char *message) {
        PortForwardSession *s = f->session;
        int r = 0;

        if (f->data_stream && !f->pod_eof)
                r = spdy_conn_data(s->conn, f->data_stream, SPDY_FLAG_FIN, NULL, 0);
        if (r >= 0 && f->error_stream)
                r = spdy_conn_data(s->conn, f->error_stream, SPDY_FLAG_FIN, message, message ? strlen(message) : 0);
        forward_free(f);
        return r < 0 ? r : 1;
}

static int forward_fail(Forward *f, int error) {
        _cleanup_free_ char *message = NULL;

        if (asprintf(&message, "error forwarding port %u to pod %s, uid %s: dial tcp4 127.0.0.1:%u: connect: %s", f->port,
                     f->session->pod, f->session->uid, f->port, strerror(error)) < 0)
                return -ENOMEM;
        message[strlen(message) - strlen(strerror(error))] = (char) tolower(strerror(error)[0]); /* as Go words it */
        log_debug("kubelet API: port-forward: %s", message);
        return forward_end(f, message);
}

static void forward_update_events(Forward *f) {
        uint32_t events = (f->connected && !f->pod_eof && !f->session->full ? EPOLLIN : 0) |
                          (!f->connected || f->n_to_pod > 0 ? EPOLLOUT : 0);

        if (!f->io)
                return;
        if (events)
                (void) sd_event_source_set_io_events(f->io, events);
        (void) sd_event_source_set_enabled(f->io, events ? SD_EVENT_ON : SD_EVENT_OFF);
}

static void forward_set_stuffed(Forward *f, bool stuffed) {
        PortForwardSession *s = f->session;

        if (f->stuffed == stuffed)
                return;
        f->stuffed = stuffed;
        if (stuffed ? s->stuffed++ == 0 : --s->stuffed == 0)
                (void) spdy_conn_set_reading(s->conn, !stuffed);
}

/* Writes what the client sent to the pod, half-closes after the client's FIN, ends the
 * forward when both directions are over. While it connects, what the client sends is
 * held, as much as when the pod does not read. */
static int forward_pump(Forward *f) {
        while (f->connected && f->n_to_pod > 0) {
                ssize_t n = send(f->fd, f->to_pod, f->n_to_pod, MSG_NOSIGNAL);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                if (n < 0)
                        return forward_end(f, NULL); /* the pod reset the connection */
                if ((size_t) n < f->n_to_pod)
                        memmove(f->to_pod, f->to_pod + n, f->n_to_pod - (size_t) n);
                f->n_to_pod -= (size_t) n;
        }
        forward_set_stuffed(f, f->n_to_pod >= TO_POD_HIGH);
        if (!f->connected)
                return 0;
        if (f->client_fin && f->n_to_pod == 0 && !f->shut_down) {
                (void) shutdown(f->fd, SHUT_WR);
                f->shut_down = true;
        }
        if (f->shut_down && f->pod_eof)
                return forward_end(f, NULL);
        forward_update_events(f);
        return 0;
}

/* What the pod sent, to the data stream; its end, the stream's FIN. */
static int forward_read(Forward *f) {
        char buf[SOCKET_READ];
        ssize_t n = recv(f->fd, buf, sizeof(buf), 0);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n < 0)
                return forward_end(f, NULL);
        if (n == 0)
                f->pod_eof = true;
        return spdy_conn_data(f->session->conn, f->data_stream, f->pod_eof ? SPDY_FLAG_FIN : 0, buf, (size_t) n);
}

static int on_pod(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Forward *f = userdata;
        PortForwardSession *s = f->session;
        int r = 0, error = 0;
        socklen_t len = sizeof(error);

        if (!f->connected) {
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                        error = errno;
                if (error == 0)
                        f->connected = true;
                r = error ? forward_fail(f, error) : forward_pump(f);
        } else {
                if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !f->pod_eof && !s->full)
                        r = forward_read(f);
                if (r == 0)
                        r = forward_pump(f);
        }
        if (r < 0 || spdy_conn_flush(s->conn) < 0)
                portforward_session_free(s);
        return 0;
}

static int forward_connect(Forward *f) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(f->port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        _cleanup_free_ char *error = NULL;
        int r = pod_socket(f->session, &f->fd, &error);

        if (r < 0) {
                log_warning("kubelet API: port-forward to %s: %s", f->session->pod, error ?: strerror(-r));
                return forward_fail(f, -r);
        }
        if (connect(f->fd, (struct sockaddr *) &addr, sizeof(addr)) >= 0)
                f->connected = true;
        else if (errno != EINPROGRESS)
                return forward_fail(f, errno);
        r = sd_event_add_io(f->session->event, &f->io, f->fd, EPOLLOUT, on_pod, f);
        if (r < 0)
                return r;
        return forward_pump(f);
}

/* --- the streams -------------------------------------------------------------------- */

static Forward *forward_by_stream(PortForwardSession *s, uint32_t id) {
        for (Forward *f = s->forwards; f && id; f = f->next)
                if (f->data_stream == id || f->error_stream == id)
                        return f;
        return NULL;
}

static int on_streams_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        Forward *f = userdata;
        PortForwardSession *s = f->session;
        _cleanup_free_ char *message = NULL;

        /* forward_end() frees f: a failure to queue its frames ends the session. */
        if (asprintf(&message, "(request=%s) timed out waiting for streams", f->request_id) < 0 ||
            forward_end(f, message) < 0 || spdy_conn_flush(s->conn) < 0)
                portforward_session_free(s);
        return 0;
}

static int forward_new(PortForwardSession *s, const PortForwardStream *stream, Forward **ret) {
        Forward *f = calloc(1, sizeof(Forward));
        int r;

        if (!f)
                return -ENOMEM;
        f->session = s;
        f->fd = -EBADF;
        memcpy(f->request_id, stream->request_id, sizeof(f->request_id));
        f->next = s->forwards;
        if (f->next)
                f->next->prev = f;
        s->forwards = f;
        r = sd_event_add_time_relative(s->event, &f->timer, CLOCK_MONOTONIC, STREAMS_TIMEOUT_USEC, 0, on_streams_timeout,
                                       f);
        if (r < 0) {
                forward_free(f);
                return r;
        }
        *ret = f;
        return 0;
}

static int on_syn_stream(SpdyConn *c, const SpdyFrame *f, const SpdyHeaders *headers, void *userdata) {
        PortForwardSession *s = userdata;
        PortForwardStream stream;
        const char *error;
        Forward *fw;
        int r;

        if (portforward_stream_parse(headers, f->stream_id, &stream, &error) < 0) {
                log_debug("kubelet API: port-forward to %s: stream %u refused: %s", s->pod, f->stream_id, error);
                return spdy_conn_reset(c, f->stream_id, 3 /* REFUSED_STREAM */);
        }
        for (fw = s->forwards; fw; fw = fw->next)
                if (streq(fw->request_id, stream.request_id))
                        break;
        if (!fw) {
                r = forward_new(s, &stream, &fw);
                if (r < 0)
                        return r;
        }
        if ((stream.type == PORTFORWARD_ERROR ? fw->error_stream : fw->data_stream) || fw->timer == NULL)
                return spdy_conn_reset(c, f->stream_id, 3 /* REFUSED_STREAM: already assigned */);
        r = spdy_conn_reply(c, f->stream_id);
        if (r < 0)
                return r;
        if (stream.type == PORTFORWARD_ERROR)
                fw->error_stream = f->stream_id;
        else {
                fw->data_stream = f->stream_id;
                fw->port = stream.port;
                fw->client_fin = f->flags & SPDY_FLAG_FIN;
        }
        if (!fw->error_stream || !fw->data_stream)
                return 0;
        fw->timer = sd_event_source_disable_unref(fw->timer);
        r = forward_connect(fw);
        return r < 0 ? r : 0;
}

static int on_data(SpdyConn *c, const SpdyFrame *f, void *userdata) {
        Forward *fw = forward_by_stream(userdata, f->stream_id);
        int r;

        if (!fw || fw->data_stream != f->stream_id || fw->client_fin)
                return 0; /* the error stream carries nothing from the client */
        if (f->size > 0) {
                r = buffer_append(&fw->to_pod, &fw->n_to_pod, &fw->to_pod_allocated, f->payload, f->size,
                                  TO_POD_HIGH + 2 * SPDY_FRAME_MAX);
                if (r < 0)
                        return r;
        }
        fw->client_fin = f->flags & SPDY_FLAG_FIN;
        r = forward_pump(fw);
        return r < 0 ? r : 0;
}

static int on_rst_stream(SpdyConn *c, uint32_t stream_id, void *userdata) {
        Forward *f = forward_by_stream(userdata, stream_id);

        if (!f)
                return 0;
        /* The client is done with the connection (client-go resets the data stream once the
         * pod's side ended, or on a local error): close it; the error stream still ends. */
        if (f->data_stream == stream_id)
                f->data_stream = 0;
        else
                f->error_stream = 0;
        return MIN(forward_end(f, NULL), 0);
}

static void on_throttle(SpdyConn *c, bool full, void *userdata) {
        PortForwardSession *s = userdata;

        s->full = full;
        for (Forward *f = s->forwards; f; f = f->next)
                forward_update_events(f);
}

static void on_closed(SpdyConn *c, void *userdata) {
        portforward_session_free(userdata);
}

int kubelet_portforward_start(PortForwardSession *s, SSL *ssl, int fd, const void *leftover, size_t n) {
        static const SpdyConnHandlers handlers = {
                .syn_stream = on_syn_stream, .data = on_data, .rst_stream = on_rst_stream, .throttle = on_throttle,
                .closed = on_closed,
        };
        int r;

        r = spdy_conn_new(s->event, ssl, fd, STREAM_PROTOCOL, leftover, n, &handlers, s, &s->conn, "port-forward to %s",
                          s->pod);
        if (r < 0)
                portforward_session_free(s);
        return r;
}
