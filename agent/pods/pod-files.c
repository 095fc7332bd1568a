/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "pod-files.h"
#include "quantity.h"

char *pod_hostname(json_object *pod) {
        const char *name = json_get_string(pod, "spec", "hostname", NULL) ?: json_get_string(pod, "metadata", "name", NULL);

        return strndup(name ?: "", 63);
}

char *pod_hosts_file(json_object *pod, const char *pod_ip, const char *cluster_domain, const char *node_hosts) {
        _cleanup_free_ char *hostname = pod_hostname(pod);
        const char *subdomain = json_get_string(pod, "spec", "subdomain", NULL);
        const char *namespace = json_get_string(pod, "metadata", "namespace", NULL) ?: "default";
        json_object *aliases = json_get(json_get(pod, "spec"), "hostAliases");
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        if (!f || !hostname) {
                if (f)
                        fclose(f);
                free(out);
                return NULL;
        }
        /* A host-network pod has the node's names, as kubelet's nodeHostsFileContent. */
        if (node_hosts) {
                fprintf(f, "# Kubernetes-managed hosts file (host network).\n%s", node_hosts);
        } else {
                fputs("# Kubernetes-managed hosts file.\n"
                      "127.0.0.1\tlocalhost\n"
                      "::1\tlocalhost ip6-localhost ip6-loopback\n"
                      "fe00::0\tip6-localnet\n"
                      "fe00::0\tip6-mcastprefix\n"
                      "fe00::1\tip6-allnodes\n"
                      "fe00::2\tip6-allrouters\n",
                      f);
                if (pod_ip && subdomain && *subdomain)
                        fprintf(f, "%s\t%s.%s.%s.svc.%s\t%s\n", pod_ip, hostname, subdomain, namespace,
                                cluster_domain ?: "", hostname);
                else if (pod_ip)
                        fprintf(f, "%s\t%s\n", pod_ip, hostname);
        }
        if (json_array_length(aliases) > 0)
                fputs("\n# Entries added by HostAliases.\n", f);
        for (size_t i = 0; i < json_array_length(aliases); i++) {
                json_object *alias = json_object_array_get_idx(aliases, i), *names = json_get(alias, "hostnames");
                const char *ip = json_get_string(alias, "ip", NULL);

                if (!ip)
                        continue;
                fputs(ip, f);
                for (size_t k = 0; k < json_array_length(names); k++)
                        fprintf(f, "\t%s", json_object_get_string(json_object_array_get_idx(names, k)));
                fputc('\n', f);
        }
        return fclose(f) < 0 ? NULL : out;
}

/* --- resolv.conf, as kubelet's dns.Configurer and containerd make it ------------------- */

/* The API's limits (pkg/apis/core/validation) and the longest name. */
#define MAX_DNS_NAMESERVERS 3
#define MAX_DNS_SEARCH_PATHS 32
#define MAX_DNS_SEARCH_LIST_CHARS 2048
#define DNS1123_SUBDOMAIN_MAX_LENGTH 253

/* A list of strings; oom once something could not be added. */
typedef struct List {
        char **v;
        size_t n;
        bool oom;
} List;

static void list_done(List *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        *l = (List) {};
}

static void list_clear(List *l) {
        bool oom = l->oom;

        list_done(l);
        l->oom = oom;
}

static bool list_has(const List *l, const char *s) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->v[i], s))
                        return true;
        return false;
}

static void list_addn(List *l, const char *s, size_t len) {
        char *copy = strndup(s, len), **grown;

        if (!copy || !(grown = realloc(l->v, (l->n + 1) * sizeof(char *)))) {
                free(copy);
                l->oom = true;
                return;
        }
        l->v = grown;
        l->v[l->n++] = copy;
}

static void list_add(List *l, const char *s) {
        list_addn(l, s, strlen(s));
}

/* omitDuplicates: appended unless it is there. */
static void list_add_unique(List *l, const char *s) {
        if (!list_has(l, s))
                list_add(l, s);
}

