/* SPDX-License-Identifier: Apache-2.0 */
#include "agent-config.h"
#include "macro.h"
#include "tests.h"

static int parse(const char *text, AgentConfig *c, char **ret_error) {
        *ret_error = NULL;
        return agent_config_parse(text, strlen(text), "/etc/stevedore/config.yaml", c, ret_error);
}

static void test_fields(void) {
        _cleanup_free_ char *error = NULL;
        AgentConfig c = {};

        check_int(parse("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                        "kubeconfig: /etc/stevedore/kubeconfig\nhostnameOverride: node-a\nnodeIP: 192.0.2.7\n"
                        "podCIDR: 10.244.1.0/24\nstaticPodPath: \"/etc/stevedore/manifests\"\n"
                        "serviceCIDR: 10.96.0.0/12\nlogDir: /var/log\nport: 10250\ncgroupDriver: systemd\n"
                        "kubeAPIQPS: 5\nkubeAPIBurst: 10\nclusterCIDR: 10.244.0.0/16\nserviceProxy: false\n",
                        &c, &error),
                  ==, 0);
        check_streq(c.kubeconfig, "/etc/stevedore/kubeconfig");
        check_streq(c.hostname_override, "node-a");
        check_streq(c.node_ip, "192.0.2.7");
        check_streq(c.pod_cidr, "10.244.1.0/24");
        check_streq(c.static_pod_path, "/etc/stevedore/manifests");
        check_streq(c.service_cidr, "10.96.0.0/12");
        check_streq(c.log_dir, "/var/log");
        check_int(c.port, ==, 10250);
        check_int(c.cgroup_driver, ==, CGROUP_DRIVER_SYSTEMD);
        check_int(c.kube_api_qps, ==, 5);
        check_int(c.kube_api_burst, ==, 10);
        check_streq(c.cluster_cidr, "10.244.0.0/16");
        check_int(c.service_proxy, ==, AGENT_CONFIG_FALSE);
        agent_config_done(&c);
        check_int(parse("serviceProxy: True\n", &c, &error), ==, 0);
        check_int(c.service_proxy, ==, AGENT_CONFIG_TRUE);
}

/* clusterDNS is a list of addresses (IPv4 or IPv6, as inet_ntop writes them); clusterDomain
 * and resolvConf strings, "" meaning none for resolvConf as for kubelet. */
static void test_dns_fields(void) {
        _cleanup_free_ char *error = NULL;
        AgentConfig c = {};

        check_int(parse("clusterDNS:\n  - 10.96.0.10\n  - \"fd00:0::a\"\nclusterDomain: cluster.local\nresolvConf: \"\"\n",
                        &c, &error),
                  ==, 0);
        check(c.cluster_dns && c.cluster_dns[2] == NULL);
        check_streq(c.cluster_dns[0], "10.96.0.10");
        check_streq(c.cluster_dns[1], "fd00::a");
        check_streq(c.cluster_domain, "cluster.local");
        check_streq(c.resolv_conf, "");
        agent_config_done(&c);
        check_int(parse("clusterDNS: [10.96.0.10]\n", &c, &error), ==, 0);
        check(c.cluster_dns && streq(c.cluster_dns[0], "10.96.0.10") && !c.cluster_dns[1]);
        agent_config_done(&c);
        check_int(parse("clusterDNS: []\n", &c, &error), ==, 0);
        check(!c.cluster_dns);
        agent_config_done(&c);
}

static void test_empty_and_comments_only(void) {
        _cleanup_free_ char *error = NULL;
        AgentConfig c = {};

        check_int(parse("", &c, &error), ==, 0);
        check_int(parse("# nothing yet\n---\n", &c, &error), ==, 0);
        check(!c.kubeconfig && c.port == 0 && c.cgroup_driver == CGROUP_DRIVER_AUTO && c.service_proxy == AGENT_CONFIG_UNSET);
}

static void check_refused(const char *text, const char *message) {
        _cleanup_free_ char *error = NULL;
        AgentConfig c = {};

        check_int(parse(text, &c, &error), ==, -EINVAL);
        check_streq(error, message);
        agent_config_done(&c);
}

