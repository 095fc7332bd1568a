/* SPDX-License-Identifier: Apache-2.0 */
/* `stevedore proxy`: the Service proxy on its own, fed by list+watch of Services and
 * EndpointSlices. Syncs once both lists are complete (in full), after every burst of
 * changes (only what changed), and every --sync-period: in full when the table was
 * deleted or flushed by someone else. */
#include <getopt.h>
#include <signal.h>

#include "kube-watch.h"
#include "log.h"
#include "node-info.h"
#include "proxy.h"
#include "verbs.h"

#define DEFAULT_SYNC_PERIOD_SEC 30 /* kube-proxy's syncPeriod */

typedef struct ProxyCommand {
        sd_event *event;
        Proxy *proxy;
        KubeWatch *services, *slices;
        bool services_synced, slices_synced;
        bool dump;
        sd_event_source *defer, *resync;
        uint64_t sync_period_usec;
        bool programmed; /* the table was programmed once */
} ProxyCommand;

static int sync_now(ProxyCommand *c, ProxySyncMode mode) {
        int r;

        if (!c->services_synced || !c->slices_synced)
                return 0;
        if (c->dump) {
                r = proxy_sync(c->proxy, PROXY_SYNC_DUMP, stdout);
                sd_event_exit(c->event, r < 0 ? 1 : 0);
                return r;
        }
        r = proxy_sync(c->proxy, mode, NULL);
        c->programmed = c->programmed || r >= 0;
        if (r < 0)
                log_error_errno(r, "proxy: sync failed, the previous rules stay; retrying at the next sync: %m");
        return r;
}

static int on_defer(sd_event_source *s, void *userdata) {
        ProxyCommand *c = userdata;

        (void) sync_now(c, PROXY_SYNC_CHANGES);
        return 0;
}

static int on_resync(sd_event_source *s, uint64_t usec, void *userdata) {
        ProxyCommand *c = userdata;
        bool full = false;

        if (c->programmed && proxy_ruleset_intact() <= 0) {
                log_warning("proxy: table ip %s was deleted or flushed by someone else; restoring it", PROXY_TABLE);
                full = true;
        }
        (void) sync_now(c, full ? PROXY_SYNC_FULL : PROXY_SYNC_CHANGES);
        (void) sd_event_source_set_time(s, usec + c->sync_period_usec);
        return 0;
}

