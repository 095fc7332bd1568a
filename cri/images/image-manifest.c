/* SPDX-License-Identifier: Apache-2.0 */
/* Image manifests, indexes, configs and docker-archive manifests (see image-manifest.h). */
#include <ctype.h>
#include <sys/utsname.h>

#include "error.h"
#include "image-manifest.h"
#include "image-ref.h"
#include "json-util.h"
#include "macro.h"

#define LAYERS_MAX 1024

static int parse_json(const char *json, size_t size, const char *what, json_object **ret, char **ret_error) {
        json_tokener *tok;
        json_object *o;
        size_t end;

        if (size > MANIFEST_SIZE_MAX)
                return error_set(ret_error, -EBADMSG, "%s: larger than %d bytes", what, MANIFEST_SIZE_MAX);
        if (size > INT32_MAX || memchr(json, 0, size))
                return error_set(ret_error, -EBADMSG, "%s: not JSON text", what);
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, json, (int) size);
        if (json_tokener_get_error(tok) != json_tokener_success) {
                int r = error_set(ret_error, -EBADMSG, "%s: invalid JSON: %s", what,
                                  json_tokener_error_desc(json_tokener_get_error(tok)));
                json_tokener_free(tok);
                json_object_put(o);
                return r;
        }
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        for (; end < size; end++)
                if (!isspace((unsigned char) json[end])) {
                        json_object_put(o);
                        return error_set(ret_error, -EBADMSG, "%s: invalid JSON: more after the document", what);
                }
        if (!json_object_is_type(o, json_type_object) && !json_object_is_type(o, json_type_array)) {
                json_object_put(o);
                return error_set(ret_error, -EBADMSG, "%s: not a JSON object", what);
        }
        *ret = o;
        return 0;
}

