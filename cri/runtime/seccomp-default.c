/* SPDX-License-Identifier: Apache-2.0 */
/* containerd's defaults for a container, translated (not linked: containerd is Go):
 *
 * - the capabilities: pkg/oci/spec.go, defaultUnixCaps();
 * - the seccomp profile: contrib/seccomp/seccomp_default.go, DefaultProfile(), as of
 *   containerd 2.1 (version/version.go "2.1.0"; read from the forks
 *   basuotian/containerd@1873eaeb28a14e851762420e49d0446234699212 and
 *   cyanmint/containerd@60d675ad249f56eee60826da3aeb09f4cffeb29a, whose copies are the
 *   same but for the module path). Against containerd 1.7 (containerd/containerd@96929a5)
 *   it adds the libseccomp 2.5.5/2.6.0 calls (cachestat, fchmodat2, futex_wait, listmount,
 *   mseal …), pkey_*, name_to_handle_at for all, CAP_SYS_NICE's mempolicy calls, and
 *   refuses socket(AF_VSOCK) and io_uring.
 *
 * Same rules, same order, same actions; the differences are of form only: the rules
 * containerd adds when the kernel is at least 4.8 are here unconditionally (this runtime
 * needs 5.6: clone3, openat2), and Go's runtime.GOARCH cases are the compiler's
 * architecture macros. Names this libseccomp does not know are skipped, as runc does. */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "error.h"
#include "macro.h"
#include "seccomp-default.h"

#define BIT(cap) (UINT64_C(1) << (cap))

uint64_t runtime_default_capabilities(void) {
        return BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) | BIT(CAP_MKNOD) |
               BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) | BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) |
               BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_CHROOT) | BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE);
}

enum { ALWAYS = -1 };

typedef struct ProfileRule {
        const char *const *names; /* NULL-terminated */
        uint32_t action;
        struct scmp_arg_cmp arg; /* .op 0: no condition */
        int cap;                 /* ALWAYS, or the capability that brings the rule in … */
        bool unless_cap;         /* … or, if set, keeps it out */
} ProfileRule;

#define NAMES(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define ALLOW(...) { .names = NAMES(__VA_ARGS__), .action = SCMP_ACT_ALLOW, .cap = ALWAYS }
#define ALLOW_WITH(c, ...) { .names = NAMES(__VA_ARGS__), .action = SCMP_ACT_ALLOW, .cap = (c) }
#define ALLOW_IF(name, index, operator, value)                                                     \
        {                                                                                          \
                .names = NAMES(name), .action = SCMP_ACT_ALLOW,                                    \
                .arg = { .arg = (index), .op = (operator), .datum_a = (value) }, .cap = ALWAYS     \
        }

