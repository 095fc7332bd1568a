/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

/* The agent's configuration file (/etc/stevedore/config.yaml, `--config`): one YAML
 * mapping whose fields are named as KubeletConfiguration's where they mean the same
 * (staticPodPath, podCIDR, port, cgroupDriver, kubeAPIQPS, kubeAPIBurst, clusterDNS (a
 * list of IPs), clusterDomain, resolvConf, and apiVersion/kind if given), as kubelet's
 * flags otherwise (kubeconfig, hostnameOverride, nodeIP), as kube-proxy's for the
 * Service proxy (clusterCIDR), plus serviceCIDR, logDir and serviceProxy. Strict, as
 * kubelet reads its file: an unknown or repeated field, a value
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

typedef struct AgentConfig {
        char *kubeconfig, *hostname_override, *node_ip, *pod_cidr, *static_pod_path, *service_cidr, *log_dir;
        unsigned port; /* 0: not given */
        CgroupDriver cgroup_driver;
        unsigned kube_api_qps, kube_api_burst; /* the API client's rate limit; 0: 50 and 100 */
        /* The Service proxy: traffic from outside cluster_cidr to a Service is masqueraded
         * (kube-proxy's clusterCIDR); service_proxy false turns the proxy off, for nodes
         * where another Service proxy runs. */
        char *cluster_cidr;
        AgentConfigBool service_proxy;
        char **cluster_dns;   /* NULL-terminated; NULL: none */
        char *cluster_domain; /* NULL: none (kubelet has no default) */
        char *resolv_conf;    /* NULL: /etc/resolv.conf; "": none */
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
