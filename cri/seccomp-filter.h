/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>

/* linux.seccomp compiled with libseccomp: parsed (every name, action and operator
 * checked, with the field named) when the config is, loaded by the init just before
 * exec. */
typedef struct SeccompFilter SeccompFilter;

int seccomp_filter_parse(json_object *seccomp, SeccompFilter **ret, char **ret_error);
int seccomp_filter_load(SeccompFilter *f);
void seccomp_filter_free(SeccompFilter *f);
