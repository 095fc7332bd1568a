/* SPDX-License-Identifier: Apache-2.0 */
#include "json-util.h"
#include "macro.h"
#include "static-pod.h"
#include "tests.h"

static json_object *parse(const char *text) {
        json_object *o = json_tokener_parse(text);

        check(o);
        return o;
}

static void test_uid(void) {
        _cleanup_(json_object_putp) json_object *empty = parse("{}"),
                                                 *nested = parse("{\"z\": 2, \"a\": [1, \"x\", {\"c\": true, \"b\": null}]}"),
                                                 *reordered = parse("{\"a\": [1, \"x\", {\"b\": null, \"c\": true}], \"z\": 2}"),
                                                 *other = parse("{\"a\": [\"x\", 1, {\"b\": null, \"c\": true}], \"z\": 2}");
        _cleanup_free_ char *a = static_pod_uid(empty, "node-a", "/etc/m/web.yaml"), *b = static_pod_uid(nested, "N", "/p"),
                            *c = static_pod_uid(reordered, "N", "/p"), *d = static_pod_uid(other, "N", "/p"),
                            *e = static_pod_uid(nested, "M", "/p"), *f = static_pod_uid(nested, "N", "/q");

        /* Go's fnv.New128a over `{}host:node-afile:/etc/m/web.yaml` and
         * `{"a":[1,"x",{"b":null,"c":true}],"z":2}host:Nfile:/p`, hex. */
        check_streq(a, "c2573a4e0dd2c720f5e76a2323a53698");
        check_streq(b, "ac42e340fde508a2e2b0c6c3d50f2c06");
        /* Keys in any order are the same pod; anything else is another. */
        check_streq(c, b);
        check(!streq(d, b) && !streq(e, b) && !streq(f, b));
}

static void test_from_manifest(void) {
        _cleanup_(json_object_putp) json_object *manifest = parse(
                "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"web\", \"labels\": {\"app\": \"web\"},"
                " \"annotations\": {\"team\": \"a\"}}, \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"kubia\"}]}}");
        _cleanup_(json_object_putp) json_object *pod = static_pod_from_manifest(manifest, "Node-A", "/m/web.yaml", "2026-01-02T03:04:05.000000006Z");
        _cleanup_(json_object_putp) json_object *again = NULL, *tolerant = NULL;
        _cleanup_free_ char *uid = static_pod_uid(manifest, "Node-A", "/m/web.yaml");
        json_object *tolerations;

        check(pod && uid);
        check_streq(json_get_string(pod, "metadata", "uid", NULL), uid);
        check_int(strlen(uid), ==, 32);
        check_streq(json_get_string(pod, "metadata", "name", NULL), "web-node-a");
        check_streq(json_get_string(pod, "metadata", "namespace", NULL), "default");
        check_streq(json_get_string(pod, "metadata", "labels", "app", NULL), "web");
        check_streq(json_get_string(pod, "metadata", "annotations", "team", NULL), "a");
        check_streq(json_get_string(pod, "metadata", "annotations", STATIC_POD_HASH_ANNOTATION, NULL), uid);
        check_streq(json_get_string(pod, "metadata", "annotations", STATIC_POD_SOURCE_ANNOTATION, NULL), "file");
        check_streq(json_get_string(pod, "metadata", "annotations", STATIC_POD_SEEN_ANNOTATION, NULL),
                    "2026-01-02T03:04:05.000000006Z");
        check_streq(json_get_string(pod, "spec", "nodeName", NULL), "Node-A");
        check_streq(json_get_string(pod, "status", "phase", NULL), "Pending");
        tolerations = json_get(json_get(pod, "spec"), "tolerations");
        check_int(json_array_length(tolerations), ==, 1);
        check_streq(json_get_string(json_object_array_get_idx(tolerations, 0), "operator", NULL), "Exists");
        check_streq(json_get_string(json_object_array_get_idx(tolerations, 0), "effect", NULL), "NoExecute");
        /* The manifest itself is left as it was: read again, the same UID. */
        check(!json_get(json_get(manifest, "metadata"), "uid") && !json_get(json_get(manifest, "spec"), "nodeName"));
        again = static_pod_from_manifest(manifest, "Node-A", "/m/web.yaml", "later");
        check_streq(json_get_string(again, "metadata", "uid", NULL), uid);

        /* A toleration it has already is not added twice; a namespace it has is kept. */
        {
                _cleanup_(json_object_putp) json_object *m = parse(
                        "{\"metadata\": {\"name\": \"t\", \"namespace\": \"kube-system\"}, \"spec\": {\"tolerations\":"
                        " [{\"operator\": \"Exists\", \"effect\": \"NoExecute\"}, {\"key\": \"k\", \"operator\": \"Exists\"}]}}");
                tolerant = static_pod_from_manifest(m, "n", "/m/t.yaml", "now");
                check(tolerant);
                check_int(json_array_length(json_get(json_get(tolerant, "spec"), "tolerations")), ==, 2);
                check_streq(json_get_string(tolerant, "metadata", "namespace", NULL), "kube-system");
        }
        {
                _cleanup_(json_object_putp) json_object *nameless = parse("{\"metadata\": {}}");
                check(!static_pod_from_manifest(nameless, "n", "/m/x.yaml", "now"));
        }
}

