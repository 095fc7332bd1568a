/* SPDX-License-Identifier: Apache-2.0 */
/* `stevedore agent`: the node agent. Today it registers the node and keeps its status
 * and Lease current; pods arrive with the pod workers (docs/architecture.md). */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>

#include "fileio.h"
#include "log.h"
#include "node-agent.h"
#include "node-info.h"
#include "verbs.h"

/* The source address the kernel would use towards the default route, as the node's
 * InternalIP; no packet is sent. NULL without a default route. */
static char *default_route_source_address(void) {
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) }, from;
        socklen_t len = sizeof(from);
        char buf[INET_ADDRSTRLEN];
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        inet_pton(AF_INET, "192.0.2.1", &to.sin_addr); /* TEST-NET-1: any off-link address does */
        if (fd < 0 || connect(fd, (struct sockaddr *) &to, sizeof(to)) < 0 ||
            getsockname(fd, (struct sockaddr *) &from, &len) < 0)
                return NULL;
        return strdup(inet_ntop(AF_INET, &from.sin_addr, buf, sizeof(buf)));
}

int verb_agent(int argc, char **argv, const GlobalOptions *opts) {
        static const struct option options[] = {
                { "kubeconfig", required_argument, NULL, 'k' },
                { "hostname-override", required_argument, NULL, 'H' },
                { "node-ip", required_argument, NULL, 'i' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ char *name = NULL, *node_ip = NULL, *error = NULL;
        _cleanup_(kubeconfig_freep) KubeConfig *config = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(kube_client_freep) KubeClient *client = NULL;
        _cleanup_(node_agent_freep) NodeAgent *agent = NULL;
        const char *kubeconfig_path = NULL;
        struct in_addr ip;
        sigset_t mask;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'k':
                        kubeconfig_path = optarg;
                        break;
                case 'H':
                        free(name);
                        name = strdup(optarg);
                        if (!name)
                                return log_oom(), 1;
                        break;
                case 'i':
                        if (inet_pton(AF_INET, optarg, &ip) != 1) {
                                log_error("agent: --node-ip '%s' is not an IPv4 address", optarg);
                                return 2;
                        }
                        free(node_ip);
                        node_ip = strdup(optarg);
                        if (!node_ip)
                                return log_oom(), 1;
                        break;
                case 'h':
                        printf("Usage: stevedore agent --kubeconfig FILE [--hostname-override NAME] [--node-ip IP]\n"
                               "Registers this machine as a Node and keeps its status and Lease current.\n");
                        return 0;
                default:
                        return 2;
                }
        if (optind != argc || !kubeconfig_path) {
                log_error("agent: --kubeconfig is required (standalone mode arrives with the pod workers)");
                return 2;
        }
        if (!name && !(name = node_name_default()))
                return log_oom(), 1;
        if (!node_ip)
                node_ip = default_route_source_address();

        r = kubeconfig_load(kubeconfig_path, NULL, &config, &error);
        if (r < 0) {
                log_error("kubeconfig %s", error ?: strerror(-r));
                return 1;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = kube_client_new(event, config, &client);
        if (r < 0)
                return log_error_errno(r, "agent: set up: %m"), 1;

        NodeAgentConfig node = { .name = name, .internal_ip = node_ip, .root_dir = opts->root_dir };
        r = mkdir_p(opts->root_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "agent: create %s: %m", opts->root_dir), 1;
        r = node_agent_new(client, &node, &agent);
        if (r < 0)
                return log_error_errno(r, "agent: node %s: %m", name), 1;

        log_info("agent: node %s (%s), API server %s", name, node_ip ?: "no InternalIP", config->server);
        r = sd_event_loop(event);
        return r < 0 ? 1 : 0;
}
