/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "error.h"
#include "agent-config.h"
#include "cidr.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"

typedef enum FieldType {
        FIELD_STRING,
        FIELD_INTEGER,
        FIELD_BOOLEAN,
        FIELD_STRING_LIST, /* a YAML sequence of strings, each given to set() */
        FIELD_TAINTS, /* a list of {key, value, effect} */
} FieldType;

typedef struct Parser {
        yaml_parser_t yaml;
        const char *origin;
        AgentConfig *config;
        char *error;
} Parser;

typedef struct Field {
        const char *name;
        FieldType type;
        /* Checks the value and stores it in the config; a message for the error. */
        int (*set)(Parser *p, const struct Field *f, const char *value, const char **ret_why);
        size_t offset; /* of the char*, unsigned or char** in AgentConfig */
} Field;

/* The message with the file and line of at in front ("kubelet.yaml:3: ..."); -EINVAL. */
#define fail(p, at, format, ...) \
        error_set(&(p)->error, -EINVAL, "%s:%zu: " format, (p)->origin, (at)->line + 1, ##__VA_ARGS__)

static int set_string(Parser *p, const Field *f, const char *value, const char **ret_why) {
        char **slot = (char **) ((char *) p->config + f->offset), *copy = strdup(value);

        if (!copy)
                return -ENOMEM;
        free(*slot);
        *slot = copy;
        return 0;
}

static int set_cidr(Parser *p, const Field *f, const char *value, const char **ret_why) {
        Ipv4Prefix prefix;

        if (ipv4_prefix_parse(value, &prefix) < 0) {
                *ret_why = "not an IPv4 network in CIDR form";
                return -EINVAL;
        }
        return set_string(p, f, value, ret_why);
}

static int set_address(Parser *p, const Field *f, const char *value, const char **ret_why) {
        struct in_addr a;

        if (inet_pton(AF_INET, value, &a) != 1) {
                *ret_why = "not an IPv4 address";
                return -EINVAL;
        }
        return set_string(p, f, value, ret_why);
}

/* clusterDNS's items: IPv4 or IPv6 addresses, written as inet_ntop writes them. */
static int add_dns_address(Parser *p, const Field *f, const char *value, const char **ret_why) {
        char ***slot = (char ***) ((char *) p->config + f->offset);
        int r = agent_config_add_cluster_dns(slot, value);

        if (r == -EINVAL)
                *ret_why = "not an IP address";
        return r;
}

static int set_port(Parser *p, const Field *f, const char *value, const char **ret_why) {
        char *end;
        unsigned long n;

        errno = 0;
        n = strtoul(value, &end, 10);
        if (!*value || *end || errno || n == 0 || n > 65535) {
                *ret_why = "not a port (1-65535)";
                return -EINVAL;
        }
        *(unsigned *) ((char *) p->config + f->offset) = (unsigned) n;
        return 0;
}

/* kubeAPIQPS, kubeAPIBurst: int32 in KubeletConfiguration, 0 meaning the default. */
static int set_positive(Parser *p, const Field *f, const char *value, const char **ret_why) {
        char *end;
        unsigned long n;

        errno = 0;
        n = strtoul(value, &end, 10);
        if (!*value || *value == '-' || *end || errno || n == 0 || n > INT32_MAX) {
                *ret_why = "not a positive integer";
                return -EINVAL;
        }
        *(unsigned *) ((char *) p->config + f->offset) = (unsigned) n;
        return 0;
}

/* true or false, as YAML 1.2 spells them (KubeletConfiguration is read as JSON). */
static int set_boolean(Parser *p, const Field *f, const char *value, const char **ret_why) {
        AgentConfigBool *slot = (AgentConfigBool *) ((char *) p->config + f->offset);

        if (streq(value, "true") || streq(value, "True") || streq(value, "TRUE"))
                *slot = AGENT_CONFIG_TRUE;
        else if (streq(value, "false") || streq(value, "False") || streq(value, "FALSE"))
                *slot = AGENT_CONFIG_FALSE;
        else {
                *ret_why = "neither true nor false";
                return -EINVAL;
        }
        return 0;
}

static int set_cgroup_driver(Parser *p, const Field *f, const char *value, const char **ret_why) {
        if (streq(value, "cgroupfs"))
                p->config->cgroup_driver = CGROUP_DRIVER_CGROUPFS;
        else if (streq(value, "systemd"))
                p->config->cgroup_driver = CGROUP_DRIVER_SYSTEMD;
        else {
                *ret_why = "neither cgroupfs nor systemd";
                return -EINVAL;
        }
        return 0;
}

static int set_pod_routes(Parser *p, const Field *f, const char *value, const char **ret_why) {
        *ret_why = "not auto, host-gw, vxlan or none";
        return pod_routes_mode_from_string(value, &p->config->pod_routes);
}

static int check_api_version(Parser *p, const Field *f, const char *value, const char **ret_why) {
        *ret_why = "not kubelet.config.k8s.io/v1beta1";
        return streq(value, "kubelet.config.k8s.io/v1beta1") ? 0 : -EINVAL;
}

static int check_kind(Parser *p, const Field *f, const char *value, const char **ret_why) {
        *ret_why = "not KubeletConfiguration";
        return streq(value, "KubeletConfiguration") ? 0 : -EINVAL;
}

static const Field fields[] = {
        { "apiVersion", FIELD_STRING, check_api_version, 0 },
        { "kind", FIELD_STRING, check_kind, 0 },
        { "kubeconfig", FIELD_STRING, set_string, offsetof(AgentConfig, kubeconfig) },
        { "hostnameOverride", FIELD_STRING, set_string, offsetof(AgentConfig, hostname_override) },
        { "nodeIP", FIELD_STRING, set_address, offsetof(AgentConfig, node_ip) },
        { "podCIDR", FIELD_STRING, set_cidr, offsetof(AgentConfig, pod_cidr) },
        { "staticPodPath", FIELD_STRING, set_string, offsetof(AgentConfig, static_pod_path) },
        { "serviceCIDR", FIELD_STRING, set_cidr, offsetof(AgentConfig, service_cidr) },
        { "logDir", FIELD_STRING, set_string, offsetof(AgentConfig, log_dir) },
        { "port", FIELD_INTEGER, set_port, offsetof(AgentConfig, port) },
        { "cgroupDriver", FIELD_STRING, set_cgroup_driver, 0 },
        { "kubeAPIQPS", FIELD_INTEGER, set_positive, offsetof(AgentConfig, kube_api_qps) },
        { "kubeAPIBurst", FIELD_INTEGER, set_positive, offsetof(AgentConfig, kube_api_burst) },
        { "clusterCIDR", FIELD_STRING, set_cidr, offsetof(AgentConfig, cluster_cidr) },
        { "serviceProxy", FIELD_BOOLEAN, set_boolean, offsetof(AgentConfig, service_proxy) },
        { "clusterDNS", FIELD_STRING_LIST, add_dns_address, offsetof(AgentConfig, cluster_dns) },
        { "clusterDomain", FIELD_STRING, set_string, offsetof(AgentConfig, cluster_domain) },
        { "resolvConf", FIELD_STRING, set_string, offsetof(AgentConfig, resolv_conf) },
        { "tlsCertFile", FIELD_STRING, set_string, offsetof(AgentConfig, tls_cert_file) },
        { "tlsPrivateKeyFile", FIELD_STRING, set_string, offsetof(AgentConfig, tls_private_key_file) },
        { "podRoutes", FIELD_STRING, set_pod_routes, 0 },
        { "registerWithTaints", FIELD_TAINTS, NULL, 0 },
};

static int next_event(Parser *p, yaml_event_t *e) {
        if (yaml_parser_parse(&p->yaml, e))
                return 0;
        return fail(p, &p->yaml.problem_mark, "%s%s%s", p->yaml.problem ?: "invalid YAML",
                    p->yaml.context ? " " : "", p->yaml.context ?: "");
}

static const char *event_kind(const yaml_event_t *e) {
        switch (e->type) {
        case YAML_MAPPING_START_EVENT:
                return "a mapping";
        case YAML_SEQUENCE_START_EVENT:
                return "a list";
        case YAML_ALIAS_EVENT:
                return "an alias";
        default:
                return "nothing";
        }
}

static bool is_null(const yaml_event_t *e) {
        const char *v = (const char *) e->data.scalar.value;

        return e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               (!*v || streq(v, "~") || streq(v, "null") || streq(v, "Null") || streq(v, "NULL"));
}

static const char *field_type_name(FieldType t) {
        return t == FIELD_INTEGER ? "an integer" : t == FIELD_BOOLEAN ? "true or false" :
               t == FIELD_TAINTS ? "a list" : "a string";
}

static int scalar_value(Parser *p, const Field *f, const yaml_event_t *e);

/* A list field's items, its start already read; "[]" empties it. */
static int list_value(Parser *p, const Field *f) {
        char ***slot = (char ***) ((char *) p->config + f->offset);

        strv_free(TAKE_PTR(*slot));
        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t item = {};
                int r = next_event(p, &item);

                if (r < 0)
                        return r;
                if (item.type == YAML_SEQUENCE_END_EVENT)
                        return 0;
                r = scalar_value(p, f, &item);
                if (r < 0)
                        return r;
        }
}

