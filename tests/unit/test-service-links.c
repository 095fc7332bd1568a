/* SPDX-License-Identifier: Apache-2.0 */
/* Against kubelet's own expectations: pkg/kubelet/envvars/envvars_test.go
 * (TestFromServices) and the Service cases of TestMakeEnvironmentVariables in
 * pkg/kubelet/kubelet_pods_test.go (Kubernetes v1.37). */
#include "json-util.h"
#include "service-links.h"
#include "tests.h"

static json_object *parse_services(const char *text) {
        json_object *o = json_tokener_parse(text);
        check(o && json_object_is_type(o, json_type_array));
        return o;
}

static json_object **items(json_object *array) {
        size_t n = json_array_length(array);
        json_object **v = calloc(n + 1, sizeof(json_object *));

        check(v);
        for (size_t i = 0; i < n; i++)
                v[i] = json_object_array_get_idx(array, i);
        return v;
}

static void check_env(char **got, const char *const *want) {
        size_t i = 0;

        check(got);
        for (; want[i]; i++) {
                if (!got[i]) {
                        fprintf(stderr, "missing from %zu on: %s\n", i, want[i]);
                        exit(EXIT_FAILURE);
                }
                check_streq(got[i], want[i]);
        }
        if (got[i]) {
                fprintf(stderr, "more than expected: %s\n", got[i]);
                exit(EXIT_FAILURE);
        }
}