static void test_refused_with_file_line_and_field(void) {
        check_refused("podCIDR: 10.244.1.0/24\nimageGCHighThresholdPercent: 85\n",
                      "/etc/stevedore/config.yaml:2: unknown field \"imageGCHighThresholdPercent\"");
        check_refused("port: \"10250\"\n", "/etc/stevedore/config.yaml:1: field \"port\": want an integer, not a string");
        check_refused("# c\nport: ten\n", "/etc/stevedore/config.yaml:2: field \"port\": 'ten' is not a port (1-65535)");
        check_refused("port: 70000\n", "/etc/stevedore/config.yaml:1: field \"port\": '70000' is not a port (1-65535)");
        check_refused("\nstaticPodPath:\n  - /a\n",
                      "/etc/stevedore/config.yaml:3: field \"staticPodPath\": want a string, not a list");
        check_refused("podCIDR: {a: 1}\n", "/etc/stevedore/config.yaml:1: field \"podCIDR\": want a string, not a mapping");
        check_refused("podCIDR: 10.244.1.5/24\n",
                      "/etc/stevedore/config.yaml:1: field \"podCIDR\": '10.244.1.5/24' is not an IPv4 network in CIDR form");
        check_refused("nodeIP: node-a\n", "/etc/stevedore/config.yaml:1: field \"nodeIP\": 'node-a' is not an IPv4 address");
        check_refused("cgroupDriver: cgroupfs\ncgroupDriver: systemd\n",
                      "/etc/stevedore/config.yaml:2: field \"cgroupDriver\" given twice");
        check_refused("cgroupDriver: docker\n",
                      "/etc/stevedore/config.yaml:1: field \"cgroupDriver\": 'docker' is neither cgroupfs nor systemd");
        check_refused("kubeAPIQPS: 0\n", "/etc/stevedore/config.yaml:1: field \"kubeAPIQPS\": '0' is not a positive integer");
        check_refused("kubeAPIBurst: -5\n",
                      "/etc/stevedore/config.yaml:1: field \"kubeAPIBurst\": '-5' is not a positive integer");
        check_refused("serviceProxy: \"false\"\n",
                      "/etc/stevedore/config.yaml:1: field \"serviceProxy\": want true or false, not a string");
        check_refused("serviceProxy: no\n",
                      "/etc/stevedore/config.yaml:1: field \"serviceProxy\": 'no' is neither true nor false");
        check_refused("serviceProxy: [a]\n",
                      "/etc/stevedore/config.yaml:1: field \"serviceProxy\": want true or false, not a list");
        check_refused("clusterCIDR: 10.244.0.1/16\n",
                      "/etc/stevedore/config.yaml:1: field \"clusterCIDR\": '10.244.0.1/16' is not an IPv4 network in CIDR form");
        check_refused("kubeconfig:\n", "/etc/stevedore/config.yaml:1: field \"kubeconfig\": no value");
        check_refused("kind: Pod\n", "/etc/stevedore/config.yaml:1: field \"kind\": 'Pod' is not KubeletConfiguration");
        check_refused("- a\n", "/etc/stevedore/config.yaml:1: want a mapping of fields, not a list");
        check_refused("port: 1\n---\nport: 2\n", "/etc/stevedore/config.yaml:2: one document only");
        check_refused("[a]: 1\n", "/etc/stevedore/config.yaml:1: a field name must be a string, not a list");
        check_refused("a: &x 1\nport: *x\n", "/etc/stevedore/config.yaml:1: unknown field \"a\"");
        check_refused("clusterDNS: 10.96.0.10\n",
                      "/etc/stevedore/config.yaml:1: field \"clusterDNS\": want a list of strings, not a scalar");
        check_refused("clusterDNS:\n  - 10.96.0.10\n  - kube-dns\n",
                      "/etc/stevedore/config.yaml:3: field \"clusterDNS\": 'kube-dns' is not an IP address");
        check_refused("clusterDNS: [[10.96.0.10]]\n",
                      "/etc/stevedore/config.yaml:1: field \"clusterDNS\": want a string, not a list");
        check_refused("port: &x 1\nlogDir: *x\n", "/etc/stevedore/config.yaml:2: field \"logDir\": want a string, not an alias");
}