/* One taint's mapping, its start already read: key, value and effect, as v1.Taint. */
static int parse_taint(Parser *p, const yaml_mark_t *start, NodeTaint *t) {
        static const char *const names[] = { "key", "value", "effect" };
        char **slots[] = { &t->key, &t->value, &t->effect };
        const char *why;

        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t key = {};
                _cleanup_(yaml_event_delete) yaml_event_t value = {};
                size_t i;
                int r;

                r = next_event(p, &key);
                if (r < 0)
                        return r;
                if (key.type == YAML_MAPPING_END_EVENT)
                        break;
                if (key.type != YAML_SCALAR_EVENT)
                        return fail(p, &key.start_mark, "field \"registerWithTaints\": a field name must be a string");
                for (i = 0; i < ELEMENTSOF(names); i++)
                        if (streq((const char *) key.data.scalar.value, names[i]))
                                break;
                if (i == ELEMENTSOF(names))
                        return fail(p, &key.start_mark, "field \"registerWithTaints\": unknown taint field \"%s\"",
                                    (const char *) key.data.scalar.value);
                if (*slots[i])
                        return fail(p, &key.start_mark, "field \"registerWithTaints\": \"%s\" given twice", names[i]);
                r = next_event(p, &value);
                if (r < 0)
                        return r;
                if (value.type != YAML_SCALAR_EVENT)
                        return fail(p, &value.start_mark, "field \"registerWithTaints\": \"%s\" must be a string",
                                    names[i]);
                *slots[i] = strdup((const char *) value.data.scalar.value);
                if (!*slots[i])
                        return -ENOMEM;
        }
        why = node_taint_invalid(t);
        if (why)
                return fail(p, start, "field \"registerWithTaints\": %s", why);
        return 0;
}

