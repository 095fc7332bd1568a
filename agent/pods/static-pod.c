/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "error.h"
#include "json-util.h"
#include "macro.h"
#include "static-pod.h"

/* --- the UID ------------------------------------------------------------------------ */

typedef unsigned __int128 Fnv128;

/* FNV-1a 128, as Go's hash/fnv New128a: offset basis and prime of the FNV spec. */
#define FNV128_OFFSET (((Fnv128) 0x6c62272e07bb0142ULL << 64) | 0x62b821756295c58dULL)
#define FNV128_PRIME (((Fnv128) 0x0000000001000000ULL << 64) | 0x000000000000013bULL)

static void fnv128a(Fnv128 *h, const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                *h ^= (unsigned char) s[i];
                *h *= FNV128_PRIME;
        }
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

#define CANONICAL_MAX (16u << 20)

/* o as JSON with every object's keys sorted. */
static int canonical_json(json_object *o, char **buf, size_t *size, size_t *allocated) {
        int r;

        if (json_object_is_type(o, json_type_object)) {
                size_t n = 0, i = 0;
                _cleanup_free_ const char **keys = calloc(json_object_object_length(o) + 1, sizeof(char *));

                if (!keys)
                        return -ENOMEM;
                json_object_object_foreach(o, key, value) {
                        (void) value;
                        keys[n++] = key;
                }
                qsort(keys, n, sizeof(char *), compare_strings);
                r = buffer_append(buf, size, allocated, "{", 1, CANONICAL_MAX);
                for (i = 0; r >= 0 && i < n; i++) {
                        json_object *quoted = json_object_new_string(keys[i]);
                        const char *text = quoted ? json_object_to_json_string_ext(quoted, JSON_C_TO_STRING_PLAIN) : NULL;

                        r = !text ? -ENOMEM : buffer_append(buf, size, allocated, ",", i > 0, CANONICAL_MAX);
                        if (r >= 0)
                                r = buffer_append(buf, size, allocated, text, strlen(text), CANONICAL_MAX);
                        json_object_put(quoted);
                        if (r >= 0)
                                r = buffer_append(buf, size, allocated, ":", 1, CANONICAL_MAX);
                        if (r >= 0)
                                r = canonical_json(json_object_object_get(o, keys[i]), buf, size, allocated);
                }
                return r < 0 ? r : buffer_append(buf, size, allocated, "}", 1, CANONICAL_MAX);
        }
        if (json_object_is_type(o, json_type_array)) {
                r = buffer_append(buf, size, allocated, "[", 1, CANONICAL_MAX);
                for (size_t i = 0; r >= 0 && i < json_object_array_length(o); i++) {
                        r = buffer_append(buf, size, allocated, ",", i > 0, CANONICAL_MAX);
                        if (r >= 0)
                                r = canonical_json(json_object_array_get_idx(o, i), buf, size, allocated);
                }
                return r < 0 ? r : buffer_append(buf, size, allocated, "]", 1, CANONICAL_MAX);
        }
        {
                const char *text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "null";
                return buffer_append(buf, size, allocated, text, strlen(text), CANONICAL_MAX);
        }
}

char *static_pod_uid(json_object *pod, const char *node_name, const char *path) {
        _cleanup_free_ char *text = NULL, *source = NULL;
        size_t size = 0, allocated = 0;
        Fnv128 h = FNV128_OFFSET;
        char *uid;

        if (canonical_json(pod, &text, &size, &allocated) < 0 ||
            asprintf(&source, "host:%sfile:%s", node_name, path) < 0)
                return NULL;
        fnv128a(&h, text, size);
        fnv128a(&h, source, strlen(source));
        uid = malloc(33);
        if (!uid)
                return NULL;
        for (int i = 0; i < 16; i++)
                snprintf(uid + 2 * i, 3, "%02x", (unsigned) (h >> (8 * (15 - i))) & 0xff);
        return uid;
}

/* --- kubelet's defaults --------------------------------------------------------------- */

/* The object at key of o, made if missing (or not an object). NULL on ENOMEM. */
static json_object *object_at(json_object *o, const char *key) {
        json_object *v = json_get(o, key);

        if (json_object_is_type(v, json_type_object))
                return v;
        v = json_object_new_object();
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return NULL;
        }
        return v;
}

