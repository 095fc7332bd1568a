/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* The Service environment variables kubelet gives every container it starts
 * (pkg/kubelet/envvars/envvars.go and getServiceEnvVarMap in kubelet_pods.go), as pure
 * functions of a set of Service objects. A Service's variables are named after it,
 * upper-cased with '-' as '_' (web-db → WEB_DB):
 *
 *   WEB_DB_SERVICE_HOST=10.96.0.20            its ClusterIP
 *   WEB_DB_SERVICE_PORT=5432                  its first port
 *   WEB_DB_SERVICE_PORT_<PORTNAME>=5432       each named port
 *   WEB_DB_PORT=tcp://10.96.0.20:5432         the docker-link ones: the first port,
 *   WEB_DB_PORT_5432_TCP=tcp://10.96.0.20:5432   and for each port _PROTO, _PORT, _ADDR
 *   WEB_DB_PORT_5432_TCP_PROTO=tcp … */

/* envvars.FromServices: the variables of each Service with a ClusterIP set (neither ""
 * nor "None") and a port, in the order given, as "NAME=value" (an IPv6 ClusterIP
 * bracketed in the URLs, the protocol TCP when a port gives none). NULL-terminated;
 * NULL when out of memory. */
char **service_links_from_services(json_object *const *services, size_t n_services);

/* getServiceEnvVarMap: what a container of a pod in namespace sees, from services (of
 * any namespaces): with enable_service_links (spec.enableServiceLinks, true by default)
 * the variables of its namespace's Services, and always those of the API server's
 * Service, `kubernetes` of namespace default (KUBERNETES_SERVICE_HOST/PORT, which
 * in-cluster clients read) — unless the pod's namespace has a Service of that name and
 * enable_service_links, which wins, as in kubelet. One value per name, sorted by name;
 * NULL-terminated; NULL when out of memory. */
char **service_links_env(json_object *const *services, size_t n_services, const char *namespace,
                         bool enable_service_links);
