/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* OCI hooks: programs run with the container's state as JSON on stdin, at the points of
 * its life the spec names; a non-zero exit or an overrun timeout is an error. */

typedef struct SpecHook {
        char *path;
        char **args, **env;
        int timeout; /* seconds; 0: none */
} SpecHook;

enum {
        HOOK_PRESTART,
        HOOK_CREATE_RUNTIME,
        HOOK_CREATE_CONTAINER,
        HOOK_START_CONTAINER,
        HOOK_POSTSTART,
        HOOK_POSTSTOP,
        _HOOK_MAX,
};

extern const char *const hook_names[_HOOK_MAX]; /* "prestart", "createRuntime" … */

/* Runs each hook in order; stops at the first that fails, saying which and why. */
int hooks_run(const SpecHook *hooks, size_t n, const char *state_json, bool keep_going, char **ret_error);
void hooks_free(SpecHook *hooks, size_t n);