static int set_string(json_object *o, const char *key, const char *value) {
        json_object *s = json_object_new_string(value);

        if (!s || json_object_object_add(o, key, s) < 0) {
                json_object_put(s);
                return -ENOMEM;
        }
        return 0;
}

/* helper.AddOrUpdateTolerationInPod for {operator: Exists, effect: NoExecute}: kept out
 * of eviction by the node's NoExecute taints, as static pods are. */
static int tolerate_no_execute(json_object *spec) {
        json_object *tolerations = json_get(spec, "tolerations"), *t;

        if (!json_object_is_type(tolerations, json_type_array)) {
                tolerations = json_object_new_array();
                if (!tolerations || json_object_object_add(spec, "tolerations", tolerations) < 0) {
                        json_object_put(tolerations);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < json_object_array_length(tolerations); i++) {
                json_object *o = json_object_array_get_idx(tolerations, i);
                if (streq(json_get_string(o, "operator", NULL) ?: "", "Exists") &&
                    streq(json_get_string(o, "effect", NULL) ?: "", "NoExecute") && !json_get(o, "key") &&
                    !json_get(o, "tolerationSeconds"))
                        return 0;
        }
        t = json_object_new_object();
        if (!t || set_string(t, "operator", "Exists") < 0 || set_string(t, "effect", "NoExecute") < 0 ||
            json_object_array_add(tolerations, t) < 0) {
                json_object_put(t);
                return -ENOMEM;
        }
        return 0;
}

json_object *static_pod_from_manifest(json_object *pod, const char *node_name, const char *path, const char *seen) {
        _cleanup_(json_object_putp) json_object *copy = NULL;
        _cleanup_free_ char *uid = NULL, *name = NULL;
        json_object *meta, *annotations, *spec, *status;
        const char *pod_name = json_get_string(pod, "metadata", "name", NULL);

        if (!pod_name || json_object_deep_copy(pod, &copy, NULL) < 0)
                return NULL;
        /* The UID hashes the pod as given; what follows is kubelet's, not the file's. */
        uid = static_pod_uid(pod, node_name, path);
        if (!uid || asprintf(&name, "%s-%s", pod_name, node_name) < 0)
                return NULL;
        for (char *p = name + strlen(pod_name); *p; p++)
                *p = (char) tolower((unsigned char) *p);
        meta = object_at(copy, "metadata");
        annotations = meta ? object_at(meta, "annotations") : NULL;
        spec = object_at(copy, "spec");
        status = object_at(copy, "status");
        if (!annotations || !spec || !status || set_string(meta, "uid", uid) < 0 || set_string(meta, "name", name) < 0 ||
            (isempty(json_get_string(meta, "namespace", NULL)) && set_string(meta, "namespace", "default") < 0) ||
            set_string(spec, "nodeName", node_name) < 0 || set_string(annotations, STATIC_POD_HASH_ANNOTATION, uid) < 0 ||
            set_string(annotations, STATIC_POD_SOURCE_ANNOTATION, "file") < 0 ||
            set_string(annotations, STATIC_POD_SEEN_ANNOTATION, seen) < 0 || tolerate_no_execute(spec) < 0 ||
            set_string(status, "phase", "Pending") < 0)
                return NULL;
        return TAKE_PTR(copy);
}

/* --- what a static pod may not refer to ------------------------------------------------ */

/* env[].valueFrom.<key_ref>, envFrom[].<from_ref> of any container. */
static bool containers_refer(json_object *spec, const char *key_ref, const char *from_ref) {
        static const char *const lists[] = { "initContainers", "containers", "ephemeralContainers" };

        for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
                json_object *containers = json_get(spec, lists[l]);
                for (size_t i = 0; i < json_array_length(containers); i++) {
                        json_object *c = json_object_array_get_idx(containers, i);
                        json_object *env = json_get(c, "env"), *env_from = json_get(c, "envFrom");
                        for (size_t j = 0; j < json_array_length(env); j++)
                                if (json_get(json_get(json_object_array_get_idx(env, j), "valueFrom"), key_ref))
                                        return true;
                        for (size_t j = 0; j < json_array_length(env_from); j++)
                                if (json_get(json_object_array_get_idx(env_from, j), from_ref))
                                        return true;
                }
        }
        return false;
}