#if defined(__s390x__) || defined(__s390__)
#define CLONE_FLAGS_ARG 1 /* clone(stack, flags, …) there */
#else
#define CLONE_FLAGS_ARG 0
#endif
#define CLONE_NEW_NAMESPACES                                                                       \
        (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

/* containerd's arches(): the native architecture's family. */
static const uint32_t architectures[] = {
#if defined(__x86_64__)
        SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32,
#elif defined(__aarch64__)
        SCMP_ARCH_ARM, SCMP_ARCH_AARCH64,
#elif defined(__s390x__)
        SCMP_ARCH_S390, SCMP_ARCH_S390X,
#elif defined(__riscv) && __riscv_xlen == 64
        SCMP_ARCH_RISCV64,
#elif defined(__loongarch64) && defined(SCMP_ARCH_LOONGARCH64)
        SCMP_ARCH_LOONGARCH64,
#endif
        SCMP_ARCH_NATIVE, /* the end; containerd lists none for 386, arm, ppc64le: the native one only */
};

static const ProfileRule profile[] = {
        ALLOW("accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset",
              "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
              "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
              "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
              "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
              "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
              "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
              "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr",
              "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
              "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64",
              "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64",
              "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
              "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
              "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
              "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
              "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1",
              "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
              "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill",
              "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
              "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr",
              "_llseek", "lremovexattr", "lseek", "lsetxattr", "lsm_get_self_attr", "lsm_list_modules",
              "lsm_set_self_attr", "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret",
              "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "map_shadow_stack",
              "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
              "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal",
              "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at",
              "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
              "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
              "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
              "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat",
              "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
              "removexattr", "removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
              "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
              "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
              "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
              "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
              "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
              "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
              "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
              "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32",
              "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
              "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat",
              "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
              "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statmount",
              "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
              "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
              "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
              "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit",
              "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime", "utimensat", "utimensat_time64",
              "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev"),
        ALLOW_IF("socket", 0, SCMP_CMP_NE, AF_VSOCK),
        ALLOW_IF("personality", 0, SCMP_CMP_EQ, 0x0),
        ALLOW_IF("personality", 0, SCMP_CMP_EQ, 0x0008),
        ALLOW_IF("personality", 0, SCMP_CMP_EQ, 0x20000),
        ALLOW_IF("personality", 0, SCMP_CMP_EQ, 0x20008),
        ALLOW_IF("personality", 0, SCMP_CMP_EQ, 0xffffffff),

        /* containerd: "include by kernel version", 4.8 or later */
        ALLOW("process_vm_readv", "process_vm_writev", "ptrace"),

        /* containerd: "include by arch" */
#if defined(__x86_64__)
        ALLOW("arch_prctl", "modify_ldt"),
#elif defined(__i386__)
        ALLOW("modify_ldt"),
#elif defined(__aarch64__) || defined(__arm__)
        ALLOW("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"),
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        ALLOW("sync_file_range2", "swapcontext"),
#elif defined(__s390x__) || defined(__s390__)
        ALLOW("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
#elif defined(__riscv) && __riscv_xlen == 64
        ALLOW("riscv_flush_icache", "riscv_hwprobe"),
#endif

        /* containerd: one case per capability of the bounding set */
        ALLOW_WITH(CAP_DAC_READ_SEARCH, "open_by_handle_at"),
        ALLOW_WITH(CAP_SYS_ADMIN, "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                   "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
                   "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2",
                   "unshare"),
        ALLOW_WITH(CAP_SYS_BOOT, "reboot"),
        ALLOW_WITH(CAP_SYS_CHROOT, "chroot"),
        ALLOW_WITH(CAP_SYS_MODULE, "delete_module", "init_module", "finit_module"),
        ALLOW_WITH(CAP_SYS_PACCT, "acct"),
        ALLOW_WITH(CAP_SYS_PTRACE, "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
                   "ptrace"),
        ALLOW_WITH(CAP_SYS_RAWIO, "iopl", "ioperm"),
        ALLOW_WITH(CAP_SYS_TIME, "settimeofday", "stime", "clock_settime", "clock_settime64"),
        ALLOW_WITH(CAP_SYS_TTY_CONFIG, "vhangup"),
        ALLOW_WITH(CAP_SYS_NICE, "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
        ALLOW_WITH(CAP_SYSLOG, "syslog"),
        ALLOW_WITH(CAP_BPF, "bpf"),
        ALLOW_WITH(CAP_PERFMON, "perf_event_open"),

        /* Without CAP_SYS_ADMIN: clone only without new namespaces; clone3, whose flags
         * are in memory where seccomp cannot look, fails with ENOSYS rather than EPERM so
         * that libcs fall back to clone (moby/moby#42681). */
        {
                .names = NAMES("clone"),
                .action = SCMP_ACT_ALLOW,
                /* (flags & CLONE_NEW_NAMESPACES) == 0 */
                .arg = { CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, CLONE_NEW_NAMESPACES, 0 },
                .cap = CAP_SYS_ADMIN,
                .unless_cap = true,
        },
        { .names = NAMES("clone3"), .action = SCMP_ACT_ERRNO(ENOSYS), .cap = CAP_SYS_ADMIN, .unless_cap = true },
};

static bool rule_applies(const ProfileRule *rule, uint64_t capabilities) {
        bool has;

        if (rule->cap == ALWAYS)
                return true;
        has = capabilities & BIT(rule->cap);
        return rule->unless_cap ? !has : has;
}

int seccomp_filter_new_runtime_default(uint64_t capabilities, SeccompFilter **ret, char **ret_error) {
        _cleanup_(seccomp_filter_freep) SeccompFilter *f = NULL;
        int r;

        r = seccomp_filter_new(SCMP_ACT_ERRNO(EPERM), &f);
        if (r < 0)
                return r;
        for (const uint32_t *arch = architectures; *arch != SCMP_ARCH_NATIVE; arch++) {
                r = seccomp_filter_add_architecture(f, *arch);
                if (r < 0)
                        return error_set(ret_error, -EINVAL, "RuntimeDefault seccomp profile: architecture 0x%x: %s",
                                         *arch, strerror(-r));
        }
        for (size_t i = 0; i < ELEMENTSOF(profile); i++) {
                const ProfileRule *rule = &profile[i];

                if (!rule_applies(rule, capabilities))
                        continue;
                for (const char *const *name = rule->names; *name; name++) {
                        r = seccomp_filter_add_rule(f, *name, rule->action, &rule->arg, rule->arg.op != 0);
                        if (r < 0)
                                return error_set(ret_error, -EINVAL, "RuntimeDefault seccomp profile: rule %zu: %s: %s",
                                                 i, *name, strerror(-r));
                }
        }
        *ret = TAKE_PTR(f);
        return 0;
}
