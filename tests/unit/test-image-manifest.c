/* SPDX-License-Identifier: Apache-2.0 */
#include "macro.h"
#include "image-manifest.h"
#include "tests.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static Manifest *parse(const char *json, const char *content_type) {
        Manifest *m = NULL;
        char *error = NULL;

        if (manifest_parse(json, strlen(json), content_type, &m, &error) < 0) {
                fprintf(stderr, "refused: %s\n", error);
                check(false);
        }
        free(error);
        return m;
}

TEST(oci_manifest) {
        _cleanup_(manifest_freep) Manifest *m = parse(
                "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":568},"
                "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2
                "\",\"size\":1036033},{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D3
                "\",\"size\":0,\"annotations\":{\"a\":\"b\"}}]}\n",
                "application/json");

        check_int(m->kind, ==, MANIFEST_IMAGE);
        check_streq(m->media_type, MT_OCI_MANIFEST);
        check_streq(m->config.digest, D1);
        check_int(m->config.size, ==, 568);
        check_int(m->n_layers, ==, 2);
        check_streq(m->layers[0].digest, D2);
        check_int(m->layers[0].size, ==, 1036033);
        check_streq(m->layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
        check(media_type_is_image_config(m->config.media_type));
}

TEST(media_type_from_header_or_inferred) {
        static const char body[] = "{\"schemaVersion\":2,"
                                   "\"config\":{\"mediaType\":\"" MT_DOCKER_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1},"
                                   "\"layers\":[]}";
        Manifest *m;

        m = parse(body, MT_DOCKER_MANIFEST "; charset=utf-8");
        check_streq(m->media_type, MT_DOCKER_MANIFEST);
        check_int(m->n_layers, ==, 0);
        manifest_free(m);
        m = parse(body, "application/octet-stream");
        check_streq(m->media_type, MT_OCI_MANIFEST);
        manifest_free(m);
        m = parse("{\"schemaVersion\":2,\"manifests\":[]}", NULL);
        check_int(m->kind, ==, MANIFEST_INDEX);
        check_streq(m->media_type, MT_OCI_INDEX);
        manifest_free(m);
}

static const char docker_list[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST "\",\"manifests\":["
        "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":10,"
        "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
        "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":11,"
        "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":12,"
        "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}},"
        "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":13,"
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}"
        "]}";

TEST(platform_selection) {
        _cleanup_(manifest_freep) Manifest *m = parse(docker_list, NULL);
        Platform p;

        check_int(m->kind, ==, MANIFEST_INDEX);
        check_int(m->n_manifests, ==, 4);
        check_int(platform_parse("linux/amd64", &p), ==, 0);
        check_int(manifest_select_platform(m, &p)->size, ==, 13);
        check_int(platform_parse("linux/arm64", &p), ==, 0); /* v8 is arm64's default */
        check_int(manifest_select_platform(m, &p)->size, ==, 11);
        check_int(platform_parse("linux/arm/v7", &p), ==, 0);
        check_int(manifest_select_platform(m, &p)->size, ==, 10);
        check_int(platform_parse("linux/arm/v6", &p), ==, 0);
        check(!manifest_select_platform(m, &p));
        check_int(platform_parse("linux/arm", &p), ==, 0); /* any variant, when none asked */
        check_int(manifest_select_platform(m, &p)->size, ==, 10);
        check_int(platform_parse("windows/amd64", &p), ==, 0);
        check(!manifest_select_platform(m, &p));

        check_int(platform_parse("linux", &p), ==, -EINVAL);
        check_int(platform_parse("/amd64", &p), ==, -EINVAL);
        check_int(platform_parse("linux/", &p), ==, -EINVAL);
        check_int(platform_parse("linux/arm/v7/x", &p), ==, -EINVAL);

        platform_host(&p);
        check_streq(p.os, "linux");
        check(*p.architecture);
}

TEST(errors_name_the_field) {
        static const struct {
                const char *json, *error;
                int r;
        } bad[] = {
                { "nope", "manifest: invalid JSON", -EBADMSG },
                { "{} {}", "more after the document", -EBADMSG },
                { "[]", "not a JSON object", -EBADMSG },
                { "{\"schemaVersion\":3,\"manifests\":[]}", "schemaVersion is not 2", -EBADMSG },
                { "{\"manifests\":[]}", "schemaVersion missing", -EBADMSG },
                { "{\"schemaVersion\":1,\"fsLayers\":[]}", "Docker schema 1", -EPROTONOSUPPORT },
                { "{\"schemaVersion\":2,\"mediaType\":7}", "\"mediaType\" is not a string", -EBADMSG },
                { "{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", "unsupported mediaType 'text/plain'", -EBADMSG },
                { "{\"schemaVersion\":2}", "neither an index", -EBADMSG },
                { "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"layers\":[]}", "no \"config\"", -EBADMSG },
                { "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":{}}",
                  "manifest layers: missing or not an array", -EBADMSG },
                { "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"sha256:12\",\"size\":1},\"layers\":[]}",
                  "manifest config: digest 'sha256:12' is not sha256:<64 hex>", -EBADMSG },
                { "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}",
                  "manifest config: \"size\" missing or not a non-negative integer", -EBADMSG },
                { "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":1},"
                  "\"layers\":[{\"mediaType\":\"a\",\"digest\":\"" D1 "\"}]}",
                  "manifest layers[0]: \"size\" missing", -EBADMSG },
                { "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a\",\"digest\":\"" D1
                  "\",\"size\":1,\"platform\":[]}]}",
                  "index manifests[0]: \"platform\" is not an object", -EBADMSG },
                { "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1},"
                  "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip+encrypted\",\"digest\":\"" D2
                  "\",\"size\":1}]}",
                  "encrypted layers", -EBADMSG },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Manifest *m = NULL;
                char *error = NULL;
                int r = manifest_parse(bad[i].json, strlen(bad[i].json), NULL, &m, &error);

                check(!m);
                if (r != bad[i].r || !error || !strstr(error, bad[i].error)) {
                        fprintf(stderr, "%s: %d '%s', wanted %d '%s'\n", bad[i].json, r, error, bad[i].r, bad[i].error);
                        check(false);
                }
                free(error);
        }
}

TEST(oci_layout_names) {
        _cleanup_(manifest_freep) Manifest *m = parse(
                "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1
                "\",\"size\":7,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\","
                "\"io.containerd.image.name\":\"docker.io/library/kubia:v1\"}}]}",
                NULL);
        Platform p = {};

        check_int(m->kind, ==, MANIFEST_INDEX);
        check_streq(m->manifests[0].ref_name, "v1");
        check_streq(m->manifests[0].image_name, "docker.io/library/kubia:v1");
        /* an entry without a platform is no platform's */
        platform_host(&p);
        check(!manifest_select_platform(m, &p));
}

int main(void) {
        RUN(oci_manifest);
        RUN(media_type_from_header_or_inferred);
        RUN(platform_selection);
        RUN(errors_name_the_field);
        RUN(oci_layout_names);
        return 0;
}
