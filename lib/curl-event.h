/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <curl/curl.h>
#include <systemd/sd-event.h>

/* libcurl's multi interface driven by an sd-event loop: one I/O source per socket libcurl
 * wants watched, one timer for its timeouts. No threads, nothing blocks. Shared by the
 * API client (agent/kube/kube-client.c) and the registry client (cri/images/registry/registry.c).
 *
 * Callers add and remove their easy handles with curl_event_add() and
 * curl_event_remove(); when a transfer ends, `done` is called with the handle and its
 * result (find your request through CURLOPT_PRIVATE). `done` may remove and free any
 * handle and start new ones; the CurlEvent itself must outlive the call. */
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

/* Adds easy to the multi handle. From within one of libcurl's callbacks (a watch's line
 * handler starting a request), where libcurl refuses with CURLM_RECURSIVE_API_CALL, the
 * handle is queued and added from a defer source once the loop is back; should that
 * fail, `done` is called for it with CURLE_FAILED_INIT. -EIO when libcurl refuses. */
int curl_event_add(CurlEvent *ce, CURL *easy);
/* Removes easy, whether added or still queued; before curl_easy_cleanup(). */
void curl_event_remove(CurlEvent *ce, CURL *easy);

CURLM *curl_event_multi(const CurlEvent *ce);
sd_event *curl_event_get_event(const CurlEvent *ce);
