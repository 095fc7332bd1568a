/* SPDX-License-Identifier: Apache-2.0 */
/* `stevedore agent`: the node agent. It registers the node and keeps its status and
 * Lease current, and runs the pods bound to it (docs/architecture.md). */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>

#include "agent-config.h"
#include "config.h"
#include "fileio.h"
#include "image-manager.h"
#include "image-store.h"
#include "kubelet-server.h"
#include "log.h"
#include "node-registration.h"
#include "node-info.h"
#include "node-status.h"
#include "pod-cgroup.h"
#include "pod-manager.h"
#include "pod-network.h"
#include "proxy-run.h"
#include "pod-routes.h"
#include "service-notify.h"
#include "service-store.h"
#include "standalone.h"
#include "static-pods.h"
#include "verbs.h"
#include "vxlan.h"

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

/* What pods need on either side: the image store under the root and its manager, the
 * pod network (when a pod CIDR is given), the cgroup driver; and the runtime for the
 * monitors. */
typedef struct NodeParts {
        ImageStore *images;
        ImageManager *image_manager;
        PodNetwork *network;
        HostPorts *host_ports; /* with the pod network */
        PodCgroups *cgroups;
} NodeParts;

static void node_parts_done(NodeParts *p) {
        /* The image manager (which may hold pulls) before the store. */
        pod_cgroups_free(p->cgroups);
        host_ports_free(p->host_ports);
        pod_network_free(p->network);
        image_manager_free(p->image_manager);
        image_store_free(p->images);
}

static int open_node(sd_event *event, const GlobalOptions *opts, const PodNetworkConfig *net_config,
                     const char *runtime_path, const RegistryOptions *registry, CgroupDriver cgroup_driver,
                     NodeParts *parts) {
        _cleanup_free_ char *images_dir = NULL, *host_ports_state = NULL, *error = NULL;
        int r;

        r = mkdir_p(opts->root_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "agent: create %s: %m", opts->root_dir);
        if (asprintf(&images_dir, "%s/images", opts->root_dir) < 0)
                return log_oom();
        r = image_store_open(images_dir, NULL, &parts->images, &error);
        if (r < 0)
                return log_error_errno(r, "agent: image store %s: %s", images_dir, error ?: strerror(-r));
        r = image_manager_new(event, parts->images, registry, &parts->image_manager);
        if (r < 0)
                return log_error_errno(r, "agent: image manager: %m");
        if (net_config) {
                r = pod_network_new(net_config, &parts->network);
                if (r < 0)
                        return log_error_errno(r, "agent: pod network: %m");
                r = mkdir_p(opts->run_dir, 0755);
                if (r < 0)
                        return log_error_errno(r, "agent: create %s: %m", opts->run_dir);
                if (asprintf(&host_ports_state, "%s/hostports.json", opts->run_dir) < 0)
                        return log_oom();
                r = host_ports_new(host_ports_state, &parts->host_ports);
                if (r < 0)
                        return r;
        }
        r = pod_cgroups_new(event, cgroup_driver, &parts->cgroups);
        if (r < 0)
                return r;
        if (access(runtime_path, X_OK) < 0)
                return log_error_errno(-errno, "agent: the runtime %s: %m (see --runtime)", runtime_path);
        return 0;
}

/* The node's memory, and what of it and of its cpus the pods may have (the allocatable
 * node-status.c reports). */
static void node_resources(PodRuntime *rt) {
        NodeInfo info = {};

        (void) node_info_collect("/", &info);
        rt->node_memory = info.memory_bytes;
        rt->allocatable_cpu_milli = (int64_t) info.cpus * 1000;
        rt->allocatable_memory = (int64_t) node_allocatable_memory(info.memory_bytes);
        node_info_done(&info);
}

/* What the pods' resolv.conf is made from: kubelet's resolvConf, clusterDNS and
 * clusterDomain. */
typedef struct PodDns {
        const char *resolv_conf;
        char *const *cluster_dns;
        const char *cluster_domain;
} PodDns;

typedef struct StandaloneOptions {
        const char *manifest_dir, *node_name, *node_ip, *log_dir, *runtime_path;
        const PodDns *dns;
        const PodNetworkConfig *net_config;
        const ProxyConfig *proxy; /* NULL: the Services are not programmed */
        const RegistryOptions *registry;
        Ipv4Prefix service_cidr;
        CgroupDriver cgroup_driver;
} StandaloneOptions;