/* registerWithTaints' list, its start already read; replaces what was there. */
static int parse_taints(Parser *p) {
        NodeTaint *taints = NULL;
        size_t n = 0;
        int r;

        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t e = {};
                NodeTaint *grown;

                r = next_event(p, &e);
                if (r < 0)
                        goto fail;
                if (e.type == YAML_SEQUENCE_END_EVENT)
                        break;
                if (e.type != YAML_MAPPING_START_EVENT) {
                        r = fail(p, &e.start_mark, "field \"registerWithTaints\": want a taint mapping, not %s",
                                 e.type == YAML_SCALAR_EVENT ? "a scalar" : event_kind(&e));
                        goto fail;
                }
                grown = realloc(taints, (n + 1) * sizeof(NodeTaint));
                if (!grown) {
                        r = -ENOMEM;
                        goto fail;
                }
                taints = grown;
                taints[n++] = (NodeTaint) {};
                r = parse_taint(p, &e.start_mark, &taints[n - 1]);
                if (r < 0)
                        goto fail;
        }
        node_taints_free(p->config->taints, p->config->n_taints);
        p->config->taints = taints;
        p->config->n_taints = n;
        return 0;
fail:
        node_taints_free(taints, n);
        return r;
}

/* The value event of field f, already read. */
static int field_value(Parser *p, const Field *f, const yaml_event_t *e) {
        if (f->type == FIELD_TAINTS) {
                if (e->type != YAML_SEQUENCE_START_EVENT)
                        return fail(p, &e->start_mark, "field \"%s\": want a list, not %s", f->name,
                                    e->type == YAML_SCALAR_EVENT ? "a scalar" : event_kind(e));
                return parse_taints(p);
        }
        if (f->type == FIELD_STRING_LIST) {
                if (e->type != YAML_SEQUENCE_START_EVENT)
                        return fail(p, &e->start_mark, "field \"%s\": want a list of strings, not %s", f->name,
                                    e->type == YAML_SCALAR_EVENT ? "a scalar" : event_kind(e));
                return list_value(p, f);
        }
        return scalar_value(p, f, e);
}

