/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* What the agent tells systemd when it runs as stevedore.service (Type=notify): READY=1
 * once the node is registered (or the standalone pods are scheduled), a STATUS= line a
 * person reads in `systemctl status` ("Ready, 3/3 pods running"), STOPPING=1, and
 * WATCHDOG=1 sent by the event loop itself (sd_event_set_watchdog) at half of
 * WatchdogSec, so a hung loop stops the pings and systemd restarts the agent. Without
 * $NOTIFY_SOCKET (not under systemd) every call is a no-op. */
typedef struct ServiceNotify ServiceNotify;

/* node: the node's name, for the status lines. Turns the loop's watchdog on when
 * systemd asks for one ($WATCHDOG_USEC). */
int service_notify_new(sd_event *event, const char *node, ServiceNotify **ret);
void service_notify_free(ServiceNotify *n);
static inline void service_notify_freep(ServiceNotify **n) {
        if (*n)
                service_notify_free(*n);
}

/* STATUS= while starting, such as "Registering node node-a with https://…". */
void service_notify_starting(ServiceNotify *n, const char *format, ...) _printf_(2, 3);
/* READY=1 (once) and the status line with the pod counts. */
void service_notify_ready(ServiceNotify *n);
/* How many pods the node has and how many of them run (phase Running). */
void service_notify_pods(ServiceNotify *n, unsigned running, unsigned total);
/* A STATUS= line saying why the agent cannot start, before it exits. */
void service_notify_failed(const char *format, ...) _printf_(1, 2);
/* STOPPING=1 and what stopping means: the pods left running or being stopped. */
void service_notify_stopping(ServiceNotify *n, bool stopping_pods);
