/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "cidr.h"

/* The parts of Services and EndpointSlices (discovery.k8s.io/v1) the proxy programs,
 * parsed from their API JSON. A field that cannot be programmed (a bad IP, port 0, an
 * unknown protocol) makes the whole object invalid, with a message naming the object and
 * the field; the proxy then skips it and programs the rest. */

#define SERVICE_NAME_MAX 254 /* namespace + "/" + name */

typedef struct ServicePort {
        char name[64];
        uint8_t protocol; /* IPPROTO_TCP, _UDP or _SCTP */
        uint16_t port;
        uint16_t node_port;       /* 0: none */
        uint16_t target_port;     /* a number, or 0 with target_port_name set */
        char target_port_name[64];
} ServicePort;

#define SERVICE_MAX_EXTERNAL 16

typedef struct Service {
        char key[SERVICE_NAME_MAX]; /* "namespace/name" */
        struct in_addr cluster_ip;
        bool headless; /* clusterIP None: nothing to program */
        ServicePort *ports;
        size_t n_ports;
        uint32_t affinity_timeout; /* seconds of sessionAffinity ClientIP; 0: none */
        bool external_local;       /* externalTrafficPolicy: Local */
        bool internal_local;       /* internalTrafficPolicy: Local */
        struct in_addr external_ips[SERVICE_MAX_EXTERNAL]; /* spec.externalIPs */
        size_t n_external_ips;
        struct in_addr lb_ips[SERVICE_MAX_EXTERNAL]; /* status.loadBalancer.ingress[].ip */
        size_t n_lb_ips;
        Ipv4Prefix source_ranges[SERVICE_MAX_EXTERNAL]; /* spec.loadBalancerSourceRanges */
        size_t n_source_ranges;
} Service;

typedef struct Endpoint {
        struct in_addr address;
        bool ready, serving, terminating;
        char *node_name; /* NULL when the slice does not say */
} Endpoint;

typedef struct EndpointSlicePort {
        char name[64];
        uint8_t protocol;
        uint16_t port;
} EndpointSlicePort;

typedef struct EndpointSlice {
        char key[SERVICE_NAME_MAX];     /* the slice's own "namespace/name" */
        char service[SERVICE_NAME_MAX]; /* "namespace/<kubernetes.io/service-name>" */
        EndpointSlicePort *ports;
        size_t n_ports;
        Endpoint *endpoints;
        size_t n_endpoints;
} EndpointSlice;

/* On -EINVAL, *ret_error says what ("service default/kubia: spec.ports[0].port: 0 is
 * not a port"). IPv6-only Services and slices are -EAFNOSUPPORT. */
int service_parse(json_object *o, Service **ret, char **ret_error);
void service_free(Service *s);

int endpoint_slice_parse(json_object *o, EndpointSlice **ret, char **ret_error);
void endpoint_slice_free(EndpointSlice *s);

/* "TCP" -> IPPROTO_TCP; -EPROTONOSUPPORT otherwise. */
int protocol_from_string(const char *s);
const char *protocol_to_string(uint8_t protocol);
