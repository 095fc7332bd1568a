/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "seccomp-filter.h"

struct SeccompFilter {
        scmp_filter_ctx ctx;
        uint32_t default_action;
};

#define invalid(ret_error, ...) error_set(ret_error, -EINVAL, __VA_ARGS__)

/* "SCMP_ACT_ERRNO" with errnoRet → the libseccomp action; 0 with *ok false if unknown. */
static uint32_t action_from(json_object *holder, const char *name, uint32_t default_errno, bool *ok) {
        json_object *ret = json_get(holder, "errnoRet");
        uint32_t e = ret ? (uint32_t) json_object_get_int(ret) : default_errno;

        *ok = true;
        if (!name)
                *ok = false;
        else if (streq(name, "SCMP_ACT_KILL") || streq(name, "SCMP_ACT_KILL_THREAD"))
                return SCMP_ACT_KILL_THREAD;
        else if (streq(name, "SCMP_ACT_KILL_PROCESS"))
                return SCMP_ACT_KILL_PROCESS;
        else if (streq(name, "SCMP_ACT_TRAP"))
                return SCMP_ACT_TRAP;
        else if (streq(name, "SCMP_ACT_ERRNO"))
                return SCMP_ACT_ERRNO(e);
        else if (streq(name, "SCMP_ACT_TRACE"))
                return SCMP_ACT_TRACE(e);
        else if (streq(name, "SCMP_ACT_ALLOW"))
                return SCMP_ACT_ALLOW;
        else if (streq(name, "SCMP_ACT_LOG"))
                return SCMP_ACT_LOG;
        else
                *ok = false;
        return 0;
}

