/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/vfs.h>

#include "macro.h"
#include "netns.h"

#define SELF_NETNS "/proc/thread-self/ns/net"

int netns_enter(int fd, int *ret_saved_fd) {
        _cleanup_close_ int saved = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);

        if (saved < 0)
                return negative_errno();
        if (setns(fd, CLONE_NEWNET) < 0)
                return negative_errno();
        *ret_saved_fd = TAKE_FD(saved);
        return 0;
}

int netns_leave(int *saved_fd) {
        int r = 0;

        if (*saved_fd < 0)
                return 0;
        if (setns(*saved_fd, CLONE_NEWNET) < 0)
                r = negative_errno();
        close(*saved_fd);
        *saved_fd = -EBADF;
        return r;
}

int netns_create(const char *path, int *ret_fd) {
        _cleanup_close_ int saved = open(SELF_NETNS, O_RDONLY | O_CLOEXEC), fd = -EBADF;
        int r = 0;

        if (saved < 0)
                return negative_errno();

        fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0)
                return negative_errno();
        close(TAKE_FD(fd));

        /* No fork: this thread steps into a fresh namespace, binds it, and steps back. */
        if (unshare(CLONE_NEWNET) < 0) {
                r = negative_errno();
                (void) unlink(path);
                return r;
        }
        if (mount(SELF_NETNS, path, NULL, MS_BIND, NULL) < 0)
                r = negative_errno();
        else {
                fd = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        r = negative_errno();
        }
        if (setns(saved, CLONE_NEWNET) < 0)
                abort(); /* cannot continue in the wrong namespace */
        if (r < 0) {
                (void) umount2(path, MNT_DETACH);
                (void) unlink(path);
                return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int netns_open(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct statfs s;

        if (fd < 0)
                return negative_errno();
        if (fstatfs(fd, &s) < 0)
                return negative_errno();
        if (s.f_type != NSFS_MAGIC)
                return -ESTALE;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int netns_remove(const char *path) {
        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return negative_errno();
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}
