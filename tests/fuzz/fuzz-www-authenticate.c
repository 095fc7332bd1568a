/* SPDX-License-Identifier: Apache-2.0 */
/* WWW-Authenticate values from registries (and from anything a redirect leads to). */
#include "fuzz.h"
#include "macro.h"
#include "registry-auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size);
        AuthChallenge *c = NULL;
        size_t n = 0;

        if (!text || www_authenticate_parse(text, &c, &n) < 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (!c[i].scheme || !*c[i].scheme)
                        __builtin_trap();
        (void) auth_challenge_find(c, n, "bearer");
        auth_challenges_free(c, n);
        return 0;
}