/* TestFromServices: the services and the list, in order. */
static void test_from_services(void) {
        _cleanup_(json_object_putp) json_object *services = parse_services(
                "[{\"metadata\": {\"name\": \"foo-bar\"}, \"spec\": {\"selector\": {\"bar\": \"baz\"},"
                "   \"clusterIP\": \"1.2.3.4\", \"ports\": [{\"port\": 8080, \"protocol\": \"TCP\"}]}},"
                " {\"metadata\": {\"name\": \"abc-123\"}, \"spec\": {\"clusterIP\": \"5.6.7.8\", \"ports\": ["
                "   {\"name\": \"u-d-p\", \"port\": 8081, \"protocol\": \"UDP\"},"
                "   {\"name\": \"t-c-p\", \"port\": 8081, \"protocol\": \"TCP\"}]}},"
                " {\"metadata\": {\"name\": \"q-u-u-x\"}, \"spec\": {\"clusterIP\": \"9.8.7.6\", \"ports\": ["
                "   {\"port\": 8082, \"protocol\": \"TCP\"}, {\"name\": \"8083\", \"port\": 8083, \"protocol\": \"TCP\"}]}},"
                " {\"metadata\": {\"name\": \"svrc-clusterip-none\"}, \"spec\": {\"clusterIP\": \"None\","
                "   \"ports\": [{\"port\": 8082, \"protocol\": \"TCP\"}]}},"
                " {\"metadata\": {\"name\": \"svrc-clusterip-empty\"}, \"spec\": {\"clusterIP\": \"\","
                "   \"ports\": [{\"port\": 8082, \"protocol\": \"TCP\"}]}},"
                " {\"metadata\": {\"name\": \"super-ipv6\"}, \"spec\": {\"clusterIP\": \"2001:DB8::\", \"ports\": ["
                "   {\"name\": \"u-d-p\", \"port\": 8084, \"protocol\": \"UDP\"},"
                "   {\"name\": \"t-c-p\", \"port\": 8084, \"protocol\": \"TCP\"}]}},"
                " {\"metadata\": {\"name\": \"sctp-1\"}, \"spec\": {\"clusterIP\": \"1.2.3.4\","
                "   \"ports\": [{\"port\": 777, \"protocol\": \"SCTP\"}]}}]");
        static const char *const want[] = {
                "FOO_BAR_SERVICE_HOST=1.2.3.4",
                "FOO_BAR_SERVICE_PORT=8080",
                "FOO_BAR_PORT=tcp://1.2.3.4:8080",
                "FOO_BAR_PORT_8080_TCP=tcp://1.2.3.4:8080",
                "FOO_BAR_PORT_8080_TCP_PROTO=tcp",
                "FOO_BAR_PORT_8080_TCP_PORT=8080",
                "FOO_BAR_PORT_8080_TCP_ADDR=1.2.3.4",
                "ABC_123_SERVICE_HOST=5.6.7.8",
                "ABC_123_SERVICE_PORT=8081",
                "ABC_123_SERVICE_PORT_U_D_P=8081",
                "ABC_123_SERVICE_PORT_T_C_P=8081",
                "ABC_123_PORT=udp://5.6.7.8:8081",
                "ABC_123_PORT_8081_UDP=udp://5.6.7.8:8081",
                "ABC_123_PORT_8081_UDP_PROTO=udp",
                "ABC_123_PORT_8081_UDP_PORT=8081",
                "ABC_123_PORT_8081_UDP_ADDR=5.6.7.8",
                "ABC_123_PORT_8081_TCP=tcp://5.6.7.8:8081",
                "ABC_123_PORT_8081_TCP_PROTO=tcp",
                "ABC_123_PORT_8081_TCP_PORT=8081",
                "ABC_123_PORT_8081_TCP_ADDR=5.6.7.8",
                "Q_U_U_X_SERVICE_HOST=9.8.7.6",
                "Q_U_U_X_SERVICE_PORT=8082",
                "Q_U_U_X_SERVICE_PORT_8083=8083",
                "Q_U_U_X_PORT=tcp://9.8.7.6:8082",
                "Q_U_U_X_PORT_8082_TCP=tcp://9.8.7.6:8082",
                "Q_U_U_X_PORT_8082_TCP_PROTO=tcp",
                "Q_U_U_X_PORT_8082_TCP_PORT=8082",
                "Q_U_U_X_PORT_8082_TCP_ADDR=9.8.7.6",
                "Q_U_U_X_PORT_8083_TCP=tcp://9.8.7.6:8083",
                "Q_U_U_X_PORT_8083_TCP_PROTO=tcp",
                "Q_U_U_X_PORT_8083_TCP_PORT=8083",
                "Q_U_U_X_PORT_8083_TCP_ADDR=9.8.7.6",
                "SUPER_IPV6_SERVICE_HOST=2001:DB8::",
                "SUPER_IPV6_SERVICE_PORT=8084",
                "SUPER_IPV6_SERVICE_PORT_U_D_P=8084",
                "SUPER_IPV6_SERVICE_PORT_T_C_P=8084",
                "SUPER_IPV6_PORT=udp://[2001:DB8::]:8084",
                "SUPER_IPV6_PORT_8084_UDP=udp://[2001:DB8::]:8084",
                "SUPER_IPV6_PORT_8084_UDP_PROTO=udp",
                "SUPER_IPV6_PORT_8084_UDP_PORT=8084",
                "SUPER_IPV6_PORT_8084_UDP_ADDR=2001:DB8::",
                "SUPER_IPV6_PORT_8084_TCP=tcp://[2001:DB8::]:8084",
                "SUPER_IPV6_PORT_8084_TCP_PROTO=tcp",
                "SUPER_IPV6_PORT_8084_TCP_PORT=8084",
                "SUPER_IPV6_PORT_8084_TCP_ADDR=2001:DB8::",
                "SCTP_1_SERVICE_HOST=1.2.3.4",
                "SCTP_1_SERVICE_PORT=777",
                "SCTP_1_PORT=sctp://1.2.3.4:777",
                "SCTP_1_PORT_777_SCTP=sctp://1.2.3.4:777",
                "SCTP_1_PORT_777_SCTP_PROTO=sctp",
                "SCTP_1_PORT_777_SCTP_PORT=777",
                "SCTP_1_PORT_777_SCTP_ADDR=1.2.3.4",
                NULL,
        };
        _cleanup_free_ json_object **list = items(services);
        _cleanup_strv_free_ char **env = service_links_from_services(list, json_array_length(services));

        check_env(env, want);
}

/* TestMakeEnvironmentVariables' Service set (buildService(name, namespace, clusterIP,
 * protocol, port)); the protocol left out of one, as the API's default fills it. */