static void test_cluster_fields(void) {
        _cleanup_free_ char *error = NULL;
        AgentConfig c = {};

        check_int(parse("tlsCertFile: /etc/stevedore/pki/kubelet.crt\ntlsPrivateKeyFile: /etc/stevedore/pki/kubelet.key\n"
                        "clusterCIDR: 10.244.0.0/16\npodRoutes: vxlan\nregisterWithTaints:\n"
                        "  - key: node-role.kubernetes.io/control-plane\n    effect: NoSchedule\n"
                        "  - {key: dedicated, value: infra, effect: NoExecute}\n",
                        &c, &error),
                  ==, 0);
        check_streq(c.tls_cert_file, "/etc/stevedore/pki/kubelet.crt");
        check_streq(c.tls_private_key_file, "/etc/stevedore/pki/kubelet.key");
        check_streq(c.cluster_cidr, "10.244.0.0/16");
        check_int(c.pod_routes, ==, POD_ROUTES_VXLAN);
        check_int(c.n_taints, ==, 2);
        check_streq(c.taints[0].key, "node-role.kubernetes.io/control-plane");
        check(!c.taints[0].value);
        check_streq(c.taints[0].effect, "NoSchedule");
        check_streq(c.taints[1].value, "infra");
        agent_config_done(&c);

        check_refused("podRoutes: flannel\n",
                      "/etc/stevedore/config.yaml:1: field \"podRoutes\": 'flannel' is not auto, host-gw, vxlan or none");
        check_refused("clusterCIDR: 10.244.0.1/16\n",
                      "/etc/stevedore/config.yaml:1: field \"clusterCIDR\": '10.244.0.1/16' is not an IPv4 network in CIDR form");
        check_refused("registerWithTaints: a:NoSchedule\n",
                      "/etc/stevedore/config.yaml:1: field \"registerWithTaints\": want a list, not a scalar");
        check_refused("registerWithTaints:\n- key: a\n  effect: Sometimes\n",
                      "/etc/stevedore/config.yaml:2: field \"registerWithTaints\": a taint's effect must be NoSchedule, "
                      "PreferNoSchedule or NoExecute");
        check_refused("registerWithTaints:\n- key: a\n  colour: red\n",
                      "/etc/stevedore/config.yaml:3: field \"registerWithTaints\": unknown taint field \"colour\"");
        check_refused("registerWithTaints:\n- a\n",
                      "/etc/stevedore/config.yaml:2: field \"registerWithTaints\": want a taint mapping, not a scalar");
}

static void check_taints_refused(const char *spec, const char *message) {
        _cleanup_free_ char *error = NULL;
        NodeTaint *t = NULL;
        size_t n = 0;

        check_int(node_taints_parse(spec, &t, &n, &error), ==, -EINVAL);
        check_streq(error, message);
}

static void test_taints_flag(void) {
        _cleanup_free_ char *error = NULL;
        NodeTaint *t = NULL;
        size_t n = 0;

        /* kubelet's --register-with-taints format. */
        check_int(node_taints_parse("node-role.kubernetes.io/control-plane:NoSchedule,dedicated=infra:NoExecute,"
                                    "empty=:PreferNoSchedule",
                                    &t, &n, &error),
                  ==, 0);
        check_int(n, ==, 3);
        check_streq(t[0].key, "node-role.kubernetes.io/control-plane");
        check(!t[0].value);
        check_streq(t[0].effect, "NoSchedule");
        check_streq(t[1].key, "dedicated");
        check_streq(t[1].value, "infra");
        check_streq(t[1].effect, "NoExecute");
        check_streq(t[2].value, "");
        node_taints_free(t, n);

        check_int(node_taints_parse("", &t, &n, &error), ==, 0);
        check_int(n, ==, 0);
        node_taints_free(t, n);

        check_taints_refused("dedicated", "invalid taint spec 'dedicated': want key[=value]:effect");
        check_taints_refused("a=b=c:NoSchedule", "invalid taint spec 'a=b=c:NoSchedule': want key[=value]:effect");
        check_taints_refused("a:b:NoSchedule", "invalid taint spec 'a:b:NoSchedule': want key[=value]:effect");
        check_taints_refused("a:Never", "invalid taint spec 'a:Never': a taint's effect must be NoSchedule, "
                                        "PreferNoSchedule or NoExecute");
        check_taints_refused("-a:NoSchedule", "invalid taint spec '-a:NoSchedule': a taint's key must be a qualified "
                                              "name ([prefix/]name)");
        check_taints_refused("Example.com/a:NoSchedule", "invalid taint spec 'Example.com/a:NoSchedule': a taint's key "
                                                         "must be a qualified name ([prefix/]name)");
        check_taints_refused("a=b c:NoSchedule", "invalid taint spec 'a=b c:NoSchedule': a taint's value must be a label "
                                                 "value (at most 63 of [-A-Za-z0-9_.])");
}

static void test_yaml_errors_have_a_line(void) {
        _cleanup_free_ char *error = NULL;
        AgentConfig c = {};

        check_int(parse("podCIDR: 10.244.1.0/24\nlogDir: /var/log\n\tport: 1\n", &c, &error), ==, -EINVAL);
        check(strncmp(error, "/etc/stevedore/config.yaml:3: ", 30) == 0);
        agent_config_done(&c);
}

static void test_load_missing_file(void) {
        _cleanup_free_ char *error = NULL;
        AgentConfig c = {};

        check_int(agent_config_load("/nonexistent/config.yaml", &c, &error), ==, -ENOENT);
        check_streq(error, "/nonexistent/config.yaml: No such file or directory");
}

int main(void) {
        test_fields();
        test_dns_fields();
        test_empty_and_comments_only();
        test_refused_with_file_line_and_field();
        test_cluster_fields();
        test_taints_flag();
        test_yaml_errors_have_a_line();
        test_load_missing_file();
        return 0;
}
