/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "kube-client.h"
#include "ruleset.h"

/* The Service proxy fed by the API server: list+watch of Services and EndpointSlices
 * with a client on its loop, programmed into table ip stevedore-proxy. It syncs once
 * both lists are complete (in full), after every burst of changes (only what changed),
 * and every sync period: in full when the table was deleted or flushed by someone else.
 * Used by `stevedore proxy` and by `stevedore agent --kubeconfig`. */
typedef struct ProxyRun ProxyRun;

#define PROXY_RUN_SYNC_PERIOD_USEC (30 * 1000000ULL) /* kube-proxy's syncPeriod */

typedef struct ProxyRunConfig {
        ProxyConfig proxy;
        uint64_t sync_period_usec; /* 0: PROXY_RUN_SYNC_PERIOD_USEC */
        /* Print the ruleset once both lists are complete (nft syntax, stdout) and end
         * the loop (exit code 0, or 1 when it or a list failed); program nothing. */
        bool dump;
} ProxyRunConfig;

/* Errors are logged, naming what failed. */
int proxy_run_new(sd_event *event, KubeClient *client, const ProxyRunConfig *config, ProxyRun **ret);
/* Stops the watches; the table stays as programmed. */
void proxy_run_free(ProxyRun *run);
static inline void proxy_run_freep(ProxyRun **run) {
        proxy_run_free(*run);
}
