/* SPDX-License-Identifier: Apache-2.0 */
/* Manifests and indexes (see registry-manifest.h). */
#include <ctype.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/utsname.h>

#include "image-ref.h"
#include "macro.h"
#include "registry-manifest.h"

#define DESCRIPTORS_MAX 10000

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

static void descriptor_done(Descriptor *d) {
        free(d->media_type);
        free(d->digest);
        free(d->os);
        free(d->architecture);
        free(d->variant);
}

void manifest_free(Manifest *m) {
        if (!m)
                return;
        free(m->media_type);
        descriptor_done(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                descriptor_done(m->layers + i);
        free(m->layers);
        for (size_t i = 0; i < m->n_manifests; i++)
                descriptor_done(m->manifests + i);
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

_printf_(2, 3) static int fail(char **ret_error, const char *format, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, format);
                if (vasprintf(ret_error, format, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

static json_object *member(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* A string member: -ENOENT when absent, -EINVAL when not a string. */
static int string_member(json_object *o, const char *key, char **ret) {
        json_object *v = member(o, key);

        if (!v || json_object_is_type(v, json_type_null))
                return -ENOENT;
        if (!json_object_is_type(v, json_type_string))
                return -EINVAL;
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

/* field names the descriptor in messages: "config", "layers[2]", "manifests[0]" */
static int parse_descriptor(json_object *o, const char *field, bool with_platform, Descriptor *d, char **ret_error) {
        json_object *v;
        int64_t size;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return fail(ret_error, "%s: not an object", field);
        r = string_member(o, "mediaType", &d->media_type);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(ret_error, "%s: mediaType %s", field, r == -ENOENT ? "missing" : "not a string");
        r = string_member(o, "digest", &d->digest);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !digest_is_valid(d->digest))
                return fail(ret_error, "%s: digest %s", field, r == -ENOENT ? "missing" : "not a valid digest");
        v = member(o, "size");
        if (!v || !json_object_is_type(v, json_type_int))
                return fail(ret_error, "%s: size %s", field, v ? "not an integer" : "missing");
        errno = 0;
        size = json_object_get_int64(v);
        if (size < 0 || errno != 0 || size == INT64_MAX)
                return fail(ret_error, "%s: size out of range", field);
        d->size = (uint64_t) size;
        if (with_platform && (v = member(o, "platform"))) {
                if (!json_object_is_type(v, json_type_object))
                        return fail(ret_error, "%s: platform not an object", field);
                if ((r = string_member(v, "os", &d->os)) == -ENOMEM ||
                    (r = string_member(v, "architecture", &d->architecture)) == -ENOMEM ||
                    (r = string_member(v, "variant", &d->variant)) == -ENOMEM)
                        return r;
        }
        return 0;
}

static int parse_descriptors(json_object *o, const char *key, bool with_platform, Descriptor **ret, size_t *ret_n,
                             char **ret_error) {
        json_object *a = member(o, key);
        Descriptor *list;
        size_t n;

        if (!a)
                return fail(ret_error, "%s: missing", key);
        if (!json_object_is_type(a, json_type_array))
                return fail(ret_error, "%s: not an array", key);
        n = json_object_array_length(a);
        if (n > DESCRIPTORS_MAX)
                return fail(ret_error, "%s: more than %d entries", key, DESCRIPTORS_MAX);
        list = calloc(MAX(n, 1u), sizeof(Descriptor));
        if (!list)
                return -ENOMEM;
        *ret = list;
        *ret_n = n; /* the caller frees what was filled so far, the rest is zero */
        for (size_t i = 0; i < n; i++) {
                char field[64];
                int r;

                snprintf(field, sizeof(field), "%s[%zu]", key, i);
                r = parse_descriptor(json_object_array_get_idx(a, i), field, with_platform, list + i, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* "application/json; charset=utf-8" -> "application/json" */
static char *media_type_from_content_type(const char *ct) {
        size_t n = strcspn(ct, "; \t");

        return strndup(ct, n);
}

int manifest_parse(const char *json, size_t size, const char *content_type, Manifest **ret, char **ret_error) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        json_tokener *tok;
        json_object *v;
        int r;

        if (size > MANIFEST_SIZE_MAX)
                return fail(ret_error, "larger than %d bytes", MANIFEST_SIZE_MAX);
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        root = json_tokener_parse_ex(tok, json, (int) size);
        if (root && (size_t) tok->char_offset < size)
                for (size_t i = (size_t) tok->char_offset; i < size; i++)
                        if (!isspace((unsigned char) json[i])) {
                                json_object_put(TAKE_PTR(root));
                                break;
                        }
        json_tokener_free(tok);
        if (!root)
                return fail(ret_error, "not JSON");
        if (!json_object_is_type(root, json_type_object))
                return fail(ret_error, "not a JSON object");

        m = calloc(1, sizeof(Manifest));
        if (!m)
                return -ENOMEM;
        r = string_member(root, "mediaType", &m->media_type);
        if (r == -ENOMEM)
                return r;
        if (r == -EINVAL)
                return fail(ret_error, "mediaType: not a string");
        if (!m->media_type && content_type && !isempty(content_type)) {
                m->media_type = media_type_from_content_type(content_type);
                if (!m->media_type)
                        return -ENOMEM;
                /* registries without the type say application/json and the like */
                if (!media_type_is_index(m->media_type) && !media_type_is_manifest(m->media_type) &&
                    !streq(m->media_type, MT_DOCKER_SCHEMA1) && !streq(m->media_type, MT_DOCKER_SCHEMA1_SIGNED))
                        m->media_type = (free(m->media_type), NULL);
        }

        v = member(root, "schemaVersion");
        if (v && json_object_is_type(v, json_type_int) && json_object_get_int64(v) == 1)
                goto schema1;
        if (m->media_type && (streq(m->media_type, MT_DOCKER_SCHEMA1) || streq(m->media_type, MT_DOCKER_SCHEMA1_SIGNED)))
                goto schema1;
        if (!v || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 2)
                return fail(ret_error, "schemaVersion: %s", v ? "not 2" : "missing");

        if (!m->media_type) {
                /* OCI documents may omit it: inferred as containerd does */
                if (member(root, "manifests"))
                        m->media_type = strdup(MT_OCI_INDEX);
                else if (member(root, "config") && member(root, "layers"))
                        m->media_type = strdup(MT_OCI_MANIFEST);
                else
                        return fail(ret_error, "mediaType: missing, and neither an index nor a manifest");
                if (!m->media_type)
                        return -ENOMEM;
        }

        if (media_type_is_index(m->media_type)) {
                m->kind = MANIFEST_INDEX;
                r = parse_descriptors(root, "manifests", true, &m->manifests, &m->n_manifests, ret_error);
                if (r < 0)
                        return r;
        } else if (media_type_is_manifest(m->media_type)) {
                m->kind = MANIFEST_IMAGE;
                v = member(root, "config");
                if (!v)
                        return fail(ret_error, "config: missing");
                r = parse_descriptor(v, "config", false, &m->config, ret_error);
                if (r < 0)
                        return r;
                r = parse_descriptors(root, "layers", false, &m->layers, &m->n_layers, ret_error);
                if (r < 0)
                        return r;
        } else
                return fail(ret_error, "mediaType '%s': neither an image manifest nor an index", m->media_type);

        *ret = TAKE_PTR(m);
        return 0;

schema1:
        if (ret_error && asprintf(ret_error, "Docker schema 1 manifest: not supported (push the image again with a current client)") < 0)
                *ret_error = NULL;
        return -EPROTONOSUPPORT;
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
                if (!media_type_is_manifest(d->media_type))
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