/* Changes arriving together are programmed together, once the loop is idle. */
static void schedule_sync(ProxyCommand *c) {
        (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}

static void on_event(KubeWatch *w, KubeEvent event, json_object *object, void *userdata) {
        ProxyCommand *c = userdata;
        bool services = w == c->services;
        int changed = 0;

        switch (event) {
        case KUBE_ADDED:
        case KUBE_MODIFIED:
                changed = services ? proxy_service_update(c->proxy, object) : proxy_slice_update(c->proxy, object);
                break;
        case KUBE_DELETED:
                changed = services ? proxy_service_delete(c->proxy, object) : proxy_slice_delete(c->proxy, object);
                break;
        case KUBE_SYNCED:
                if (services)
                        c->services_synced = true;
                else
                        c->slices_synced = true;
                changed = 1;
                break;
        case KUBE_FAILED:
                /* --dump answers now or not at all; the proxy itself keeps retrying. */
                if (c->dump)
                        sd_event_exit(c->event, 1);
                return;
        }
        if (changed != 0)
                schedule_sync(c);
}

/* "CIDR[,CIDR…]", as kube-proxy's --nodeport-addresses. */
static int parse_nodeport_addresses(const char *list, ProxyConfig *config) {
        _cleanup_free_ char *copy = strdup(list);
        char *save = NULL;

        if (!copy)
                return log_oom();
        config->n_nodeport_cidrs = 0;
        for (char *cidr = strtok_r(copy, ",", &save); cidr; cidr = strtok_r(NULL, ",", &save)) {
                if (config->n_nodeport_cidrs == PROXY_MAX_NODEPORT_CIDRS) {
                        log_error("proxy: --nodeport-addresses: more than %d networks", PROXY_MAX_NODEPORT_CIDRS);
                        return -E2BIG;
                }
                if (ipv4_prefix_parse(cidr, &config->nodeport_cidrs[config->n_nodeport_cidrs]) < 0) {
                        log_error("proxy: --nodeport-addresses: '%s' is not an IPv4 network in CIDR form", cidr);
                        return -EINVAL;
                }
                config->n_nodeport_cidrs++;
        }
        return 0;
}

int verb_proxy(int argc, char **argv, const GlobalOptions *opts) {
        static const struct option options[] = {
                { "kubeconfig", required_argument, NULL, 'k' },
                { "cluster-cidr", required_argument, NULL, 'c' },
                { "sync-period", required_argument, NULL, 's' },
                { "hostname-override", required_argument, NULL, 'H' },
                { "nodeport-addresses", required_argument, NULL, 'n' },
                { "dump", no_argument, NULL, 'd' },
                { "cleanup", no_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(verb_kube_done) VerbKube kube = {};
        _cleanup_(kube_watch_freep) KubeWatch *services = NULL, *slices = NULL;
        _cleanup_(proxy_freep) Proxy *proxy = NULL;
        ProxyConfig proxy_config = {};
        ProxyCommand cmd = { .sync_period_usec = DEFAULT_SYNC_PERIOD_SEC * 1000000ULL };
        const char *kubeconfig_path = getenv("KUBECONFIG");
        _cleanup_free_ char *node_name = NULL;
        bool cleanup = false;
        uint64_t now;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'k':
                        kubeconfig_path = optarg;
                        break;
                case 'c':
                        if (ipv4_prefix_parse(optarg, &proxy_config.cluster_cidr) < 0) {
                                log_error("proxy: --cluster-cidr '%s' is not an IPv4 network in CIDR form", optarg);
                                return 2;
                        }
                        proxy_config.have_cluster_cidr = true;
                        break;
                case 's': {
                        char *end;
                        unsigned long s = strtoul(optarg, &end, 10);
                        if (*end || s == 0 || s > 86400) {
                                log_error("proxy: --sync-period '%s' is not a number of seconds (1-86400)", optarg);
                                return 2;
                        }
                        cmd.sync_period_usec = s * 1000000ULL;
                        break;
                }
                case 'H':
                        free(node_name);
                        node_name = strdup(optarg);
                        if (!node_name)
                                return log_oom(), 1;
                        break;
                case 'n':
                        r = parse_nodeport_addresses(optarg, &proxy_config);
                        if (r < 0)
                                return 2;
                        break;
                case 'd':
                        cmd.dump = true;
                        break;
                case 'C':
                        cleanup = true;
                        break;
                case 'h':
                        printf("Usage: stevedore proxy --kubeconfig FILE [--cluster-cidr CIDR] [--sync-period SECONDS]\n"
                               "                       [--hostname-override NAME] [--nodeport-addresses CIDR[,CIDR…]]\n"
                               "                       [--dump | --cleanup]\n"
                               "Programs Services (ClusterIP, NodePort, externalIPs, LoadBalancer) into nftables\n"
                               "table ip " PROXY_TABLE "; endpoints on node NAME (default: the hostname) are local.\n"
                               "NodePorts answer on every local address, or on those in --nodeport-addresses.\n"
                               "--dump prints the ruleset it would program, in nft syntax; --cleanup removes it.\n");
                        return 0;
                default:
                        return 2;
                }
        if (cleanup) {
                r = proxy_ruleset_remove();
                if (r < 0)
                        return log_error_errno(r, "proxy: remove table ip %s: %m", PROXY_TABLE), 1;
                return 0;
        }
        if (optind != argc || !kubeconfig_path) {
                log_error("proxy: --kubeconfig is required");
                return 2;
        }
        if (!node_name && !(node_name = node_name_default()))
                return log_oom(), 1;
        if (strlen(node_name) >= sizeof(proxy_config.node_name)) {
                log_error("proxy: --hostname-override '%s' is longer than a node name can be", node_name);
                return 2;
        }
        strcpy(proxy_config.node_name, node_name);

        if (verb_kube_open("proxy", kubeconfig_path, NULL, 0, 0, &kube) < 0)
                return 1;
        cmd.event = kube.event;
        /* Off until a change schedules it. */
        r = sd_event_add_defer(kube.event, &cmd.defer, on_defer, &cmd);
        if (r < 0)
                return log_error_errno(r, "proxy: add the deferred sync: %m"), 1;
        r = sd_event_source_set_enabled(cmd.defer, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "proxy: disable the deferred sync: %m"), 1;
        r = sd_event_now(kube.event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return log_error_errno(r, "proxy: read the loop's clock: %m"), 1;
        r = sd_event_add_time(kube.event, &cmd.resync, CLOCK_MONOTONIC, now + cmd.sync_period_usec, 0, on_resync,
                              &cmd);
        if (r < 0)
                return log_error_errno(r, "proxy: add the --sync-period timer: %m"), 1;
        r = sd_event_source_set_enabled(cmd.resync, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "proxy: enable the --sync-period timer: %m"), 1;
        if (proxy_new(&proxy_config, &proxy) < 0)
                return log_oom(), 1;
        cmd.proxy = proxy;

        r = kube_watch_new(kube.client, "/api/v1/services", NULL, on_event, &cmd, &services);
        if (r < 0)
                return log_error_errno(r, "proxy: watch services: %m"), 1;
        cmd.services = services;
        r = kube_watch_new(kube.client, "/apis/discovery.k8s.io/v1/endpointslices", NULL, on_event, &cmd, &slices);
        if (r < 0)
                return log_error_errno(r, "proxy: watch endpointslices: %m"), 1;
        cmd.slices = slices;

        r = sd_event_loop(kube.event);
        sd_event_source_disable_unref(cmd.defer);
        sd_event_source_disable_unref(cmd.resync);
        (void) opts;
        return r != 0 ? 1 : 0;
}
