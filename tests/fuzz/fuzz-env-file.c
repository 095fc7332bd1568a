/* SPDX-License-Identifier: Apache-2.0 */
/* os-release and /proc/meminfo as the node reads them. */
#include "fileio.h"
#include "fuzz.h"
#include "macro.h"
#include "node-info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const keys[] = { "PRETTY_NAME", "ID", "A", "" };
        _cleanup_free_ char *text = strndup((const char *) data, size);
        uint64_t bytes;

        if (!text)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                _cleanup_free_ char *value = NULL;
                (void) env_file_get(text, keys[i], &value);
        }
        (void) meminfo_get_bytes(text, "MemTotal", &bytes);
        (void) meminfo_get_bytes(text, "MemAvailable", &bytes);
        return 0;
}
