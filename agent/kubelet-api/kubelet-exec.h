/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/ssl.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "pod-set.h"

/* `kubectl exec` at the kubelet API, as kubelet serves it: POST /exec/<namespace>/<pod>/
 * <container>?command=…&input=&output=&error=&tty= upgraded to SPDY/3.1 with the
 * v4.channel.k8s.io stream protocol, or (GET or POST) to a WebSocket with
 * v5.channel.k8s.io, v4.channel.k8s.io or channel.k8s.io, whose messages carry the
 * streams on channels (stdin 0, stdout 1, stderr 2, error 3, resize 4). The client opens an error stream and the stdin,
 * stdout, stderr and resize streams it asked for; the command then runs in the container
 * (`stevedore-runc exec [--tty] ID COMMAND…`) with its stdio carried on the streams, and
 * its end is written to the error stream as a metav1.Status (Success, or Failure with
 * reason NonZeroExitCode and the code in details.causes). */
typedef struct ExecSession ExecSession;

typedef struct KubeletExecConfig {
        sd_event *event;
        PodSet *pods;             /* the pod's UID and containers */
        const char *run_dir;      /* the containers' runs (pod-paths.h); the runtime's state */
        const char *runtime_path; /* stevedore-runc */
} KubeletExecConfig;

/* Parses the request's head and finds its container: 0, or an HTTP status (400, 403, 404)
 * with *ret_message for the answer. */
int kubelet_exec_prepare(const KubeletExecConfig *config, const char *request, ExecSession **ret, char **ret_message);
/* Answers 101 and runs the session on ssl and fd, which it owns from here (also on
 * failure); request: its head; leftover: what was read after it. The session frees itself
 * once the connection and the command are done. */
int kubelet_exec_start(ExecSession *s, SSL *ssl, int fd, const char *request, const void *leftover, size_t n);
void exec_session_free(ExecSession *s);
