/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroup-mode.h"
#include "fileio.h"
#include "init.h"
#include "macro.h"

/* The reason setup failed, to the creating process; then exit. */
_Noreturn static void fail(int sync_fd, int error, const char *format, ...) _printf_(3, 4);
_Noreturn static void fail(int sync_fd, int error, const char *format, ...) {
        char message[1024];
        va_list ap;
        int n;

        va_start(ap, format);
        n = vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        if (error && n >= 0 && (size_t) n < sizeof(message))
                snprintf(message + n, sizeof(message) - (size_t) n, ": %s", strerror(error));
        (void) !write(sync_fd, message, strlen(message));
        _exit(1);
}

static int openat2_in_root(int root_fd, const char *path, int flags) {
        struct open_how how = { .flags = (uint64_t) flags | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };

        while (*path == '/')
                path++;
        if (!*path)
                path = ".";
        return (int) syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
}

/* Creates path inside the root (directories, and the last as a directory or an empty
 * file), never following a symlink out of it; returns an O_PATH fd to it. */
static int make_in_root(int root_fd, const char *path, bool file) {
        _cleanup_free_ char *copy = strdup(path);
        size_t len;
        int fd;

        if (!copy)
                return -ENOMEM;
        for (len = strlen(copy); len > 1 && copy[len - 1] == '/'; len--)
                copy[len - 1] = '\0';
        fd = openat2_in_root(root_fd, copy, O_PATH);
        if (fd >= 0 || errno != ENOENT)
                return fd >= 0 ? fd : -errno;
        /* Each prefix in turn: /a, /a/b, /a/b/c. */
        for (char *end = copy; end;) {
                _cleanup_close_ int parent = -EBADF;
                char *slash;
                bool last;

                end = strchr(end + 1, '/');
                if (end)
                        *end = '\0';
                last = !end;
                fd = openat2_in_root(root_fd, copy, O_PATH);
                if (fd >= 0)
                        close(fd);
                else if (errno != ENOENT)
                        return -errno;
                else {
                        slash = strrchr(copy, '/');
                        *slash = '\0';
                        parent = openat2_in_root(root_fd, *copy ? copy : "/", O_PATH | O_DIRECTORY);
                        *slash = '/';
                        if (parent < 0)
                                return -errno;
                        if (last && file) {
                                fd = openat(parent, slash + 1, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                                if (fd < 0)
                                        return -errno;
                                close(fd);
                        } else if (mkdirat(parent, slash + 1, 0755) < 0 && errno != EEXIST)
                                return -errno;
                }
                if (end)
                        *end = '/';
        }
        fd = openat2_in_root(root_fd, copy, O_PATH);
        return fd >= 0 ? fd : -errno;
}

static int mount_on_fd(const char *source, int target_fd, const char *type, unsigned long flags, const char *data) {
        char target[64];

        snprintf(target, sizeof(target), "/proc/self/fd/%d", target_fd);
        return mount(source, target, type, flags, data) < 0 ? -errno : 0;
}

/* In a user namespace, a bind mount keeps the nosuid, nodev and noexec of the mount it
 * came from (the kernel refuses to clear them there): asked for or not, they stay. */
static unsigned long locked_flags(int fd, bool in_userns) {
        struct statvfs st;
        unsigned long flags = 0;

        if (!in_userns || fstatvfs(fd, &st) < 0)
                return 0;
        if (st.f_flag & ST_NOSUID)
                flags |= MS_NOSUID;
        if (st.f_flag & ST_NODEV)
                flags |= MS_NODEV;
        if (st.f_flag & ST_NOEXEC)
                flags |= MS_NOEXEC;
        return flags;
}

static void mount_one(const SpecMount *m, int root_fd, CgroupMode cgroup_mode, bool in_userns, int sync_fd) {
        const char *type = m->type ?: "none", *source = m->source ?: type;
        bool bind = m->flags & MS_BIND, source_is_file = false;
        unsigned long flags = m->flags & ~(unsigned long) (MS_BIND | MS_REC | MS_REMOUNT);
        _cleanup_close_ int target = -EBADF;
        struct stat st;
        int r;

        if (streq(type, "cgroup") && cgroup_mode != CGROUP_MODE_UNIFIED) {
                /* cgroup v1 or hybrid: the host's hierarchy, read-only unless asked otherwise. */
                source = "/sys/fs/cgroup";
                bind = true;
        } else if (streq(type, "cgroup"))
                type = "cgroup2";
        if (bind && stat(source, &st) < 0)
                fail(sync_fd, errno, "mount %s on %s: source", source, m->destination);
        source_is_file = bind && !S_ISDIR(st.st_mode);
        r = make_in_root(root_fd, m->destination, source_is_file);
        if (r < 0)
                fail(sync_fd, -r, "mount %s on %s: create the mount point in the root", source, m->destination);
        target = r;
        if (bind)
                r = mount_on_fd(source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL);
        else
                r = mount_on_fd(source, target, type, flags, m->data);
        /* A user namespace may not mount sysfs for a network namespace it does not own:
         * the host's then, as runc does. */
        if (r == -EPERM && streq(type, "sysfs")) {
                r = mount_on_fd("/sys", target, NULL, MS_BIND | MS_REC, NULL);
                bind = true;
        }
        if (r >= 0 && ((bind && flags) || m->propagation)) {
                /* The fd is of the directory under the new mount; flags and propagation
                 * go to the mount itself, found by resolving the path again. */
                _cleanup_close_ int mounted = openat2_in_root(root_fd, m->destination, O_PATH);

                r = mounted < 0 ? -errno : 0;
                /* A bind mount takes its flags on a remount. */
                if (r >= 0 && bind && flags)
                        r = mount_on_fd(NULL, mounted, NULL, MS_REMOUNT | MS_BIND | flags | locked_flags(mounted, in_userns),
                                        NULL);
                if (r >= 0 && m->propagation)
                        r = mount_on_fd(NULL, mounted, NULL, m->propagation, NULL);
        }
        if (r < 0)
                fail(sync_fd, -r, "mount %s (%s) on %s", source, type, m->destination);
}

/* The devices every container has, and the /dev links; made on /dev if it is a fresh
 * tmpfs (mknod), else bound from the host's. */
static void default_devices(int root_fd, int sync_fd) {
        static const struct {
                const char *name;
                unsigned major, minor;
        } devices[] = {
                { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 }, { "random", 1, 8 }, { "urandom", 1, 9 },
                { "tty", 5, 0 },
        };
        static const struct {
                const char *name, *target;
        } links[] = {
                { "fd", "/proc/self/fd" },     { "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" },
                { "stderr", "/proc/self/fd/2" }, { "ptmx", "pts/ptmx" },       { "core", "/proc/kcore" },
        };
        _cleanup_close_ int dev = openat2_in_root(root_fd, "/dev", O_PATH | O_DIRECTORY);

        if (dev < 0)
                fail(sync_fd, errno, "open /dev in the root");
        for (size_t i = 0; i < ELEMENTSOF(devices); i++) {
                char path[64];
                int r = mknodat(dev, devices[i].name, S_IFCHR | 0666, makedev(devices[i].major, devices[i].minor));

                if (r < 0 && errno == EEXIST)
                        continue;
                if (r >= 0) {
                        /* mknod obeys the umask; the devices are for everyone. */
                        _cleanup_close_ int fd = openat(dev, devices[i].name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
                        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                        if (fd < 0 || chmod(path, 0666) < 0)
                                fail(sync_fd, errno, "chmod /dev/%s", devices[i].name);
                        continue;
                }
                if (errno != EPERM)
                        fail(sync_fd, errno, "mknod /dev/%s", devices[i].name);
                snprintf(path, sizeof(path), "/dev/%s", devices[i].name);
                SpecMount m = { .destination = path, .source = path, .flags = MS_BIND };
                mount_one(&m, root_fd, CGROUP_MODE_UNIFIED, false, sync_fd);
        }
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i].target, dev, links[i].name) < 0 && errno != EEXIST)
                        fail(sync_fd, errno, "symlink /dev/%s", links[i].name);
}

