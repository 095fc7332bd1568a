/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <seccomp.h>
#include <stdint.h>

/* A seccomp filter compiled with libseccomp: from linux.seccomp (parsed, every name,
 * action and operator checked, with the field named, when the config is) or from a
 * built-in profile (seccomp-default.h); loaded by the init just before exec. */
typedef struct SeccompFilter SeccompFilter;

int seccomp_filter_parse(json_object *seccomp, SeccompFilter **ret, char **ret_error);
int seccomp_filter_load(SeccompFilter *f);
void seccomp_filter_free(SeccompFilter *f);
static inline void seccomp_filter_freep(SeccompFilter **f) {
        seccomp_filter_free(*f);
}

/* The one compile path both linux.seccomp and the built-in profiles take, with runc's
 * rules: no_new_privs is left to the config; a rule whose action is the default action
 * is dropped (libseccomp refuses it); a syscall name this libseccomp does not know is
 * skipped. */
int seccomp_filter_new(uint32_t default_action, SeccompFilter **ret);
/* An architecture already in the filter (the native one always is) is not an error. */
int seccomp_filter_add_architecture(SeccompFilter *f, uint32_t arch);
/* 1 if added, 0 if dropped or skipped as above, or -errno from libseccomp. */
int seccomp_filter_add_rule(SeccompFilter *f, const char *name, uint32_t action, const struct scmp_arg_cmp *args,
                            unsigned n_args);
