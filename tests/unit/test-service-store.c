/* SPDX-License-Identifier: Apache-2.0 */
#include "json-util.h"
#include "service-store.h"
#include "tests.h"

static void on_synced(void *userdata) {
        (*(int *) userdata)++;
}

/* Standalone's way in: a complete set, namespace default where none is given, only what
 * the questions need kept; a new set replaces the old one whole. */
static void test_replace(void) {
        _cleanup_(service_store_freep) ServiceStore *s = NULL;
        _cleanup_(json_object_putp) json_object *first = json_tokener_parse(
                "[{\"kind\": \"Service\", \"metadata\": {\"name\": \"web\", \"labels\": {\"a\": \"b\"}},"
                "  \"spec\": {\"type\": \"NodePort\", \"clusterIP\": \"10.96.0.20\", \"clusterIPs\": [\"10.96.0.20\"],"
                "   \"selector\": {\"app\": \"web\"}, \"ports\": [{\"name\": \"http\", \"port\": 80, \"targetPort\": 8080,"
                "   \"nodePort\": 30080, \"protocol\": \"TCP\"}]}},"
                " {\"metadata\": {\"name\": \"db\", \"namespace\": \"data\"}, \"spec\": {\"clusterIP\": \"10.96.0.30\","
                "  \"ports\": [{\"port\": 5432}]}}]");
        _cleanup_(json_object_putp) json_object *second = json_tokener_parse(
                "[{\"metadata\": {\"name\": \"db\", \"namespace\": \"data\"}, \"spec\": {\"clusterIP\": \"10.96.0.31\","
                "  \"ports\": [{\"port\": 5433}]}}]");
        int synced = 0;

        check(service_store_new(&s) == 0);
        check(!service_store_synced(s) && !service_store_namespace(s, "default"));
        service_store_on_synced(s, on_synced, &synced);
        check(service_store_replace(s, first) == 0);
        check(service_store_synced(s) && synced == 1);
        check_streq(json_object_to_json_string_ext(service_store_get(s, "default", "web"), JSON_C_TO_STRING_PLAIN),
                    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"type\":\"NodePort\","
                    "\"clusterIP\":\"10.96.0.20\",\"clusterIPs\":[\"10.96.0.20\"],\"ports\":[{\"name\":\"http\","
                    "\"port\":80,\"protocol\":\"TCP\"}]}}");
        check_int(json_object_object_length(service_store_namespace(s, "data")), ==, 1);

        check(service_store_replace(s, second) == 0);
        check(synced == 1);
        check(!service_store_namespace(s, "default") && !service_store_get(s, "default", "web"));
        check_streq(json_get_string(service_store_get(s, "data", "db"), "spec", "clusterIP", NULL), "10.96.0.31");
}

int main(void) {
        test_replace();
        return 0;
}
