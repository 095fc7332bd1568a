/* SPDX-License-Identifier: Apache-2.0 */
/* Manifests and indexes as registries serve them: whatever parses has valid digests and
 * a platform choice that is one of its entries. */
#include "fuzz.h"
#include "image-ref.h"
#include "macro.h"
#include "registry-manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const content_types[] = { NULL, MT_DOCKER_MANIFEST, MT_OCI_INDEX, "application/json" };
        static const char *const platforms[] = { "linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm" };
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *error = NULL;
        Platform p;
        const char *ct = content_types[size % ELEMENTSOF(content_types)];

        if (manifest_parse((const char *) data, size, ct, &m, &error) < 0)
                return 0;
        if (!m->media_type)
                __builtin_trap();
        if (m->kind == MANIFEST_IMAGE) {
                if (!digest_is_valid(m->config.digest))
                        __builtin_trap();
                for (size_t i = 0; i < m->n_layers; i++)
                        if (!digest_is_valid(m->layers[i].digest) || !m->layers[i].media_type)
                                __builtin_trap();
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(platforms); i++) {
                const Descriptor *d;

                if (platform_parse(platforms[i], &p) < 0)
                        __builtin_trap();
                d = manifest_select_platform(m, &p);
                if (d && (d < m->manifests || d >= m->manifests + m->n_manifests || !streq(d->os, p.os) ||
                          !streq(d->architecture, p.architecture)))
                        __builtin_trap();
        }
        return 0;
}
