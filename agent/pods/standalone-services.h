/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

/* What the API server and its controllers would add to standalone mode's Services: the
 * allocators' ClusterIP and NodePorts, and the EndpointSlice of the local pods. */

#define NODEPORT_MIN 30000
#define NODEPORT_MAX 32767

/* FNV-1a, 64 bits: stable choices from names (addresses, ports, static pods' UIDs). */
uint64_t fnv1a(const char *s);

/* "<namespace>/<name>" of service (namespace "default" if none), cut to size. */
void service_key(json_object *service, char *key, size_t size);

/* Sets what the allocators would have: metadata.namespace "default" if none; a
 * clusterIP and clusterIPs from service_cidr when none is given (the same address
 * each time, if free; neither the network's nor .1, the kubernetes Service's); for
 * type NodePort and LoadBalancer, a nodePort for each port without one. services holds
 * every Service, for what is taken. */
void service_complete(json_object *service, json_object *services, Ipv4Prefix service_cidr);

/* A local pod, as the endpoints see it: the Pod and its status (podIP, the Ready
 * condition). */
typedef struct EndpointPod {
        json_object *pod, *status;
} EndpointPod;

/* The EndpointSlice "<service>-stevedore" the EndpointSlice controller would make for
 * service from pods: the ones in its namespace whose labels its selector matches and
 * that have an IP, ready and serving as their Ready condition; one port set, the
 * first such pod's target ports (a number, or a container port's name). */
json_object *service_endpoint_slice(json_object *service, const EndpointPod *pods, size_t n_pods,
                                    const char *node_name);
