/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "service-links.h"

/* A growing NULL-terminated list of "NAME=value". */
typedef struct EnvList {
        char **v;
        size_t n;
} EnvList;

static int env_addf(EnvList *l, const char *format, ...) _printf_(2, 3);

static int env_addf(EnvList *l, const char *format, ...) {
        char **grown, *item = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&item, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        grown = realloc(l->v, (l->n + 2) * sizeof(char *));
        if (!grown) {
                free(item);
                return -ENOMEM;
        }
        l->v = grown;
        l->v[l->n++] = item;
        l->v[l->n] = NULL;
        return 0;
}

/* makeEnvVariableName: upper case, '-' as '_'. */
static char *env_variable_name(const char *s) {
        char *name = strdup(s);

        for (char *p = name; p && *p; p++)
                *p = *p == '-' ? '_' : (char) toupper((unsigned char) *p);
        return name;
}

static char *lower(const char *s) {
        char *copy = strdup(s);

        for (char *p = copy; p && *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return copy;
}

/* v1helper.IsServiceIPSet. */
static bool cluster_ip_set(json_object *service) {
        const char *ip = json_get_string(service, "spec", "clusterIP", NULL);

        return !isempty(ip) && !streq(ip, "None");
}

static int port_number(json_object *port) {
        return json_object_get_int(json_get(port, "port"));
}

/* makeLinkVariables for one port (and <NAME>_PORT for the first, as Docker does). */
static int link_variables(EnvList *l, const char *prefix, const char *ip, json_object *port, bool first) {
        const char *protocol = json_get_string(port, "protocol", NULL);
        int number = port_number(port);
        _cleanup_free_ char *proto = lower(isempty(protocol) ? "TCP" : protocol),
                            *upper = env_variable_name(isempty(protocol) ? "TCP" : protocol), *host_port = NULL,
                            *port_prefix = NULL;

        /* net.JoinHostPort brackets an IPv6 address. */
        if (!proto || !upper || asprintf(&host_port, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, number) < 0 ||
            asprintf(&port_prefix, "%s_PORT_%d_%s", prefix, number, upper) < 0)
                return -ENOMEM;
        if (first && env_addf(l, "%s_PORT=%s://%s", prefix, proto, host_port) < 0)
                return -ENOMEM;
        if (env_addf(l, "%s=%s://%s", port_prefix, proto, host_port) < 0 ||
            env_addf(l, "%s_PROTO=%s", port_prefix, proto) < 0 || env_addf(l, "%s_PORT=%d", port_prefix, number) < 0 ||
            env_addf(l, "%s_ADDR=%s", port_prefix, ip) < 0)
                return -ENOMEM;
        return 0;
}

static int service_variables(EnvList *l, json_object *service) {
        json_object *ports = json_get(json_get(service, "spec"), "ports");
        const char *ip = json_get_string(service, "spec", "clusterIP", NULL);
        _cleanup_free_ char *prefix = NULL;

        /* A Service without ports is refused by the API's validation unless it is headless. */
        if (!cluster_ip_set(service) || json_array_length(ports) == 0)
                return 0;
        prefix = env_variable_name(json_get_string(service, "metadata", "name", NULL) ?: "");
        if (!prefix || env_addf(l, "%s_SERVICE_HOST=%s", prefix, ip) < 0 ||
            env_addf(l, "%s_SERVICE_PORT=%d", prefix, port_number(json_object_array_get_idx(ports, 0))) < 0)
                return -ENOMEM;
        /* Every named port; only the first may be unnamed (the API's validation). */
        for (size_t i = 0; i < json_array_length(ports); i++) {
                json_object *port = json_object_array_get_idx(ports, i);
                const char *name = json_get_string(port, "name", NULL);
                _cleanup_free_ char *port_name = NULL;

                if (isempty(name))
                        continue;
                if (!(port_name = env_variable_name(name)) ||
                    env_addf(l, "%s_SERVICE_PORT_%s=%d", prefix, port_name, port_number(port)) < 0)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < json_array_length(ports); i++)
                if (link_variables(l, prefix, ip, json_object_array_get_idx(ports, i), i == 0) < 0)
                        return -ENOMEM;
        return 0;
}

char **service_links_from_services(json_object *const *services, size_t n_services) {
        EnvList l = {};

        for (size_t i = 0; i < n_services; i++)
                if (service_variables(&l, services[i]) < 0) {
                        strv_free(l.v);
                        return NULL;
                }
        return l.v ?: calloc(1, sizeof(char *));
}

static int compare_names(const void *a, const void *b) {
        return strcmp(json_get_string(*(json_object *const *) a, "metadata", "name", NULL) ?: "",
                      json_get_string(*(json_object *const *) b, "metadata", "name", NULL) ?: "");
}

static int compare_variables(const void *a, const void *b) {
        const char *x = *(char *const *) a, *y = *(char *const *) b;
        size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
        int r = strncmp(x, y, MIN(nx, ny));

        return r != 0 ? r : nx < ny ? -1 : nx > ny;
}

/* The list with one item per name, the last of a name winning, sorted by name. */
static char **unique_sorted(char **env) {
        _cleanup_(json_object_putp) json_object *by_name = json_object_new_object();
        char **out;
        size_t n = 0;

        if (!by_name)
                return NULL;
        for (char **e = env; *e; e++) {
                _cleanup_free_ char *name = strndup(*e, strcspn(*e, "="));
                if (!name || json_object_object_add(by_name, name, json_object_new_string(*e)) < 0)
                        return NULL;
        }
        out = calloc((size_t) json_object_object_length(by_name) + 1, sizeof(char *));
        if (!out)
                return NULL;
        json_object_object_foreach(by_name, name, item) {
                (void) name;
                if (!(out[n++] = strdup(json_object_get_string(item)))) {
                        strv_free(out);
                        return NULL;
                }
        }
        qsort(out, n, sizeof(char *), compare_variables);
        return out;
}

char **service_links_env(json_object *const *services, size_t n_services, const char *namespace,
                         bool enable_service_links) {
        _cleanup_(json_object_putp) json_object *chosen = json_object_new_object();
        _cleanup_free_ json_object **list = NULL;
        _cleanup_strv_free_ char **env = NULL;
        size_t n = 0;

        if (!chosen)
                return NULL;
        for (size_t i = 0; i < n_services; i++) {
                json_object *service = services[i];
                const char *name = json_get_string(service, "metadata", "name", NULL);
                const char *ns = json_get_string(service, "metadata", "namespace", NULL) ?: "default";

                if (!name || !cluster_ip_set(service))
                        continue;
                /* The master Service always, once; the pod's namespace's own when links are on,
                 * over it. */
                if (streq(ns, "default") && streq(name, "kubernetes")) {
                        if (!json_object_object_get_ex(chosen, name, NULL))
                                json_object_object_add(chosen, name, json_object_get(service));
                } else if (streq(ns, namespace) && enable_service_links)
                        json_object_object_add(chosen, name, json_object_get(service));
        }
        list = calloc((size_t) json_object_object_length(chosen) + 1, sizeof(json_object *));
        if (!list)
                return NULL;
        json_object_object_foreach(chosen, name, service) {
                (void) name;
                list[n++] = service;
        }
        qsort(list, n, sizeof(json_object *), compare_names);
        env = service_links_from_services(list, n);
        return env ? unique_sorted(env) : NULL;
}
