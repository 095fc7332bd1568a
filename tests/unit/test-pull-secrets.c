/* SPDX-License-Identifier: Apache-2.0 */
#include <json-c/json.h>

#include "pull-secrets.h"
#include "tests.h"

static json_object *lookup(void *userdata, const char *kind, const char *name) {
        char key[256];
        json_object *o;

        snprintf(key, sizeof(key), "%s/%s", kind, name);
        return json_object_object_get_ex(userdata, key, &o) ? o : NULL;
}

static void need(void *userdata, const char *kind, const char *name, bool optional) {
        json_object_array_add(userdata, json_object_new_string(name));
        check(strcmp(kind, "Secret") == 0 && optional);
}

/* {"auths": {"127.0.0.1:5000": {"auth": base64("puller:pass")}}} */
#define DOCKERCONFIGJSON "eyJhdXRocyI6IHsiMTI3LjAuMC4xOjUwMDAiOiB7ImF1dGgiOiAiY0hWc2JHVnlPbkJoYzNNPSJ9fX0="

TEST(required) {
        json_object *pod = json_tokener_parse("{\"spec\": {\"imagePullSecrets\": [{\"name\": \"a\"}, {}, {\"name\": \"b\"}]}}");
        json_object *names = json_object_new_array();

        pull_secrets_required(pod, need, names);
        check_streq(json_object_to_json_string_ext(names, JSON_C_TO_STRING_PLAIN), "[\"a\",\"b\"]");
        json_object_put(names);
        json_object_put(pod);
}

TEST(credentials) {
        json_object *pod = json_tokener_parse("{\"metadata\": {\"name\": \"p\", \"namespace\": \"ns\"}, \"spec\": "
                                              "{\"imagePullSecrets\": [{\"name\": \"gone\"}, {\"name\": \"opaque\"}, {\"name\": \"reg\"}]}}");
        json_object *objects = json_tokener_parse(
                "{\"Secret/reg\": {\"kind\": \"Secret\", \"type\": \"kubernetes.io/dockerconfigjson\", \"data\": "
                "{\".dockerconfigjson\": \"" DOCKERCONFIGJSON "\"}}, \"Secret/opaque\": {\"kind\": \"Secret\", "
                "\"type\": \"Opaque\", \"data\": {\"x\": \"eQ==\"}}}");
        AuthFile *credentials = NULL;
        RegistryCredentials found = {};
        char *missing = NULL;

        check_int(pull_secrets_credentials(pod, lookup, objects, &credentials, &missing), ==, 0);
        check_streq(missing, "gone, opaque");
        check_int(auth_file_lookup(credentials, "127.0.0.1:5000", "private/busybox", &found), ==, 0);
        check_streq(found.username, "puller");
        check_streq(found.password, "pass");
        auth_file_free(credentials);
        free(missing);

        json_object_object_del(json_object_object_get(pod, "spec"), "imagePullSecrets");
        check_int(pull_secrets_credentials(pod, lookup, objects, &credentials, &missing), ==, 0);
        check(!credentials && !missing);
        json_object_put(objects);
        json_object_put(pod);
}

int main(void) {
        RUN(required);
        RUN(credentials);
        return 0;
}
