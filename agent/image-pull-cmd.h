/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "verbs.h"

/* `stevedore image pull …` (argv[0] is "pull"): called by the `image` verb's dispatcher. */
int image_pull_command(int argc, char **argv, const GlobalOptions *opts);
