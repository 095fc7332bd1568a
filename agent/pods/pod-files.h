/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

/* The files kubelet makes for each pod, as it makes them. */

/* /etc/hosts: kubelet's header and localhost lines, then "<pod IP>\t<hostname>" (with
 * the FQDN <hostname>.<subdomain>.<namespace>.svc.<cluster_domain> first when
 * spec.hostname and spec.subdomain are set; cluster_domain NULL is kubelet's "") and
 * spec.hostAliases. node_hosts (a hostNetwork pod's): the node's /etc/hosts instead, under
 * kubelet's "(host network)" header, then the aliases. */
char *pod_hosts_file(json_object *pod, const char *pod_ip, const char *cluster_domain, const char *node_hosts);
/* What of the node's /etc/hosts is read at most. */
#define POD_HOSTS_MAX_SIZE (1u << 20)

/* kubelet reads at most this much of the node's resolv.conf. */
#define POD_RESOLV_CONF_MAX_SIZE (10u << 20)

/* The node's DNS settings, as kubelet's clusterDNS, clusterDomain and resolvConf give them. */
typedef struct PodDnsConfig {
        const char *host_resolv_conf; /* the resolvConf file's content; NULL: resolvConf is "" */
        char *const *cluster_dns;     /* the cluster's DNS servers, NULL-terminated; NULL or empty: none */
        const char *cluster_domain;   /* NULL or "": none */
} PodDnsConfig;

/* A warning kubelet records as an event on the pod: reason and message. */
typedef void (*PodDnsWarning)(const char *reason, const char *message, void *userdata);

/* /etc/resolv.conf by spec.dnsPolicy, as kubelet's dns.Configurer.GetPodDNS decides it
 * and containerd writes it ("search …", a "nameserver" line each, "options …"):
 * - ClusterFirst (not hostNetwork) and ClusterFirstWithHostNet, with cluster DNS servers:
 *   those only, search "<ns>.svc.<domain> svc.<domain> <domain>" (without a domain: none
 *   of these) then the host's, "options ndots:5". Without servers: warning
 *   MissingClusterDNS and the host's, as Default.
 * - Default (and ClusterFirst with hostNetwork): the host's nameservers, last search line
 *   and options; with resolvConf "" nameserver 127.0.0.1 and search ".".
 * - None: nothing but spec.dnsConfig.
 * spec.dnsConfig's nameservers and searches are then added (each once), its options
 * replace those of the same name. At most 3 nameservers, 32 search paths of at most 253
 * characters, 2048 characters in all, the rest left out with warning DNSConfigForming.
 * Nothing at all: the host's file as it is, as containerd does. warn may be NULL. NULL
 * when out of memory. */
char *pod_resolv_conf(json_object *pod, const PodDnsConfig *config, PodDnsWarning warn, void *userdata);

/* The pod's hostname: spec.hostname, else its name (at most 63 characters, as kubelet
 * truncates it). */
char *pod_hostname(json_object *pod);

/* What the downward API's fieldRef.fieldPath names (metadata.name, metadata.namespace,
 * metadata.uid, metadata.labels['k'], metadata.annotations['k'], spec.nodeName,
 * spec.serviceAccountName, status.podIP(s), status.hostIP(s)). -EINVAL for another path. */
typedef struct PodFieldContext {
        const char *pod_ip, *host_ip, *node_name;
        /* The node's allocatable cpu (thousandths) and memory (bytes): what a limit that is
         * not set stands for. */
        int64_t allocatable_cpu_milli, allocatable_memory;
} PodFieldContext;
int pod_field_value(json_object *pod, const PodFieldContext *c, const char *path, char **ret);

/* A resourceFieldRef's value, as kubelet's ExtractContainerResourceValue gives it: resource
 * ("limits.cpu", "requests.memory", "limits.ephemeral-storage", "requests.hugepages-2Mi", …)
 * of container_name's resources over divisor (NULL or "": 1), rounded up; a cpu or memory
 * limit that is not set is the node's allocatable. -EINVAL for an unknown resource or a bad
 * divisor, -ENOENT for a container the pod does not have. */
int pod_resource_value(json_object *pod, const PodFieldContext *c, const char *container_name, const char *resource,
                       const char *divisor, char **ret);
