/* SPDX-License-Identifier: Apache-2.0 */
/* Kubeconfigs, as an admin writes them or a bootstrap tool generates them. */
#include "fuzz.h"
#include "kubeconfig.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(kubeconfig_freep) KubeConfig *c = NULL;
        _cleanup_free_ char *error = NULL;

        /* A relative origin keeps referenced files inside the fuzzer's working directory. */
        (void) kubeconfig_parse((const char *) data, size, "fuzz/kubeconfig", NULL, &c, &error);
        return 0;
}