/* A string field: -EBADMSG when present but not a string, or missing and required. */
static int get_string(json_object *o, const char *key, bool required, const char *what, char **ret, char **ret_error) {
        json_object *v = json_get(o, key);

        if (!v || json_object_is_type(v, json_type_null)) {
                if (required)
                        return error_set(ret_error, -EBADMSG, "%s: no \"%s\"", what, key);
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return error_set(ret_error, -EBADMSG, "%s: \"%s\" is not a string", what, key);
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

static void descriptor_done(Descriptor *d) {
        free(d->media_type);
        free(d->digest);
        free(d->os);
        free(d->architecture);
        free(d->variant);
        free(d->ref_name);
        free(d->image_name);
}

static int descriptor_parse(json_object *o, const char *what, Descriptor *d, char **ret_error) {
        json_object *size, *platform = json_get(o, "platform"), *annotations = json_get(o, "annotations");
        int r;

        if (!json_object_is_type(o, json_type_object))
                return error_set(ret_error, -EBADMSG, "%s: not an object", what);
        r = get_string(o, "mediaType", false, what, &d->media_type, ret_error);
        if (r < 0)
                return r;
        r = get_string(o, "digest", true, what, &d->digest, ret_error);
        if (r < 0)
                return r;
        if (!digest_is_sha256(d->digest))
                return error_set(ret_error, -EBADMSG, "%s: digest '%s' is not sha256:<64 hex>", what, d->digest);
        size = json_get(o, "size");
        if (!size || !json_object_is_type(size, json_type_int) || json_object_get_int64(size) < 0)
                return error_set(ret_error, -EBADMSG, "%s: \"size\" missing or not a non-negative integer", what);
        d->size = json_object_get_int64(size);
        if (platform && !json_object_is_type(platform, json_type_object))
                return error_set(ret_error, -EBADMSG, "%s: \"platform\" is not an object", what);
        if (platform) {
                if ((r = get_string(platform, "os", false, what, &d->os, ret_error)) < 0 ||
                    (r = get_string(platform, "architecture", false, what, &d->architecture, ret_error)) < 0 ||
                    (r = get_string(platform, "variant", false, what, &d->variant, ret_error)) < 0)
                        return r;
        }
        if (annotations) {
                if ((r = get_string(annotations, ANNOTATION_REF_NAME, false, what, &d->ref_name, ret_error)) < 0 ||
                    (r = get_string(annotations, ANNOTATION_CONTAINERD_NAME, false, what, &d->image_name, ret_error)) < 0)
                        return r;
        }
        return 0;
}

static int descriptors_parse(json_object *list, const char *what, Descriptor **ret, size_t *ret_n, char **ret_error) {
        size_t n;
        Descriptor *d;

        if (!list || !json_object_is_type(list, json_type_array))
                return error_set(ret_error, -EBADMSG, "%s: missing or not an array", what);
        n = json_object_array_length(list);
        if (n > LAYERS_MAX)
                return error_set(ret_error, -EBADMSG, "%s: more than %d entries", what, LAYERS_MAX);
        d = calloc(n + 1, sizeof(Descriptor));
        if (!d)
                return -ENOMEM;
        *ret = d;
        *ret_n = 0;
        for (size_t i = 0; i < n; i++) {
                char item[64];
                int r;

                snprintf(item, sizeof(item), "%s[%zu]", what, i);
                r = descriptor_parse(json_object_array_get_idx(list, i), item, &d[i], ret_error);
                *ret_n = i + 1;
                if (r < 0)
                        return r;
        }
        return 0;
}

void manifest_free(Manifest *m) {
        if (!m)
                return;
        free(m->media_type);
        descriptor_done(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                descriptor_done(&m->layers[i]);
        free(m->layers);
        for (size_t i = 0; i < m->n_manifests; i++)
                descriptor_done(&m->manifests[i]);
        free(m->manifests);
        free(m);
}

bool media_type_is_index(const char *mt) {
        return mt && (streq(mt, MT_OCI_INDEX) || streq(mt, MT_DOCKER_LIST));
}

bool media_type_is_manifest(const char *mt) {
        return mt && (streq(mt, MT_OCI_MANIFEST) || streq(mt, MT_DOCKER_MANIFEST));
}

bool media_type_is_image_config(const char *mt) {
        return mt && (streq(mt, MT_OCI_CONFIG) || streq(mt, MT_DOCKER_CONFIG));
}

static bool media_type_is_schema1(const char *mt) {
        return mt && (streq(mt, MT_DOCKER_SCHEMA1) || streq(mt, MT_DOCKER_SCHEMA1_SIGNED));
}

/* A Content-Type that names a manifest kind ("…v2+json; charset=utf-8"); registries
 * without the type say application/json and the like, which tells nothing. */
static int media_type_from_content_type(const char *ct, char **ret) {
        _cleanup_free_ char *mt = NULL;

        *ret = NULL;
        if (isempty(ct))
                return 0;
        mt = strndup(ct, strcspn(ct, "; \t"));
        if (!mt)
                return -ENOMEM;
        if (media_type_is_index(mt) || media_type_is_manifest(mt) || media_type_is_schema1(mt))
                *ret = TAKE_PTR(mt);
        return 0;
}

int manifest_parse(const char *json, size_t size, const char *content_type, Manifest **ret, char **ret_error) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(manifest_freep) Manifest *m = NULL;
        json_object *version;
        int r;

        r = parse_json(json, size, "manifest", &o, ret_error);
        if (r < 0)
                return r;
        if (!json_object_is_type(o, json_type_object))
                return error_set(ret_error, -EBADMSG, "manifest: not a JSON object");
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        r = get_string(o, "mediaType", false, "manifest", &m->media_type, ret_error);
        if (r >= 0 && !m->media_type)
                r = media_type_from_content_type(content_type, &m->media_type);
        if (r < 0)
                return r;
        version = json_get(o, "schemaVersion");
        if (media_type_is_schema1(m->media_type) ||
            (version && json_object_is_type(version, json_type_int) && json_object_get_int(version) == 1)) {
                return error_set(ret_error, -EPROTONOSUPPORT,
                                 "Docker schema 1 manifest: not supported (push the image again with a current client)");
        }
        if (!version || !json_object_is_type(version, json_type_int) || json_object_get_int(version) != 2)
                return error_set(ret_error, -EBADMSG, "manifest: schemaVersion %s", version ? "is not 2" : "missing");

        /* Without a mediaType (allowed in OCI), the fields tell, as containerd infers. */
        if (!m->media_type) {
                if (json_get(o, "manifests"))
                        m->media_type = strdup(MT_OCI_INDEX);
                else if (json_get(o, "config") && json_get(o, "layers"))
                        m->media_type = strdup(MT_OCI_MANIFEST);
                else
                        return error_set(ret_error, -EBADMSG,
                                         "manifest: no mediaType, and neither an index (\"manifests\") "
                                         "nor an image manifest (\"config\", \"layers\")");
                if (!m->media_type)
                        return -ENOMEM;
        }
        if (media_type_is_index(m->media_type))
                m->kind = MANIFEST_INDEX;
        else if (media_type_is_manifest(m->media_type))
                m->kind = MANIFEST_IMAGE;
        else
                return error_set(ret_error, -EBADMSG, "manifest: unsupported mediaType '%s'", m->media_type);

        if (m->kind == MANIFEST_INDEX) {
                r = descriptors_parse(json_get(o, "manifests"), "index manifests", &m->manifests, &m->n_manifests,
                                      ret_error);
                if (r < 0)
                        return r;
        } else {
                json_object *config = json_get(o, "config");

                if (!config)
                        return error_set(ret_error, -EBADMSG, "manifest: no \"config\"");
                r = descriptor_parse(config, "manifest config", &m->config, ret_error);
                if (r < 0)
                        return r;
                r = descriptors_parse(json_get(o, "layers"), "manifest layers", &m->layers, &m->n_layers, ret_error);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < m->n_layers; i++) {
                        const char *mt = m->layers[i].media_type;
                        if (mt && strstr(mt, "+encrypted"))
                                return error_set(ret_error, -EBADMSG,
                                                 "manifest layers[%zu]: encrypted layers (%s) are not supported", i, mt);
                }
        }
        *ret = TAKE_PTR(m);
        return 0;
}

static void copy_field(char *dst, size_t n, const char *src) {
        snprintf(dst, n, "%s", src);
}

void platform_host(Platform *ret) {
        struct utsname u;
        const char *m;

        *ret = (Platform) {};
        copy_field(ret->os, sizeof(ret->os), "linux");
        if (uname(&u) < 0)
                strcpy(u.machine, "x86_64");
        m = u.machine;
        if (streq(m, "x86_64"))
                copy_field(ret->architecture, sizeof(ret->architecture), "amd64");
        else if (streq(m, "aarch64") || streq(m, "arm64")) {
                copy_field(ret->architecture, sizeof(ret->architecture), "arm64");
                copy_field(ret->variant, sizeof(ret->variant), "v8");
        } else if (strneq(m, "armv7", 5)) {
                copy_field(ret->architecture, sizeof(ret->architecture), "arm");
                copy_field(ret->variant, sizeof(ret->variant), "v7");
        } else if (strneq(m, "armv6", 5)) {
                copy_field(ret->architecture, sizeof(ret->architecture), "arm");
                copy_field(ret->variant, sizeof(ret->variant), "v6");
        } else if (m[0] == 'i' && streq(m + 2, "86"))
                copy_field(ret->architecture, sizeof(ret->architecture), "386");
        else /* ppc64le, s390x, riscv64: the same names */
                copy_field(ret->architecture, sizeof(ret->architecture), m);
}

int platform_parse(const char *s, Platform *ret) {
        const char *a, *b;
        Platform p = {};
        size_t n;

        a = strchr(s, '/');
        if (!a || a == s)
                return -EINVAL;
        b = strchr(a + 1, '/');
        n = (size_t) (a - s);
        if (n >= sizeof(p.os))
                return -EINVAL;
        memcpy(p.os, s, n);
        n = b ? (size_t) (b - a - 1) : strlen(a + 1);
        if (n == 0 || n >= sizeof(p.architecture))
                return -EINVAL;
        memcpy(p.architecture, a + 1, n);
        if (b) {
                n = strlen(b + 1);
                if (n == 0 || n >= sizeof(p.variant) || strchr(b + 1, '/'))
                        return -EINVAL;
                memcpy(p.variant, b + 1, n);
        }
        *ret = p;
        return 0;
}

char *platform_to_string(const Platform *p) {
        char *s;

        return asprintf(&s, "%s/%s%s%s", p->os, p->architecture, *p->variant ? "/" : "", p->variant) < 0 ? NULL : s;
}

/* arm64 images name "v8" or nothing: the same */
static const char *normal_variant(const char *arch, const char *variant) {
        if (isempty(variant))
                return streq(arch, "arm64") ? "v8" : "";
        return variant;
}

const Descriptor *manifest_select_platform(const Manifest *index, const Platform *p) {
        const Descriptor *any_variant = NULL;
        const char *want = normal_variant(p->architecture, p->variant);

        if (index->kind != MANIFEST_INDEX)
                return NULL;
        for (size_t i = 0; i < index->n_manifests; i++) {
                const Descriptor *d = index->manifests + i;
                const char *have;

                if (!d->os || !d->architecture || !streq(d->os, p->os) || !streq(d->architecture, p->architecture))
                        continue;
                /* an index's entries are image manifests; an OCI index may leave the type out */
                if (d->media_type && !media_type_is_manifest(d->media_type))
                        continue;
                have = normal_variant(d->architecture, d->variant);
                if (streq(have, want))
                        return d;
                /* no variant asked for: the first of any variant, if nothing better */
                if (!*want && !any_variant)
                        any_variant = d;
        }
        return any_variant;
}

void image_config_free(ImageConfig *c) {
        if (!c)
                return;
        strv_free(c->diff_ids);
        free(c->os);
        free(c->architecture);
        json_object_put(c->config);
        free(c);
}

int image_config_parse(const char *json, size_t size, ImageConfig **ret, char **ret_error) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(image_config_freep) ImageConfig *c = NULL;
        json_object *rootfs, *diff_ids, *config;
        int r;

        r = parse_json(json, size, "image config", &o, ret_error);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        if ((r = get_string(o, "os", false, "image config", &c->os, ret_error)) < 0 ||
            (r = get_string(o, "architecture", false, "image config", &c->architecture, ret_error)) < 0)
                return r;
        rootfs = json_get(o, "rootfs");
        diff_ids = json_get(rootfs, "diff_ids");
        if (!diff_ids || !json_object_is_type(diff_ids, json_type_array))
                return error_set(ret_error, -EBADMSG, "image config: rootfs.diff_ids missing or not an array");
        c->n_diff_ids = json_object_array_length(diff_ids);
        if (c->n_diff_ids > LAYERS_MAX)
                return error_set(ret_error, -EBADMSG, "image config: more than %d layers", LAYERS_MAX);
        c->diff_ids = calloc(c->n_diff_ids + 1, sizeof(char *));
        if (!c->diff_ids)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_diff_ids; i++) {
                json_object *v = json_object_array_get_idx(diff_ids, i);
                const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;

                if (!digest_is_sha256(s))
                        return error_set(ret_error, -EBADMSG,
                                         "image config: rootfs.diff_ids[%zu] is not sha256:<64 hex>", i);
                c->diff_ids[i] = strdup(s);
                if (!c->diff_ids[i])
                        return -ENOMEM;
        }
        config = json_get(o, "config");
        if (config && json_object_is_type(config, json_type_object))
                c->config = json_object_get(config);
        *ret = TAKE_PTR(c);
        return 0;
}