static int operator_from(const char *name) {
        static const struct {
                const char *name;
                enum scmp_compare op;
        } ops[] = {
                { "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT }, { "SCMP_CMP_LE", SCMP_CMP_LE },
                { "SCMP_CMP_EQ", SCMP_CMP_EQ }, { "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
                { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
        };

        for (size_t i = 0; name && i < ELEMENTSOF(ops); i++)
                if (streq(name, ops[i].name))
                        return (int) ops[i].op;
        return -1;
}

static int add_architectures(SeccompFilter *f, json_object *archs, char **ret_error) {
        size_t n = archs ? json_object_array_length(archs) : 0;

        for (size_t i = 0; i < n; i++) {
                const char *name = json_object_get_string(json_object_array_get_idx(archs, i));
                uint32_t arch;
                int r;

                /* "SCMP_ARCH_X86_64" → "x86_64" as libseccomp spells it */
                if (!name || strncmp(name, "SCMP_ARCH_", 10) != 0)
                        return invalid(ret_error, "linux.seccomp.architectures[%zu]: '%s' is not an architecture", i,
                                       name ?: "");
                char lower[32];
                snprintf(lower, sizeof(lower), "%s", name + 10);
                for (char *c = lower; *c; c++)
                        *c = (char) (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
                arch = seccomp_arch_resolve_name(lower);
                if (!arch)
                        return invalid(ret_error, "linux.seccomp.architectures[%zu]: '%s' is not an architecture", i, name);
                r = seccomp_filter_add_architecture(f, arch);
                if (r < 0)
                        return invalid(ret_error, "linux.seccomp.architectures[%zu]: %s: %s", i, name, strerror(-r));
        }
        return 0;
}

static int add_rule(SeccompFilter *f, json_object *rule, size_t i, char **ret_error) {
        json_object *names = json_get(rule, "names"), *args = json_get(rule, "args");
        size_t n_names = names ? json_object_array_length(names) : 0, n_args = args ? json_object_array_length(args) : 0;
        struct scmp_arg_cmp cmp[6];
        uint32_t action;
        bool ok;

        action = action_from(rule, json_object_get_string(json_get(rule, "action")), EPERM, &ok);
        if (!ok)
                return invalid(ret_error, "linux.seccomp.syscalls[%zu].action: '%s' is not an action", i,
                               json_object_get_string(json_get(rule, "action")) ?: "");
        if (n_args > ELEMENTSOF(cmp))
                return invalid(ret_error, "linux.seccomp.syscalls[%zu].args: more than 6", i);
        for (size_t a = 0; a < n_args; a++) {
                json_object *arg = json_object_array_get_idx(args, a);
                int op = operator_from(json_object_get_string(json_get(arg, "op")));

                if (op < 0)
                        return invalid(ret_error, "linux.seccomp.syscalls[%zu].args[%zu].op: not an operator", i, a);
                cmp[a] = (struct scmp_arg_cmp) {
                        .arg = (unsigned) json_object_get_int(json_get(arg, "index")),
                        .op = (enum scmp_compare) op,
                        .datum_a = (scmp_datum_t) json_object_get_int64(json_get(arg, "value")),
                        .datum_b = (scmp_datum_t) json_object_get_int64(json_get(arg, "valueTwo")),
                };
        }
        for (size_t k = 0; k < n_names; k++) {
                const char *name = json_object_get_string(json_object_array_get_idx(names, k));
                int r;

                if (!name)
                        continue;
                r = seccomp_filter_add_rule(f, name, action, cmp, (unsigned) n_args);
                if (r < 0)
                        return invalid(ret_error, "linux.seccomp.syscalls[%zu]: %s: %s", i, name, strerror(-r));
        }
        return 0;
}

int seccomp_filter_parse(json_object *seccomp, SeccompFilter **ret, char **ret_error) {
        _cleanup_(seccomp_filter_freep) SeccompFilter *f = NULL;
        json_object *syscalls = json_get(seccomp, "syscalls");
        const char *default_name = json_object_get_string(json_get(seccomp, "defaultAction"));
        uint32_t default_action;
        bool ok;
        int r;

        default_action = action_from(seccomp, default_name, EPERM, &ok);
        if (!ok)
                return invalid(ret_error, "linux.seccomp.defaultAction: '%s' is not an action", default_name ?: "");
        r = seccomp_filter_new(default_action, &f);
        if (r < 0)
                return r;
        r = add_architectures(f, json_get(seccomp, "architectures"), ret_error);
        for (size_t i = 0; r >= 0 && syscalls && i < json_object_array_length(syscalls); i++)
                r = add_rule(f, json_object_array_get_idx(syscalls, i), i, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(f);
        return 0;
}

int seccomp_filter_new(uint32_t default_action, SeccompFilter **ret) {
        _cleanup_free_ SeccompFilter *f = calloc(1, sizeof(SeccompFilter));

        if (!f)
                return -ENOMEM;
        f->default_action = default_action;
        f->ctx = seccomp_init(default_action);
        if (!f->ctx)
                return -ENOMEM;
        /* no_new_privs is the config's to say (process.noNewPrivileges), not libseccomp's. */
        (void) seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_NNP, 0);
        *ret = TAKE_PTR(f);
        return 0;
}

int seccomp_filter_add_architecture(SeccompFilter *f, uint32_t arch) {
        int r = seccomp_arch_add(f->ctx, arch);

        return r == -EEXIST ? 0 : r;
}

int seccomp_filter_add_rule(SeccompFilter *f, const char *name, uint32_t action, const struct scmp_arg_cmp *args,
                            unsigned n_args) {
        int nr, r;

        if (action == f->default_action)
                return 0; /* libseccomp refuses rules that repeat the default */
        nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
                return 0; /* unknown on this architecture or to this libseccomp: as runc, skip it */
        r = seccomp_rule_add_array(f->ctx, action, nr, n_args, args);
        if (r == -EEXIST)
                return 0; /* the same rule twice (a profile may allow a call for two capabilities) */
        return r < 0 ? r : 1;
}

int seccomp_filter_load(SeccompFilter *f) {
        return seccomp_load(f->ctx);
}

void seccomp_filter_free(SeccompFilter *f) {
        if (!f)
                return;
        seccomp_release(f->ctx);
        free(f);
}
