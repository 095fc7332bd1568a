/* SPDX-License-Identifier: Apache-2.0 */
/* One JSON document through every image document parser: manifest or index, image
 * config, docker-archive manifest.json; an index also through platform selection. */
#include "fuzz.h"
#include "image-manifest.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *json = (const char *) data;
        DockerArchiveImage *images = NULL;
        size_t n = 0;
        char *error = NULL;
        Manifest *m = NULL;
        ImageConfig *c = NULL;

        if (manifest_parse(json, size, &m, &error) >= 0) {
                const Descriptor *d;
                if (m->kind == MANIFEST_INDEX && manifest_select_platform(m, "linux", "amd64", &d, NULL) >= 0 &&
                    !d->digest)
                        __builtin_trap();
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
