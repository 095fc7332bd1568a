/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's configuration file (/etc/stevedore/config.yaml). */
#include "agent-config.h"
#include "fuzz.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *error = NULL;
        AgentConfig config = {};

        if (size > 65536)
                return 0;
        (void) agent_config_parse((const char *) data, size, "config.yaml", &config, &error);
        agent_config_done(&config);
        return 0;
}