void docker_archive_images_free(DockerArchiveImage *images, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(images[i].config);
                strv_free(images[i].repo_tags);
                strv_free(images[i].layers);
        }
        free(images);
}

static int string_array(json_object *a, const char *what, bool required, char ***ret, size_t *ret_n, char **ret_error) {
        size_t n;
        char **l;

        if (!a && !required) {
                n = 0;
        } else {
                if (!a || !json_object_is_type(a, json_type_array))
                        return error_set(ret_error, -EBADMSG, "%s: missing or not an array", what);
                n = json_object_array_length(a);
                if (n > LAYERS_MAX)
                        return error_set(ret_error, -EBADMSG, "%s: more than %d entries", what, LAYERS_MAX);
        }
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        *ret = l;
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(a, i);
                if (!json_object_is_type(v, json_type_string))
                        return error_set(ret_error, -EBADMSG, "%s[%zu]: not a string", what, i);
                l[i] = strdup(json_object_get_string(v));
                if (!l[i])
                        return -ENOMEM;
        }
        if (ret_n)
                *ret_n = n;
        return 0;
}

int docker_archive_manifest_parse(const char *json, size_t size, DockerArchiveImage **ret, size_t *ret_n,
                                  char **ret_error) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        DockerArchiveImage *images;
        size_t n;
        int r;

        r = parse_json(json, size, "manifest.json", &o, ret_error);
        if (r < 0)
                return r;
        if (!json_object_is_type(o, json_type_array))
                return error_set(ret_error, -EBADMSG, "manifest.json: not an array");
        n = json_object_array_length(o);
        if (n > LAYERS_MAX)
                return error_set(ret_error, -EBADMSG, "manifest.json: more than %d images", LAYERS_MAX);
        images = calloc(n + 1, sizeof(DockerArchiveImage));
        if (!images)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(o, i);
                char what[64];

                snprintf(what, sizeof(what), "manifest.json[%zu]", i);
                if (!json_object_is_type(e, json_type_object))
                        r = error_set(ret_error, -EBADMSG, "%s: not an object", what);
                if (r >= 0)
                        r = get_string(e, "Config", true, what, &images[i].config, ret_error);
                if (r >= 0)
                        r = string_array(json_get(e, "RepoTags"), "RepoTags", false, &images[i].repo_tags, NULL, ret_error);
                if (r >= 0)
                        r = string_array(json_get(e, "Layers"), "Layers", true, &images[i].layers, &images[i].n_layers,
                                         ret_error);
                if (r < 0) {
                        docker_archive_images_free(images, i + 1);
                        return r;
                }
        }
        *ret = images;
        *ret_n = n;
        return 0;
}