/* A scalar (a field's, or a list field's item). */
static int scalar_value(Parser *p, const Field *f, const yaml_event_t *e) {
        const char *value = (const char *) e->data.scalar.value, *why = NULL;
        int r;

        if (f->type == FIELD_TAINTS) {
                if (e->type != YAML_SEQUENCE_START_EVENT)
                        return fail(p, &e->start_mark, "field \"%s\": want a list, not %s", f->name,
                                    e->type == YAML_SCALAR_EVENT ? "a scalar" : event_kind(e));
                return parse_taints(p);
        }
        if (e->type != YAML_SCALAR_EVENT)
                return fail(p, &e->start_mark, "field \"%s\": want %s, not %s", f->name, field_type_name(f->type),
                            event_kind(e));
        if (is_null(e))
                return fail(p, &e->start_mark, "field \"%s\": no value", f->name);
        if ((f->type == FIELD_INTEGER || f->type == FIELD_BOOLEAN) && e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return fail(p, &e->start_mark, "field \"%s\": want %s, not a string", f->name,
                            field_type_name(f->type));
        r = f->set(p, f, value, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(p, &e->start_mark, "field \"%s\": '%s' is %s", f->name, value, why ?: "invalid");
        return 0;
}

static const Field *find_field(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (streq(fields[i].name, name))
                        return &fields[i];
        return NULL;
}

/* The fields of the document's mapping, its start already read. */
static int parse_mapping(Parser *p) {
        bool seen[ELEMENTSOF(fields)] = {};

        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t key = {};
                _cleanup_(yaml_event_delete) yaml_event_t value = {};
                const Field *f;
                int r;

                r = next_event(p, &key);
                if (r < 0)
                        return r;
                if (key.type == YAML_MAPPING_END_EVENT)
                        return 0;
                if (key.type != YAML_SCALAR_EVENT)
                        return fail(p, &key.start_mark, "a field name must be a string, not %s", event_kind(&key));
                f = find_field((const char *) key.data.scalar.value);
                if (!f)
                        return fail(p, &key.start_mark, "unknown field \"%s\"", (const char *) key.data.scalar.value);
                if (seen[f - fields])
                        return fail(p, &key.start_mark, "field \"%s\" given twice", f->name);
                seen[f - fields] = true;
                r = next_event(p, &value);
                if (r < 0)
                        return r;
                r = field_value(p, f, &value);
                if (r < 0)
                        return r;
        }
}

static int parse_stream(Parser *p) {
        bool had_document = false;

        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t e = {};
                int r = next_event(p, &e);

                if (r < 0)
                        return r;
                switch (e.type) {
                case YAML_STREAM_START_EVENT:
                case YAML_DOCUMENT_END_EVENT:
                        break;
                case YAML_STREAM_END_EVENT:
                        return 0;
                case YAML_DOCUMENT_START_EVENT:
                        if (had_document)
                                return fail(p, &e.start_mark, "one document only");
                        had_document = true;
                        break;
                case YAML_MAPPING_START_EVENT:
                        r = parse_mapping(p);
                        if (r < 0)
                                return r;
                        break;
                default:
                        /* An empty document: nothing configured. */
                        if (e.type == YAML_SCALAR_EVENT && is_null(&e))
                                break;
                        return fail(p, &e.start_mark, "want a mapping of fields, not %s",
                                    e.type == YAML_SCALAR_EVENT ? "a scalar" : event_kind(&e));
                }
        }
}

