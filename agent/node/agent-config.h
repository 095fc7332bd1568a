/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

/* The agent's configuration file (/etc/stevedore/config.yaml, `--config`): one YAML
 * mapping whose fields are named as KubeletConfiguration's where they mean the same
 * (staticPodPath, podCIDR, port, cgroupDriver, kubeAPIQPS, kubeAPIBurst, clusterDNS (a
 * list of IPs), clusterDomain, resolvConf, tlsCertFile, tlsPrivateKeyFile,
 * registerWithTaints, and apiVersion/kind if given), as kubelet's flags otherwise
 * (kubeconfig, hostnameOverride, nodeIP), as kube-proxy's for clusterCIDR, plus
 * serviceCIDR, logDir, serviceProxy and podRoutes. Strict, as kubelet reads its file: an
 * unknown or repeated field, a value
 * of the wrong type or an invalid one is refused with "FILE:LINE: …" naming the field.
 * Command-line flags override what the file says. */

typedef enum CgroupDriver {
        CGROUP_DRIVER_AUTO, /* systemd when it is PID 1 */
        CGROUP_DRIVER_CGROUPFS,
        CGROUP_DRIVER_SYSTEMD,
} CgroupDriver;

typedef enum AgentConfigBool {
        AGENT_CONFIG_UNSET,
        AGENT_CONFIG_FALSE,
        AGENT_CONFIG_TRUE,
} AgentConfigBool;
/* How pods reach the pods of other nodes (docs/networking.md): a route via the other
 * node's InternalIP where it is on a link of this node, else through VXLAN (auto); one
 * of the two for every node; or no routes (another component makes them). */
typedef enum PodRoutesMode {
        POD_ROUTES_AUTO,
        POD_ROUTES_HOST_GW,
        POD_ROUTES_VXLAN,
        POD_ROUTES_NONE,
        _POD_ROUTES_MAX,
} PodRoutesMode;

/* A taint the Node is registered with, as a v1.Taint; value may be empty. */
typedef struct NodeTaint {
        char *key, *value, *effect;
} NodeTaint;

typedef struct AgentConfig {
        char *kubeconfig, *hostname_override, *node_ip, *pod_cidr, *static_pod_path, *service_cidr, *log_dir;
        /* pods' traffic into it is not masqueraded, nor is the Service proxy's from it
         * (kube-proxy's clusterCIDR) */
        char *cluster_cidr;
        char *tls_cert_file, *tls_private_key_file; /* the kubelet API's; none: a self-signed one */
        unsigned port;                               /* 0: not given */
        CgroupDriver cgroup_driver;
        unsigned kube_api_qps, kube_api_burst; /* the API client's rate limit; 0: 50 and 100 */
        /* service_proxy false turns the Service proxy off, for nodes where another Service
         * proxy runs. */
        AgentConfigBool service_proxy;
        char **cluster_dns;   /* NULL-terminated; NULL: none */
        char *cluster_domain; /* NULL: none (kubelet has no default) */
        char *resolv_conf;    /* NULL: /etc/resolv.conf; "": none */
        NodeTaint *taints;
        size_t n_taints;
        PodRoutesMode pod_routes;
} AgentConfig;

#define AGENT_CONFIG_MAX_SIZE (1u << 20)

/* Fills *config (fields the text leaves out are left as they are). On failure -EINVAL
 * (or -ENOMEM) and *ret_error: "origin:line: what". */
int agent_config_parse(const char *text, size_t size, const char *origin, AgentConfig *config, char **ret_error);
/* Reads and parses a file (at most AGENT_CONFIG_MAX_SIZE). */
int agent_config_load(const char *path, AgentConfig *config, char **ret_error);
void agent_config_done(AgentConfig *config);

/* Appends an IPv4 or IPv6 address to a NULL-terminated list (clusterDNS, --cluster-dns),
 * in inet_ntop's form: 0, -EINVAL if it is not one, -ENOMEM. */
int agent_config_add_cluster_dns(char ***list, const char *address);

const char *cgroup_driver_to_string(CgroupDriver d);

const char *pod_routes_mode_to_string(PodRoutesMode m);
/* "auto", "host-gw", "vxlan" or "none"; -EINVAL for anything else. */
int pod_routes_mode_from_string(const char *s, PodRoutesMode *ret);

/* kubelet's --register-with-taints: "key[=value]:effect" separated by commas (an empty
 * string is no taint). The key must be a qualified name, the value a label value, the
 * effect NoSchedule, PreferNoSchedule or NoExecute; *ret_error says which is not. */
int node_taints_parse(const char *spec, NodeTaint **ret, size_t *ret_n, char **ret_error);
/* NULL if the taint is valid, else what is wrong with it. */
const char *node_taint_invalid(const NodeTaint *t);
void node_taints_free(NodeTaint *taints, size_t n);
