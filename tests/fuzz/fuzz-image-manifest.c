/* SPDX-License-Identifier: Apache-2.0 */
/* One JSON document through every image document parser: manifest or index (with each
 * kind of Content-Type a registry sends), image config, docker-archive manifest.json.
 * Whatever parses has a media type and sha256 digests, and an index's platform choice
 * is one of its entries, of that platform. */
#include "fuzz.h"
#include "image-manifest.h"
#include "image-ref.h"
#include "macro.h"

static void check_manifest(const Manifest *m) {
        static const char *const platforms[] = { "linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm" };

        if (!m->media_type)
                __builtin_trap();
        if (m->kind == MANIFEST_IMAGE) {
                if (!digest_is_sha256(m->config.digest) || m->config.size < 0)
                        __builtin_trap();
                for (size_t i = 0; i < m->n_layers; i++)
                        if (!digest_is_sha256(m->layers[i].digest) || m->layers[i].size < 0)
                                __builtin_trap();
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(platforms); i++) {
                const Descriptor *d;
                Platform p;

                if (platform_parse(platforms[i], &p) < 0)
                        __builtin_trap();
                d = manifest_select_platform(m, &p);
                if (d && (d < m->manifests || d >= m->manifests + m->n_manifests || !streq(d->os, p.os) ||
                          !streq(d->architecture, p.architecture) || !digest_is_sha256(d->digest)))
                        __builtin_trap();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const content_types[] = { NULL, MT_DOCKER_MANIFEST, MT_OCI_INDEX, "application/json" };
        const char *json = (const char *) data;
        DockerArchiveImage *images = NULL;
        size_t n = 0;
        char *error = NULL;
        Manifest *m = NULL;
        ImageConfig *c = NULL;

        if (manifest_parse(json, size, content_types[size % ELEMENTSOF(content_types)], &m, &error) >= 0) {
                check_manifest(m);
                manifest_free(m);
        }
        free(error);
        error = NULL;
        if (image_config_parse(json, size, &c, &error) >= 0)
                image_config_free(c);
        free(error);
        error = NULL;
        if (docker_archive_manifest_parse(json, size, &images, &n, &error) >= 0)
                docker_archive_images_free(images, n);
        free(error);
        return 0;
}
