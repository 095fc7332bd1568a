/* SPDX-License-Identifier: Apache-2.0 */
/* The RuntimeDefault profile, loaded for real: each probe runs in a child of its own
 * (the filter cannot be unloaded; this test stays single-threaded), once without the
 * filter and once with it. "Refused" means the filter changed the answer to EPERM (or
 * ENOSYS for clone3); "allowed" means the answer is the same as without the filter. A
 * probe whose answer is already the refusal without the filter (no privilege to try
 * it) proves nothing and is reported and passed over. */
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "seccomp-default.h"
#include "spec.h"
#include "tests.h"

#define BIT(cap) (UINT64_C(1) << (cap))

/* A probe: 0 for success, -errno for failure, or a child's exit status. */
typedef long (*Probe)(void);

static long result(long r) {
        return r < 0 ? -errno : 0;
}

/* Waits for a child that exits at once; its exit status, or -errno. */
static long reap(pid_t pid) {
        int status;

        if (pid < 0)
                return -errno;
        if (pid == 0)
                _exit(7);
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static long probe_getpid(void) {
        return result(syscall(SYS_getpid)); /* glibc's getpid() would not set errno */
}

static long probe_open_read_write(void) {
        _cleanup_close_ int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        char c = 'x';

        if (fd < 0 || write(fd, &c, 1) != 1 || read(fd, &c, 1) != 0)
                return -errno;
        return 0;
}

static long socket_of(int family) {
        _cleanup_close_ int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        return result(fd);
}

static long probe_socket_inet(void) {
        return socket_of(AF_INET);
}

static long probe_socket_vsock(void) {
        return socket_of(AF_VSOCK);
}

static long probe_fork(void) {
        return reap(fork());
}

static long probe_exec_true(void) {
        pid_t pid = fork();

        if (pid == 0) {
                char *argv[] = { (char *) "true", NULL }, *envp[] = { NULL };

                execve("/bin/true", argv, envp);
                _exit(127);
        }
        return reap(pid);
}

static long clone_with(unsigned long flags) {
        return reap((pid_t) syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL));
}

static long probe_clone(void) {
        return clone_with(0);
}

static long probe_clone_newns(void) {
        return clone_with(CLONE_NEWNS);
}

static long probe_clone3(void) {
        struct {
                uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
        } args = { .exit_signal = SIGCHLD };

        return reap((pid_t) syscall(SYS_clone3, &args, sizeof(args)));
}

/* A bad filesystem type pointer: the kernel copies the strings before it checks
 * privileges, so an allowed mount fails with EFAULT and changes nothing. */
static long probe_mount(void) {
        return result(syscall(SYS_mount, "none", "/nonexistent", (const char *) 1, 0UL, NULL));
}

static long probe_unshare_user(void) {
        return result(unshare(CLONE_NEWUSER));
}