/* The standalone node's run: what its signals act on. */
typedef struct StandaloneRun {
        sd_event *event;
        Standalone *standalone;
        ServiceNotify *notify;
        bool stopping, leave_pods;
} StandaloneRun;

static void on_standalone_stopped(void *userdata) {
        StandaloneRun *run = userdata;

        sd_event_exit(run->event, 0);
}

static void on_standalone_pods(unsigned running, unsigned total, void *userdata) {
        StandaloneRun *run = userdata;

        /* The manifests are read and their pods scheduled: ready. */
        service_notify_pods(run->notify, running, total);
        service_notify_ready(run->notify);
}

/* Ctrl-C stops the pods within their grace periods; a second one leaves at once.
 * SIGTERM (`systemctl stop` or restart) leaves them running, Services programmed, as
 * kubelet and kube-proxy do: the next agent adopts them. */
static int on_standalone_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        StandaloneRun *run = userdata;

        if (run->stopping)
                return sd_event_exit(run->event, 1);
        run->stopping = true;
        if (si->ssi_signo == SIGTERM) {
                log_info("agent: SIGTERM: exiting, the pods keep running");
                service_notify_stopping(run->notify, false);
                run->leave_pods = true;
                return sd_event_exit(run->event, 0);
        }
        log_info("agent: SIGINT: stopping the pods");
        service_notify_stopping(run->notify, true);
        standalone_stop(run->standalone, on_standalone_stopped, run);
        return 0;
}

static int run_standalone(const GlobalOptions *opts, const StandaloneOptions *o) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        /* Freed in reverse: the pods (which may hold pulls) before the node's parts. */
        _cleanup_(node_parts_done) NodeParts parts = {};
        _cleanup_(service_notify_freep) ServiceNotify *notify = NULL;
        _cleanup_(pod_set_freep) PodSet *set = NULL;
        _cleanup_(standalone_freep) Standalone *standalone = NULL;
        /* The manifests' Services, for the containers' variables; freed after the pods. */
        _cleanup_(service_store_freep) ServiceStore *services = NULL;
        _cleanup_free_ char *status_path = NULL, *error = NULL;
        sd_event_source *sigint = NULL, *sigterm = NULL;
        StandaloneRun run = {};
        int r;

        if (asprintf(&status_path, "%s/status.json", opts->run_dir) < 0)
                return log_oom(), 1;
        r = mkdir_p(opts->run_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "agent: create %s: %m", opts->run_dir), 1;
        r = verb_event_new_signals_blocked(&event);
        if (r < 0)
                return log_error_errno(r, "agent: event loop: %m"), 1;
        r = service_notify_new(event, o->node_name, &notify);
        if (r < 0)
                return log_error_errno(r, "agent: service notification: %m"), 1;
        service_notify_starting(notify, "Starting the pods of %s", o->manifest_dir);
        if (open_node(event, opts, o->net_config, o->runtime_path, o->registry, o->cgroup_driver, &parts) < 0)
                return 1;
        r = service_store_new(&services);
        if (r < 0)
                return log_oom(), 1;
        PodRuntime rt = {
                .event = event, .images = parts.images, .image_manager = parts.image_manager, .network = parts.network,
                .host_ports = parts.host_ports,
                .cgroups = parts.cgroups, .state_dir = opts->root_dir,
                .run_dir = opts->run_dir, .log_dir = o->log_dir, .runtime_path = o->runtime_path,
                .node_name = o->node_name, .node_ip = o->node_ip,
                .resolv_conf = o->dns->resolv_conf, .cluster_dns = o->dns->cluster_dns,
                .cluster_domain = o->dns->cluster_domain, .services = services,
        };
        node_resources(&rt);
        run = (StandaloneRun) { .event = event, .notify = notify };
        StandaloneConfig config = {
                .manifest_dir = o->manifest_dir, .status_path = status_path, .proxy = o->proxy,
                .service_cidr = o->service_cidr, .services = services,
        };
        r = pod_set_new(on_standalone_pods, &run, &set);
        if (r < 0)
                return log_oom(), 1;
        (void) pod_set_attach(set, &rt);
        r = standalone_new(&config, set, &standalone, &error);
        if (r < 0)
                return log_error("agent: manifests %s: %s", o->manifest_dir, error ?: strerror(-r)), 1;
        run.standalone = standalone;
        r = sd_event_add_signal(event, &sigint, SIGINT, on_standalone_signal, &run);
        if (r < 0)
                return log_error_errno(r, "agent: SIGINT handler: %m"), 1;
        r = sd_event_add_signal(event, &sigterm, SIGTERM, on_standalone_signal, &run);
        if (r < 0) {
                sd_event_source_disable_unref(sigint);
                return log_error_errno(r, "agent: SIGTERM handler: %m"), 1;
        }
        log_info("agent: standalone node %s, pods and Services from %s", o->node_name, o->manifest_dir);
        r = sd_event_loop(event);
        sd_event_source_disable_unref(sigint);
        sd_event_source_disable_unref(sigterm);
        if (!run.leave_pods) {
                /* Nothing of the Services stays programmed once the node is gone. */
                (void) proxy_ruleset_remove();
                (void) unlink(status_path);
        }
        return r < 0 ? 1 : r;
}

