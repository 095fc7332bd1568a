/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "hooks.h"
#include "seccomp-filter.h"

/* The parts of an OCI runtime-spec config.json (Linux) the runtime applies, parsed and
 * checked before anything is created: a value that cannot be applied is an error that
 * names the field and the value ("process.capabilities.bounding[2]: 'CAP_FOO' is not a
 * capability"). */

typedef struct SpecMount {
        char *destination, *source, *type, *data;
        unsigned long flags;       /* MS_* from options */
        unsigned long propagation; /* MS_PRIVATE, MS_SLAVE, MS_SHARED (| MS_REC), or 0 */
} SpecMount;

typedef struct SpecNamespace {
        int type;   /* CLONE_NEW* */
        char *path; /* join this one; NULL: a new one */
} SpecNamespace;

typedef struct SpecDevice {
        char *path;
        mode_t type; /* S_IFCHR, S_IFBLK, S_IFIFO */
        unsigned major, minor;
        mode_t mode;
        uid_t uid;
        gid_t gid;
} SpecDevice;

/* linux.uidMappings / gidMappings: ids container_id… in the user namespace are
 * host_id… outside. */
typedef struct SpecIdMapping {
        uint32_t container_id, host_id, size;
} SpecIdMapping;

typedef struct SpecRlimit {
        int resource;
        uint64_t soft, hard;
} SpecRlimit;

enum { CAPS_BOUNDING, CAPS_EFFECTIVE, CAPS_INHERITABLE, CAPS_PERMITTED, CAPS_AMBIENT, _CAPS_MAX };

typedef struct RuntimeSpec {
        char *root_path; /* as written; relative to the bundle unless absolute */
        bool root_readonly;
        char *hostname;

        char **args, **env;
        char *cwd;
        bool terminal;
        uid_t uid;
        gid_t gid;
        gid_t *additional_gids;
        size_t n_additional_gids;
        mode_t umask;
        bool have_umask;
        uint64_t caps[_CAPS_MAX]; /* bit n: capability n */
        bool no_new_privileges;
        SpecRlimit *rlimits;
        size_t n_rlimits;
        int oom_score_adj;
        bool have_oom_score_adj;

        SpecMount *mounts;
        size_t n_mounts;
        SpecNamespace namespaces[8];
        size_t n_namespaces;
        SpecIdMapping *uid_mappings, *gid_mappings;
        size_t n_uid_mappings, n_gid_mappings;
        char **masked_paths, **readonly_paths;
        SpecDevice *devices;
        size_t n_devices;
        char **sysctl; /* key, value, key, value …, NULL */
        char *cgroups_path; /* NULL: the container's id, below the runtime's own cgroup */
        SeccompFilter *seccomp; /* NULL: none */
        SpecHook *hooks[_HOOK_MAX];
        size_t n_hooks[_HOOK_MAX];
        CgroupResources resources;
        unsigned long rootfs_propagation;
        json_object *annotations; /* as given, for the state hooks read; NULL: none */
} RuntimeSpec;

/* annotations["org.stevedore.seccomp"] = "runtime/default": containerd's default seccomp
 * profile (seccomp-default.h) for the process's bounding set, instead of linux.seccomp. */
#define SPEC_ANNOTATION_SECCOMP "org.stevedore.seccomp"

/* Parses config.json's content; on -EINVAL, *ret_error says which field and why. */
int spec_parse(json_object *config, RuntimeSpec **ret, char **ret_error);
int spec_load(const char *bundle, RuntimeSpec **ret, char **ret_error);
void spec_free(RuntimeSpec *s);
static inline void spec_freep(RuntimeSpec **s) {
        spec_free(*s);
}

bool spec_has_namespace(const RuntimeSpec *s, int type);
/* linux.namespaces joins a user namespace by path. */
bool spec_joins_user_namespace(const RuntimeSpec *s);
/* "CAP_NET_ADMIN" → 12, or -1. */
int capability_from_name(const char *name);
/* 12 → "CAP_NET_ADMIN", or NULL beyond the last known. */
const char *capability_to_name(int cap);
