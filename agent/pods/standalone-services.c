/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "standalone-services.h"

uint64_t fnv1a(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
        return h;
}

void service_key(json_object *service, char *key, size_t size) {
        snprintf(key, size, "%s/%s", json_get_string(service, "metadata", "namespace", NULL) ?: "default",
                 json_get_string(service, "metadata", "name", NULL) ?: "");
}

/* --- the allocators ------------------------------------------------------------------ */

/* A free address of the service CIDR for service (the same one each time, if free),
 * skipping the network address and .1 (the API server's kubernetes Service). */
static char *allocate_cluster_ip(Ipv4Prefix cidr, json_object *services, const char *key) {
        uint32_t base = ntohl(cidr.addr.s_addr);
        uint32_t size = cidr.prefixlen >= 31 ? 1 : (UINT32_C(1) << (32 - cidr.prefixlen)) - 3;
        uint64_t h = fnv1a(key);

        for (uint32_t attempt = 0; attempt < size; attempt++) {
                struct in_addr a = { htonl(base + 2 + (uint32_t) ((h + attempt) % size)) };
                char text[INET_ADDRSTRLEN];
                bool taken = false;

                inet_ntop(AF_INET, &a, text, sizeof(text));
                for (size_t i = 0; i < json_object_array_length(services); i++)
                        taken |= streq(json_get_string(json_object_array_get_idx(services, i), "spec", "clusterIP", NULL) ?: "", text);
                if (!taken)
                        return strdup(text);
        }
        return NULL;
}

static int allocate_node_port(json_object *services, const char *key, unsigned index) {
        uint64_t h = fnv1a(key) + index;

        for (int attempt = 0; attempt <= NODEPORT_MAX - NODEPORT_MIN; attempt++) {
                int port = NODEPORT_MIN + (int) ((h + (uint64_t) attempt) % (NODEPORT_MAX - NODEPORT_MIN + 1));
                bool taken = false;

                for (size_t i = 0; i < json_object_array_length(services); i++) {
                        json_object *ports = json_object_object_get(json_object_object_get(json_object_array_get_idx(services, i), "spec"), "ports");
                        for (size_t k = 0; ports && k < json_object_array_length(ports); k++)
                                taken |= json_object_get_int(json_object_object_get(json_object_array_get_idx(ports, k), "nodePort")) == port;
                }
                if (!taken)
                        return port;
        }
        return 0;
}

void service_complete(json_object *service, json_object *services, Ipv4Prefix service_cidr) {
        json_object *meta = json_object_object_get(service, "metadata"), *spec = json_object_object_get(service, "spec");
        const char *type = json_get_string(spec, "type", NULL) ?: "ClusterIP";
        json_object *ports = json_object_object_get(spec, "ports"), *ips;
        char key[512];

        if (!json_object_object_get(meta, "namespace"))
                json_object_object_add(meta, "namespace", json_object_new_string("default"));
        service_key(service, key, sizeof(key));
        if (!json_get_string(spec, "clusterIP", NULL)) {
                _cleanup_free_ char *ip = allocate_cluster_ip(service_cidr, services, key);
                if (ip) {
                        json_object_object_add(spec, "clusterIP", json_object_new_string(ip));
                        ips = json_object_new_array();
                        json_object_array_add(ips, json_object_new_string(ip));
                        json_object_object_add(spec, "clusterIPs", ips);
                }
        }
        if (!streq(type, "NodePort") && !streq(type, "LoadBalancer"))
                return;
        for (size_t i = 0; ports && i < json_object_array_length(ports); i++) {
                json_object *port = json_object_array_get_idx(ports, i);
                if (!json_object_object_get(port, "nodePort"))
                        json_object_object_add(port, "nodePort", json_object_new_int(allocate_node_port(services, key, (unsigned) i)));
        }
}

/* --- the endpoints -------------------------------------------------------------------- */

static bool labels_match(json_object *selector, json_object *labels) {
        if (!selector || !json_object_is_type(selector, json_type_object) || json_object_object_length(selector) == 0)
                return false;
        json_object_object_foreach(selector, key, value) {
                json_object *v;
                if (!json_object_object_get_ex(labels, key, &v) ||
                    !streq(json_object_get_string(v) ?: "", json_object_get_string(value) ?: ""))
                        return false;
        }
        return true;
}

