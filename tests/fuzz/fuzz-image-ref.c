/* SPDX-License-Identifier: Apache-2.0 */
/* Image references through the parser; what it accepts must print and parse back the same. */
#include "fuzz.h"
#include "image-ref.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size), *error = NULL, *again = NULL,
                            *error2 = NULL;
        _cleanup_(image_ref_freep) ImageRef *ref = NULL;
        _cleanup_free_ char *s = NULL;

        if (!text || image_ref_parse(text, &ref, &error) < 0)
                return 0;
        s = image_ref_to_string(ref);
        if (!s)
                return 0;
        if (image_ref_normalize(s, &again, &error2) < 0 || !streq(s, again))
                __builtin_trap();
        return 0;
}
