/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

#include "pod-set.h"

/* The kubelet's HTTPS API, the part the API server calls for `kubectl logs`, `exec` and
 * `port-forward`: GET /containerLogs/<namespace>/<pod>/<container>?follow=&tailLines=&
 * timestamps=&previous=&limitBytes= answered from the pod's CRI logs, POST
 * /exec/<namespace>/<pod>/<container> (SPDY streams, kubelet-exec.h), GET or POST
 * /portForward/<namespace>/<pod> (kubelet-portforward.h) and GET /healthz. The pods are
 * the pod set's: one it does not know has no logs, no containers to exec in. TLS with the
 * serving certificate and key of tls_cert_file and tls_private_key_file (kubelet's
 * tlsCertFile, tlsPrivateKeyFile: the API server verifies it with
 * --kubelet-certificate-authority), or without them a self-signed certificate made at
 * start for the node's name and address (as kubelet makes one); clients must present
 * a certificate signed by client_ca (the cluster's CA: the API server's kubelet client
 * certificate), and only system:masters or kube-apiserver-kubelet-client may read. */
typedef struct KubeletServer KubeletServer;

typedef struct KubeletServerConfig {
        const char *address; /* to listen on; NULL: all */
        unsigned port;
        const char *node_name, *node_ip; /* the certificate's names */
        const char *tls_cert_file, *tls_private_key_file; /* PEM; NULL: self-signed */
        const char *client_ca;           /* PEM */
        size_t client_ca_size;
        PodSet *pods;        /* outlives the server */
        const char *run_dir; /* where containers' exit files say they ended (follow); exec's runtime state */
        const char *runtime_path; /* stevedore-runc, for exec */
} KubeletServerConfig;

int kubelet_server_new(sd_event *event, const KubeletServerConfig *config, KubeletServer **ret);
void kubelet_server_free(KubeletServer *s);
static inline void kubelet_server_freep(KubeletServer **s) {
        if (*s)
                kubelet_server_free(*s);
}
