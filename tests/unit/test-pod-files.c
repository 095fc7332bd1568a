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
        _cleanup_free_ char *hosts = pod_hosts_file(pod, "10.244.0.5", NULL), *hosts2 = pod_hosts_file(sub, "10.244.0.6", NULL);

        check(strstr(hosts, "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        check(strstr(hosts, "\n10.244.0.5\tkubia-x\n\n# Entries added by HostAliases.\n10.1.1.1\tdb\tdb.local\n"));
        check(strstr(hosts2, "\n10.244.0.6\th.s.web.svc.cluster.local\th\n"));
}

static void test_resolv_conf(void) {
        _cleanup_(json_object_putp) json_object *pod = json_tokener_parse(
                "{\"metadata\": {\"name\": \"p\", \"namespace\": \"web\"}, \"spec\": {\"dnsConfig\": "
                "{\"options\": [{\"name\": \"timeout\", \"value\": \"2\"}]}}}");
        _cleanup_(json_object_putp) json_object *none = json_tokener_parse(
                "{\"metadata\": {\"name\": \"p\"}, \"spec\": {\"dnsPolicy\": \"None\", \"dnsConfig\": "
                "{\"nameservers\": [\"1.1.1.1\"], \"searches\": [\"x.y\"]}}}");
        _cleanup_free_ char *cluster = pod_resolv_conf(pod, host_conf, "10.96.0.10", NULL),
                            *fallback = pod_resolv_conf(pod, host_conf, NULL, NULL),
                            *only = pod_resolv_conf(none, host_conf, "10.96.0.10", NULL);

        check_streq(cluster, "nameserver 10.96.0.10\n"
                             "search web.svc.cluster.local svc.cluster.local cluster.local lan\n"
                             "options ndots:5 timeout:2\n");
        check_streq(fallback, "nameserver 192.168.1.1\nnameserver 8.8.8.8\nsearch lan\noptions edns0 timeout:2\n");
        check_streq(only, "nameserver 1.1.1.1\nsearch x.y\n");
}

int main(void) {
        test_hosts();
        test_resolv_conf();
        return 0;
}