/* l joined by spaces (the caller frees); NULL when out of memory. */
static char *list_join(const List *l) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        if (!f)
                return NULL;
        for (size_t i = 0; i < l->n; i++)
                fprintf(f, "%s%s", i ? " " : "", l->v[i]);
        return fclose(f) < 0 ? NULL : out;
}

/* An option's name: what is before its ':'. */
static size_t option_name_length(const char *option) {
        return strcspn(option, ":");
}

/* appendOptions / mergeDNSOptions: an option replaces the one of its name, in its place. */
static void options_set(List *l, const char *option, size_t len) {
        size_t name = option_name_length(option);

        for (size_t i = 0; i < l->n; i++)
                if (option_name_length(l->v[i]) == MIN(name, len) && strneq(l->v[i], option, MIN(name, len))) {
                        char *copy = strndup(option, len);
                        if (!copy) {
                                l->oom = true;
                                return;
                        }
                        free(l->v[i]);
                        l->v[i] = copy;
                        return;
                }
        list_addn(l, option, len);
}

typedef struct DnsSettings {
        List servers, searches, options;
} DnsSettings;

static void dns_settings_done(DnsSettings *d) {
        list_done(&d->servers);
        list_done(&d->searches);
        list_done(&d->options);
}

/* The next whitespace-separated field of *p, or NULL at the end of the line. */
static const char *next_field(const char **p, const char *end, size_t *ret_len) {
        const char *start = *p;

        while (start < end && (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\f' || *start == '\v'))
                start++;
        if (start == end)
                return NULL;
        *p = start;
        while (*p < end && !strchr(" \t\r\f\v", **p))
                (*p)++;
        *ret_len = (size_t) (*p - start);
        return start;
}

/* parseResolvConf: nameserver lines accumulate, the last search line wins (trailing dots
 * dropped, "." left out), options accumulate one per name. Lines starting with '#' are
 * comments. */
static void parse_resolv_conf(const char *conf, DnsSettings *d) {
        for (const char *line = conf; line && *line;) {
                const char *end = strchr(line, '\n') ?: line + strlen(line), *p = line, *keyword, *field;
                size_t klen, len;

                keyword = next_field(&p, end, &klen);
                if (keyword && *keyword != '#') {
                        if (klen == 10 && strneq(keyword, "nameserver", 10)) {
                                if ((field = next_field(&p, end, &len)))
                                        list_addn(&d->servers, field, len);
                        } else if (klen == 6 && strneq(keyword, "search", 6)) {
                                list_clear(&d->searches);
                                while ((field = next_field(&p, end, &len)))
                                        if (!(len == 1 && *field == '.'))
                                                list_addn(&d->searches, field, len && field[len - 1] == '.' ? len - 1 : len);
                        } else if (klen == 7 && strneq(keyword, "options", 7))
                                while ((field = next_field(&p, end, &len)))
                                        options_set(&d->options, field, len);
                }
                line = *end ? end + 1 : end;
        }
}

typedef enum PodDnsType { POD_DNS_CLUSTER, POD_DNS_HOST, POD_DNS_NONE } PodDnsType;

/* getPodDNSType; an unknown policy (the API server refuses those) is ClusterFirst. */
static PodDnsType pod_dns_type(json_object *pod) {
        const char *policy = json_get_string(pod, "spec", "dnsPolicy", NULL) ?: "ClusterFirst";

        if (streq(policy, "None"))
                return POD_DNS_NONE;
        if (streq(policy, "Default"))
                return POD_DNS_HOST;
        if (streq(policy, "ClusterFirst") && json_object_get_boolean(json_get(json_get(pod, "spec"), "hostNetwork")))
                return POD_DNS_HOST;
        return POD_DNS_CLUSTER;
}

/* appendDNSConfig: spec.dnsConfig's nameservers and searches added (once each), its
 * options over those of the same name. */
static void append_dns_config(DnsSettings *d, json_object *dns_config) {
        json_object *servers = json_get(dns_config, "nameservers"), *searches = json_get(dns_config, "searches"),
                    *options = json_get(dns_config, "options");
        List unique = {};

        for (size_t i = 0; i < json_array_length(servers); i++)
                list_add(&d->servers, json_object_get_string(json_object_array_get_idx(servers, i)) ?: "");
        for (size_t i = 0; i < d->servers.n; i++)
                list_add_unique(&unique, d->servers.v[i]);
        unique.oom |= d->servers.oom;
        list_done(&d->servers);
        d->servers = unique;
        unique = (List) {};
        for (size_t i = 0; i < json_array_length(searches); i++)
                list_add(&d->searches, json_object_get_string(json_object_array_get_idx(searches, i)) ?: "");
        for (size_t i = 0; i < d->searches.n; i++)
                list_add_unique(&unique, d->searches.v[i]);
        unique.oom |= d->searches.oom;
        list_done(&d->searches);
        d->searches = unique;
        for (size_t i = 0; i < json_array_length(options); i++) {
                json_object *o = json_object_array_get_idx(options, i);
                const char *name = json_get_string(o, "name", NULL) ?: "", *value = json_get_string(o, "value", NULL);
                _cleanup_free_ char *option = NULL;

                if (asprintf(&option, isempty(value) ? "%s" : "%s:%s", name, value ?: "") < 0) {
                        d->options.oom = true;
                        continue;
                }
                options_set(&d->options, option, strlen(option));
        }
}

/* formDNSConfigFitsLimits, with kubelet's DNSConfigForming warnings. */
static void fit_limits(DnsSettings *d, PodDnsWarning warn, void *userdata) {
        bool exceeded = false;
        size_t kept = 0, joined = 0;

        if (d->servers.n > MAX_DNS_NAMESERVERS) {
                _cleanup_free_ char *line = NULL, *message = NULL;
                while (d->servers.n > MAX_DNS_NAMESERVERS)
                        free(d->servers.v[--d->servers.n]);
                line = list_join(&d->servers);
                if (warn && line &&
                    asprintf(&message, "Nameserver limits were exceeded, some nameservers have been omitted, "
                                       "the applied nameserver line is: %s", line) >= 0)
                        warn("DNSConfigForming", message, userdata);
        }
        if (d->searches.n > MAX_DNS_SEARCH_PATHS) {
                while (d->searches.n > MAX_DNS_SEARCH_PATHS)
                        free(d->searches.v[--d->searches.n]);
                exceeded = true;
        }
        /* Some resolvers (glibc 2.28) abort on a search path over 255 characters. */
        for (size_t i = 0; i < d->searches.n; i++)
                if (strlen(d->searches.v[i]) > DNS1123_SUBDOMAIN_MAX_LENGTH) {
                        free(d->searches.v[i]);
                        exceeded = true;
                } else
                        d->searches.v[kept++] = d->searches.v[i];
        d->searches.n = kept;
        for (size_t i = 0; i < d->searches.n; i++)
                joined += strlen(d->searches.v[i]) + (i ? 1 : 0);
        if (joined > MAX_DNS_SEARCH_LIST_CHARS) {
                while (d->searches.n > 0 && joined > MAX_DNS_SEARCH_LIST_CHARS) {
                        char *last = d->searches.v[--d->searches.n];
                        joined -= strlen(last) + 1;
                        free(last);
                }
                exceeded = true;
        }
        if (exceeded && warn) {
                _cleanup_free_ char *line = list_join(&d->searches), *message = NULL;
                if (line && asprintf(&message, "Search Line limits were exceeded, some search paths have been omitted, "
                                               "the applied search line is: %s", line) >= 0)
                        warn("DNSConfigForming", message, userdata);
        }
}

/* containerd's parseDNSOptions: search, nameservers, options. */
static char *format_resolv_conf(const DnsSettings *d) {
        _cleanup_free_ char *searches = list_join(&d->searches), *options = list_join(&d->options);
        char *out = NULL;
        size_t size = 0;
        FILE *f;

        if (!searches || !options || !(f = open_memstream(&out, &size)))
                return NULL;
        if (d->searches.n > 0)
                fprintf(f, "search %s\n", searches);
        for (size_t i = 0; i < d->servers.n; i++)
                fprintf(f, "nameserver %s\n", d->servers.v[i]);
        if (d->options.n > 0)
                fprintf(f, "options %s\n", options);
        return fclose(f) < 0 ? NULL : out;
}

char *pod_resolv_conf(json_object *pod, const PodDnsConfig *config, PodDnsWarning warn, void *userdata) {
        _cleanup_(dns_settings_done) DnsSettings d = {};
        json_object *dns_config = json_get(json_get(pod, "spec"), "dnsConfig");
        const char *namespace = json_get_string(pod, "metadata", "namespace", NULL) ?: "default";
        bool have_cluster_dns = config->cluster_dns && config->cluster_dns[0];
        PodDnsType type = pod_dns_type(pod);
        char *out;

        if (type != POD_DNS_NONE && config->host_resolv_conf)
                parse_resolv_conf(config->host_resolv_conf, &d);
        if (type == POD_DNS_CLUSTER && have_cluster_dns) {
                /* The cluster's servers only: they forward what they do not answer. */
                list_clear(&d.servers);
                for (char *const *ip = config->cluster_dns; *ip; ip++)
                        list_add(&d.servers, *ip);
                if (!isempty(config->cluster_domain)) {
                        const char *domain = config->cluster_domain;
                        List searches = {};
                        char *name = NULL;

                        if (asprintf(&name, "%s.svc.%s", namespace, domain) >= 0)
                                list_add(&searches, name);
                        else
                                searches.oom = true;
                        free(name);
                        if (asprintf(&name, "svc.%s", domain) >= 0)
                                list_add_unique(&searches, name);
                        else
                                searches.oom = true;
                        free(name);
                        list_add_unique(&searches, domain);
                        for (size_t i = 0; i < d.searches.n; i++)
                                list_add_unique(&searches, d.searches.v[i]);
                        searches.oom |= d.searches.oom;
                        list_done(&d.searches);
                        d.searches = searches;
                }
                list_clear(&d.options);
                list_add(&d.options, "ndots:5");
        } else if (type == POD_DNS_CLUSTER || type == POD_DNS_HOST) {
                if (type == POD_DNS_CLUSTER && warn) {
                        _cleanup_free_ char *message = NULL;
                        if (asprintf(&message,
                                     "pod: \"%s_%s(%s)\". kubelet does not have ClusterDNS IP configured and cannot "
                                     "create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.",
                                     json_get_string(pod, "metadata", "name", NULL) ?: "", namespace,
                                     json_get_string(pod, "metadata", "uid", NULL) ?: "") >= 0)
                                warn("MissingClusterDNS", message, userdata);
                }
                /* resolvConf "": the local machine's resolver, no search, as kubelet does. */
                if (!config->host_resolv_conf) {
                        list_add(&d.servers, "127.0.0.1");
                        list_clear(&d.searches);
                        list_add(&d.searches, ".");
                }
        }
        if (dns_config)
                append_dns_config(&d, dns_config);
        fit_limits(&d, warn, userdata);
        if (d.servers.oom || d.searches.oom || d.options.oom)
                return NULL;
        out = format_resolv_conf(&d);
        /* Nothing to say: containerd copies the host's file. */
        if (out && !*out && config->host_resolv_conf) {
                free(out);
                out = strdup(config->host_resolv_conf);
        }
        return out;
}

/* metadata.labels['app'] → "app". */
static bool bracketed_key(const char *path, const char *prefix, char *buf, size_t size) {
        size_t len = strlen(prefix), n;

        if (strncmp(path, prefix, len) != 0 || strncmp(path + len, "['", 2) != 0)
                return false;
        n = strlen(path + len + 2);
        if (n < 2 || strcmp(path + len + 2 + n - 2, "']") != 0 || n - 2 >= size)
                return false;
        memcpy(buf, path + len + 2, n - 2);
        buf[n - 2] = '\0';
        return true;
}

int pod_field_value(json_object *pod, const PodFieldContext *c, const char *path, char **ret) {
        const char *value = NULL;
        char key[256];

        if (streq(path, "metadata.name"))
                value = json_get_string(pod, "metadata", "name", NULL);
        else if (streq(path, "metadata.namespace"))
                value = json_get_string(pod, "metadata", "namespace", NULL);
        else if (streq(path, "metadata.uid"))
                value = json_get_string(pod, "metadata", "uid", NULL);
        else if (bracketed_key(path, "metadata.labels", key, sizeof(key)))
                value = json_get_string(pod, "metadata", "labels", key, NULL);
        else if (bracketed_key(path, "metadata.annotations", key, sizeof(key)))
                value = json_get_string(pod, "metadata", "annotations", key, NULL);
        else if (streq(path, "spec.nodeName"))
                value = c->node_name;
        else if (streq(path, "spec.serviceAccountName"))
                value = json_get_string(pod, "spec", "serviceAccountName", NULL);
        else if (streq(path, "status.hostIP") || streq(path, "status.hostIPs"))
                value = c->host_ip;
        else if (streq(path, "status.podIP") || streq(path, "status.podIPs"))
                value = c->pod_ip;
        else
                return -EINVAL;
        *ret = strdup(value ?: "");
        return *ret ? 0 : -ENOMEM;
}

static json_object *find_container(json_object *pod, const char *name) {
        static const char *const lists[] = { "containers", "initContainers" };

        for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
                json_object *list = json_get(json_get(pod, "spec"), lists[l]);
                for (size_t i = 0; i < json_array_length(list); i++) {
                        json_object *c = json_object_array_get_idx(list, i);
                        if (streq(json_get_string(c, "name", NULL) ?: "", name))
                                return c;
                }
        }
        return NULL;
}

int pod_resource_value(json_object *pod, const PodFieldContext *c, const char *container_name, const char *resource,
                       const char *divisor, char **ret) {
        json_object *container = find_container(pod, container_name ?: "");
        bool limit = strncmp(resource, "limits.", 7) == 0, request = strncmp(resource, "requests.", 9) == 0;
        const char *name = limit ? resource + 7 : request ? resource + 9 : "", *quantity;
        bool cpu = streq(name, "cpu");
        int64_t value = 0, per = 0;

        if ((!limit && !request) ||
            (!cpu && !streq(name, "memory") && !streq(name, "ephemeral-storage") && strncmp(name, "hugepages-", 10) != 0))
                return -EINVAL;
        if (!container)
                return -ENOENT;
        if (cpu ? quantity_parse_milli(divisor && *divisor ? divisor : "1", &per) < 0
                : quantity_parse(divisor && *divisor ? divisor : "1", &per) < 0)
                return -EINVAL;
        /* A zero divisor (the API's zero Quantity) is 1, as kubelet takes it. */
        if (per == 0)
                per = cpu ? 1000 : 1;
        if (per < 0)
                return -EINVAL;
        quantity = json_get_string(container, "resources", limit ? "limits" : "requests", name, NULL);
        if (quantity && (cpu ? quantity_parse_milli(quantity, &value) : quantity_parse(quantity, &value)) < 0)
                return -EINVAL;
        if (!quantity && limit)
                value = cpu ? c->allocatable_cpu_milli : streq(name, "memory") ? c->allocatable_memory : 0;
        return asprintf(ret, "%" PRId64, value / per + (value % per != 0)) < 0 ? -ENOMEM : 0;
}
