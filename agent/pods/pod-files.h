/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>

/* The files kubelet makes for each pod, as it makes them. */

/* /etc/hosts: kubelet's header and localhost lines, then "<pod IP>\t<hostname>" (with
 * the FQDN first when spec.hostname and spec.subdomain are set) and spec.hostAliases. */
char *pod_hosts_file(json_object *pod, const char *pod_ip, const char *cluster_domain);

/* /etc/resolv.conf by spec.dnsPolicy: ClusterFirst with cluster_dns set → the cluster's
 * nameserver, search "<ns>.svc.<domain> svc.<domain> <domain>" then the host's, and
 * "options ndots:5"; ClusterFirst without cluster_dns (kubelet falls back) and Default →
 * the host's file; None → only spec.dnsConfig. spec.dnsConfig's nameservers, searches
 * and options are added in every case. NULL on out of memory. */
char *pod_resolv_conf(json_object *pod, const char *host_resolv_conf, const char *cluster_dns,
                      const char *cluster_domain);

/* The pod's hostname: spec.hostname, else its name (at most 63 characters, as kubelet
 * truncates it). */
char *pod_hostname(json_object *pod);

/* What the downward API's fieldRef.fieldPath names (metadata.name, metadata.namespace,
 * metadata.uid, metadata.labels['k'], metadata.annotations['k'], spec.nodeName,
 * spec.serviceAccountName, status.podIP(s), status.hostIP(s)). -EINVAL for another path. */
typedef struct PodFieldContext {
        const char *pod_ip, *host_ip, *node_name;
} PodFieldContext;
int pod_field_value(json_object *pod, const PodFieldContext *c, const char *path, char **ret);
