/* SPDX-License-Identifier: Apache-2.0 */
/* A registry's WWW-Authenticate challenge through the parameter parser. */
#include "fuzz.h"
#include "macro.h"
#include "registry-client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size);
        static const char *const keys[] = { "realm", "service", "scope", "error" };

        if (!text)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                char *v = www_authenticate_param(text, keys[i]);
                if (v && strlen(v) > size)
                        __builtin_trap();
                free(v);
        }
        return 0;
}
