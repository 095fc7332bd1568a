/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <inttypes.h>

#include "error.h"
#include "json-util.h"
#include "macro.h"
#include "service.h"

#define MAX_PORTS 256
#define MAX_ENDPOINTS 1000 /* the API's own limit per slice */

/* "<kind> <key>: <what is wrong>"; -EINVAL. */
#define invalid(ret_error, kind, key, format, ...) \
        error_set(ret_error, -EINVAL, "%s %s: " format, kind, key, ##__VA_ARGS__)

int protocol_from_string(const char *s) {
        if (!s || streq(s, "TCP")) /* the API's default */
                return IPPROTO_TCP;
        if (streq(s, "UDP"))
                return IPPROTO_UDP;
        if (streq(s, "SCTP"))
                return IPPROTO_SCTP;
        return -EPROTONOSUPPORT;
}

const char *protocol_to_string(uint8_t protocol) {
        return protocol == IPPROTO_UDP ? "UDP" : protocol == IPPROTO_SCTP ? "SCTP" : "TCP";
}

/* A port number field: absent is 0 when optional; anything else must be 1-65535. */
static int get_port(json_object *o, const char *key, bool optional, uint16_t *ret) {
        json_object *v = json_get(o, key);
        int64_t n;

        if (!v) {
                *ret = 0;
                return optional ? 0 : -ENOENT;
        }
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        n = json_object_get_int64(v);
        if (n < 1 || n > 65535)
                return -ERANGE;
        *ret = (uint16_t) n;
        return 0;
}

/* Kubernetes names are DNS labels or subdomains; the lengths bound nftables chain names. */
static int object_key(json_object *o, char key[static SERVICE_NAME_MAX]) {
        const char *ns = json_get_string(o, "metadata", "namespace", NULL), *name = json_get_string(o, "metadata", "name", NULL);

        if (!name || !*name || strlen(name) > 63 || (ns && strlen(ns) > 63) || strpbrk(name, " \t\n\"") ||
            (ns && strpbrk(ns, " \t\n\"")))
                return -EINVAL;
        snprintf(key, SERVICE_NAME_MAX, "%s/%s", ns ? ns : "default", name);
        return 0;
}

static int parse_service_port(json_object *p, size_t i, ServicePort *sp, const char *key, char **ret_error) {
        const char *name = json_get_string(p, "name", NULL), *proto = json_get_string(p, "protocol", NULL);
        json_object *target = json_get(p, "targetPort");
        int r;

        if (name && (strlen(name) > 15 || strpbrk(name, " /\t\n\"")))
                return invalid(ret_error, "service", key, "spec.ports[%zu].name: '%s' is not a port name", i, name);
        snprintf(sp->name, sizeof(sp->name), "%s", name ? name : "");
        r = protocol_from_string(proto);
        if (r < 0)
                return invalid(ret_error, "service", key, "spec.ports[%zu].protocol: '%s' is not TCP, UDP or SCTP", i, proto);
        sp->protocol = (uint8_t) r;
        if (get_port(p, "port", false, &sp->port) < 0)
                return invalid(ret_error, "service", key, "spec.ports[%zu].port: missing or not a port (1-65535)", i);
        if (get_port(p, "nodePort", true, &sp->node_port) < 0)
                return invalid(ret_error, "service", key, "spec.ports[%zu].nodePort: not a port (1-65535)", i);

        /* targetPort: a number, a port name, or absent (= port). */
        if (!target)
                sp->target_port = sp->port;
        else if (json_object_is_type(target, json_type_string)) {
                const char *s = json_object_get_string(target);
                char *end;
                long n = strtol(s, &end, 10);

                if (*s && !*end && n >= 1 && n <= 65535)
                        sp->target_port = (uint16_t) n;
                else if (*s && strlen(s) < sizeof(sp->target_port_name))
                        snprintf(sp->target_port_name, sizeof(sp->target_port_name), "%s", s);
                else
                        return invalid(ret_error, "service", key, "spec.ports[%zu].targetPort: '%s' is neither a port nor a name",
                                       i, s);
        } else if (get_port(p, "targetPort", false, &sp->target_port) < 0)
                return invalid(ret_error, "service", key, "spec.ports[%zu].targetPort: not a port (1-65535)", i);
        return 0;
}

/* Up to SERVICE_MAX_EXTERNAL IPv4 addresses from a list of strings (or of objects with
 * an "ip" field, as status.loadBalancer.ingress); IPv6 ones are left to an IPv6 proxy. */
static int parse_ip_list(json_object *list, const char *field, struct in_addr *out, size_t *n, const char *key,
                         char **ret_error) {
        size_t len = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;

        for (size_t i = 0; i < len && *n < SERVICE_MAX_EXTERNAL; i++) {
                json_object *item = json_object_array_get_idx(list, i);
                const char *ip = json_object_is_type(item, json_type_object) ? json_get_string(item, "ip", NULL)
                                                                              : json_object_get_string(item);

                if (!ip || strchr(ip, ':')) /* hostname-only ingress, or IPv6 */
                        continue;
                if (inet_pton(AF_INET, ip, &out[*n]) != 1)
                        return invalid(ret_error, "service", key, "%s[%zu]: '%s' is not an IP address", field, i, ip);
                (*n)++;
        }
        return 0;
}

static int parse_external(json_object *o, Service *s, char **ret_error) {
        json_object *spec = json_get(o, "spec"), *ranges = json_get(spec, "loadBalancerSourceRanges");
        const char *affinity = json_get_string(spec, "sessionAffinity", NULL), *etp = json_get_string(spec, "externalTrafficPolicy", NULL),
                   *itp = json_get_string(spec, "internalTrafficPolicy", NULL);
        json_object *timeout = json_get(json_get(json_get(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds");
        size_t len = ranges && json_object_is_type(ranges, json_type_array) ? json_object_array_length(ranges) : 0;
        int r;

        if (affinity && streq(affinity, "ClientIP")) {
                int64_t t = timeout ? json_object_get_int64(timeout) : 10800; /* the API's default: 3 hours */
                if (t < 1 || t > 86400)
                        return invalid(ret_error, "service", s->key,
                                       "spec.sessionAffinityConfig.clientIP.timeoutSeconds: %" PRId64 " is not 1-86400", t);
                s->affinity_timeout = (uint32_t) t;
        }
        s->external_local = etp && streq(etp, "Local");
        s->internal_local = itp && streq(itp, "Local");

        r = parse_ip_list(json_get(spec, "externalIPs"), "spec.externalIPs", s->external_ips, &s->n_external_ips, s->key,
                          ret_error);
        if (r < 0)
                return r;
        r = parse_ip_list(json_get(json_get(json_get(o, "status"), "loadBalancer"), "ingress"), "status.loadBalancer.ingress",
                          s->lb_ips, &s->n_lb_ips, s->key, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < len && s->n_source_ranges < SERVICE_MAX_EXTERNAL; i++) {
                const char *range = json_object_get_string(json_object_array_get_idx(ranges, i));
                char trimmed[64];

                if (!range || strchr(range, ':'))
                        continue;
                snprintf(trimmed, sizeof(trimmed), "%.*s", (int) strcspn(range, " "), range);
                if (ipv4_prefix_parse(trimmed, &s->source_ranges[s->n_source_ranges]) < 0)
                        return invalid(ret_error, "service", s->key, "spec.loadBalancerSourceRanges[%zu]: '%s' is not a CIDR",
                                       i, range);
                s->n_source_ranges++;
        }
        return 0;
}

int service_parse(json_object *o, Service **ret, char **ret_error) {
        Service *s = calloc(1, sizeof(Service));
        json_object *spec = json_get(o, "spec"), *ports = json_get(spec, "ports");
        const char *ip = json_get_string(spec, "clusterIP", NULL);
        int r = 0;

        *ret_error = NULL;
        if (!s)
                return -ENOMEM;
        if (object_key(o, s->key) < 0) {
                r = invalid(ret_error, "service", "(unnamed)", "metadata: missing or invalid name or namespace");
                goto fail;
        }
        if (!ip || streq(ip, "None") || !*ip) {
                s->headless = true;
                *ret = s;
                return 0;
        }
        if (inet_pton(AF_INET, ip, &s->cluster_ip) != 1) {
                r = strchr(ip, ':') ? -EAFNOSUPPORT : invalid(ret_error, "service", s->key, "spec.clusterIP: '%s' is not an IP address", ip);
                goto fail;
        }
        if (ports && !json_object_is_type(ports, json_type_array)) {
                r = invalid(ret_error, "service", s->key, "spec.ports: not a list");
                goto fail;
        }
        s->n_ports = ports && json_object_is_type(ports, json_type_array) ? MIN(json_object_array_length(ports), (size_t) MAX_PORTS) : 0;
        s->ports = calloc(s->n_ports + 1, sizeof(ServicePort));
        if (!s->ports) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < s->n_ports; i++) {
                r = parse_service_port(json_object_array_get_idx(ports, i), i, &s->ports[i], s->key, ret_error);
                if (r < 0)
                        goto fail;
        }
        r = parse_external(o, s, ret_error);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        service_free(s);
        return r;
}

void service_free(Service *s) {
        if (!s)
                return;
        free(s->ports);
        free(s);
}

static bool condition(json_object *conditions, const char *key, bool missing) {
        json_object *v = json_get(conditions, key);

        /* The API: a nil "ready" means ready; nil serving means as ready; nil terminating, no. */
        return v ? json_object_get_boolean(v) : missing;
}

static int parse_endpoints(json_object *list, EndpointSlice *e, char **ret_error) {
        size_t n = list && json_object_is_type(list, json_type_array) ? MIN(json_object_array_length(list), (size_t) MAX_ENDPOINTS) : 0, total = 0;

        for (size_t i = 0; i < n; i++) { /* up to 4 addresses each, usually 1 */
                json_object *addrs = json_get(json_object_array_get_idx(list, i), "addresses");
                total += addrs && json_object_is_type(addrs, json_type_array)
                                 ? MIN(json_object_array_length(addrs), (size_t) 4)
                                 : 0;
        }
        e->endpoints = calloc(total + 1, sizeof(Endpoint));
        if (!e->endpoints)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *ep = json_object_array_get_idx(list, i), *addrs = json_get(ep, "addresses"),
                            *conds = json_get(ep, "conditions");
                bool ready = condition(conds, "ready", true);
                const char *node = json_get_string(ep, "nodeName", NULL);
                size_t n_addrs = addrs && json_object_is_type(addrs, json_type_array) ? json_object_array_length(addrs) : 0;

                for (size_t j = 0; j < MIN(n_addrs, (size_t) 4); j++) {
                        const char *a = json_object_get_string(json_object_array_get_idx(addrs, j));
                        Endpoint *out = &e->endpoints[e->n_endpoints];

                        if (!a || inet_pton(AF_INET, a, &out->address) != 1)
                                return invalid(ret_error, "endpointslice", e->key, "endpoints[%zu].addresses[%zu]: '%s' is not an IPv4 address",
                                               i, j, a ? a : "");
                        out->ready = ready;
                        out->serving = condition(conds, "serving", ready);
                        out->terminating = condition(conds, "terminating", false);
                        e->n_endpoints++;
                        if (node && !(out->node_name = strdup(node)))
                                return -ENOMEM;
                }
        }
        return 0;
}

int endpoint_slice_parse(json_object *o, EndpointSlice **ret, char **ret_error) {
        EndpointSlice *e = calloc(1, sizeof(EndpointSlice));
        json_object *ports = json_get(o, "ports");
        const char *family = json_get_string(o, "addressType", NULL), *service;
        int r = 0;

        *ret_error = NULL;
        if (!e)
                return -ENOMEM;
        if (object_key(o, e->key) < 0) {
                r = invalid(ret_error, "endpointslice", "(unnamed)", "metadata: missing or invalid name or namespace");
                goto fail;
        }
        if (family && !streq(family, "IPv4")) {
                r = -EAFNOSUPPORT;
                goto fail;
        }
        service = json_get_string(o, "metadata", "labels", "kubernetes.io/service-name", NULL);
        if (!service || !*service || strlen(service) > 63) {
                r = invalid(ret_error, "endpointslice", e->key, "metadata.labels: no valid kubernetes.io/service-name");
                goto fail;
        }
        snprintf(e->service, sizeof(e->service), "%.*s/%s", (int) strcspn(e->key, "/"), e->key, service);

        e->n_ports = ports && json_object_is_type(ports, json_type_array) ? MIN(json_object_array_length(ports), (size_t) MAX_PORTS) : 0;
        e->ports = calloc(e->n_ports + 1, sizeof(EndpointSlicePort));
        if (!e->ports) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < e->n_ports; i++) {
                json_object *p = json_object_array_get_idx(ports, i);
                const char *name = json_get_string(p, "name", NULL);

                snprintf(e->ports[i].name, sizeof(e->ports[i].name), "%s", name ? name : "");
                r = protocol_from_string(json_get_string(p, "protocol", NULL));
                if (r < 0) {
                        r = invalid(ret_error, "endpointslice", e->key, "ports[%zu].protocol: not TCP, UDP or SCTP", i);
                        goto fail;
                }
                e->ports[i].protocol = (uint8_t) r;
                if (get_port(p, "port", false, &e->ports[i].port) < 0) {
                        r = invalid(ret_error, "endpointslice", e->key, "ports[%zu].port: missing or not a port (1-65535)", i);
                        goto fail;
                }
        }
        r = parse_endpoints(json_get(o, "endpoints"), e, ret_error);
        if (r < 0)
                goto fail;
        *ret = e;
        return 0;
fail:
        endpoint_slice_free(e);
        return r;
}

void endpoint_slice_free(EndpointSlice *e) {
        if (!e)
                return;
        for (size_t i = 0; i < e->n_endpoints; i++)
                free(e->endpoints[i].node_name);
        free(e->ports);
        free(e->endpoints);
        free(e);
}