static void on_cluster_pods(unsigned running, unsigned total, void *userdata) {
        service_notify_pods(userdata, running, total);
}

/* The pods' side of the agent with an API server; what the pointers point to lives as
 * long as the agent. */
typedef struct ClusterPods {
        sd_event *event;
        KubeClient *client;
        const GlobalOptions *opts;
        const char *node_name, *node_ip, *log_dir, *runtime_path;
        const char *static_pod_path; /* NULL: no static pods */
        const PodDns *dns;
        ServiceStore *services;
        const RegistryOptions *registry;
        ServiceNotify *notify;
        PodNetworkConfig net_config;
        bool have_pod_cidr;
        CgroupDriver cgroup_driver;
        NodeParts parts;
        PodSet *set; /* the kubelet API's too */
        PodManager *pods;
        StaticPods *static_pods;
} ClusterPods;

static void cluster_pods_done(ClusterPods *p) {
        /* The pods (which may hold pulls) before the node's parts; the static pods'
         * source before the manager it reports through. */
        if (p->static_pods)
                static_pods_free(p->static_pods);
        pod_manager_free(p->pods);
        pod_set_free(p->set);
        node_parts_done(&p->parts);
}

static void on_registered(void *userdata) {
        ClusterPods *p = userdata;

        service_notify_ready(p->notify);
}

static int cluster_pods_start(ClusterPods *p) {
        int r;

        r = open_node(p->event, p->opts, p->have_pod_cidr ? &p->net_config : NULL, p->runtime_path, p->registry,
                      p->cgroup_driver, &p->parts);
        if (r < 0)
                return r;
        PodRuntime rt = {
                .event = p->event, .images = p->parts.images, .image_manager = p->parts.image_manager,
                .network = p->parts.network, .host_ports = p->parts.host_ports, .cgroups = p->parts.cgroups,
                .state_dir = p->opts->root_dir, .run_dir = p->opts->run_dir, .log_dir = p->log_dir,
                .runtime_path = p->runtime_path, .node_name = p->node_name, .node_ip = p->node_ip,
                .resolv_conf = p->dns->resolv_conf, .cluster_dns = p->dns->cluster_dns,
                .cluster_domain = p->dns->cluster_domain, .services = p->services,
        };
        node_resources(&rt);
        r = pod_set_attach(p->set, &rt);
        if (r < 0)
                return log_error_errno(r, "agent: pods: %m");
        r = pod_manager_new(p->client, p->set, &p->pods);
        if (r < 0)
                return log_error_errno(r, "agent: pods: %m");
        if (p->static_pod_path) {
                _cleanup_free_ char *error = NULL;
                r = static_pods_new(p->static_pod_path, p->client, p->set, p->pods, &p->static_pods, &error);
                if (r < 0)
                        return log_error("agent: static pods %s: %s", p->static_pod_path, error ?: strerror(-r)), r;
                log_info("agent: static pods from %s", p->static_pod_path);
        }
        return 0;
}

/* Without --pod-cidr the pods wait for the node controller's spec.podCIDR, as a
 * kubelet's do for a network plugin that is not ready. */