static const char *const cluster_services =
        "[{\"metadata\": {\"name\": \"kubernetes\", \"namespace\": \"default\"},"
        "  \"spec\": {\"clusterIP\": \"1.2.3.1\", \"ports\": [{\"port\": 8081, \"protocol\": \"TCP\"}]}},"
        " {\"metadata\": {\"name\": \"test\", \"namespace\": \"test1\"},"
        "  \"spec\": {\"clusterIP\": \"1.2.3.3\", \"ports\": [{\"port\": 8083, \"protocol\": \"TCP\"}]}},"
        " {\"metadata\": {\"name\": \"kubernetes\", \"namespace\": \"test2\"},"
        "  \"spec\": {\"clusterIP\": \"1.2.3.4\", \"ports\": [{\"port\": 8084, \"protocol\": \"TCP\"}]}},"
        " {\"metadata\": {\"name\": \"test\", \"namespace\": \"test2\"},"
        "  \"spec\": {\"clusterIP\": \"1.2.3.5\", \"ports\": [{\"port\": 8085}]}},"
        " {\"metadata\": {\"name\": \"test\", \"namespace\": \"test2\"},"
        "  \"spec\": {\"clusterIP\": \"None\", \"ports\": [{\"port\": 8085, \"protocol\": \"TCP\"}]}},"
        " {\"metadata\": {\"name\": \"test\", \"namespace\": \"test2\"},"
        "  \"spec\": {\"clusterIP\": \"\", \"ports\": [{\"port\": 8085, \"protocol\": \"TCP\"}]}},"
        " {\"metadata\": {\"name\": \"not-special\", \"namespace\": \"default\"},"
        "  \"spec\": {\"clusterIP\": \"1.2.3.8\", \"ports\": [{\"port\": 8088, \"protocol\": \"TCP\"}]}},"
        " {\"metadata\": {\"name\": \"not-special\", \"namespace\": \"default\"},"
        "  \"spec\": {\"clusterIP\": \"None\", \"ports\": [{\"port\": 8088, \"protocol\": \"TCP\"}]}},"
        " {\"metadata\": {\"name\": \"not-special\", \"namespace\": \"default\"},"
        "  \"spec\": {\"clusterIP\": \"\", \"ports\": [{\"port\": 8088, \"protocol\": \"TCP\"}]}}]";

static void check_pod_env(const char *namespace, bool links, const char *const *want) {
        _cleanup_(json_object_putp) json_object *services = parse_services(cluster_services);
        _cleanup_free_ json_object **list = items(services);
        _cleanup_strv_free_ char **env = service_links_env(list, json_array_length(services), namespace, links);

        check_env(env, want);
}

#define KUBERNETES(ip, port)                                                                             \
        "KUBERNETES_PORT=tcp://" ip ":" port, "KUBERNETES_PORT_" port "_TCP=tcp://" ip ":" port,        \
                "KUBERNETES_PORT_" port "_TCP_ADDR=" ip, "KUBERNETES_PORT_" port "_TCP_PORT=" port,     \
                "KUBERNETES_PORT_" port "_TCP_PROTO=tcp", "KUBERNETES_SERVICE_HOST=" ip,                \
                "KUBERNETES_SERVICE_PORT=" port
#define TEST_SERVICE(ip, port)                                                                                    \
        "TEST_PORT=tcp://" ip ":" port, "TEST_PORT_" port "_TCP=tcp://" ip ":" port, "TEST_PORT_" port "_TCP_ADDR=" ip, \
                "TEST_PORT_" port "_TCP_PORT=" port, "TEST_PORT_" port "_TCP_PROTO=tcp", "TEST_SERVICE_HOST=" ip,         \
                "TEST_SERVICE_PORT=" port

/* The master Service always, even with enableServiceLinks false; the namespace's own
 * with it; a `kubernetes` Service of the pod's namespace over the master's; Services
 * without a ClusterIP never. Sorted by name. */
static void test_pod_environment(void) {
        check_pod_env("test1", false, (const char *const[]) { KUBERNETES("1.2.3.1", "8081"), NULL });
        check_pod_env("test1", true,
                      (const char *const[]) { KUBERNETES("1.2.3.1", "8081"), TEST_SERVICE("1.2.3.3", "8083"), NULL });
        check_pod_env("test2", false, (const char *const[]) { KUBERNETES("1.2.3.1", "8081"), NULL });
        check_pod_env("test2", true,
                      (const char *const[]) { KUBERNETES("1.2.3.4", "8084"), TEST_SERVICE("1.2.3.5", "8085"), NULL });
        check_pod_env("default", false, (const char *const[]) { KUBERNETES("1.2.3.1", "8081"), NULL });
        check_pod_env("default", true,
                      (const char *const[]) { KUBERNETES("1.2.3.1", "8081"), "NOT_SPECIAL_PORT=tcp://1.2.3.8:8088",
                                              "NOT_SPECIAL_PORT_8088_TCP=tcp://1.2.3.8:8088",
                                              "NOT_SPECIAL_PORT_8088_TCP_ADDR=1.2.3.8",
                                              "NOT_SPECIAL_PORT_8088_TCP_PORT=8088",
                                              "NOT_SPECIAL_PORT_8088_TCP_PROTO=tcp",
                                              "NOT_SPECIAL_SERVICE_HOST=1.2.3.8", "NOT_SPECIAL_SERVICE_PORT=8088", NULL });
        /* No Services (standalone without any, or none listed yet): nothing. */
        _cleanup_strv_free_ char **none = service_links_env(NULL, 0, "default", true);
        check(none && !none[0]);
}

int main(void) {
        test_from_services();
        test_pod_environment();
        return 0;
}
