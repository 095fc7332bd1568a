/* SPDX-License-Identifier: Apache-2.0 */
/* stevedore-runc: the runtime's command line as a program of its own, linked with the
 * runtime alone. Harnesses start it once per verb, and the full stevedore program's
 * libraries (curl, TLS, systemd, netlink …) cost more to load than a container costs to
 * run: 26 ms against 9 ms per create+start+wait+delete here. */
#include "config.h"
#include "log.h"
#include "verbs.h"

int main(int argc, char **argv) {
        GlobalOptions opts = { .root_dir = DEFAULT_ROOT_DIR, .run_dir = DEFAULT_RUN_DIR };

        log_open();
        return verb_runtime(argc, argv, &opts);
}