/* Volume plugins whose credentials are a Secret (VisitPodSecretNames). */
static bool volumes_refer_to_secrets(json_object *volumes) {
        static const char *const secret_refs[] = { "cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi", "storageos" };

        for (size_t i = 0; i < json_array_length(volumes); i++) {
                json_object *v = json_object_array_get_idx(volumes, i), *sources = json_get(json_get(v, "projected"), "sources");
                if (json_get(v, "secret") || json_get(v, "azureFile") || json_get(json_get(v, "csi"), "nodePublishSecretRef"))
                        return true;
                for (size_t k = 0; k < ELEMENTSOF(secret_refs); k++)
                        if (json_get(json_get(v, secret_refs[k]), "secretRef"))
                                return true;
                for (size_t s = 0; s < json_array_length(sources); s++)
                        if (json_get(json_object_array_get_idx(sources, s), "secret"))
                                return true;
        }
        return false;
}

static bool volumes_refer_to_configmaps(json_object *volumes) {
        for (size_t i = 0; i < json_array_length(volumes); i++) {
                json_object *v = json_object_array_get_idx(volumes, i), *sources = json_get(json_get(v, "projected"), "sources");
                if (json_get(v, "configMap"))
                        return true;
                for (size_t s = 0; s < json_array_length(sources); s++)
                        if (json_get(json_object_array_get_idx(sources, s), "configMap"))
                                return true;
        }
        return false;
}

static bool one_of(const char *s, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(s, list[i]))
                        return true;
        return false;
}

/* A volume's source, checked as HasAPIObjectReference's switch does; the message's
 * resource, NULL when allowed. */
static int check_volume(json_object *v, const char **ret_resource, char **ret_error) {
        static const char *const allowed[] = {
                "awsElasticBlockStore", "azureDisk", "cephfs", "cinder", "downwardAPI", "emptyDir", "fc",
                "flexVolume", "flocker", "gcePersistentDisk", "gitRepo", "hostPath", "image", "iscsi", "nfs",
                "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume",
        };
        static const struct {
                const char *key, *resource;
        } refused[] = {
                { "configMap", "configmaps (via configmap volumes)" },
                { "secret", "secrets (via secret volumes)" },
                { "csi", "csidrivers (via CSI volumes)" },
                { "glusterfs", "endpoints (via glusterFS volumes)" },
                { "persistentVolumeClaim", "persistentvolumeclaims" },
                { "ephemeral", "persistentvolumeclaims (via ephemeral volumes)" },
                { "azureFile", "secrets (via azureFile volumes)" },
        };
        static const struct {
                const char *key, *resource;
        } refused_sources[] = {
                { "configMap", "configmaps (via projected volumes)" },
                { "secret", "secrets (via projected volumes)" },
                { "serviceAccountToken", "serviceaccounts (via projected volumes)" },
                { "clusterTrustBundle", "clustertrustbundles" },
                { "podCertificate", "podcertificates" },
        };
        const char *name = json_get_string(v, "name", NULL) ?: "";
        json_object *sources;

        *ret_resource = NULL;
        if (!json_object_is_type(v, json_type_object))
                return error_set(ret_error, -EINVAL, "a volume is not an object");
        json_object_object_foreach(v, key, value) {
                (void) value;
                if (streq(key, "name") || streq(key, "projected") || one_of(key, allowed, ELEMENTSOF(allowed)))
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                        if (streq(key, refused[i].key)) {
                                *ret_resource = refused[i].resource;
                                return 0;
                        }
                return error_set(ret_error, -EINVAL, "unknown volume type for volume \"%s\"", name);
        }
        sources = json_get(json_get(v, "projected"), "sources");
        for (size_t s = 0; s < json_array_length(sources); s++) {
                json_object *source = json_object_array_get_idx(sources, s);
                if (!json_object_is_type(source, json_type_object))
                        return error_set(ret_error, -EINVAL, "a source of projected volume \"%s\" is not an object",
                                         name);
                json_object_object_foreach(source, kind, projection) {
                        (void) projection;
                        if (streq(kind, "downwardAPI"))
                                continue;
                        for (size_t i = 0; i < ELEMENTSOF(refused_sources); i++)
                                if (streq(kind, refused_sources[i].key)) {
                                        *ret_resource = refused_sources[i].resource;
                                        return 0;
                                }
                        return error_set(ret_error, -EINVAL, "unknown source for projected volume \"%s\"", name);
                }
        }
        return 0;
}

