/* SPDX-License-Identifier: Apache-2.0 */
#include <linux/magic.h>
#include <sys/vfs.h>

#include "cgroup-mode.h"
#include "macro.h"

static int statfs_magic(const char *path, long *ret) {
        struct statfs s;

        if (statfs(path, &s) < 0)
                return negative_errno();
        *ret = (long) s.f_type;
        return 0;
}

int cgroup_mode_detect(const char *root, CgroupMode *ret) {
        _cleanup_free_ char *unified = NULL;
        long magic;
        int r;

        r = statfs_magic(root, &magic);
        if (r < 0)
                return r;
        if (magic == CGROUP2_SUPER_MAGIC) {
                *ret = CGROUP_MODE_UNIFIED;
                return 0;
        }
        if (magic != TMPFS_MAGIC)
                return -ENOMEDIUM;

        if (asprintf(&unified, "%s/unified", root) < 0)
                return -ENOMEM;
        r = statfs_magic(unified, &magic);
        *ret = r >= 0 && magic == CGROUP2_SUPER_MAGIC ? CGROUP_MODE_HYBRID : CGROUP_MODE_LEGACY;
        return 0;
}

const char *cgroup_mode_to_string(CgroupMode mode) {
        switch (mode) {
        case CGROUP_MODE_LEGACY:
                return "v1";
        case CGROUP_MODE_HYBRID:
                return "hybrid (v1 + unified)";
        case CGROUP_MODE_UNIFIED:
                return "v2";
        }
        return "unknown";
}
