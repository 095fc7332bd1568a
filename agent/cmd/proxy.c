/* SPDX-License-Identifier: Apache-2.0 */
/* `stevedore proxy`: the Service proxy on its own (proxy-run.h), for nodes whose agent
 * runs with --service-proxy=false or is not stevedore. */
#include <getopt.h>

#include "log.h"
#include "node-info.h"
#include "proxy-run.h"
#include "verbs.h"

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
        _cleanup_(proxy_run_freep) ProxyRun *run = NULL;
        ProxyRunConfig config = {};
        ProxyConfig *proxy_config = &config.proxy;
        const char *kubeconfig_path = getenv("KUBECONFIG");
        _cleanup_free_ char *node_name = NULL;
        bool cleanup = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'k':
                        kubeconfig_path = optarg;
                        break;
                case 'c':
                        if (ipv4_prefix_parse(optarg, &proxy_config->cluster_cidr) < 0) {
                                log_error("proxy: --cluster-cidr '%s' is not an IPv4 network in CIDR form", optarg);
                                return 2;
                        }
                        proxy_config->have_cluster_cidr = true;
                        break;
                case 's': {
                        char *end;
                        unsigned long s = strtoul(optarg, &end, 10);
                        if (*end || s == 0 || s > 86400) {
                                log_error("proxy: --sync-period '%s' is not a number of seconds (1-86400)", optarg);
                                return 2;
                        }
                        config.sync_period_usec = s * 1000000ULL;
                        break;
                }
                case 'H':
                        free(node_name);
                        node_name = strdup(optarg);
                        if (!node_name)
                                return log_oom(), 1;
                        break;
                case 'n':
                        r = parse_nodeport_addresses(optarg, proxy_config);
                        if (r < 0)
                                return 2;
                        break;
                case 'd':
                        config.dump = true;
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
        if (strlen(node_name) >= sizeof(proxy_config->node_name)) {
                log_error("proxy: --hostname-override '%s' is longer than a node name can be", node_name);
                return 2;
        }
        strcpy(proxy_config->node_name, node_name);

        if (verb_kube_open("proxy", kubeconfig_path, NULL, 0, 0, &kube) < 0)
                return 1;
        if (proxy_run_new(kube.event, kube.client, &config, &run) < 0)
                return 1;
        r = sd_event_loop(kube.event);
        (void) opts;
        return r != 0 ? 1 : 0;
}
