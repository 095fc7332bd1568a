/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "json-util.h"
#include "volumes.h"
#include "tests.h"

static json_object *lookup(void *userdata, const char *kind, const char *name) {
        json_object *objects = userdata, *o = NULL;
        char key[256];

        snprintf(key, sizeof(key), "%s/%s", kind, name);
        return json_object_object_get_ex(objects, key, &o) ? o : NULL;
}

static char *read_file(const char *dir, const char *path) {
        char full[4096], *content = NULL;
        snprintf(full, sizeof(full), "%s/%s", dir, path);
        return read_full_file(full, 1 << 20, &content, NULL) < 0 ? NULL : content;
}

static const PodFieldContext fields = { .pod_ip = "10.244.0.5", .host_ip = "192.168.1.2", .node_name = "node1",
                                        .allocatable_cpu_milli = 2000, .allocatable_memory = 1 << 30 };

static int setup(const char *pod_json, const char *dir, json_object *objects, ContainerSpecVolume **v, size_t *n,
                 char **error) {
        _cleanup_(json_object_putp) json_object *pod = json_tokener_parse(pod_json);
        check(pod);
        *error = NULL;
        int r = volumes_setup(pod, dir, &fields, lookup, objects, v, n, error);
        /* names point into the pod: copy what the test looks at */
        return r;
}

int main(void) {
        char template[] = "/tmp/test-volumes.XXXXXX", *dir = mkdtemp(template), vol[4096];
        _cleanup_(json_object_putp) json_object *objects = json_tokener_parse(
                "{\"ConfigMap/cfg\": {\"data\": {\"a.conf\": \"A\", \"b\": \"B\"}, \"binaryData\": {\"bin\": \"AAE=\"}},"
                " \"Secret/pw\": {\"data\": {\"password\": \"czNjcjN0\"}},"
                " \"ConfigMap/kube-root-ca.crt\": {\"data\": {\"ca.crt\": \"PEM\"}},"
                " \"ServiceAccountToken/default\": {\"token\": \"eyJ.token\"}}");
        ContainerSpecVolume *v = NULL;
        size_t n = 0;
        char *error = NULL, *text;
        struct stat st;

        check(dir && objects);
        check_int(setup("{\"metadata\": {\"name\": \"web\", \"namespace\": \"ns\", \"labels\": {\"app\": \"kubia\"}},"
                        " \"spec\": {\"volumes\": ["
                        "  {\"name\": \"config\", \"configMap\": {\"name\": \"cfg\", \"defaultMode\": 256}},"
                        "  {\"name\": \"picked\", \"configMap\": {\"name\": \"cfg\", \"items\": [{\"key\": \"b\", \"path\": \"sub/dir/b.txt\"}]}},"
                        "  {\"name\": \"pw\", \"secret\": {\"secretName\": \"pw\"}},"
                        "  {\"name\": \"maybe\", \"configMap\": {\"name\": \"nope\", \"optional\": true}},"
                        "  {\"name\": \"scratch\", \"emptyDir\": {}},"
                        "  {\"name\": \"kube-api-access\", \"projected\": {\"sources\": ["
                        "    {\"serviceAccountToken\": {\"expirationSeconds\": 3607, \"path\": \"token\"}},"
                        "    {\"configMap\": {\"name\": \"kube-root-ca.crt\", \"items\": [{\"key\": \"ca.crt\", \"path\": \"ca.crt\"}]}},"
                        "    {\"downwardAPI\": {\"items\": [{\"path\": \"namespace\", \"fieldRef\": {\"fieldPath\": \"metadata.namespace\"}},"
                        "                                   {\"path\": \"labels\", \"fieldRef\": {\"fieldPath\": \"metadata.labels\"}}]}}]}}]}}",
                        dir, objects, &v, &n, &error), ==, 0);
        check_int(n, ==, 6);
        snprintf(vol, sizeof(vol), "%s/volumes/config", dir);
        check_streq(v[0].host_path, vol);
        check(v[0].read_only && !v[4].read_only);
        check_streq((text = read_file(vol, "a.conf")), "A");
        free(text);
        check(lstat(strcat(vol, "/a.conf"), &st) == 0 && S_ISLNK(st.st_mode));
        check(stat(vol, &st) == 0 && (st.st_mode & 07777) == 0400);
        snprintf(vol, sizeof(vol), "%s/volumes/config/bin", dir);
        check(stat(vol, &st) == 0 && st.st_size == 2);
        snprintf(vol, sizeof(vol), "%s/volumes", dir);
        check_streq((text = read_file(vol, "picked/sub/dir/b.txt")), "B");
        free(text);
        check_streq((text = read_file(vol, "pw/password")), "s3cr3t");
        free(text);
        check_streq((text = read_file(vol, "kube-api-access/token")), "eyJ.token");
        free(text);
        check_streq((text = read_file(vol, "kube-api-access/namespace")), "ns");
        free(text);
        check_streq((text = read_file(vol, "kube-api-access/labels")), "app=\"kubia\"\n");
        free(text);
        check(stat(strcat(vol, "/scratch"), &st) == 0 && (st.st_mode & 0777) == 0777);
        volumes_free(v, n);

        check_int(setup("{\"metadata\": {\"name\": \"bad\"}, \"spec\": {\"volumes\": [{\"name\": \"c\", \"configMap\": {\"name\": \"gone\"}}]}}",
                        dir, objects, &v, &n, &error), ==, -ENOENT);
        check_streq(error, "pod default/bad: volume c: ConfigMap gone: not found");
        free(error);
        check_int(setup("{\"metadata\": {\"name\": \"evil\"}, \"spec\": {\"volumes\": [{\"name\": \"c\", \"configMap\": {\"name\": \"cfg\","
                        " \"items\": [{\"key\": \"b\", \"path\": \"../../etc/x\"}]}}]}}",
                        dir, objects, &v, &n, &error), ==, -EINVAL);
        check(strstr(error, "path '../../etc/x' must be relative, within the volume"));
        free(error);

        check_int(volumes_teardown(dir), ==, 0);
        snprintf(vol, sizeof(vol), "%s/volumes", dir);
        check(access(vol, F_OK) < 0);
        check(rmdir(dir) == 0);
        return 0;
}
