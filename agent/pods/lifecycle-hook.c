/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "curl-event.h"
#include "error.h"
#include "json-util.h"
#include "lifecycle-hook.h"
#include "log.h"
#include "macro.h"
#include "probe.h"

#define USEC_PER_SEC UINT64_C(1000000)

typedef enum HookKind { HOOK_EXEC, HOOK_HTTP, HOOK_SLEEP } HookKind;

struct LifecycleHook {
        sd_event *event;
        HookKind kind;
        LifecycleHookDone done;
        void *userdata;
        sd_event_source *timer, *io;
        /* exec */
        char **argv;
        pid_t pid;
        int pidfd;
        /* httpGet */
        char *url;
        CurlEvent *curl;
        CURL *easy;
        struct curl_slist *headers;
        sd_event_source *http_done;
        CURLcode http_result;
};

static void finish(LifecycleHook *h, bool success, const char *message) {
        h->timer = sd_event_source_disable_unref(h->timer);
        h->io = sd_event_source_disable_unref(h->io);
        /* Last: the handler may free the hook. */
        h->done(h, success, message, h->userdata);
}

static int on_command_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        LifecycleHook *h = userdata;
        char message[128];
        int r = handler_reap(fd, message, sizeof(message));

        if (r < 0)
                return 0;
        h->pid = 0;
        finish(h, r > 0, r > 0 ? NULL : message);
        return 0;
}

static int on_http_finished(sd_event_source *s, void *userdata) {
        LifecycleHook *h = userdata;
        char message[1024];

        h->http_done = sd_event_source_disable_unref(h->http_done);
        if (h->http_result == CURLE_OK) {
                finish(h, true, NULL);
                return 0;
        }
        snprintf(message, sizeof(message), "Get \"%s\": %s", h->url, curl_easy_strerror(h->http_result));
        finish(h, false, message);
        return 0;
}

/* From within the CurlEvent, which the handler may free with the hook: it is told
 * from the loop. */
static void on_http_done(CURL *easy, CURLcode result, void *userdata) {
        LifecycleHook *h = userdata;

        h->http_result = result;
        if (sd_event_add_defer(h->event, &h->http_done, on_http_finished, h) < 0)
                log_warning("lifecycle hook: cannot report the end of %s", h->url);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        LifecycleHook *h = userdata;

        if (h->kind == HOOK_SLEEP)
                finish(h, true, NULL);
        else
                finish(h, false, h->kind == HOOK_EXEC ? "command timed out" : "context deadline exceeded");
        return 0;
}

static int start_exec(LifecycleHook *h, json_object *exec, char *const *prefix, char **ret_error) {
        h->argv = handler_exec_argv(prefix, json_object_object_get(exec, "command"));
        if (!h->argv)
                return error_set(ret_error, -EINVAL, "exec: no command");
        h->pidfd = handler_spawn(h->argv, &h->pid);
        if (h->pidfd < 0)
                return error_set(ret_error, h->pidfd, "exec %s: %m", h->argv[0]);
        return sd_event_add_io(h->event, &h->io, h->pidfd, EPOLLIN, on_command_exit, h);
}

static int add_header(LifecycleHook *h, const char *name, const char *value) {
        _cleanup_free_ char *line = NULL;
        struct curl_slist *l;

        if (asprintf(&line, "%s: %s", name, value) < 0 || !(l = curl_slist_append(h->headers, line)))
                return -ENOMEM;
        h->headers = l;
        return 0;
}

/* The answer's body is read and dropped, as kubelet discards it. */
static size_t discard_body(char *data, size_t size, size_t n, void *userdata) {
        return size * n;
}

