/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "macro.h"
#include "sandbox.h"

static const char *const sandbox_namespaces[] = { "net", "ipc", "uts" };

static int loopback_up(void) {
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = { .ifr_name = "lo" };

        if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP;
        return ioctl(fd, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/* In the new namespaces: hostname, loopback, then each namespace bound onto its file
 * (this process is still in the host's mount namespace). Exit status: an errno. */
_Noreturn static void hold_namespaces(const char *dir, const char *hostname) {
        int r = 0;

        if (hostname && sethostname(hostname, strlen(hostname)) < 0)
                _exit(errno);
        r = loopback_up();
        if (r < 0)
                _exit(-r);
        for (size_t i = 0; i < ELEMENTSOF(sandbox_namespaces); i++) {
                char source[64], target[4096];

                snprintf(source, sizeof(source), "/proc/self/ns/%s", sandbox_namespaces[i]);
                snprintf(target, sizeof(target), "%s/%s", dir, sandbox_namespaces[i]);
                if (mount(source, target, NULL, MS_BIND, NULL) < 0)
                        _exit(errno);
        }
        _exit(0);
}

int sandbox_create(const char *dir, const char *hostname, char **ret_error) {
        struct clone_args args = { .flags = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS, .exit_signal = SIGCHLD };
        siginfo_t info = {};
        pid_t pid;
        int r;

        if (hostname && strlen(hostname) > 64)
                return error_set(ret_error, -EINVAL, "sandbox %s: hostname '%s': %m", dir, hostname);
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return error_set(ret_error, r, "sandbox %s: create the directory: %m", dir);
        for (size_t i = 0; i < ELEMENTSOF(sandbox_namespaces); i++) {
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int fd = -EBADF;

                if (asprintf(&path, "%s/%s", dir, sandbox_namespaces[i]) < 0)
                        return -ENOMEM;
                fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
                /* Someone else's: leave it be. */
                if (fd < 0 && errno == EEXIST && i == 0)
                        return error_set(ret_error, -EEXIST, "sandbox %s: %m", dir);
                if (fd < 0) {
                        r = error_set(ret_error, -errno, "sandbox %s: create %s: %m", dir, path);
                        goto undo;
                }
        }
        /* A child made in the new namespaces (no thread here: clone is safe). */
        pid = (pid_t) syscall(SYS_clone3, &args, sizeof(args));
        if (pid == 0)
                hold_namespaces(dir, hostname);
        if (pid < 0) {
                r = error_set(ret_error, -errno, "sandbox %s: clone: %m", dir);
                goto undo;
        }
        if (waitid(P_PID, (id_t) pid, &info, WEXITED) < 0) {
                r = error_set(ret_error, -errno, "sandbox %s: wait: %m", dir);
                goto undo;
        }
        if (info.si_code != CLD_EXITED || info.si_status != 0) {
                r = error_set(ret_error, info.si_code == CLD_EXITED ? -info.si_status : -EINTR,
                              "sandbox %s: set up its namespaces: %m", dir);
                goto undo;
        }
        return 0;
undo:
        (void) sandbox_remove(dir, NULL);
        return r;
}

int sandbox_remove(const char *dir, char **ret_error) {
        for (size_t i = 0; i < ELEMENTSOF(sandbox_namespaces); i++) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s/%s", dir, sandbox_namespaces[i]) < 0)
                        return -ENOMEM;
                if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                        return error_set(ret_error, -errno, "sandbox %s: unmount %s: %m", dir, path);
                if (unlink(path) < 0 && errno != ENOENT)
                        return error_set(ret_error, -errno, "sandbox %s: remove %s: %m", dir, path);
        }
        if (rmdir(dir) < 0 && errno != ENOENT)
                return error_set(ret_error, -errno, "sandbox %s: remove the directory: %m", dir);
        return 0;
}
