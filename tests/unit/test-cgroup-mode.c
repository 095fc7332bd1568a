/* SPDX-License-Identifier: Apache-2.0 */
/* Builds each kind of cgroup hierarchy in a private mount namespace and checks that it
 * is told apart; the host's own layout does not matter. */
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "cgroup-mode.h"
#include "macro.h"
#include "tests.h"

static char *subdir(const char *base, const char *name) {
        char *p;

        check(asprintf(&p, "%s/%s", base, name) >= 0);
        check(mkdir(p, 0755) == 0);
        return p;
}

TEST(modes) {
        _cleanup_free_ char *dir = test_mkdtemp();
        _cleanup_free_ char *legacy = subdir(dir, "legacy"), *hybrid = subdir(dir, "hybrid"),
                            *unified = subdir(dir, "unified"), *plain = subdir(dir, "plain");
        _cleanup_free_ char *hybrid_unified = NULL;
        CgroupMode mode;

        check(mount("tmpfs", legacy, "tmpfs", 0, NULL) == 0);
        check_int(cgroup_mode_detect(legacy, &mode), ==, 0);
        check_int(mode, ==, CGROUP_MODE_LEGACY);

        check(mount("tmpfs", hybrid, "tmpfs", 0, NULL) == 0);
        hybrid_unified = subdir(hybrid, "unified");
        check(mount("cgroup2", hybrid_unified, "cgroup2", 0, NULL) == 0);
        check_int(cgroup_mode_detect(hybrid, &mode), ==, 0);
        check_int(mode, ==, CGROUP_MODE_HYBRID);

        check(mount("cgroup2", unified, "cgroup2", 0, NULL) == 0);
        check_int(cgroup_mode_detect(unified, &mode), ==, 0);
        check_int(mode, ==, CGROUP_MODE_UNIFIED);

        check(mount("proc", plain, "proc", 0, NULL) == 0);
        check_int(cgroup_mode_detect(plain, &mode), ==, -ENOMEDIUM);
        check_int(cgroup_mode_detect("/nonexistent", &mode), ==, -ENOENT);

        check(umount2(hybrid_unified, MNT_DETACH) == 0);
        check(umount2(hybrid, MNT_DETACH) == 0);
        check(umount2(legacy, MNT_DETACH) == 0);
        check(umount2(unified, MNT_DETACH) == 0);
        check(umount2(plain, MNT_DETACH) == 0);
        test_rm_rf(dir);
}

TEST(host) {
        CgroupMode mode;

        check_int(cgroup_mode_detect("/sys/fs/cgroup", &mode), ==, 0);
        fprintf(stderr, "host cgroup mode: %s\n", cgroup_mode_to_string(mode));
}

int main(void) {
        RUN(host);
        if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                fprintf(stderr, "needs root and mount namespaces, skipping the rest\n");
                return EXIT_TEST_SKIP;
        }
        RUN(modes);
        return 0;
}
