/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "curl-event.h"
#include "macro.h"

struct CurlEvent {
        sd_event *event;
        sd_event_source *timer;
        sd_event_source *add_later; /* adds what was queued */
        CURLM *multi;
        CURL **pending; /* queued: started from within libcurl's callbacks */
        size_t n_pending, allocated;
        CurlEventDone done;
        void *userdata;
};

CURLM *curl_event_multi(const CurlEvent *ce) {
        return ce->multi;
}

sd_event *curl_event_get_event(const CurlEvent *ce) {
        return ce->event;
}

static void check_finished(CurlEvent *ce) {
        CURLMsg *m;
        int left;

        while ((m = curl_multi_info_read(ce->multi, &left)))
                if (m->msg == CURLMSG_DONE)
                        ce->done(m->easy_handle, m->data.result, ce->userdata);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CurlEvent *ce = userdata;
        int action = (revents & EPOLLIN ? CURL_CSELECT_IN : 0) | (revents & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                     (revents & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        int running;

        curl_multi_socket_action(ce->multi, fd, action, &running);
        check_finished(ce);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        CurlEvent *ce = userdata;
        int running;

        curl_multi_socket_action(ce->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_finished(ce);
        return 0;
}

/* libcurl tells which sockets to watch for what; one sd-event I/O source each. */
static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userdata, void *socketp) {
        CurlEvent *ce = userdata;
        sd_event_source *s = socketp;
        uint32_t events = (what == CURL_POLL_IN || what == CURL_POLL_INOUT ? EPOLLIN : 0) |
                          (what == CURL_POLL_OUT || what == CURL_POLL_INOUT ? EPOLLOUT : 0);

        if (what == CURL_POLL_REMOVE) {
                sd_event_source_disable_unref(s);
                curl_multi_assign(ce->multi, fd, NULL);
                return 0;
        }
        if (s)
                return sd_event_source_set_io_events(s, events) < 0 ? -1 : 0;
        if (sd_event_add_io(ce->event, &s, fd, events, on_io, ce) < 0)
                return -1;
        curl_multi_assign(ce->multi, fd, s);
        return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userdata) {
        CurlEvent *ce = userdata;
        uint64_t now;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(ce->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        sd_event_now(ce->event, CLOCK_MONOTONIC, &now);
        if (sd_event_source_set_time(ce->timer, now + (uint64_t) timeout_ms * 1000) < 0 ||
            sd_event_source_set_enabled(ce->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

static bool pending_remove(CurlEvent *ce, CURL *easy) {
        for (size_t i = 0; i < ce->n_pending; i++)
                if (ce->pending[i] == easy) {
                        memmove(ce->pending + i, ce->pending + i + 1, (ce->n_pending - i - 1) * sizeof(CURL *));
                        ce->n_pending--;
                        return true;
                }
        return false;
}

/* One at a time from the front: a `done` called for one may remove (and free) others. */
static int add_pending(sd_event_source *s, void *userdata) {
        CurlEvent *ce = userdata;

        while (ce->n_pending > 0) {
                CURL *easy = ce->pending[0];

                pending_remove(ce, easy);
                if (curl_multi_add_handle(ce->multi, easy) != CURLM_OK)
                        ce->done(easy, CURLE_FAILED_INIT, ce->userdata);
        }
        return 0;
}

int curl_event_add(CurlEvent *ce, CURL *easy) {
        CURLMcode m = curl_multi_add_handle(ce->multi, easy);
        int r;

        if (m == CURLM_OK)
                return 0;
        if (m != CURLM_RECURSIVE_API_CALL)
                return -EIO;
        if (ce->n_pending == ce->allocated) {
                size_t n = ce->allocated ? ce->allocated * 2 : 4;
                CURL **bigger = reallocarray(ce->pending, n, sizeof(CURL *));

                if (!bigger)
                        return -ENOMEM;
                ce->pending = bigger;
                ce->allocated = n;
        }
        if (!ce->add_later) {
                r = sd_event_add_defer(ce->event, &ce->add_later, add_pending, ce);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(ce->add_later, "curl-event-add");
        }
        r = sd_event_source_set_enabled(ce->add_later, SD_EVENT_ONESHOT);
        if (r < 0)
                return r;
        ce->pending[ce->n_pending++] = easy;
        return 0;
}

void curl_event_remove(CurlEvent *ce, CURL *easy) {
        if (!pending_remove(ce, easy))
                curl_multi_remove_handle(ce->multi, easy);
}

int curl_event_new(sd_event *event, const char *description, CurlEventDone done, void *userdata,
                   CurlEvent **ret) {
        _cleanup_(curl_event_freep) CurlEvent *ce = calloc(1, sizeof(CurlEvent));
        int r;

        if (!ce)
                return -ENOMEM;
        ce->event = sd_event_ref(event);
        ce->done = done;
        ce->userdata = userdata;
        ce->multi = curl_multi_init();
        if (!ce->multi)
                return -ENOMEM;
        /* Accuracy 1 µs: libcurl's timeouts are due now, not within sd-event's default 250 ms. */
        r = sd_event_add_time(event, &ce->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_timer, ce);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(ce->timer, description);
        curl_multi_setopt(ce->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
        curl_multi_setopt(ce->multi, CURLMOPT_SOCKETDATA, ce);
        curl_multi_setopt(ce->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
        curl_multi_setopt(ce->multi, CURLMOPT_TIMERDATA, ce);
        *ret = TAKE_PTR(ce);
        return 0;
}

void curl_event_free(CurlEvent *ce) {
        if (!ce)
                return;
        if (ce->multi)
                curl_multi_cleanup(ce->multi);
        sd_event_source_disable_unref(ce->timer);
        sd_event_source_disable_unref(ce->add_later);
        free(ce->pending);
        sd_event_unref(ce->event);
        free(ce);
}
