/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

#include "image-manager.h"

/* `stevedore image pull`: what agent/cmd/image.c parsed for it. */
typedef struct ImagePullArgs {
        const char *store;     /* the image store's root */
        const char *layout;    /* an OCI image layout to pull into instead of the store */
        char **insecure;       /* hosts spoken to in plain HTTP, NULL-terminated */
        char **mirrors;        /* "HOST=MIRROR", NULL-terminated */
        const char *ca_file, *auth_file, *platform;
        unsigned max_parallel; /* 0: the client's default */
        ImagePullPolicy policy; /* into the store: Always unless asked */
        bool quiet;
} ImagePullArgs;

/* Pulls every reference at once; 0, 1 (a pull failed) or 2 (usage). */
int image_pull_command(const ImagePullArgs *args, char **references, int n);