static long probe_keyctl(void) {
        return result(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}

/* kcmp is CAP_SYS_PTRACE's; comparing our own descriptor table with itself succeeds. */
static long probe_kcmp(void) {
        return result(syscall(SYS_kcmp, getpid(), getpid(), 2 /* KCMP_FILES */, 0UL, 0UL));
}

/* ptrace itself is allowed by containerd's profile (kernel ≥ 4.8); continuing a
 * process we do not trace fails with ESRCH either way. */
static long probe_ptrace(void) {
        return result(ptrace(PTRACE_CONT, getppid(), NULL, NULL));
}

static long probe_chroot(void) {
        return result(chroot("/nonexistent"));
}

static long probe_personality_query(void) {
        return result(personality(0xffffffff));
}

static long probe_personality_no_randomize(void) {
        return result(personality(PER_LINUX | ADDR_NO_RANDOMIZE));
}

/* Runs the probe in a child with no_new_privs and the filter (if any) loaded. */
static long run(SeccompFilter *f, Probe probe) {
        int p[2];
        long r;
        pid_t pid;
        int status;

        check(pipe2(p, O_CLOEXEC) == 0);
        pid = fork();
        check(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                        _exit(2);
                if (f && seccomp_filter_load(f) < 0)
                        _exit(3);
                r = probe();
                _exit(write(p[1], &r, sizeof(r)) == sizeof(r) ? 0 : 4);
        }
        close(p[1]);
        check_int(read(p[0], &r, sizeof(r)), ==, sizeof(r));
        close(p[0]);
        check_int(waitpid(pid, &status, 0), ==, pid);
        check_int(status, ==, 0);
        return r;
}

#define refused(f, probe, error) check_refused(f, probe, #probe, error)
static void check_refused(SeccompFilter *f, Probe probe, const char *name, long error) {
        long control = run(NULL, probe), filtered = run(f, probe);

        if (control == -error) {
                fprintf(stderr, "%s: %s already without the filter, passed over\n", name, strerror((int) error));
                return;
        }
        fprintf(stderr, "%s: %ld without the filter, %ld with it\n", name, control, filtered);
        check_int(filtered, ==, -error);
}

#define allowed(f, probe) check_allowed(f, probe, #probe)
static void check_allowed(SeccompFilter *f, Probe probe, const char *name) {
        long control = run(NULL, probe), filtered = run(f, probe);

        fprintf(stderr, "%s: %ld without the filter, %ld with it\n", name, control, filtered);
        check_int(filtered, ==, control);
}

static SeccompFilter *runtime_default(uint64_t capabilities) {
        _cleanup_free_ char *error = NULL;
        SeccompFilter *f = NULL;

        check_int(seccomp_filter_new_runtime_default(capabilities, &f, &error), ==, 0);
        check(f && !error);
        return f;
}

TEST(default_capabilities_are_containerds) {
        static const char *const names[] = {
                "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
                "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
                "CAP_AUDIT_WRITE",
        };
        uint64_t want = 0;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                check(capability_from_name(names[i]) >= 0);
                want |= BIT(capability_from_name(names[i]));
        }
        check_int(__builtin_popcountll(want), ==, 14);
        check_int(runtime_default_capabilities(), ==, want);
}

TEST(default_profile) {
        SeccompFilter *f = runtime_default(runtime_default_capabilities());

        allowed(f, probe_getpid);
        allowed(f, probe_open_read_write);
        allowed(f, probe_socket_inet);
        allowed(f, probe_fork);
        allowed(f, probe_exec_true);
        allowed(f, probe_clone);
        allowed(f, probe_ptrace);
        allowed(f, probe_chroot); /* CAP_SYS_CHROOT is a default capability */
        allowed(f, probe_personality_query);

        refused(f, probe_mount, EPERM);
        refused(f, probe_unshare_user, EPERM);
        refused(f, probe_keyctl, EPERM);
        refused(f, probe_kcmp, EPERM);
        refused(f, probe_clone_newns, EPERM);
        refused(f, probe_socket_vsock, EPERM);
        refused(f, probe_personality_no_randomize, EPERM);
        refused(f, probe_clone3, ENOSYS);
        seccomp_filter_free(f);
}

TEST(capabilities_widen_the_profile) {
        SeccompFilter *f = runtime_default(runtime_default_capabilities() | BIT(CAP_SYS_ADMIN) | BIT(CAP_SYS_PTRACE));

        allowed(f, probe_mount);
        allowed(f, probe_unshare_user);
        allowed(f, probe_clone_newns);
        allowed(f, probe_clone3);
        allowed(f, probe_kcmp);
        refused(f, probe_keyctl, EPERM);
        refused(f, probe_socket_vsock, EPERM);
        seccomp_filter_free(f);

        /* and narrow it: without CAP_SYS_CHROOT, no chroot */
        f = runtime_default(0);
        refused(f, probe_chroot, EPERM);
        allowed(f, probe_getpid);
        seccomp_filter_free(f);

        /* every capability: rules given twice (bpf, syslog, ptrace …) are no error */
        seccomp_filter_free(runtime_default(~UINT64_C(0)));
}

TEST(linux_seccomp_takes_the_same_path) {
        json_object *o = json_tokener_parse(
                "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
                "\"syscalls\":[{\"names\":[\"getpid\",\"no_such_call\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":5},"
                "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
        _cleanup_free_ char *error = NULL;
        SeccompFilter *f = NULL;

        check(o);
        check_int(seccomp_filter_parse(o, &f, &error), ==, 0);
        refused(f, probe_getpid, EIO);
        allowed(f, probe_open_read_write);
        seccomp_filter_free(f);
        json_object_put(o);
}

int main(void) {
        RUN(default_capabilities_are_containerds);
        RUN(default_profile);
        RUN(capabilities_widen_the_profile);
        RUN(linux_seccomp_takes_the_same_path);
        return 0;
}
