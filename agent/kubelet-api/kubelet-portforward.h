/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/ssl.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "pod-set.h"

/* `kubectl port-forward` at the kubelet API, as kubelet serves it: GET or POST
 * /portForward/<namespace>/<pod>[/<uid>] upgraded to SPDY/3.1 with the portforward.k8s.io
 * stream protocol. Per forwarded connection the client opens an error and a data stream
 * (headers streamType, port, requestID); the session connects to localhost:port in the
 * pod's network namespace and copies bytes between the data stream and that connection,
 * both ways, half-closes included; a failure is written to the error stream in kubelet's
 * words ("error forwarding port 8080 to pod …: connection refused"). */
typedef struct PortForwardSession PortForwardSession;

typedef struct KubeletPortForwardConfig {
        sd_event *event;
        PodSet *pods; /* the pod's UID and network namespace */
} KubeletPortForwardConfig;

/* Parses the request's head and finds the pod: 0, or an HTTP status (400, 403, 404) with
 * *ret_message for the answer. */
int kubelet_portforward_prepare(const KubeletPortForwardConfig *config, const char *request, PortForwardSession **ret,
                                char **ret_message);
/* Answers 101 and runs the session on ssl and fd, which it owns from here (also on
 * failure); leftover: what was read after the request's head. The session frees itself
 * when the connection ends. */
int kubelet_portforward_start(PortForwardSession *s, SSL *ssl, int fd, const void *leftover, size_t n);
void portforward_session_free(PortForwardSession *s);
