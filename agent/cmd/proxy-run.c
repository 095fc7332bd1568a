/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include "kube-watch.h"
#include "log.h"
#include "macro.h"
#include "proxy-run.h"
#include "proxy.h"

struct ProxyRun {
        sd_event *event;
        Proxy *proxy;
        KubeWatch *services, *slices;
        bool services_synced, slices_synced;
        bool dump;
        sd_event_source *defer, *resync;
        uint64_t sync_period_usec;
        bool programmed; /* the table was programmed once */
};

static int sync_now(ProxyRun *run, ProxySyncMode mode) {
        int r;

        if (!run->services_synced || !run->slices_synced)
                return 0;
        if (run->dump) {
                r = proxy_sync(run->proxy, PROXY_SYNC_DUMP, stdout);
                sd_event_exit(run->event, r < 0 ? 1 : 0);
                return r;
        }
        r = proxy_sync(run->proxy, mode, NULL);
        run->programmed = run->programmed || r >= 0;
        if (r < 0)
                log_error_errno(r, "proxy: sync failed, the previous rules stay; retrying at the next sync: %m");
        return r;
}

static int on_defer(sd_event_source *s, void *userdata) {
        ProxyRun *run = userdata;

        (void) sync_now(run, PROXY_SYNC_CHANGES);
        return 0;
}

static int on_resync(sd_event_source *s, uint64_t usec, void *userdata) {
        ProxyRun *run = userdata;
        bool full = false;

        if (run->programmed && proxy_ruleset_intact() <= 0) {
                log_warning("proxy: table ip %s was deleted or flushed by someone else; restoring it", PROXY_TABLE);
                full = true;
        }
        (void) sync_now(run, full ? PROXY_SYNC_FULL : PROXY_SYNC_CHANGES);
        (void) sd_event_source_set_time(s, usec + run->sync_period_usec);
        return 0;
}

/* Changes arriving together are programmed together, once the loop is idle. */
static void schedule_sync(ProxyRun *run) {
        (void) sd_event_source_set_enabled(run->defer, SD_EVENT_ONESHOT);
}

static void on_event(KubeWatch *w, KubeEvent event, json_object *object, void *userdata) {
        ProxyRun *run = userdata;
        bool services = w == run->services;
        int changed = 0;

        switch (event) {
        case KUBE_ADDED:
        case KUBE_MODIFIED:
                changed = services ? proxy_service_update(run->proxy, object) : proxy_slice_update(run->proxy, object);
                break;
        case KUBE_DELETED:
                changed = services ? proxy_service_delete(run->proxy, object) : proxy_slice_delete(run->proxy, object);
                break;
        case KUBE_SYNCED:
                if (services)
                        run->services_synced = true;
                else
                        run->slices_synced = true;
                changed = 1;
                break;
        case KUBE_FAILED:
                /* A dump answers now or not at all; the proxy itself keeps retrying. */
                if (run->dump)
                        sd_event_exit(run->event, 1);
                return;
        }
        if (changed != 0)
                schedule_sync(run);
}

int proxy_run_new(sd_event *event, KubeClient *client, const ProxyRunConfig *config, ProxyRun **ret) {
        _cleanup_(proxy_run_freep) ProxyRun *run = calloc(1, sizeof(ProxyRun));
        uint64_t now;
        int r;

        if (!run)
                return log_oom();
        run->event = event;
        run->dump = config->dump;
        run->sync_period_usec = config->sync_period_usec ?: PROXY_RUN_SYNC_PERIOD_USEC;
        /* Off until a change schedules it. */
        r = sd_event_add_defer(event, &run->defer, on_defer, run);
        if (r < 0)
                return log_error_errno(r, "proxy: add the deferred sync: %m");
        r = sd_event_source_set_enabled(run->defer, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "proxy: disable the deferred sync: %m");
        r = sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return log_error_errno(r, "proxy: read the loop's clock: %m");
        r = sd_event_add_time(event, &run->resync, CLOCK_MONOTONIC, now + run->sync_period_usec, 0, on_resync, run);
        if (r < 0)
                return log_error_errno(r, "proxy: add the sync period's timer: %m");
        r = sd_event_source_set_enabled(run->resync, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "proxy: enable the sync period's timer: %m");
        r = proxy_new(&config->proxy, &run->proxy);
        if (r < 0)
                return log_oom();
        r = kube_watch_new(client, "/api/v1/services", NULL, on_event, run, &run->services);
        if (r < 0)
                return log_error_errno(r, "proxy: watch services: %m");
        r = kube_watch_new(client, "/apis/discovery.k8s.io/v1/endpointslices", NULL, on_event, run, &run->slices);
        if (r < 0)
                return log_error_errno(r, "proxy: watch endpointslices: %m");
        *ret = TAKE_PTR(run);
        return 0;
}

void proxy_run_free(ProxyRun *run) {
        if (!run)
                return;
        kube_watch_free(run->services);
        kube_watch_free(run->slices);
        sd_event_source_disable_unref(run->defer);
        sd_event_source_disable_unref(run->resync);
        proxy_free(run->proxy);
        free(run);
}
