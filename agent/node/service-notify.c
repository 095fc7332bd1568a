/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "macro.h"
#include "service-notify.h"

struct ServiceNotify {
        char *node;
        unsigned running, total;
        bool ready, stopping;
};

int service_notify_new(sd_event *event, const char *node, ServiceNotify **ret) {
        ServiceNotify *n = calloc(1, sizeof(ServiceNotify));
        int r;

        if (!n)
                return -ENOMEM;
        n->node = strdup(node);
        if (!n->node) {
                free(n);
                return -ENOMEM;
        }
        /* A no-op unless $WATCHDOG_USEC (and $WATCHDOG_PID, if set) name this process. */
        r = sd_event_set_watchdog(event, true);
        if (r < 0) {
                service_notify_free(n);
                return r;
        }
        if (r > 0)
                log_debug("agent: systemd's watchdog is fed from the event loop");
        *ret = n;
        return 0;
}

void service_notify_free(ServiceNotify *n) {
        free(n->node);
        free(n);
}

static void send_status(const char *format, va_list ap) _printf_(1, 0);
static void send_status(const char *format, va_list ap) {
        _cleanup_free_ char *status = NULL;

        if (vasprintf(&status, format, ap) < 0) {
                status = NULL; /* undefined after a failure */
                return;
        }
        (void) sd_notifyf(false, "STATUS=%s", status);
}

void service_notify_starting(ServiceNotify *n, const char *format, ...) {
        va_list ap;

        if (n->ready || n->stopping)
                return;
        va_start(ap, format);
        send_status(format, ap);
        va_end(ap);
}

static void send_counts(ServiceNotify *n, const char *prefix) {
        (void) sd_notifyf(false, "%sSTATUS=Ready, %u/%u pods running", prefix, n->running, n->total);
}

void service_notify_ready(ServiceNotify *n) {
        if (n->ready || n->stopping)
                return;
        n->ready = true;
        send_counts(n, "READY=1\n");
        log_info("agent: ready: node %s, %u/%u pods running", n->node, n->running, n->total);
}

void service_notify_pods(ServiceNotify *n, unsigned running, unsigned total) {
        if (n->running == running && n->total == total)
                return;
        n->running = running;
        n->total = total;
        if (n->ready && !n->stopping)
                send_counts(n, "");
}

void service_notify_stopping(ServiceNotify *n, bool stopping_pods) {
        if (n->stopping)
                return;
        n->stopping = true;
        if (stopping_pods)
                (void) sd_notifyf(false, "STOPPING=1\nSTATUS=Stopping, stopping %u pods", n->total);
        else
                (void) sd_notifyf(false, "STOPPING=1\nSTATUS=Stopping, leaving %u pods running", n->total);
}

void service_notify_failed(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        send_status(format, ap);
        va_end(ap);
}