static bool pod_ready(json_object *status) {
        json_object *conditions = json_object_object_get(status, "conditions");

        for (size_t i = 0; conditions && i < json_object_array_length(conditions); i++) {
                json_object *c = json_object_array_get_idx(conditions, i);
                if (streq(json_get_string(c, "type", NULL) ?: "", "Ready"))
                        return streq(json_get_string(c, "status", NULL) ?: "", "True");
        }
        return false;
}

/* targetPort: a number, or a container port's name in the pod. */
static int target_port(json_object *service_port, json_object *pod) {
        json_object *target = json_object_object_get(service_port, "targetPort");
        json_object *containers = json_object_object_get(json_object_object_get(pod, "spec"), "containers");

        if (!target)
                return json_object_get_int(json_object_object_get(service_port, "port"));
        if (json_object_is_type(target, json_type_int))
                return json_object_get_int(target);
        for (size_t i = 0; containers && i < json_object_array_length(containers); i++) {
                json_object *ports = json_object_object_get(json_object_array_get_idx(containers, i), "ports");
                for (size_t k = 0; ports && k < json_object_array_length(ports); k++) {
                        json_object *p = json_object_array_get_idx(ports, k);
                        if (streq(json_get_string(p, "name", NULL) ?: "", json_object_get_string(target)))
                                return json_object_get_int(json_object_object_get(p, "containerPort"));
                }
        }
        return atoi(json_object_get_string(target));
}

json_object *service_endpoint_slice(json_object *service, const EndpointPod *pods, size_t n_pods,
                                    const char *node_name) {
        json_object *slice = json_object_new_object(), *meta = json_object_new_object(), *labels = json_object_new_object();
        json_object *endpoints = json_object_new_array(), *ports = json_object_new_array();
        json_object *spec = json_object_object_get(service, "spec"), *service_ports = json_object_object_get(spec, "ports");
        const char *name = json_get_string(service, "metadata", "name", NULL) ?: "";
        bool have_ports = false;
        char slice_name[300];

        snprintf(slice_name, sizeof(slice_name), "%s-stevedore", name);
        json_object_object_add(meta, "name", json_object_new_string(slice_name));
        json_object_object_add(meta, "namespace",
                               json_object_new_string(json_get_string(service, "metadata", "namespace", NULL) ?: "default"));
        json_object_object_add(labels, "kubernetes.io/service-name", json_object_new_string(name));
        json_object_object_add(meta, "labels", labels);
        json_object_object_add(slice, "metadata", meta);
        json_object_object_add(slice, "addressType", json_object_new_string("IPv4"));
        for (const EndpointPod *p = pods; p < pods + n_pods; p++) {
                json_object *endpoint, *addresses, *conditions;
                const char *ip = json_get_string(p->status, "podIP", NULL);

                if (!ip ||
                    !streq(json_get_string(p->pod, "metadata", "namespace", NULL) ?: "default",
                           json_get_string(service, "metadata", "namespace", NULL) ?: "default") ||
                    !labels_match(json_object_object_get(spec, "selector"),
                                  json_object_object_get(json_object_object_get(p->pod, "metadata"), "labels")))
                        continue;
                if (!have_ports) {
                        for (size_t i = 0; service_ports && i < json_object_array_length(service_ports); i++) {
                                json_object *sp = json_object_array_get_idx(service_ports, i), *port = json_object_new_object();
                                if (json_get_string(sp, "name", NULL))
                                        json_object_object_add(port, "name", json_object_new_string(json_get_string(sp, "name", NULL)));
                                json_object_object_add(port, "port", json_object_new_int(target_port(sp, p->pod)));
                                json_object_object_add(port, "protocol",
                                                       json_object_new_string(json_get_string(sp, "protocol", NULL) ?: "TCP"));
                                json_object_array_add(ports, port);
                        }
                        have_ports = true;
                }
                endpoint = json_object_new_object();
                addresses = json_object_new_array();
                conditions = json_object_new_object();
                json_object_array_add(addresses, json_object_new_string(ip));
                json_object_object_add(endpoint, "addresses", addresses);
                json_object_object_add(conditions, "ready", json_object_new_boolean(pod_ready(p->status)));
                json_object_object_add(conditions, "serving", json_object_new_boolean(pod_ready(p->status)));
                json_object_object_add(conditions, "terminating", json_object_new_boolean(false));
                json_object_object_add(endpoint, "conditions", conditions);
                json_object_object_add(endpoint, "nodeName", json_object_new_string(node_name));
                json_object_array_add(endpoints, endpoint);
        }
        json_object_object_add(slice, "endpoints", endpoints);
        json_object_object_add(slice, "ports", ports);
        return slice;
}

