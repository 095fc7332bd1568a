/* SPDX-License-Identifier: Apache-2.0 */
/* `stevedore agent`: the node agent. It registers the node and keeps its status and
 * Lease current, and runs the pods bound to it (docs/architecture.md). */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>

#include "fileio.h"
#include "image-store.h"
#include "log.h"
#include "node-agent.h"
#include "node-info.h"
#include "pod-manager.h"
#include "pod-network.h"
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

/* stevedore-runc beside this program runs the containers' monitors. */
static char *default_runtime_path(void) {
        _cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
        char *slash = self ? strrchr(self, '/') : NULL, *path = NULL;

        if (!slash)
                return NULL;
        *slash = '\0';
        return asprintf(&path, "%s/stevedore-runc", self) < 0 ? NULL : path;
}

/* The pods' side of the agent: image store, pod network, pod manager. What rt points
 * to (runtime_path, resolv) lives as long as the agent. */
static int start_pods(sd_event *event, KubeClient *client, const GlobalOptions *opts, const char *node_name,
                      const char *node_ip, const PodNetworkConfig *net_config, const char *log_dir,
                      const char *runtime_path, const char *resolv, ImageStore **images, PodNetwork **network,
                      PodManager **pods) {
        _cleanup_free_ char *images_dir = NULL, *error = NULL;
        NodeInfo info = {};
        int r;

        if (asprintf(&images_dir, "%s/images", opts->root_dir) < 0)
                return log_oom();
        r = image_store_open(images_dir, NULL, images, &error);
        if (r < 0)
                return log_error_errno(r, "agent: image store %s: %s", images_dir, error ?: strerror(-r));
        if (net_config) {
                r = pod_network_new(net_config, network);
                if (r < 0)
                        return log_error_errno(r, "agent: pod network: %m");
        }
        if (access(runtime_path, X_OK) < 0)
                return log_error_errno(-errno, "agent: the runtime %s: %m (see --runtime)", runtime_path);
        (void) node_info_collect("/", &info);
        PodRuntime rt = {
                .event = event, .images = *images, .network = *network, .state_dir = opts->root_dir,
                .run_dir = opts->run_dir, .log_dir = log_dir, .runtime_path = runtime_path, .node_name = node_name,
                .node_ip = node_ip, .node_memory = info.memory_bytes, .host_resolv_conf = resolv,
        };
        r = pod_manager_new(client, &rt, pods);
        node_info_done(&info);
        if (r < 0)
                return log_error_errno(r, "agent: pods: %m");
        return 0;
}

int verb_agent(int argc, char **argv, const GlobalOptions *opts) {
        static const struct option options[] = {
                { "kubeconfig", required_argument, NULL, 'k' },
                { "hostname-override", required_argument, NULL, 'H' },
                { "node-ip", required_argument, NULL, 'i' },
                { "pod-cidr", required_argument, NULL, 'p' },
                { "runtime", required_argument, NULL, 'R' },
                { "log-dir", required_argument, NULL, 'L' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ char *name = NULL, *node_ip = NULL, *error = NULL;
        _cleanup_(kubeconfig_freep) KubeConfig *config = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(kube_client_freep) KubeClient *client = NULL;
        _cleanup_(node_agent_freep) NodeAgent *agent = NULL;
        _cleanup_(image_store_freep) ImageStore *images = NULL;
        _cleanup_(pod_network_freep) PodNetwork *network = NULL;
        _cleanup_(pod_manager_freep) PodManager *pods = NULL;
        _cleanup_free_ char *resolv = NULL, *runtime_path = NULL;
        PodNetworkConfig net_config = { .state_dir = opts->root_dir, .run_dir = opts->run_dir, .masquerade = true };
        const char *kubeconfig_path = NULL, *log_dir = "/var/log", *pod_cidr = NULL;
        struct in_addr ip;
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
                case 'p':
                        if (ipv4_prefix_parse(optarg, &net_config.pod_cidr) < 0) {
                                log_error("agent: --pod-cidr '%s' is not an IPv4 network in CIDR form", optarg);
                                return 2;
                        }
                        pod_cidr = optarg;
                        break;
                case 'R':
                        free(runtime_path);
                        runtime_path = strdup(optarg);
                        if (!runtime_path)
                                return log_oom(), 1;
                        break;
                case 'L':
                        log_dir = optarg;
                        break;
                case 'h':
                        printf("Usage: stevedore agent --kubeconfig FILE [--hostname-override NAME] [--node-ip IP]\n"
                               "                       [--pod-cidr CIDR] [--runtime PATH] [--log-dir DIR]\n"
                               "Registers this machine as a Node, keeps its status and Lease current, and runs\n"
                               "the pods bound to it (their network from --pod-cidr; none without).\n");
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

        r = verb_event_new(&event);
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

        if (!runtime_path && !(runtime_path = default_runtime_path()))
                return log_oom(), 1;
        (void) read_full_file("/etc/resolv.conf", 65536, &resolv, NULL);
        r = start_pods(event, client, opts, name, node_ip, pod_cidr ? &net_config : NULL, log_dir, runtime_path,
                       resolv, &images, &network, &pods);
        if (r < 0)
                return 1;

        log_info("agent: node %s (%s), API server %s", name, node_ip ?: "no InternalIP", config->server);
        r = sd_event_loop(event);
        return r < 0 ? 1 : 0;
}