static void check_refused(const char *spec, const char *message) {
        _cleanup_free_ char *text = NULL, *error = NULL;
        _cleanup_(json_object_putp) json_object *pod = NULL;

        check(asprintf(&text, "{\"metadata\": {\"name\": \"p\"}, \"spec\": %s}", spec) > 0);
        pod = parse(text);
        if (!message) {
                check_int(static_pod_check(pod, &error), ==, 0);
                check(!error);
                return;
        }
        check_int(static_pod_check(pod, &error), ==, -EINVAL);
        check_streq(error, message);
}

static void test_check(void) {
        check_refused("{\"containers\": [{\"name\": \"c\", \"env\": [{\"name\": \"A\", \"value\": \"1\"},"
                      " {\"name\": \"N\", \"valueFrom\": {\"fieldRef\": {\"fieldPath\": \"metadata.name\"}}}]}],"
                      " \"volumes\": [{\"name\": \"e\", \"emptyDir\": {}}, {\"name\": \"h\", \"hostPath\": {\"path\": \"/x\"}},"
                      " {\"name\": \"d\", \"projected\": {\"sources\": [{\"downwardAPI\": {\"items\": []}}]}}]}",
                      NULL);
        /* Malformed volumes are refused with a message, not read as objects (fuzz find). */
        check_refused("{\"volumes\": [\"v\"]}", "a volume is not an object");
        check_refused("{\"volumes\": [{\"name\": \"d\", \"projected\": {\"sources\": [7]}}]}",
                      "a source of projected volume \"d\" is not an object");
        check_refused("{\"serviceAccountName\": \"default\"}", "static pods may not reference serviceaccounts");
        check_refused("{\"serviceAccount\": \"default\"}", "static pods may not reference serviceaccounts");
        check_refused("{\"imagePullSecrets\": [{\"name\": \"pull\"}]}", "static pods may not reference secrets");
        check_refused("{\"containers\": [{\"name\": \"c\", \"env\": [{\"name\": \"A\", \"valueFrom\": {\"secretKeyRef\":"
                      " {\"name\": \"s\", \"key\": \"k\"}}}]}]}",
                      "static pods may not reference secrets");
        check_refused("{\"initContainers\": [{\"name\": \"c\", \"envFrom\": [{\"secretRef\": {\"name\": \"s\"}}]}]}",
                      "static pods may not reference secrets");
        check_refused("{\"volumes\": [{\"name\": \"v\", \"secret\": {\"secretName\": \"s\"}}]}",
                      "static pods may not reference secrets");
        check_refused("{\"volumes\": [{\"name\": \"v\", \"rbd\": {\"secretRef\": {\"name\": \"s\"}}}]}",
                      "static pods may not reference secrets");
        check_refused("{\"containers\": [{\"name\": \"c\", \"envFrom\": [{\"configMapRef\": {\"name\": \"m\"}}]}]}",
                      "static pods may not reference configmaps");
        check_refused("{\"volumes\": [{\"name\": \"v\", \"projected\": {\"sources\": [{\"configMap\": {\"name\": \"m\"}}]}}]}",
                      "static pods may not reference configmaps");
        check_refused("{\"resourceClaims\": [{\"name\": \"r\"}]}", "static pods may not reference resourceclaims");
        check_refused("{\"volumes\": [{\"name\": \"v\", \"persistentVolumeClaim\": {\"claimName\": \"c\"}}]}",
                      "static pods may not reference persistentvolumeclaims");
        check_refused("{\"volumes\": [{\"name\": \"v\", \"csi\": {\"driver\": \"d\"}}]}",
                      "static pods may not reference csidrivers (via CSI volumes)");
        check_refused("{\"volumes\": [{\"name\": \"v\", \"projected\": {\"sources\": [{\"serviceAccountToken\": {\"path\": \"t\"}}]}}]}",
                      "static pods may not reference serviceaccounts (via projected volumes)");
        check_refused("{\"volumes\": [{\"name\": \"v\", \"projected\": {\"sources\": [{\"clusterTrustBundle\": {}}]}}]}",
                      "static pods may not reference clustertrustbundles");
        check_refused("{\"volumes\": [{\"name\": \"v\", \"magic\": {}}]}", "unknown volume type for volume \"v\"");
        check_refused("{\"volumes\": [{\"name\": \"v\", \"projected\": {\"sources\": [{\"magic\": {}}]}}]}",
                      "unknown source for projected volume \"v\"");
}

