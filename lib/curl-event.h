/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <curl/curl.h>
#include <systemd/sd-event.h>

/* libcurl's multi interface driven by an sd-event loop: one I/O source per socket libcurl
 * wants watched, one timer for its timeouts. No threads, nothing blocks. Shared by the
 * API client (agent/kube-client.c) and the registry client (cri/registry.c).
 *
 * Callers add and remove their easy handles on curl_event_multi() themselves; when a
 * transfer ends, `done` is called with the handle and its result (find your request
 * through CURLOPT_PRIVATE). `done` may remove and free any handle, start new ones, or
 * free nothing but the CurlEvent itself must outlive the call. */
typedef struct CurlEvent CurlEvent;
typedef void (*CurlEventDone)(CURL *easy, CURLcode result, void *userdata);

/* description names the timer source (sd-event debugging). */
int curl_event_new(sd_event *event, const char *description, CurlEventDone done, void *userdata,
                   CurlEvent **ret);
/* Remove every easy handle before: the multi handle is cleaned up here. */
void curl_event_free(CurlEvent *ce);
static inline void curl_event_freep(CurlEvent **p) {
        curl_event_free(*p);
}

CURLM *curl_event_multi(const CurlEvent *ce);
sd_event *curl_event_get_event(const CurlEvent *ce);