static void on_pod_cidr(const char *pod_cidr, void *userdata) {
        ClusterPods *p = userdata;

        if (ipv4_prefix_parse(pod_cidr, &p->net_config.pod_cidr) < 0) {
                log_error("agent: node %s: spec.podCIDR '%s' is not an IPv4 network in CIDR form", p->node_name,
                          pod_cidr);
                (void) sd_event_exit(p->event, 1);
                return;
        }
        p->have_pod_cidr = true;
        if (cluster_pods_start(p) < 0)
                (void) sd_event_exit(p->event, 1);
}

static const struct option agent_options[] = {
        { "config", required_argument, NULL, 'c' },
        { "kubeconfig", required_argument, NULL, 'k' },
        { "hostname-override", required_argument, NULL, 'H' },
        { "node-ip", required_argument, NULL, 'i' },
        { "pod-cidr", required_argument, NULL, 'p' },
        { "runtime", required_argument, NULL, 'R' },
        { "log-dir", required_argument, NULL, 'L' },
        { "manifests", required_argument, NULL, 'm' },
        { "pod-manifest-path", required_argument, NULL, 'M' },
        { "service-cidr", required_argument, NULL, 'S' },
        { "port", required_argument, NULL, 'P' },
        { "insecure-registry", required_argument, NULL, 'I' },
        { "cgroup-driver", required_argument, NULL, 'G' },
        { "service-proxy", optional_argument, NULL, 'X' },
        { "cluster-cidr", required_argument, NULL, 'C' },
        { "cluster-dns", required_argument, NULL, 'D' },
        { "cluster-domain", required_argument, NULL, 'o' },
        { "resolv-conf", required_argument, NULL, 'r' },
        { "tls-cert-file", required_argument, NULL, 'T' },
        { "tls-private-key-file", required_argument, NULL, 'K' },
        { "register-with-taints", required_argument, NULL, 'W' },
        { "pod-routes", required_argument, NULL, 'g' },
        { "help", no_argument, NULL, 'h' },
        {},
};

static int set_option(char **slot, const char *value) {
        char *copy = strdup(value);

        if (!copy)
                return log_oom();
        free(*slot);
        *slot = copy;
        return 0;
}

