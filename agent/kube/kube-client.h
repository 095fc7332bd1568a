/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "kubeconfig.h"

/* HTTP requests to the API server on libcurl's multi interface, driven by sd-event:
 * no threads, no blocking. TLS is verified against the kubeconfig's CA (or the system's). */
typedef struct KubeClient KubeClient;
typedef struct KubeRequest KubeRequest;

int kube_client_new(sd_event *event, const KubeConfig *config, KubeClient **ret);
void kube_client_free(KubeClient *client);
static inline void kube_client_freep(KubeClient **c) {
        kube_client_free(*c);
}
/* The client-side rate limit (rate-limit.h): requests beyond it wait their turn, in the
 * order they were made. 50 a second with bursts of 100 unless set. */
void kube_client_set_rate_limit(KubeClient *client, unsigned qps, unsigned burst);
const char *kube_client_server(const KubeClient *client);
sd_event *kube_client_event(const KubeClient *client);

/* A whole response: error is 0 or -errno (transport failure, with a message in
 * `message`); otherwise status is the HTTP status and body the parsed JSON (NULL if the
 * body was not JSON). The request is freed after the handler returns. */
typedef void (*KubeResponseHandler)(KubeClient *client, int error, const char *message, long status,
                                    json_object *body, void *userdata);

/* A streamed response (watch): one call per JSON line, then done with the outcome. A
 * negative return stops the stream; done then reports -ECANCELED. */
typedef int (*KubeLineHandler)(KubeClient *client, json_object *line, void *userdata);

/* Starts `method path` (path includes the query), with an optional JSON body. */
int kube_client_request(KubeClient *client, const char *method, const char *path, const char *body,
                        const char *content_type, KubeResponseHandler done, void *userdata,
                        KubeRequest **ret);

/* Starts a streaming GET: each complete line is parsed and passed to on_line; done is
 * called when the stream ends (status and error as above, body NULL). */
int kube_client_stream(KubeClient *client, const char *path, KubeLineHandler on_line,
                       KubeResponseHandler done, void *userdata, KubeRequest **ret);

/* Cancels a request in flight; its handler is not called. Not from within that
 * request's own handlers. */
void kube_request_cancel(KubeRequest *request);

/* The "message" of a Kubernetes Status object, or NULL. */
const char *kube_status_message(json_object *body);