/* linux.devices: made with their mode and owner (or bound from the host's where mknod
 * is refused). */
static void spec_devices(const RuntimeSpec *spec, int root_fd, int sync_fd) {
        for (size_t i = 0; i < spec->n_devices; i++) {
                const SpecDevice *d = &spec->devices[i];
                _cleanup_close_ int parent = -EBADF, fd = -EBADF;
                _cleanup_free_ char *dir = strdup(d->path);
                char proc[64], *slash = dir ? strrchr(dir, '/') : NULL;
                int r;

                if (!slash)
                        fail(sync_fd, ENOMEM, "device %s", d->path);
                *slash = '\0';
                r = make_in_root(root_fd, dir, false);
                if (r < 0)
                        fail(sync_fd, -r, "device %s: its directory", d->path);
                parent = r;
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", parent);
                if (mknodat(parent, slash + 1, d->type | (d->mode & 07777), makedev(d->major, d->minor)) < 0 &&
                    errno != EEXIST) {
                        if (errno != EPERM)
                                fail(sync_fd, errno, "mknod %s", d->path);
                        SpecMount m = { .destination = d->path, .source = d->path, .flags = MS_BIND };
                        mount_one(&m, root_fd, CGROUP_MODE_UNIFIED, false, sync_fd);
                        continue;
                }
                fd = openat(parent, slash + 1, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
                if (fd < 0 || chmod(proc, d->mode & 07777) < 0 || fchownat(fd, "", d->uid, d->gid, AT_EMPTY_PATH) < 0)
                        fail(sync_fd, errno, "device %s: mode and owner", d->path);
        }
}

/* pivot_root refuses a new root whose parent mount is shared (rootfsPropagation
 * "shared"): the mount holding the root becomes private, as runc does. */
static void make_parent_mount_private(const char *rootfs) {
        _cleanup_free_ char *dir = strdup(rootfs);

        for (char *slash; dir && (slash = strrchr(dir, '/'));) {
                *slash = '\0';
                if (mount(NULL, *dir ? dir : "/", NULL, MS_PRIVATE, NULL) == 0 || !*dir)
                        return;
        }
}

static void pivot_to(const char *rootfs, int sync_fd) {
        _cleanup_close_ int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC),
                            new_root = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

        if (old_root < 0 || new_root < 0 || fchdir(new_root) < 0)
                fail(sync_fd, errno, "open the root %s", rootfs);
        /* pivot_root(".", "."): the old root stacks under the new one, then goes. */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                fail(sync_fd, errno, "pivot_root to %s", rootfs);
        if (fchdir(old_root) < 0 || mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 ||
            umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
                fail(sync_fd, errno, "detach the old root");
}

static void mask_paths(char **paths, int sync_fd) {
        for (char **p = paths; p && *p; p++) {
                struct stat st;
                if (stat(*p, &st) < 0) {
                        if (errno == ENOENT)
                                continue;
                        fail(sync_fd, errno, "mask %s", *p);
                }
                if (S_ISDIR(st.st_mode) ? mount("tmpfs", *p, "tmpfs", MS_RDONLY, "size=0k") < 0
                                        : mount("/dev/null", *p, NULL, MS_BIND, NULL) < 0)
                        fail(sync_fd, errno, "mask %s", *p);
        }
}

static void readonly_paths(char **paths, int sync_fd) {
        for (char **p = paths; p && *p; p++) {
                if (mount(*p, *p, NULL, MS_BIND | MS_REC, NULL) < 0) {
                        if (errno == ENOENT)
                                continue;
                        fail(sync_fd, errno, "make %s read-only", *p);
                }
                if (mount(NULL, *p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_REC, NULL) < 0)
                        fail(sync_fd, errno, "make %s read-only", *p);
        }
}

static void set_sysctls(char **sysctl, int sync_fd) {
        for (char **kv = sysctl; kv && *kv; kv += 2) {
                char path[512];
                int r;

                snprintf(path, sizeof(path), "/proc/sys/%s", kv[0]);
                for (char *c = path + strlen("/proc/sys/"); *c; c++)
                        *c = *c == '.' ? '/' : *c;
                r = write_string_file(path, kv[1]);
                if (r < 0)
                        fail(sync_fd, -r, "sysctl %s=%s", kv[0], kv[1]);
        }
}

static void set_capabilities(const RuntimeSpec *spec, int sync_fd) {
        struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = {};

        for (int i = 0; i < 2; i++) {
                data[i].effective = (uint32_t) (spec->caps[CAPS_EFFECTIVE] >> (32 * i));
                data[i].permitted = (uint32_t) (spec->caps[CAPS_PERMITTED] >> (32 * i));
                data[i].inheritable = (uint32_t) (spec->caps[CAPS_INHERITABLE] >> (32 * i));
        }
        if (syscall(SYS_capset, &header, data) < 0)
                fail(sync_fd, errno, "set capabilities");
        for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
                if (spec->caps[CAPS_AMBIENT] & (1ULL << cap) &&
                    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
                        fail(sync_fd, errno, "raise ambient capability %d", cap);
}

/* The user the process runs as; capabilities outside the bounding set dropped first,
 * while this process still may. */
static void set_user(const RuntimeSpec *spec, int sync_fd) {
        for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
                if (!(spec->caps[CAPS_BOUNDING] & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
                    errno != EINVAL)
                        fail(sync_fd, errno, "drop capability %d from the bounding set", cap);
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ||
            setgroups(spec->n_additional_gids, spec->additional_gids) < 0 ||
            setresgid(spec->gid, spec->gid, spec->gid) < 0 || setresuid(spec->uid, spec->uid, spec->uid) < 0 ||
            prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                fail(sync_fd, errno, "become user %u:%u", spec->uid, spec->gid);
        set_capabilities(spec, sync_fd);
        if (spec->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                fail(sync_fd, errno, "set no_new_privs");
}

/* The executable as execvp would find it with the container's PATH. */
static bool executable_exists(const char *name, char **env) {
        const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

        if (strchr(name, '/'))
                return access(name, X_OK) == 0;
        for (char **e = env; e && *e; e++)
                if (strncmp(*e, "PATH=", 5) == 0)
                        path = *e + 5;
        for (const char *p = path; *p;) {
                size_t len = strcspn(p, ":");
                char full[4096];

                snprintf(full, sizeof(full), "%.*s/%s", (int) len, len ? p : ".", name);
                if (access(full, X_OK) == 0)
                        return true;
                p += len + (p[len] == ':');
        }
        return false;
}

_Noreturn static void exec_process(const RuntimeSpec *spec);

/* process.terminal: a new pty from the container's devpts. Its master goes to the
 * creating process over sync_fd (message "t" with the fd); the peer becomes stdin,
 * stdout, stderr and the controlling terminal, owned by the process's user, and, for a
 * container's init, /dev/console. */
static void setup_terminal(const RuntimeSpec *spec, bool console, int sync_fd) {
        _cleanup_close_ int master = -EBADF, peer = -EBADF;
        char control[CMSG_SPACE(sizeof(int))] = {};
        struct iovec iov = { .iov_base = (char *) "t", .iov_len = 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        unsigned pty = 0;
        int unlock = 0;

        if (!spec->terminal)
                return;
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &pty) < 0)
                fail(sync_fd, errno, "process.terminal: open a pty on /dev/ptmx");
        peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (peer < 0 || fchown(peer, spec->uid, (gid_t) -1) < 0)
                fail(sync_fd, errno, "process.terminal: open the pty's peer");
        if (console) {
                _cleanup_close_ int fd = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
                char source[64];

                snprintf(source, sizeof(source), "/dev/pts/%u", pty);
                if (fd < 0 || mount(source, "/dev/console", NULL, MS_BIND, NULL) < 0)
                        fail(sync_fd, errno, "process.terminal: bind %s on /dev/console", source);
        }
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &master, sizeof(int));
        if (sendmsg(sync_fd, &msg, 0) < 0)
                fail(sync_fd, errno, "process.terminal: pass the pty");
        /* An exec'd process is no session leader yet; an init already is. */
        (void) setsid();
        if (dup2(peer, 0) < 0 || dup2(peer, 1) < 0 || dup2(peer, 2) < 0 || ioctl(0, TIOCSCTTY, 0) < 0)
                fail(sync_fd, errno, "process.terminal: make the pty the process's terminal");
}

/* With no_new_privs the filter goes in last, as an unprivileged process may then load
 * it; without, it needs CAP_SYS_ADMIN, so it goes in before the user changes. */
static void load_seccomp_early(const RuntimeSpec *spec, int sync_fd) {
        if (spec->seccomp && !spec->no_new_privileges && seccomp_filter_load(spec->seccomp) < 0)
                fail(sync_fd, errno, "load the seccomp filter");
}


/* A user namespace joined by path comes first, and the new namespaces are made in it
 * so that it owns them. In a user namespace, this process becomes its root: until then
 * its ids (the host's root) are unmapped there, and files it made would be refused. */
static void enter_user_namespace(const RuntimeSpec *spec, int sync_fd) {
        int unshare_flags = 0;

        if (!spec_has_namespace(spec, CLONE_NEWUSER))
                return;
        for (size_t i = 0; i < spec->n_namespaces; i++) {
                const SpecNamespace *ns = &spec->namespaces[i];
                if (ns->type == CLONE_NEWUSER && ns->path) {
                        _cleanup_close_ int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0 || setns(fd, CLONE_NEWUSER) < 0)
                                fail(sync_fd, errno, "join user namespace %s", ns->path);
                } else if (!ns->path && ns->type != CLONE_NEWPID && ns->type != CLONE_NEWCGROUP &&
                           ns->type != CLONE_NEWUSER)
                        unshare_flags |= ns->type;
        }
        if (spec_joins_user_namespace(spec) && unshare_flags && unshare(unshare_flags) < 0)
                fail(sync_fd, errno, "new namespaces in the joined user namespace");
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                fail(sync_fd, errno, "become root in the user namespace (is 0 mapped?)");
}

/* What the container's init and an exec'd process both end their setup with: the
 * terminal, the early seccomp filter, the user and its capabilities, umask and cwd, a
 * check that the program is there; then "ok" to the creating process. */
static void become_the_process(const RuntimeSpec *spec, bool console, int sync_fd) {
        setup_terminal(spec, console, sync_fd);
        load_seccomp_early(spec, sync_fd);
        set_user(spec, sync_fd);
        if (spec->have_umask)
                umask(spec->umask);
        if (chdir(spec->cwd) < 0)
                fail(sync_fd, errno, "chdir to %s", spec->cwd);
        if (!executable_exists(spec->args[0], spec->env))
                fail(sync_fd, 0, "exec %s: not found or not executable in the container", spec->args[0]);
        if (write(sync_fd, "ok", 2) != 2)
                _exit(1);
        close(sync_fd);
}

_Noreturn void container_init(const RuntimeSpec *spec, const char *rootfs, int fifo_fd, int sync_fd) {
        _cleanup_close_ int root_fd = -EBADF;
        CgroupMode cgroup_mode = CGROUP_MODE_UNIFIED;
        char fifo_path[64], go = 0, state[8192], *error = NULL;
        ssize_t n;
        int fifo;

        /* The creating process moves this one into its cgroup first, and sends "g" and
         * the state the container's hooks read. */
        n = read(sync_fd, state, sizeof(state) - 1);
        if (n < 1 || state[0] != 'g')
                _exit(1);
        state[n] = '\0';
        enter_user_namespace(spec, sync_fd);
        for (size_t i = 0; i < spec->n_namespaces; i++)
                if (spec->namespaces[i].type == CLONE_NEWCGROUP && !spec->namespaces[i].path &&
                    unshare(CLONE_NEWCGROUP) < 0)
                        fail(sync_fd, errno, "new cgroup namespace");
        (void) cgroup_mode_detect("/sys/fs/cgroup", &cgroup_mode);
        /* Nothing of this process is for the container to see until it execs. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (setsid() < 0)
                fail(sync_fd, errno, "setsid");
        for (size_t i = 0; i < spec->n_namespaces; i++) {
                _cleanup_close_ int ns = -EBADF;
                if (!spec->namespaces[i].path || spec->namespaces[i].type == CLONE_NEWPID ||
                    spec->namespaces[i].type == CLONE_NEWUSER)
                        continue;
                ns = open(spec->namespaces[i].path, O_RDONLY | O_CLOEXEC);
                if (ns < 0 || setns(ns, spec->namespaces[i].type) < 0)
                        fail(sync_fd, errno, "join namespace %s", spec->namespaces[i].path);
        }
        if (spec->have_oom_score_adj) {
                char value[16];
                snprintf(value, sizeof(value), "%d", spec->oom_score_adj);
                if (write_string_file("/proc/self/oom_score_adj", value) < 0)
                        fail(sync_fd, errno, "set oom_score_adj %d", spec->oom_score_adj);
        }

        if (mount(NULL, "/", NULL, spec->rootfs_propagation ?: MS_SLAVE | MS_REC, NULL) < 0)
                fail(sync_fd, errno, "make / %s", spec->rootfs_propagation ? "as rootfsPropagation says" : "rslave");
        make_parent_mount_private(rootfs);
        if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                fail(sync_fd, errno, "bind the root %s%s", rootfs,
                     errno == EACCES && spec_has_namespace(spec, CLONE_NEWUSER)
                             ? " (in a user namespace, the path must be searchable by the container's root)"
                             : "");
        root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                fail(sync_fd, errno, "open the root %s", rootfs);
        for (size_t i = 0; i < spec->n_mounts; i++)
                mount_one(&spec->mounts[i], root_fd, cgroup_mode, spec_has_namespace(spec, CLONE_NEWUSER),
                          sync_fd);
        default_devices(root_fd, sync_fd);
        spec_devices(spec, root_fd, sync_fd);
        if (hooks_run(spec->hooks[HOOK_CREATE_CONTAINER], spec->n_hooks[HOOK_CREATE_CONTAINER], state + 1, false, &error) < 0)
                fail(sync_fd, 0, "createContainer hook: %s", error ?: "failed");
        pivot_to(rootfs, sync_fd);
        /* rootfsPropagation on the new root itself: before pivot_root it would have
         * reached the host's mounts through a shared parent. */
        if (spec->rootfs_propagation && mount(NULL, "/", NULL, spec->rootfs_propagation, NULL) < 0)
                fail(sync_fd, errno, "set rootfsPropagation on the root");
        /* As runc: the sysctls while /proc/sys is still writable, then the masked and
         * read-only paths (containerd's list makes /proc/sys read-only). */
        set_sysctls(spec->sysctl, sync_fd);
        mask_paths(spec->masked_paths, sync_fd);
        readonly_paths(spec->readonly_paths, sync_fd);
        if (spec->root_readonly && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
                fail(sync_fd, errno, "make the root read-only");
        if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0)
                fail(sync_fd, errno, "set hostname %s", spec->hostname);
        for (size_t i = 0; i < spec->n_rlimits; i++) {
                struct rlimit l = { .rlim_cur = spec->rlimits[i].soft, .rlim_max = spec->rlimits[i].hard };
                if (setrlimit(spec->rlimits[i].resource, &l) < 0)
                        fail(sync_fd, errno, "set rlimit %d", spec->rlimits[i].resource);
        }
        become_the_process(spec, true, sync_fd);
        /* Blocks until `start` opens the fifo for reading. */
        snprintf(fifo_path, sizeof(fifo_path), "/proc/self/fd/%d", fifo_fd);
        fifo = open(fifo_path, O_WRONLY | O_CLOEXEC);
        if (fifo < 0)
                _exit(1);
        close(fifo_fd);
        if (hooks_run(spec->hooks[HOOK_START_CONTAINER], spec->n_hooks[HOOK_START_CONTAINER], state + 1, false, &error) < 0) {
                fprintf(stderr, "startContainer hook: %s\n", error ?: "failed");
                _exit(1);
        }
        /* The byte says "started"; the fifo then stays open until exec closes it, which
         * is how `start` knows the process runs (for poststart hooks). */
        if (write(fifo, &go, 1) != 1)
                _exit(1);
        exec_process(spec);
}

_Noreturn static void exec_process(const RuntimeSpec *spec) {
        /* As late as can be: the filter may forbid what setup needed. */
        if (spec->seccomp && spec->no_new_privileges && seccomp_filter_load(spec->seccomp) < 0) {
                fprintf(stderr, "load the seccomp filter: %s\n", strerror(errno));
                _exit(1);
        }
        /* No descriptor of the runtime's may reach the process (CVE-2024-21626). */
        (void) syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
        environ = spec->env;
        execvp(spec->args[0], spec->args);
        fprintf(stderr, "exec %s: %s\n", spec->args[0], strerror(errno));
        _exit(127);
}

_Noreturn void container_exec_init(const RuntimeSpec *spec, pid_t target, int sync_fd) {
        static const struct {
                const char *name;
                int type;
        } namespaces[] = {
                /* user first: it owns the others; mnt last: the others are found
                 * through the host's /proc. */
                { "user", CLONE_NEWUSER },     { "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
                { "net", CLONE_NEWNET },       { "mnt", CLONE_NEWNS },
        };
        char go;

        /* In its cgroup first (the creating process moves it), then in its namespaces. */
        if (read(sync_fd, &go, 1) != 1)
                _exit(1);
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        for (size_t i = 0; i < ELEMENTSOF(namespaces); i++) {
                _cleanup_close_ int ns = -EBADF;
                char path[64], self[64];
                struct stat a, b;

                snprintf(path, sizeof(path), "/proc/%d/ns/%s", target, namespaces[i].name);
                snprintf(self, sizeof(self), "/proc/self/ns/%s", namespaces[i].name);
                if (stat(path, &a) < 0 || (stat(self, &b) >= 0 && a.st_ino == b.st_ino))
                        continue; /* not there, or already shared */
                ns = open(path, O_RDONLY | O_CLOEXEC);
                if (ns < 0 || setns(ns, namespaces[i].type) < 0)
                        fail(sync_fd, errno, "join namespace %s", namespaces[i].name);
        }
        become_the_process(spec, false, sync_fd);
        exec_process(spec);
}