static void test_mirror(void) {
        _cleanup_(json_object_putp) json_object *manifest = parse(
                "{\"metadata\": {\"name\": \"web\", \"namespace\": \"kube-system\"}, \"spec\": {\"containers\": [{\"name\": \"c\"}]}}");
        _cleanup_(json_object_putp) json_object *pod = static_pod_from_manifest(manifest, "node-a", "/m/web.yaml", "now");
        _cleanup_(json_object_putp) json_object *mirror = mirror_pod_new(pod, "node-a", "node-uid");
        const char *hash = json_get_string(pod, "metadata", "annotations", STATIC_POD_HASH_ANNOTATION, NULL);
        json_object *owners = json_get(json_get(mirror, "metadata"), "ownerReferences"), *owner;

        check(mirror && hash);
        check(!pod_is_mirror(pod) && pod_is_mirror(mirror));
        check_streq(json_get_string(mirror, "metadata", "annotations", MIRROR_POD_ANNOTATION, NULL), hash);
        check_streq(json_get_string(mirror, "metadata", "annotations", STATIC_POD_SOURCE_ANNOTATION, NULL), "file");
        check_streq(json_get_string(mirror, "metadata", "name", NULL), "web-node-a");
        check_streq(json_get_string(mirror, "metadata", "namespace", NULL), "kube-system");
        check_streq(json_get_string(mirror, "spec", "nodeName", NULL), "node-a");
        check(!json_get(json_get(mirror, "metadata"), "uid") && !json_get(mirror, "status"));
        check_int(json_array_length(owners), ==, 1);
        owner = json_object_array_get_idx(owners, 0);
        check_streq(json_get_string(owner, "apiVersion", NULL), "v1");
        check_streq(json_get_string(owner, "kind", NULL), "Node");
        check_streq(json_get_string(owner, "name", NULL), "node-a");
        check_streq(json_get_string(owner, "uid", NULL), "node-uid");
        check(json_object_get_boolean(json_get(owner, "controller")) && !json_get(owner, "blockOwnerDeletion"));
        /* The static pod is left as it was. */
        check(json_get_string(pod, "metadata", "uid", NULL) && !json_get(json_get(pod, "metadata"), "ownerReferences"));

        /* The API's copy (with its own uid) is the static pod's mirror while the hash is. */
        json_object_object_add(json_get(mirror, "metadata"), "uid", json_object_new_string("api-uid"));
        check(mirror_pod_of(mirror, pod));
        {
                _cleanup_(json_object_putp) json_object *changed = parse(
                        "{\"metadata\": {\"name\": \"web\", \"namespace\": \"kube-system\"}, \"spec\": {\"containers\": [{\"name\": \"d\"}]}}");
                _cleanup_(json_object_putp) json_object *next = static_pod_from_manifest(changed, "node-a", "/m/web.yaml", "now");
                check(!mirror_pod_of(mirror, next));
        }
        json_object_object_add(json_get(mirror, "metadata"), "namespace", json_object_new_string("default"));
        check(!mirror_pod_of(mirror, pod));
        check(!mirror_pod_of(pod, pod));
}

int main(void) {
        test_uid();
        test_from_manifest();
        test_check();
        test_mirror();
        return 0;
}