int agent_config_parse(const char *text, size_t size, const char *origin, AgentConfig *config, char **ret_error) {
        Parser p = { .origin = origin, .config = config };
        int r;

        if (!yaml_parser_initialize(&p.yaml))
                return -ENOMEM;
        yaml_parser_set_input_string(&p.yaml, (const unsigned char *) text, size);
        r = parse_stream(&p);
        yaml_parser_delete(&p.yaml);
        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(p.error);
        free(p.error);
        return r;
}

int agent_config_load(const char *path, AgentConfig *config, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file_error(path, AGENT_CONFIG_MAX_SIZE, &text, &size, ret_error);
        if (r < 0)
                return r;
        return agent_config_parse(text, size, path, config, ret_error);
}

void agent_config_done(AgentConfig *c) {
        free(c->kubeconfig);
        free(c->hostname_override);
        free(c->node_ip);
        free(c->pod_cidr);
        free(c->static_pod_path);
        free(c->service_cidr);
        free(c->log_dir);
        free(c->cluster_cidr);
        strv_free(c->cluster_dns);
        free(c->cluster_domain);
        free(c->resolv_conf);
        free(c->tls_cert_file);
        free(c->tls_private_key_file);
        node_taints_free(c->taints, c->n_taints);
        *c = (AgentConfig) {};
}

int agent_config_add_cluster_dns(char ***list, const char *address) {
        unsigned char binary[sizeof(struct in6_addr)];
        char text[INET6_ADDRSTRLEN];
        int family = strchr(address, ':') ? AF_INET6 : AF_INET;
        size_t n = 0;
        char **grown;

        if (inet_pton(family, address, binary) != 1 || !inet_ntop(family, binary, text, sizeof(text)))
                return -EINVAL;
        while (*list && (*list)[n])
                n++;
        grown = realloc(*list, (n + 2) * sizeof(char *));
        if (!grown)
                return -ENOMEM;
        *list = grown;
        grown[n + 1] = NULL;
        if (!(grown[n] = strdup(text)))
                return -ENOMEM;
        return 0;
}

const char *cgroup_driver_to_string(CgroupDriver d) {
        return d == CGROUP_DRIVER_SYSTEMD ? "systemd" : d == CGROUP_DRIVER_CGROUPFS ? "cgroupfs" : "auto";
}

static const char *const pod_routes_modes[_POD_ROUTES_MAX] = {
        [POD_ROUTES_AUTO] = "auto",
        [POD_ROUTES_HOST_GW] = "host-gw",
        [POD_ROUTES_VXLAN] = "vxlan",
        [POD_ROUTES_NONE] = "none",
};

const char *pod_routes_mode_to_string(PodRoutesMode m) {
        return m >= 0 && m < _POD_ROUTES_MAX ? pod_routes_modes[m] : NULL;
}

