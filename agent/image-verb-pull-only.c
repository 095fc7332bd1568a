/* SPDX-License-Identifier: Apache-2.0 */
/* The `image` verb until agent/image-cmd.c (import, ls, inspect, rm, prune) is merged:
 * it dispatches `pull` only. At the merge, delete this file (and its meson line) and
 * have image-cmd.c's table call image_pull_command() for "pull". */
#include "image-pull-cmd.h"
#include "log.h"
#include "macro.h"

int verb_image(int argc, char **argv, const GlobalOptions *opts) {
        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                fprintf(argc < 2 ? stderr : stdout, "Usage: stevedore image pull [OPTIONS] REFERENCE\n");
                return argc < 2 ? 2 : 0;
        }
        if (streq(argv[1], "pull"))
                return image_pull_command(argc - 1, argv + 1, opts);
        log_error("image: unknown command '%s' (this build has: pull)", argv[1]);
        return 2;
}
