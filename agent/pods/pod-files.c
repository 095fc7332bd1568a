/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "pod-files.h"

char *pod_hostname(json_object *pod) {
        const char *name = json_get_string(pod, "spec", "hostname", NULL) ?: json_get_string(pod, "metadata", "name", NULL);

        return strndup(name ?: "", 63);
}

char *pod_hosts_file(json_object *pod, const char *pod_ip, const char *cluster_domain) {
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
                        cluster_domain ?: "cluster.local", hostname);
        else if (pod_ip)
                fprintf(f, "%s\t%s\n", pod_ip, hostname);
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

/* The values of "keyword value…" lines of a resolv.conf, space-separated. */
static void host_values(const char *conf, const char *keyword, FILE *out) {
        size_t len = strlen(keyword);

        for (const char *line = conf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                size_t n = strcspn(line, "\n");
                if (strncmp(line, keyword, len) == 0 && (line[len] == ' ' || line[len] == '\t'))
                        fprintf(out, " %.*s", (int) (n - len - 1), line + len + 1);
        }
}

static void config_values(json_object *dns_config, const char *key, FILE *out) {
        json_object *list = json_get(dns_config, key);

        for (size_t i = 0; i < json_array_length(list); i++) {
                json_object *item = json_object_array_get_idx(list, i);
                /* options are {name, value} */
                const char *name = json_object_is_type(item, json_type_string) ? json_object_get_string(item)
                                                                                : json_get_string(item, "name", NULL);
                const char *value = json_get_string(item, "value", NULL);

                if (name)
                        fprintf(out, value ? " %s:%s" : " %s", name, value ?: "");
        }
}

char *pod_resolv_conf(json_object *pod, const char *host_resolv_conf, const char *cluster_dns,
                      const char *cluster_domain) {
        const char *policy = json_get_string(pod, "spec", "dnsPolicy", NULL) ?: "ClusterFirst";
        const char *namespace = json_get_string(pod, "metadata", "namespace", NULL) ?: "default";
        const char *domain = cluster_domain ?: "cluster.local";
        json_object *dns_config = json_get(json_get(pod, "spec"), "dnsConfig");
        bool host_network = json_object_get_boolean(json_get(json_get(pod, "spec"), "hostNetwork"));
        bool cluster = cluster_dns && *cluster_dns &&
                       (streq(policy, "ClusterFirst") && !host_network ? true : streq(policy, "ClusterFirstWithHostNet"));
        bool host = !cluster && !streq(policy, "None");
        char *lines[3] = {}, *out = NULL;
        size_t sizes[3] = {}, size = 0;
        FILE *l[3], *f;

        for (int i = 0; i < 3; i++)
                if (!(l[i] = open_memstream(&lines[i], &sizes[i])))
                        return NULL;
        if (cluster)
                fprintf(l[0], " %s", cluster_dns);
        else if (host)
                host_values(host_resolv_conf, "nameserver", l[0]);
        config_values(dns_config, "nameservers", l[0]);
        if (cluster)
                fprintf(l[1], " %s.svc.%s svc.%s %s", namespace, domain, domain, domain);
        if (cluster || host)
                host_values(host_resolv_conf, "search", l[1]);
        config_values(dns_config, "searches", l[1]);
        if (cluster)
                fputs(" ndots:5", l[2]);
        else if (host)
                host_values(host_resolv_conf, "options", l[2]);
        config_values(dns_config, "options", l[2]);
        f = open_memstream(&out, &size);
        for (int i = 0; i < 3; i++) {
                static const char *const keywords[] = { "nameserver", "search", "options" };
                fclose(l[i]);
                /* One nameserver per line, as resolv.conf(5) reads them. */
                if (f && i == 0)
                        for (char *save = NULL, *ns = strtok_r(lines[0], " ", &save); ns; ns = strtok_r(NULL, " ", &save))
                                fprintf(f, "nameserver %s\n", ns);
                else if (f && sizes[i] > 0)
                        fprintf(f, "%s%s\n", keywords[i], lines[i]);
                free(lines[i]);
        }
        if (!f)
                return NULL;
        return fclose(f) < 0 ? NULL : out;
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