int pod_routes_mode_from_string(const char *s, PodRoutesMode *ret) {
        for (PodRoutesMode m = 0; m < _POD_ROUTES_MAX; m++)
                if (streq(s, pod_routes_modes[m])) {
                        *ret = m;
                        return 0;
                }
        return -EINVAL;
}

/* --- taints -------------------------------------------------------------------------- */

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* apimachinery's qualified name part and label value: at most 63 of [-A-Za-z0-9_.],
 * beginning and ending with an alphanumeric; empty only where allowed. */
static bool is_name_part(const char *s, size_t n, bool empty_ok) {
        if (n == 0)
                return empty_ok;
        if (n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

/* A DNS-1123 subdomain: at most 253 of [-a-z0-9.], labels beginning and ending with one
 * of [a-z0-9]. */
static bool is_dns_subdomain(const char *s, size_t n) {
        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool edge = i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.';

                if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                        continue;
                if ((c == '-' || c == '.') && !edge)
                        continue;
                return false;
        }
        return true;
}

static bool is_qualified_name(const char *s) {
        const char *slash = strchr(s, '/');

        if (!slash)
                return is_name_part(s, strlen(s), false);
        return is_dns_subdomain(s, (size_t) (slash - s)) && is_name_part(slash + 1, strlen(slash + 1), false);
}

const char *node_taint_invalid(const NodeTaint *t) {
        if (!t->key || !is_qualified_name(t->key))
                return "a taint's key must be a qualified name ([prefix/]name)";
        if (t->value && !is_name_part(t->value, strlen(t->value), true))
                return "a taint's value must be a label value (at most 63 of [-A-Za-z0-9_.])";
        if (!t->effect || !(streq(t->effect, "NoSchedule") || streq(t->effect, "PreferNoSchedule") ||
                            streq(t->effect, "NoExecute")))
                return "a taint's effect must be NoSchedule, PreferNoSchedule or NoExecute";
        return NULL;
}

/* One "key[=value]:effect". */
static int taint_parse(const char *spec, NodeTaint *t, char **ret_error) {
        const char *colon = strrchr(spec, ':'), *equals, *why;

        if (!colon || strchr(spec, ':') != colon)
                return error_set(ret_error, -EINVAL, "invalid taint spec '%s': want key[=value]:effect", spec);
        equals = memchr(spec, '=', (size_t) (colon - spec));
        if (equals && memchr(equals + 1, '=', (size_t) (colon - equals - 1)))
                return error_set(ret_error, -EINVAL, "invalid taint spec '%s': want key[=value]:effect", spec);
        t->key = strndup(spec, (size_t) ((equals ?: colon) - spec));
        t->value = equals ? strndup(equals + 1, (size_t) (colon - equals - 1)) : NULL;
        t->effect = strdup(colon + 1);
        if (!t->key || (equals && !t->value) || !t->effect)
                return -ENOMEM;
        why = node_taint_invalid(t);
        if (why)
                return error_set(ret_error, -EINVAL, "invalid taint spec '%s': %s", spec, why);
        return 0;
}

int node_taints_parse(const char *spec, NodeTaint **ret, size_t *ret_n, char **ret_error) {
        _cleanup_free_ char *copy = strdup(spec);
        NodeTaint *taints = NULL;
        size_t n = 0;
        char *save = NULL;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
                NodeTaint *grown = realloc(taints, (n + 1) * sizeof(NodeTaint));

                if (!grown) {
                        r = -ENOMEM;
                        break;
                }
                taints = grown;
                taints[n++] = (NodeTaint) {};
                r = taint_parse(part, &taints[n - 1], ret_error);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                node_taints_free(taints, n);
                return r;
        }
        *ret = taints;
        *ret_n = n;
        return 0;
}

void node_taints_free(NodeTaint *taints, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(taints[i].key);
                free(taints[i].value);
                free(taints[i].effect);
        }
        free(taints);
}
