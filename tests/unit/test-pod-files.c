/* SPDX-License-Identifier: Apache-2.0 */
#include "json-util.h"
#include "pod-files.h"
#include "tests.h"

static const char *const host_conf = "# from the host\nnameserver 192.168.1.1\nnameserver 8.8.8.8\nsearch lan\noptions edns0\n";

static void test_hosts(void) {
        _cleanup_(json_object_putp) json_object *pod = json_tokener_parse(
                "{\"metadata\": {\"name\": \"kubia-x\", \"namespace\": \"web\"}, \"spec\": {\"hostAliases\": "
                "[{\"ip\": \"10.1.1.1\", \"hostnames\": [\"db\", \"db.local\"]}]}}");
        _cleanup_(json_object_putp) json_object *sub = json_tokener_parse(
                "{\"metadata\": {\"name\": \"p\", \"namespace\": \"web\"}, \"spec\": {\"hostname\": \"h\", \"subdomain\": \"s\"}}");
        _cleanup_free_ char *hosts = pod_hosts_file(pod, "10.244.0.5", NULL, NULL),
                            *hosts2 = pod_hosts_file(sub, "10.244.0.6", "cluster.local", NULL),
                            *no_domain = pod_hosts_file(sub, "10.244.0.6", NULL, NULL),
                            *host_network = pod_hosts_file(pod, "192.168.1.2", NULL, "127.0.0.1 localhost\n");

        check(strstr(hosts, "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        check(strstr(hosts, "\n10.244.0.5\tkubia-x\n\n# Entries added by HostAliases.\n10.1.1.1\tdb\tdb.local\n"));
        check(strstr(hosts2, "\n10.244.0.6\th.s.web.svc.cluster.local\th\n"));
        /* hostNetwork: the node's file under kubelet's other header, and the aliases. */
        check_streq(host_network, "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"
                                  "\n# Entries added by HostAliases.\n10.1.1.1\tdb\tdb.local\n");
        /* kubelet's clusterDomain has no default. */
        check(strstr(no_domain, "\n10.244.0.6\th.s.web.svc.\th\n"));
}

/* What the warnings said, "REASON: message" a line. */
static char warnings[4096];

static void record(const char *reason, const char *message, void *userdata) {
        size_t n = strlen(warnings);
        snprintf(warnings + n, sizeof(warnings) - n, "%s: %s\n", reason, message);
}

static char *resolv(const char *pod_json, const char *host, const char *cluster_dns, const char *domain) {
        _cleanup_(json_object_putp) json_object *pod = json_tokener_parse(pod_json);
        char *servers[4] = {}, copy[128] = "", *save = NULL;
        size_t n = 0;

        check(pod);
        snprintf(copy, sizeof(copy), "%s", cluster_dns ?: "");
        for (char *ip = strtok_r(copy, ",", &save); ip && n < 3; ip = strtok_r(NULL, ",", &save))
                servers[n++] = ip;
        PodDnsConfig config = { .host_resolv_conf = host, .cluster_dns = cluster_dns ? servers : NULL,
                                .cluster_domain = domain };
        warnings[0] = '\0';
        return pod_resolv_conf(pod, &config, record, NULL);
}

#define POD(spec) "{\"metadata\": {\"name\": \"p\", \"namespace\": \"web\", \"uid\": \"u-1\"}, \"spec\": {" spec "}}"

static void test_resolv_conf_policies(void) {
        const char *timeout = POD("\"dnsConfig\": {\"options\": [{\"name\": \"timeout\", \"value\": \"2\"}]}");
        _cleanup_free_ char *cluster = resolv(timeout, host_conf, "10.96.0.10", "cluster.local"), *w1 = strdup(warnings);
        _cleanup_free_ char *fallback = resolv(timeout, host_conf, NULL, "cluster.local"), *w2 = strdup(warnings);
        _cleanup_free_ char *none = resolv(POD("\"dnsPolicy\": \"None\", \"dnsConfig\": {\"nameservers\": [\"1.1.1.1\"],"
                                               " \"searches\": [\"x.y\"]}"),
                                           host_conf, "10.96.0.10", "cluster.local");
        _cleanup_free_ char *host = resolv(POD("\"dnsPolicy\": \"Default\""), host_conf, "10.96.0.10", "cluster.local");
        _cleanup_free_ char *host_net = resolv(POD("\"hostNetwork\": true"), host_conf, "10.96.0.10", "cluster.local");
        _cleanup_free_ char *with_host_net = resolv(POD("\"hostNetwork\": true, \"dnsPolicy\": \"ClusterFirstWithHostNet\""),
                                                    host_conf, "10.96.0.10,10.96.0.11", "k8s.test");
        _cleanup_free_ char *no_domain = resolv(POD(""), host_conf, "10.96.0.10", NULL);
        _cleanup_free_ char *no_resolv_conf = resolv(POD("\"dnsPolicy\": \"Default\""), NULL, NULL, NULL);

        check_streq(cluster, "search web.svc.cluster.local svc.cluster.local cluster.local lan\n"
                             "nameserver 10.96.0.10\n"
                             "options ndots:5 timeout:2\n");
        check_streq(w1, "");
        check_streq(fallback, "search lan\nnameserver 192.168.1.1\nnameserver 8.8.8.8\noptions edns0 timeout:2\n");
        check_streq(w2, "MissingClusterDNS: pod: \"p_web(u-1)\". kubelet does not have ClusterDNS IP configured and "
                        "cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.\n");
        check_streq(none, "search x.y\nnameserver 1.1.1.1\n");
        check_streq(host, "search lan\nnameserver 192.168.1.1\nnameserver 8.8.8.8\noptions edns0\n");
        check_streq(host_net, host);
        check_streq(with_host_net, "search web.svc.k8s.test svc.k8s.test k8s.test lan\n"
                                   "nameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5\n");
        check_streq(no_domain, "search lan\nnameserver 10.96.0.10\noptions ndots:5\n");
        check_streq(no_resolv_conf, "search .\nnameserver 127.0.0.1\n");
}

/* parseResolvConf's rules, and appendDNSConfig's merge. A "nameserver" line without an
 * address is skipped (kubelet refuses the whole file and so every pod). */
static void test_resolv_conf_parse_and_merge(void) {
        const char *conf = "  # comment\nnameserver\nnameserver 10.0.0.1  # what\n\tnameserver 10.0.0.2\n"
                           "search old.example\nsearch a.example. . b.example a.example\n"
                           "options ndots:1 attempts:2\noptions ndots:3 rotate\n";
        _cleanup_free_ char *host = resolv(POD("\"dnsPolicy\": \"Default\", \"dnsConfig\": {\"nameservers\": [\"10.0.0.2\","
                                               " \"10.0.0.3\"], \"searches\": [\"b.example\", \"c.example\"],"
                                               " \"options\": [{\"name\": \"ndots\", \"value\": \"2\"}, {\"name\": \"edns0\"}]}"),
                                           conf, NULL, NULL);
        _cleanup_free_ char *cluster = resolv(POD("\"dnsConfig\": {\"options\": [{\"name\": \"ndots\", \"value\": \"1\"}],"
                                                  " \"searches\": [\"svc.cluster.local\"]}"),
                                              "search svc.cluster.local lan\n", "10.96.0.10", "cluster.local");
        _cleanup_free_ char *comment_only = resolv(POD("\"dnsPolicy\": \"Default\""), "# nothing here\n", NULL, NULL);

        check_streq(host, "search a.example b.example c.example\n"
                          "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"
                          "options ndots:2 attempts:2 rotate edns0\n");
        check_streq(warnings, "");
        check_streq(cluster, "search web.svc.cluster.local svc.cluster.local cluster.local lan\n"
                             "nameserver 10.96.0.10\noptions ndots:1\n");
        check_streq(comment_only, "# nothing here\n");
}

/* formDNSConfigFitsLimits: 3 nameservers, 32 search paths of at most 253 characters,
 * 2048 characters in the line. */
static void test_resolv_conf_limits(void) {
        char conf[8192] = "nameserver 10.0.0.1\nsearch", spec[1024];
        _cleanup_free_ char *many = NULL, *long_line = NULL, *too_long = NULL;
        char name[300];

        for (int i = 0; i < 34; i++)
                snprintf(conf + strlen(conf), sizeof(conf) - strlen(conf), " d%d.example", i);
        strcat(conf, "\n");
        snprintf(spec, sizeof(spec), POD("\"dnsPolicy\": \"Default\", \"dnsConfig\": {\"nameservers\": "
                                         "[\"10.0.0.2\", \"10.0.0.3\", \"10.0.0.4\"]}"));
        many = resolv(spec, conf, NULL, NULL);
        check(strstr(many, " d31.example\nnameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"));
        check(!strstr(many, "d32") && !strstr(many, "10.0.0.4"));
        check(strstr(warnings, "DNSConfigForming: Nameserver limits were exceeded, some nameservers have been omitted, "
                               "the applied nameserver line is: 10.0.0.1 10.0.0.2 10.0.0.3\n"));
        check(strstr(warnings, "DNSConfigForming: Search Line limits were exceeded, some search paths have been omitted, "
                               "the applied search line is: d0.example d1.example"));

        /* Nine names of 250 characters: 2258 in all; the last goes. */
        memset(name, 'x', 250);
        name[250] = '\0';
        strcpy(conf, "search");
        for (int i = 0; i < 9; i++) {
                name[0] = (char) ('a' + i);
                snprintf(conf + strlen(conf), sizeof(conf) - strlen(conf), " %s", name);
        }
        strcat(conf, "\n");
        long_line = resolv(POD("\"dnsPolicy\": \"Default\""), conf, NULL, NULL);
        check(strstr(long_line, " hxxx") && !strstr(long_line, " ixxx"));
        check(strstr(warnings, "Search Line limits were exceeded"));

        /* A path over 253 characters is left out. */
        memset(name, 'y', 254);
        name[254] = '\0';
        snprintf(conf, sizeof(conf), "search ok.example %s\n", name);
        too_long = resolv(POD("\"dnsPolicy\": \"Default\""), conf, NULL, NULL);
        check_streq(too_long, "search ok.example\n");
        check(strstr(warnings, "the applied search line is: ok.example\n"));
}

static char *resource(json_object *pod, const char *container, const char *what, const char *divisor) {
        PodFieldContext c = { .allocatable_cpu_milli = 2000, .allocatable_memory = 1 << 30 };
        char *value = NULL;

        return pod_resource_value(pod, &c, container, what, divisor, &value) < 0 ? strdup("(error)") : value;
}

/* The downward API's resource values as the e2e tests read them: rounded up, over the
 * divisor; limits that are not set are the node's allocatable. */
static void test_resource_values(void) {
        _cleanup_(json_object_putp) json_object *pod = json_tokener_parse(
                "{\"spec\": {\"containers\": [{\"name\": \"c\", \"resources\": {"
                "\"requests\": {\"cpu\": \"250m\", \"memory\": \"32Mi\"}, \"limits\": {\"cpu\": \"1250m\", \"memory\": \"64Mi\"}}},"
                " {\"name\": \"bare\"}]}}");
        const char *const cases[][4] = {
                { "c", "limits.cpu", NULL, "2" },          { "c", "limits.cpu", "1m", "1250" },
                { "c", "requests.cpu", NULL, "1" },        { "c", "limits.memory", NULL, "67108864" },
                { "c", "requests.memory", "1Mi", "32" },   { "bare", "limits.cpu", NULL, "2" },
                { "bare", "limits.memory", "1Mi", "1024" }, { "bare", "requests.cpu", NULL, "0" },
                { "c", "limits.gpu", NULL, "(error)" },    { "c", "limits.cpu", "x", "(error)" },
                { "nope", "limits.cpu", NULL, "(error)" },  { "c", "limits.cpu", "0", "2" },
                { "c", "limits.memory", "0", "67108864" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *v = resource(pod, cases[i][0], cases[i][1], cases[i][2]);
                check_streq(v, cases[i][3]);
        }
}

int main(void) {
        test_hosts();
        test_resolv_conf_policies();
        test_resolv_conf_parse_and_merge();
        test_resolv_conf_limits();
        test_resource_values();
        return 0;
}