int static_pod_check(json_object *pod, char **ret_error) {
        json_object *spec = json_get(pod, "spec"), *volumes = json_get(spec, "volumes");
        const char *resource = NULL;
        int r;

        if (!isempty(json_get_string(spec, "serviceAccountName", NULL)) || !isempty(json_get_string(spec, "serviceAccount", NULL)))
                resource = "serviceaccounts";
        else if (json_array_length(json_get(spec, "imagePullSecrets")) > 0 ||
                 containers_refer(spec, "secretKeyRef", "secretRef") || volumes_refer_to_secrets(volumes))
                resource = "secrets";
        else if (containers_refer(spec, "configMapKeyRef", "configMapRef") || volumes_refer_to_configmaps(volumes))
                resource = "configmaps";
        else if (json_array_length(json_get(spec, "resourceClaims")) > 0)
                resource = "resourceclaims";
        for (size_t i = 0; !resource && i < json_array_length(volumes); i++) {
                r = check_volume(json_object_array_get_idx(volumes, i), &resource, ret_error);
                if (r < 0)
                        return r;
        }
        if (resource)
                return error_set(ret_error, -EINVAL, "static pods may not reference %s", resource);
        return 0;
}

/* --- mirror pods ---------------------------------------------------------------------- */

json_object *mirror_pod_new(json_object *static_pod, const char *node_name, const char *node_uid) {
        _cleanup_(json_object_putp) json_object *mirror = NULL;
        json_object *meta, *annotations, *owners = NULL, *owner = NULL;
        const char *hash = json_get_string(static_pod, "metadata", "annotations", STATIC_POD_HASH_ANNOTATION, NULL);

        if (!hash || json_object_deep_copy(static_pod, &mirror, NULL) < 0)
                return NULL;
        json_object_object_del(mirror, "status");
        meta = object_at(mirror, "metadata");
        annotations = meta ? object_at(meta, "annotations") : NULL;
        if (!annotations || set_string(annotations, MIRROR_POD_ANNOTATION, hash) < 0)
                return NULL;
        json_object_object_del(meta, "uid");
        owners = json_object_new_array();
        owner = json_object_new_object();
        if (!owners || !owner || set_string(owner, "apiVersion", "v1") < 0 || set_string(owner, "kind", "Node") < 0 ||
            set_string(owner, "name", node_name) < 0 || set_string(owner, "uid", node_uid) < 0 ||
            json_object_object_add(owner, "controller", json_object_new_boolean(true)) < 0 ||
            json_object_array_add(owners, owner) < 0) {
                json_object_put(owner);
                json_object_put(owners);
                return NULL;
        }
        if (json_object_object_add(meta, "ownerReferences", owners) < 0) {
                json_object_put(owners);
                return NULL;
        }
        return TAKE_PTR(mirror);
}

bool pod_is_mirror(json_object *pod) {
        return json_get(json_get(json_get(pod, "metadata"), "annotations"), MIRROR_POD_ANNOTATION) != NULL;
}

bool mirror_pod_of(json_object *mirror, json_object *static_pod) {
        const char *hash = json_get_string(mirror, "metadata", "annotations", MIRROR_POD_ANNOTATION, NULL);
        const char *want = json_get_string(static_pod, "metadata", "annotations", STATIC_POD_HASH_ANNOTATION, NULL);

        return hash && want && streq(hash, want) &&
               streq(json_get_string(mirror, "metadata", "name", NULL) ?: "", json_get_string(static_pod, "metadata", "name", NULL) ?: "") &&
               streq(json_get_string(mirror, "metadata", "namespace", NULL) ?: "default",
                     json_get_string(static_pod, "metadata", "namespace", NULL) ?: "default");
}