static int start_http(LifecycleHook *h, json_object *http, json_object *container, const char *pod_ip,
                      char **ret_error) {
        const char *scheme = json_get_string(http, "scheme", NULL) ?: "HTTP", *host = json_get_string(http, "host", NULL),
                   *path = json_get_string(http, "path", NULL) ?: "";
        json_object *headers = json_get(http, "httpHeaders");
        int port = handler_port(json_object_object_get(http, "port"), container), r;

        if (!host || !*host)
                host = pod_ip;
        if (!host || port <= 0 || port > 65535)
                return error_set(ret_error, -EINVAL, "httpGet: %s", host ? "no valid port" : "no pod IP to send it to");
        if (asprintf(&h->url, "%s://%s%s%s:%d%s%s", strcasecmp(scheme, "HTTPS") == 0 ? "https" : "http",
                     strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port, *path == '/' ? "" : "/",
                     path) < 0)
                return -ENOMEM;
        r = add_header(h, "User-Agent", "kube-lifecycle/1.37");
        for (size_t i = 0; r >= 0 && i < json_array_length(headers); i++) {
                json_object *hd = json_object_array_get_idx(headers, i);
                r = add_header(h, json_get_string(hd, "name", NULL) ?: "X-Empty", json_get_string(hd, "value", NULL) ?: "");
        }
        if (r < 0)
                return r;
        r = curl_event_new(h->event, "lifecycle-hook", on_http_done, h, &h->curl);
        if (r < 0)
                return error_set(ret_error, r, "httpGet: %m");
        h->easy = curl_easy_init();
        if (!h->easy)
                return -ENOMEM;
        (void) curl_easy_setopt(h->easy, CURLOPT_URL, h->url);
        (void) curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers);
        (void) curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(h->easy, CURLOPT_SSL_VERIFYPEER, 0L);
        (void) curl_easy_setopt(h->easy, CURLOPT_SSL_VERIFYHOST, 0L);
        (void) curl_easy_setopt(h->easy, CURLOPT_NOPROXY, "*");
        (void) curl_easy_setopt(h->easy, CURLOPT_FOLLOWLOCATION, 1L);
        (void) curl_easy_setopt(h->easy, CURLOPT_MAXREDIRS, 10L);
        (void) curl_easy_setopt(h->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        (void) curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, discard_body);
        r = curl_event_add(h->curl, h->easy);
        return r < 0 ? error_set(ret_error, r, "httpGet %s: %m", h->url) : 0;
}

int lifecycle_hook_run(sd_event *event, json_object *handler, json_object *container, const char *pod_ip,
                       char *const *exec_prefix, uint64_t timeout_usec, LifecycleHookDone done, void *userdata,
                       LifecycleHook **ret, char **ret_error) {
        json_object *exec = json_get(handler, "exec"), *http = json_get(handler, "httpGet"),
                    *sleep = json_get(handler, "sleep");
        _cleanup_(lifecycle_hook_freep) LifecycleHook *h = calloc(1, sizeof(LifecycleHook));
        int r;

        if (!h)
                return -ENOMEM;
        *h = (LifecycleHook) { .event = event, .done = done, .userdata = userdata, .pidfd = -EBADF };
        if (exec) {
                h->kind = HOOK_EXEC;
                r = start_exec(h, exec, exec_prefix, ret_error);
        } else if (http) {
                h->kind = HOOK_HTTP;
                r = start_http(h, http, container, pod_ip, ret_error);
        } else if (sleep) {
                json_object *v = json_get(sleep, "seconds");
                int64_t seconds = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
                h->kind = HOOK_SLEEP;
                timeout_usec = (uint64_t) MAX(seconds, 0) * USEC_PER_SEC;
                /* sleep for 0 s is done at once, yet after this returns. */
                r = sd_event_add_time_relative(event, &h->timer, CLOCK_MONOTONIC, timeout_usec, 1000, on_timer, h);
                timeout_usec = 0;
        } else
                r = error_set(ret_error, -EINVAL, "%s",
                              json_get(handler, "tcpSocket") ? "tcpSocket is not supported as a lifecycle handler"
                                                             : "no exec, httpGet or sleep action");
        if (r < 0)
                return r;
        if (timeout_usec > 0) {
                r = sd_event_add_time_relative(event, &h->timer, CLOCK_MONOTONIC, timeout_usec, 1000, on_timer, h);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(h);
        return 0;
}

LifecycleHook *lifecycle_hook_free(LifecycleHook *h) {
        if (!h)
                return NULL;
        sd_event_source_disable_unref(h->timer);
        sd_event_source_disable_unref(h->io);
        sd_event_source_disable_unref(h->http_done);
        if (h->pid > 0) {
                siginfo_t info;
                (void) kill(h->pid, SIGKILL);
                (void) waitid(P_PID, (id_t) h->pid, &info, WEXITED);
        }
        safe_close(h->pidfd);
        strv_free(h->argv);
        if (h->easy) {
                curl_event_remove(h->curl, h->easy);
                curl_easy_cleanup(h->easy);
        }
        curl_event_free(h->curl);
        curl_slist_free_all(h->headers);
        free(h->url);
        free(h);
        return NULL;
}
