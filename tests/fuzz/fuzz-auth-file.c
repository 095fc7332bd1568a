/* SPDX-License-Identifier: Apache-2.0 */
/* docker config.json, .dockercfg and pull secrets: parse, then look credentials up. */
#include "fuzz.h"
#include "macro.h"
#include "registry-auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(auth_file_freep) AuthFile *f = NULL;
        _cleanup_free_ char *error = NULL;
        RegistryCredentials c;

        if (auth_file_parse((const char *) data, size, "fuzz", &f, &error) < 0)
                return 0;
        if (auth_file_lookup(f, "docker.io", "library/busybox", &c) == 0 && !c.username && !c.registry_token)
                __builtin_trap();
        (void) auth_file_lookup(f, "localhost:5000", "a/b", &c);
        return 0;
}