/* --cluster-dns: comma-separated addresses appended to *list. */
static int parse_cluster_dns(const char *value, char ***list) {
        _cleanup_free_ char *copy = strdup(value);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *ip = strtok_r(copy, ",", &save); ip; ip = strtok_r(NULL, ",", &save)) {
                int r = agent_config_add_cluster_dns(list, ip);
                if (r == -EINVAL)
                        log_error("agent: --cluster-dns '%s' is not an IP address", ip);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The configuration file: --config's (which must exist), else the default one if it
 * exists. Read before the flags, which override it. */
static int load_config_file(int argc, char **argv, AgentConfig *config) {
        _cleanup_free_ char *error = NULL;
        const char *path = NULL;
        int c, r;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", agent_options, NULL)) >= 0)
                if (c == 'c')
                        path = optarg;
        opterr = 1;
        optind = 0;
        if (!path) {
                if (access(DEFAULT_CONFIG_PATH, F_OK) < 0)
                        return 0;
                path = DEFAULT_CONFIG_PATH;
        }
        r = agent_config_load(path, config, &error);
        if (r < 0) {
                log_error("agent: config %s", error ?: strerror(-r));
                service_notify_failed("Refused the config file: %s", error ?: strerror(-r));
                return r;
        }
        log_debug("agent: config from %s", path);
        return 0;
}

/* The Service proxy's view of this node: its name (which endpoints are local), the
 * cluster CIDR (traffic from outside it is masqueraded), and in cluster mode the node's
 * IP as the one NodePorts answer on (kube-proxy's nftables default, "primary"); every
 * local address when there is none but loopback, and in standalone mode. */
static void node_proxy_config(const char *node_name, const char *node_ip, const Ipv4Prefix *cluster_cidr,
                              ProxyConfig *ret) {
        struct in_addr ip;

        *ret = (ProxyConfig) { .have_cluster_cidr = cluster_cidr != NULL };
        if (cluster_cidr)
                ret->cluster_cidr = *cluster_cidr;
        snprintf(ret->node_name, sizeof(ret->node_name), "%s", node_name);
        if (node_ip && inet_pton(AF_INET, node_ip, &ip) == 1 && (ntohl(ip.s_addr) >> 24) != 127) {
                ret->nodeport_cidrs[0] = (Ipv4Prefix) { .addr = ip, .prefixlen = 32 };
                ret->n_nodeport_cidrs = 1;
        }
}

int verb_agent(int argc, char **argv, const GlobalOptions *opts) {
        _cleanup_free_ char *name = NULL, *node_ip = NULL;
        _cleanup_(verb_kube_done) VerbKube kube = {};
        _cleanup_(service_notify_freep) ServiceNotify *notify = NULL;
        _cleanup_(node_registration_freep) NodeRegistration *agent = NULL;
        /* Freed after the pods, which ask it. */
        _cleanup_(service_store_freep) ServiceStore *services = NULL;
        _cleanup_(pod_routes_freep) PodRoutes *routes = NULL;
        _cleanup_(cluster_pods_done) ClusterPods pods = {};
        _cleanup_free_ char *runtime_path = NULL;
        _cleanup_(agent_config_done) AgentConfig cfg = {};
        PodNetworkConfig net_config = { .state_dir = opts->root_dir, .run_dir = opts->run_dir, .masquerade = true };
        const char *log_dir, *kubeconfig_path, *manifest_dir;
        Ipv4Prefix service_cidr = {}, cluster_cidr = {};
        unsigned kubelet_port;
        RegistryHostConfig registries[16] = {};
        RegistryOptions registry = { .hosts = registries };
        _cleanup_(kubelet_server_freep) KubeletServer *kubelet = NULL;
        _cleanup_(proxy_run_freep) ProxyRun *proxy_run = NULL;
        ProxyConfig proxy_config;
        bool service_proxy;
        struct in_addr ip;
        bool flag_kubeconfig = false, flag_manifests = false, flag_pod_manifest_path = false, flag_cluster_dns = false;
        PodDns dns;
        int c, r;

        /* As a bad flag: exit status 2, which the unit does not restart on. */
        if (load_config_file(argc, argv, &cfg) < 0)
                return 2;
        while ((c = getopt_long(argc, argv, "h", agent_options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        break;
                case 'k':
                        if (set_option(&cfg.kubeconfig, optarg) < 0)
                                return 1;
                        flag_kubeconfig = true;
                        break;
                case 'H':
                        if (set_option(&cfg.hostname_override, optarg) < 0)
                                return 1;
                        break;
                case 'i':
                        if (inet_pton(AF_INET, optarg, &ip) != 1) {
                                log_error("agent: --node-ip '%s' is not an IPv4 address", optarg);
                                return 2;
                        }
                        if (set_option(&cfg.node_ip, optarg) < 0)
                                return 1;
                        break;
                case 'p':
                        if (ipv4_prefix_parse(optarg, &net_config.pod_cidr) < 0) {
                                log_error("agent: --pod-cidr '%s' is not an IPv4 network in CIDR form", optarg);
                                return 2;
                        }
                        if (set_option(&cfg.pod_cidr, optarg) < 0)
                                return 1;
                        break;
                case 'R':
                        if (set_option(&runtime_path, optarg) < 0)
                                return 1;
                        break;
                case 'L':
                        if (set_option(&cfg.log_dir, optarg) < 0)
                                return 1;
                        break;
                case 'm':
                        if (set_option(&cfg.static_pod_path, optarg) < 0)
                                return 1;
                        flag_manifests = true;
                        break;
                case 'M':
                        if (set_option(&cfg.static_pod_path, optarg) < 0)
                                return 1;
                        flag_pod_manifest_path = true;
                        break;
                case 'G':
                        if (streq(optarg, "systemd"))
                                cfg.cgroup_driver = CGROUP_DRIVER_SYSTEMD;
                        else if (streq(optarg, "cgroupfs"))
                                cfg.cgroup_driver = CGROUP_DRIVER_CGROUPFS;
                        else {
                                log_error("agent: --cgroup-driver '%s' is neither systemd nor cgroupfs", optarg);
                                return 2;
                        }
                        break;
                case 'D':
                        /* As kubelet's string slice: the flag replaces the file's list, and
                         * takes commas and repeats. */
                        if (!flag_cluster_dns)
                                strv_free(TAKE_PTR(cfg.cluster_dns));
                        flag_cluster_dns = true;
                        r = parse_cluster_dns(optarg, &cfg.cluster_dns);
                        if (r == -ENOMEM)
                                return log_oom(), 1;
                        if (r < 0)
                                return 2;
                        break;
                case 'o':
                        if (set_option(&cfg.cluster_domain, optarg) < 0)
                                return 1;
                        break;
                case 'r':
                        if (set_option(&cfg.resolv_conf, optarg) < 0)
                                return 1;
                        break;
                case 'I':
                        if (registry.n_hosts == ELEMENTSOF(registries)) {
                                log_error("agent: at most %zu --insecure-registry", ELEMENTSOF(registries));
                                return 2;
                        }
                        registries[registry.n_hosts++] = (RegistryHostConfig) { .host = optarg, .plain_http = true };
                        break;
                case 'P':
                        cfg.port = (unsigned) strtoul(optarg, NULL, 10);
                        if (cfg.port == 0 || cfg.port > 65535) {
                                log_error("agent: --port '%s' is not a port", optarg);
                                return 2;
                        }
                        break;
                case 'T':
                        if (set_option(&cfg.tls_cert_file, optarg) < 0)
                                return 1;
                        break;
                case 'K':
                        if (set_option(&cfg.tls_private_key_file, optarg) < 0)
                                return 1;
                        break;
                case 'W': {
                        _cleanup_free_ char *why = NULL;
                        NodeTaint *taints;
                        size_t n;

                        r = node_taints_parse(optarg, &taints, &n, &why);
                        if (r == -ENOMEM)
                                return log_oom(), 1;
                        if (r < 0) {
                                log_error("agent: --register-with-taints: %s", why);
                                return 2;
                        }
                        node_taints_free(cfg.taints, cfg.n_taints);
                        cfg.taints = taints;
                        cfg.n_taints = n;
                        break;
                }
                case 'C':
                        if (ipv4_prefix_parse(optarg, &cluster_cidr) < 0) {
                                log_error("agent: --cluster-cidr '%s' is not an IPv4 network in CIDR form", optarg);
                                return 2;
                        }
                        if (set_option(&cfg.cluster_cidr, optarg) < 0)
                                return 1;
                        break;
                case 'g':
                        if (pod_routes_mode_from_string(optarg, &cfg.pod_routes) < 0) {
                                log_error("agent: --pod-routes '%s' is not auto, host-gw, vxlan or none", optarg);
                                return 2;
                        }
                        break;
                case 'S':
                        if (ipv4_prefix_parse(optarg, &service_cidr) < 0) {
                                log_error("agent: --service-cidr '%s' is not an IPv4 network in CIDR form", optarg);
                                return 2;
                        }
                        if (set_option(&cfg.service_cidr, optarg) < 0)
                                return 1;
                        break;
                case 'X':
                        if (!optarg || streq(optarg, "true"))
                                cfg.service_proxy = AGENT_CONFIG_TRUE;
                        else if (streq(optarg, "false"))
                                cfg.service_proxy = AGENT_CONFIG_FALSE;
                        else {
                                log_error("agent: --service-proxy='%s' is neither true nor false", optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        printf("Usage: stevedore agent [--config FILE] --kubeconfig FILE [--hostname-override NAME]\n"
                               "                       [--node-ip IP] [--pod-cidr CIDR] [--runtime PATH] [--log-dir DIR]\n"
                               "                       [--port PORT] [--cgroup-driver systemd|cgroupfs]\n"
                               "                       [--cluster-dns IP[,IP…]] [--cluster-domain DOMAIN] [--resolv-conf FILE]\n"
                               "                       [--tls-cert-file FILE --tls-private-key-file FILE]\n"
                               "                       [--register-with-taints KEY[=VALUE]:EFFECT,…]\n"
                               "                       [--pod-routes auto|host-gw|vxlan|none]\n"
                               "                       [--insecure-registry HOST]… (plain HTTP to HOST's registry)\n"
                               "                       [--cluster-cidr CIDR] [--service-proxy=false] [--pod-manifest-path DIR]\n"
                               "       stevedore agent [--config FILE] --manifests DIR --pod-cidr CIDR [--service-cidr CIDR] …\n"
                               "With --kubeconfig: registers this machine as a Node, keeps its status and Lease\n"
                               "current, and runs the pods bound to it (their network from --pod-cidr, or from\n"
                               "the Node's spec.podCIDR without), and with --pod-manifest-path the Pods of DIR's\n"
                               "manifests as static pods, with their mirror pods in the API. With --manifests\n"
                               "(standalone, no API server): runs the Pods and Services of the manifest files\n"
                               "in DIR, watched for changes; Ctrl-C stops them, SIGTERM leaves them running\n"
                               "for the next agent to adopt.\n"
                               "Either way it also does kube-proxy's job: Services into nftables table\n"
                               "ip " PROXY_TABLE " (docs/proxy.md); traffic to them from outside --cluster-cidr\n"
                               "is masqueraded. --service-proxy=false leaves Services to another proxy.\n"
                               "Pods get kubelet's Service variables and, by dnsPolicy, a resolv.conf naming\n"
                               "--cluster-dns (none by default: the node's, with a MissingClusterDNS warning),\n"
                               "searching --cluster-domain, from --resolv-conf (default /etc/resolv.conf).\n"
                               "--config FILE (default " DEFAULT_CONFIG_PATH " if present): the same settings\n"
                               "as KubeletConfiguration YAML (docs/systemd.md); flags override it.\n");
                        return 0;
                default:
                        return 2;
                }
        /* --manifests is standalone mode, whatever the file says; staticPodPath (or
         * --pod-manifest-path) beside a kubeconfig is kubelet's static pods. */
        if (flag_manifests && (flag_kubeconfig || flag_pod_manifest_path)) {
                log_error("agent: --manifests runs standalone, without --kubeconfig or --pod-manifest-path "
                          "(--kubeconfig with --pod-manifest-path runs static pods beside the API server's)");
                return 2;
        }
        if (flag_manifests)
                free(TAKE_PTR(cfg.kubeconfig));
        kubeconfig_path = cfg.kubeconfig;
        manifest_dir = cfg.static_pod_path;
        log_dir = cfg.log_dir ?: "/var/log";
        kubelet_port = cfg.port ?: 10250;
        /* Values from the file were checked when it was read. */
        if (cfg.pod_cidr)
                (void) ipv4_prefix_parse(cfg.pod_cidr, &net_config.pod_cidr);
        if (ipv4_prefix_parse(cfg.service_cidr ?: "10.96.0.0/12", &service_cidr) < 0)
                return 1;
        /* Pods' traffic inside the cluster CIDR keeps its source address: a pod on
         * another node sees the pod's own. */
        if (cfg.cluster_cidr) {
                (void) ipv4_prefix_parse(cfg.cluster_cidr, &cluster_cidr);
                net_config.cluster_cidrs[0] = cluster_cidr;
                net_config.n_cluster_cidrs = 1;
        }
        if (optind != argc || (!kubeconfig_path && !manifest_dir)) {
                log_error("agent: either --kubeconfig (a cluster's node) or --manifests (standalone) is required "
                          "(or kubeconfig or staticPodPath in the config file)");
                return 2;
        }
        if (cfg.hostname_override && !(name = strdup(cfg.hostname_override)))
                return log_oom(), 1;
        if (cfg.node_ip && !(node_ip = strdup(cfg.node_ip)))
                return log_oom(), 1;
        if (!name && !(name = node_name_default()))
                return log_oom(), 1;
        if (!node_ip)
                node_ip = default_route_source_address();
        if (!runtime_path && !(runtime_path = default_runtime_path()))
                return log_oom(), 1;
        service_proxy = cfg.service_proxy != AGENT_CONFIG_FALSE;
        if (!service_proxy) {
                /* What an earlier run programmed would shadow the other proxy's rules. */
                r = proxy_ruleset_remove();
                if (r < 0)
                        return log_error_errno(r, "agent: remove table ip %s: %m", PROXY_TABLE), 1;
                log_info("agent: Service proxy off (--service-proxy=false): Services are left to another proxy");
        }
        dns = (PodDns) { .resolv_conf = cfg.resolv_conf ?: "/etc/resolv.conf", .cluster_dns = cfg.cluster_dns,
                         .cluster_domain = cfg.cluster_domain };
        if (!kubeconfig_path) {
                /* Standalone pods are the cluster: their CIDR unless one is given. */
                node_proxy_config(name, NULL, cfg.cluster_cidr ? &cluster_cidr : cfg.pod_cidr ? &net_config.pod_cidr : NULL,
                                  &proxy_config);
                StandaloneOptions o = {
                        .proxy = service_proxy ? &proxy_config : NULL,
                        .manifest_dir = manifest_dir, .node_name = name, .node_ip = node_ip,
                        .net_config = cfg.pod_cidr ? &net_config : NULL, .log_dir = log_dir, .runtime_path = runtime_path,
                        .dns = &dns, .service_cidr = service_cidr,
                        .registry = &registry, .cgroup_driver = cfg.cgroup_driver,
                };
                return run_standalone(opts, &o);
        }

        if (verb_kube_open("agent", kubeconfig_path, NULL, cfg.kube_api_qps, cfg.kube_api_burst, &kube) < 0)
                return 1;
        r = service_notify_new(kube.event, name, &notify);
        if (r < 0)
                return log_error_errno(r, "agent: service notification: %m"), 1;
        service_notify_starting(notify, "Registering node %s with %s", name, kube.config->server);
        /* Listed from the start, so that it has synced by the time the pods come. */
        r = service_store_new(&services);
        if (r >= 0)
                r = service_store_watch(services, kube.client);
        if (r < 0)
                return log_error_errno(r, "agent: the Services' watch: %m"), 1;

        /* Where a node may be reached through VXLAN, the pods' packets leave room for its
         * header (as Calico's CrossSubnet mode does for every pod). */
        if (cfg.pod_routes == POD_ROUTES_VXLAN || cfg.pod_routes == POD_ROUTES_AUTO)
                net_config.mtu_overhead = VXLAN_OVERHEAD;
        pods = (ClusterPods) {
                .event = kube.event, .client = kube.client, .opts = opts, .node_name = name, .node_ip = node_ip,
                .log_dir = log_dir, .runtime_path = runtime_path, .dns = &dns, .services = services,
                .registry = &registry,
                .net_config = net_config, .have_pod_cidr = cfg.pod_cidr != NULL, .cgroup_driver = cfg.cgroup_driver,
                .notify = notify, .static_pod_path = manifest_dir,
        };
        r = pod_set_new(on_cluster_pods, notify, &pods.set);
        if (r < 0)
                return log_oom(), 1;
        NodeRegistrationConfig node = { .name = name, .internal_ip = node_ip, .root_dir = opts->root_dir,
                                 .kubelet_port = kubelet_port, .taints = cfg.taints, .n_taints = cfg.n_taints,
                                 .on_pod_cidr = cfg.pod_cidr ? NULL : on_pod_cidr,
                                 .registered = on_registered, .userdata = &pods };
        r = mkdir_p(opts->root_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "agent: create %s: %m", opts->root_dir), 1;
        r = node_registration_new(kube.client, &node, &agent);
        if (r < 0)
                return log_error_errno(r, "agent: node %s: %m", name), 1;
        if (cfg.pod_routes != POD_ROUTES_NONE) {
                PodRoutesConfig rc = { .node_name = name, .node_ip = node_ip, .mode = cfg.pod_routes };

                r = pod_routes_new(kube.client, &rc, &routes);
                if (r < 0)
                        return log_error_errno(r, "agent: pod routes: %m"), 1;
        }
        if (cfg.pod_cidr && cluster_pods_start(&pods) < 0)
                return 1;

        KubeletServerConfig api = {
                .port = kubelet_port, .node_name = name, .node_ip = node_ip, .tls_cert_file = cfg.tls_cert_file,
                .tls_private_key_file = cfg.tls_private_key_file, .client_ca = kube.config->ca,
                .client_ca_size = kube.config->ca_size, .pods = pods.set, .run_dir = opts->run_dir,
                .runtime_path = runtime_path,
        };
        r = kubelet_server_new(kube.event, &api, &kubelet);
        if (r < 0)
                return 1;
        if (service_proxy) {
                ProxyRunConfig proxy = {};
                node_proxy_config(name, node_ip, cfg.cluster_cidr ? &cluster_cidr : NULL, &proxy.proxy);
                if (proxy_run_new(kube.event, kube.client, &proxy, &proxy_run) < 0)
                        return 1;
        }
        log_info("agent: node %s (%s), API server %s, kubelet API on :%u, Service proxy %s", name,
                 node_ip ?: "no InternalIP", kube.config->server, kubelet_port, service_proxy ? "on" : "off");
        r = sd_event_loop(kube.event);
        /* SIGINT or SIGTERM: the pods keep running for the next agent. A failure that
         * ended the loop (the pod network refused) is its exit status. */
        service_notify_stopping(notify, false);
        return r < 0 ? 1 : r;
}
