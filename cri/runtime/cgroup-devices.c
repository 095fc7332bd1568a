/* SPDX-License-Identifier: Apache-2.0 */
/* The device rules of a container (linux.resources.devices, then runc's defaults) with
 * runc's semantics: later rules win; a rule of type 'a' resets to allowing or denying
 * everything; a deny that would punch a hole into an allowed wildcard (or the reverse)
 * is refused, since v1 cannot express it. The rules are first reduced to a default and a
 * set of exceptions (runc's "emulator"), then:
 *   - v1: the writes to devices.allow/deny that turn the cgroup's current devices.list
 *     into that set (no moment of "deny everything" when an update only adds a rule),
 *     checked against devices.list afterwards;
 *   - v2 (and the cgroup2 directory in hybrid mode): a BPF_PROG_TYPE_CGROUP_DEVICE
 *     program checking the exceptions and returning the default, attached to the
 *     cgroup in place of the one there before (BPF_F_REPLACE), as runc and crun do. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"

/* runc's AllowedDevices (libcontainer/specconv), appended to every container's rules:
 * mknod of any device, the standard devices, ptmx and the pts, and /dev/net/tun. */
static const struct {
        const char *path; /* left out when linux.devices makes a device at this path */
        CgroupDeviceRule rule;
} default_rules[] = {
        { NULL, { true, 'c', -1, -1, CGROUP_DEVICE_MKNOD } },
        { NULL, { true, 'b', -1, -1, CGROUP_DEVICE_MKNOD } },
        { "/dev/null", { true, 'c', 1, 3, CGROUP_DEVICE_RWM } },
        { "/dev/random", { true, 'c', 1, 8, CGROUP_DEVICE_RWM } },
        { "/dev/full", { true, 'c', 1, 7, CGROUP_DEVICE_RWM } },
        { "/dev/tty", { true, 'c', 5, 0, CGROUP_DEVICE_RWM } },
        { "/dev/zero", { true, 'c', 1, 5, CGROUP_DEVICE_RWM } },
        { "/dev/urandom", { true, 'c', 1, 9, CGROUP_DEVICE_RWM } },
        { NULL, { true, 'c', 136, -1, CGROUP_DEVICE_RWM } }, /* /dev/pts/N */
        { NULL, { true, 'c', 5, 2, CGROUP_DEVICE_RWM } },    /* /dev/ptmx */
        { NULL, { true, 'c', 10, 200, CGROUP_DEVICE_RWM } }, /* /dev/net/tun */
};

int cgroup_default_device_index(const char *path) {
        for (size_t i = 0; i < ELEMENTSOF(default_rules); i++)
                if (default_rules[i].path && streq(default_rules[i].path, path))
                        return (int) i;
        return -1;
}

/* --- the rules reduced ------------------------------------------------------------- */

typedef struct DeviceSet {
        bool default_allow;
        CgroupDeviceRule *rules; /* exceptions to the default, one per (type, major, minor) */
        size_t n;
} DeviceSet;

static void device_set_done(DeviceSet *s) {
        free(s->rules);
}

static void rule_string(const CgroupDeviceRule *r, char *buf, size_t size) {
        char major[24] = "*", minor[24] = "*", access[4];
        size_t n = 0;

        if (r->type == 'a') {
                snprintf(buf, size, "a");
                return;
        }
        if (r->major >= 0)
                snprintf(major, sizeof(major), "%" PRId64, r->major);
        if (r->minor >= 0)
                snprintf(minor, sizeof(minor), "%" PRId64, r->minor);
        if (r->access & CGROUP_DEVICE_READ)
                access[n++] = 'r';
        if (r->access & CGROUP_DEVICE_WRITE)
                access[n++] = 'w';
        if (r->access & CGROUP_DEVICE_MKNOD)
                access[n++] = 'm';
        access[n] = '\0';
        snprintf(buf, size, "%c %s:%s %s", r->type, major, minor, access);
}

static CgroupDeviceRule *find(const DeviceSet *s, char type, int64_t major, int64_t minor) {
        for (size_t i = 0; i < s->n; i++)
                if (s->rules[i].type == type && s->rules[i].major == major && s->rules[i].minor == minor)
                        return &s->rules[i];
        return NULL;
}

static int add(DeviceSet *s, const CgroupDeviceRule *r) {
        CgroupDeviceRule *same = find(s, r->type, r->major, r->minor), *p;

        if (same) {
                same->access |= r->access;
                return 0;
        }
        p = realloc(s->rules, (s->n + 1) * sizeof(CgroupDeviceRule));
        if (!p)
                return -ENOMEM;
        s->rules = p;
        s->rules[s->n] = *r;
        s->rules[s->n++].allow = !s->default_allow;
        return 0;
}

static int subtract(DeviceSet *s, const CgroupDeviceRule *r, char **ret_error) {
        const int64_t wild[3][2] = { { -1, r->minor }, { r->major, -1 }, { -1, -1 } };
        CgroupDeviceRule *same;

        /* v1 would silently keep the access inside a wildcard exception (runc refuses). */
        for (size_t i = 0; i < ELEMENTSOF(wild); i++) {
                const CgroupDeviceRule *w = find(s, r->type, wild[i][0], wild[i][1]);
                char a[48], b[48];
                if (!w || w == find(s, r->type, r->major, r->minor) || !(w->access & r->access))
                        continue;
                rule_string(r, a, sizeof(a));
                rule_string(w, b, sizeof(b));
                return cgroup_fail(ret_error, -EINVAL, "linux.resources.devices: %s '%s' cannot be carved out of '%s'",
                                   r->allow ? "allowing" : "denying", a, b);
        }
        same = find(s, r->type, r->major, r->minor);
        if (!same)
                return 0;
        same->access &= ~r->access;
        if (!same->access)
                *same = s->rules[--s->n];
        return 0;
}

static int device_set_apply(DeviceSet *s, const CgroupDeviceRule *r, char **ret_error) {
        if (r->type == 'a') {
                s->default_allow = r->allow;
                s->n = 0;
                return 0;
        }
        return r->allow != s->default_allow ? add(s, r) : subtract(s, r, ret_error);
}

/* The container's rules then the defaults; starts from "deny everything". */
static int device_set_build(const CgroupResources *res, DeviceSet *ret, char **ret_error) {
        int r = 0;

        *ret = (DeviceSet) {};
        for (size_t i = 0; i < res->n_devices && r >= 0; i++)
                r = device_set_apply(ret, &res->devices[i], ret_error);
        for (size_t i = 0; i < ELEMENTSOF(default_rules) && r >= 0; i++)
                if (!(res->skip_default_devices & (UINT32_C(1) << i)))
                        r = device_set_apply(ret, &default_rules[i].rule, ret_error);
        return r;
}

/* --- v1 ----------------------------------------------------------------------------- */

/* devices.list: "a *:* rwm" alone means everything allowed (denials unknown), else the
 * allowed exceptions, "c 1:3 rwm". */
static int device_set_load(const char *dir, DeviceSet *ret, char **ret_error) {
        _cleanup_free_ char *path = NULL, *content = NULL;
        char *line, *save = NULL;
        int r;

        *ret = (DeviceSet) {};
        if (asprintf(&path, "%s/devices.list", dir) < 0)
                return -ENOMEM;
        r = read_full_file(path, 1 << 20, &content, NULL);
        if (r < 0)
                return cgroup_fail(ret_error, r, "%s", path);
        for (line = strtok_r(content, "\n", &save); line && r >= 0; line = strtok_r(NULL, "\n", &save)) {
                CgroupDeviceRule rule = { .allow = true, .type = line[0], .major = -1, .minor = -1 };
                char major[16], minor[16], access[8];

                if (line[0] == 'a') {
                        ret->default_allow = true;
                        ret->n = 0;
                        continue;
                }
                if (sscanf(line + 1, " %15[0-9*]:%15[0-9*] %7[rwm]", major, minor, access) != 3 ||
                    !strchr("cb", line[0])) {
                        device_set_done(ret);
                        return cgroup_fail(ret_error, -EIO, "%s: '%s' is not a device rule", path, line);
                }
                if (major[0] != '*')
                        rule.major = strtoll(major, NULL, 10);
                if (minor[0] != '*')
                        rule.minor = strtoll(minor, NULL, 10);
                for (char *a = access; *a; a++)
                        rule.access |= cgroup_device_access(*a);
                if (!ret->default_allow)
                        r = add(ret, &rule);
        }
        if (r < 0)
                device_set_done(ret);
        return r;
}

static int write_rule(const char *dir, const CgroupDeviceRule *rule, bool allow, unsigned access, char **ret_error) {
        CgroupDeviceRule r = *rule;
        char text[64];

        r.access = access;
        rule_string(&r, text, sizeof(text));
        return cgroup_write(dir, allow ? "devices.allow" : "devices.deny", text, ret_error);
}

static bool same_sets(const DeviceSet *a, const DeviceSet *b) {
        if (a->default_allow != b->default_allow || a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++) {
                const CgroupDeviceRule *o = find(b, a->rules[i].type, a->rules[i].major, a->rules[i].minor);
                if (!o || o->access != a->rules[i].access)
                        return false;
        }
        return true;
}

/* runc's Transition: the fewest writes from what devices.list says to target. */
static int devices_v1(const char *dir, const DeviceSet *target, char **ret_error) {
        _cleanup_(device_set_done) DeviceSet current = {}, after = {};
        static const CgroupDeviceRule all = { .type = 'a', .major = -1, .minor = -1, .access = CGROUP_DEVICE_RWM };
        int r;

        r = device_set_load(dir, &current, ret_error);
        if (r < 0)
                return r;
        /* From "everything allowed" the denials are unknown: start over. */
        if (current.default_allow || current.default_allow != target->default_allow) {
                r = write_rule(dir, &all, target->default_allow, CGROUP_DEVICE_RWM, ret_error);
                if (r < 0)
                        return r;
                current.n = 0;
        }
        for (size_t i = 0; i < current.n; i++) {
                const CgroupDeviceRule *old = &current.rules[i],
                                       *new = find(target, old->type, old->major, old->minor);
                unsigned dropped = old->access & ~(new ? new->access : 0);
                if (dropped && (r = write_rule(dir, old, target->default_allow, dropped, ret_error)) < 0)
                        return r;
        }
        for (size_t i = 0; i < target->n; i++) {
                const CgroupDeviceRule *new = &target->rules[i],
                                       *old = find(&current, new->type, new->major, new->minor);
                unsigned gained = new->access & ~(old ? old->access : 0);
                if (gained && (r = write_rule(dir, new, !target->default_allow, gained, ret_error)) < 0)
                        return r;
        }
        /* As runc: the kernel must now list exactly that (an allow list; for a deny list
         * only its mode can be seen). */
        r = device_set_load(dir, &after, ret_error);
        if (r < 0)
                return r;
        if (target->default_allow ? !after.default_allow : !same_sets(&after, target))
                return cgroup_fail(ret_error, -EIO, "%s: devices.list does not match the rules written", dir);
        return 0;
}

/* --- v2: the BPF program ----------------------------------------------------------- */

#define INSN(c, dst, src, o, i)                                                                   \
        ((struct bpf_insn) { .code = (c), .dst_reg = (dst), .src_reg = (src), .off = (o), .imm = (i) })

typedef struct Program {
        struct bpf_insn *insns;
        size_t n;
        int r;
} Program;

static void emit(Program *p, struct bpf_insn insn) {
        struct bpf_insn *n;

        if (p->r < 0)
                return;
        n = realloc(p->insns, (p->n + 1) * sizeof(struct bpf_insn));
        if (!n) {
                p->r = -ENOMEM;
                return;
        }
        p->insns = n;
        p->insns[p->n++] = insn;
}

/* if (dst != imm) skip `skip` instructions, comparing the low 32 bits */
static void jne(Program *p, int reg, int32_t imm, int skip) {
        emit(p, INSN(BPF_JMP32 | BPF_JNE | BPF_K, reg, 0, (int16_t) skip, imm));
}

static int32_t bpf_access(unsigned access) {
        return (access & CGROUP_DEVICE_READ ? BPF_DEVCG_ACC_READ : 0) |
               (access & CGROUP_DEVICE_WRITE ? BPF_DEVCG_ACC_WRITE : 0) |
               (access & CGROUP_DEVICE_MKNOD ? BPF_DEVCG_ACC_MKNOD : 0);
}

/* struct bpf_cgroup_dev_ctx { u32 access_type (type | access << 16); u32 major, minor; }:
 * r2 = type, r3 = access, r4 = major, r5 = minor; then per exception "if it matches,
 * return its verdict", and at the end the default. */
static void program_build(const DeviceSet *s, Program *p) {
        emit(p, INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0));
        emit(p, INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xFFFF));
        emit(p, INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_3, BPF_REG_1, 0, 0));
        emit(p, INSN(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16));
        emit(p, INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0));
        emit(p, INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0));
        for (size_t i = 0; i < s->n; i++) {
                const CgroupDeviceRule *r = &s->rules[i];
                bool check_access = r->access != CGROUP_DEVICE_RWM;
                /* instructions after each test up to the next rule's first */
                int left = 1 + (check_access ? 3 : 0) + (r->major >= 0) + (r->minor >= 0) + 2;

                jne(p, BPF_REG_2, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, --left);
                if (check_access) {
                        /* the access asked for must be within the rule's */
                        emit(p, INSN(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0));
                        emit(p, INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, bpf_access(r->access)));
                        left -= 3;
                        emit(p, INSN(BPF_JMP32 | BPF_JNE | BPF_X, BPF_REG_1, BPF_REG_3, (int16_t) left, 0));
                }
                if (r->major >= 0)
                        jne(p, BPF_REG_4, (int32_t) (uint32_t) r->major, --left);
                if (r->minor >= 0)
                        jne(p, BPF_REG_5, (int32_t) (uint32_t) r->minor, --left);
                emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, r->allow));
                emit(p, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
        }
        emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, s->default_allow));
        emit(p, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

static int bpf(int cmd, union bpf_attr *attr) {
        return (int) syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int program_load(const Program *p, char **ret_error) {
        static char log[4096];
        union bpf_attr attr = {
                .prog_type = BPF_PROG_TYPE_CGROUP_DEVICE,
                .insns = (uint64_t) (uintptr_t) p->insns,
                .insn_cnt = (uint32_t) p->n,
                .license = (uint64_t) (uintptr_t) "Apache-2.0",
                .prog_name = "stevedore_dev",
        };
        int fd = bpf(BPF_PROG_LOAD, &attr);

        if (fd < 0 && errno == EPERM) {
                /* Before Linux 5.11 programs counted against RLIMIT_MEMLOCK (crun and runc
                 * raise it too). */
                struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
                (void) setrlimit(RLIMIT_MEMLOCK, &unlimited);
                fd = bpf(BPF_PROG_LOAD, &attr);
        }
        if (fd < 0) {
                int error = errno;
                char *last;
                attr.log_level = 1;
                attr.log_buf = (uint64_t) (uintptr_t) log;
                attr.log_size = sizeof(log);
                log[0] = '\0';
                (void) bpf(BPF_PROG_LOAD, &attr);
                log[sizeof(log) - 1] = '\0';
                while ((last = strrchr(log, '\n')) && !last[1])
                        *last = '\0';
                last = strrchr(log, '\n');
                return cgroup_fail(ret_error, -error, "device program: load (%s)", last ? last + 1 : log);
        }
        return fd;
}

/* Attaches prog to the cgroup in place of the device programs there (one: replaced at
 * once; several: the new one first, then the old ones detached). */
static int program_attach(int prog, const char *dir, char **ret_error) {
        _cleanup_close_ int dir_fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC), replace = -EBADF;
        uint32_t ids[64];
        union bpf_attr attr = {};
        uint32_t n;

        if (dir_fd < 0)
                return cgroup_fail(ret_error, -errno, "%s", dir);
        attr.query.target_fd = (uint32_t) dir_fd;
        attr.query.attach_type = BPF_CGROUP_DEVICE;
        attr.query.prog_ids = (uint64_t) (uintptr_t) ids;
        attr.query.prog_cnt = ELEMENTSOF(ids);
        if (bpf(BPF_PROG_QUERY, &attr) < 0)
                return cgroup_fail(ret_error, -errno, "%s: device programs: query", dir);
        n = attr.query.prog_cnt;
        if (n == 1) {
                attr = (union bpf_attr) { .prog_id = ids[0] };
                replace = bpf(BPF_PROG_GET_FD_BY_ID, &attr);
        }
        attr = (union bpf_attr) {
                .target_fd = (uint32_t) dir_fd,
                .attach_bpf_fd = (uint32_t) prog,
                .attach_type = BPF_CGROUP_DEVICE,
                .attach_flags = BPF_F_ALLOW_MULTI | (replace >= 0 ? BPF_F_REPLACE : 0),
                .replace_bpf_fd = replace >= 0 ? (uint32_t) replace : 0,
        };
        if (bpf(BPF_PROG_ATTACH, &attr) < 0) {
                if (replace < 0 || errno != EINVAL)
                        return cgroup_fail(ret_error, -errno, "%s: device program: attach", dir);
                attr.attach_flags = BPF_F_ALLOW_MULTI; /* no BPF_F_REPLACE (before 5.6) */
                attr.replace_bpf_fd = 0;
                if (bpf(BPF_PROG_ATTACH, &attr) < 0)
                        return cgroup_fail(ret_error, -errno, "%s: device program: attach", dir);
                replace = -EBADF;
        }
        for (uint32_t i = 0; replace < 0 && i < n && i < ELEMENTSOF(ids); i++) {
                _cleanup_close_ int old = -EBADF;
                attr = (union bpf_attr) { .prog_id = ids[i] };
                old = bpf(BPF_PROG_GET_FD_BY_ID, &attr);
                if (old < 0)
                        continue; /* gone meanwhile */
                attr = (union bpf_attr) {
                        .target_fd = (uint32_t) dir_fd,
                        .attach_bpf_fd = (uint32_t) old,
                        .attach_type = BPF_CGROUP_DEVICE,
                };
                if (bpf(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
                        return cgroup_fail(ret_error, -errno, "%s: device program %" PRIu32 ": detach", dir, ids[i]);
        }
        return 0;
}

static int devices_v2(const char *dir, const DeviceSet *s, char **ret_error) {
        Program p = {};
        _cleanup_close_ int fd = -EBADF;
        int r;

        program_build(s, &p);
        r = p.r;
        if (r >= 0) {
                fd = program_load(&p, ret_error);
                r = fd < 0 ? fd : program_attach(fd, dir, ret_error);
        }
        free(p.insns);
        return r;
}

/* Hybrid mode: the v1 devices controller decides (runc applies v1 alone there), and
 * the same rules go to the cgroup2 directory, which the kernel checks as well — the
 * same answer twice, and the v2 path proven on hybrid hosts. A program that cannot be
 * loaded there is then a warning, not an error. */
int cgroup_devices_apply(const CgroupDirs *d, const CgroupResources *res, char **ret_error) {
        _cleanup_(device_set_done) DeviceSet set = {};
        const char *v1 = d->v1[CGROUP_DEVICES];
        int r;

        if (!v1 && !d->unified)
                return cgroup_fail(ret_error, -EOPNOTSUPP,
                                   "devices: no v1 devices controller and no cgroup2 hierarchy");
        r = device_set_build(res, &set, ret_error);
        if (r >= 0 && v1)
                r = devices_v1(v1, &set, ret_error);
        if (r < 0 || !d->unified)
                return r;
        if (!v1)
                return devices_v2(d->unified, &set, ret_error);
        _cleanup_free_ char *error = NULL;
        if (devices_v2(d->unified, &set, &error) < 0)
                log_warning("%s (the v1 devices controller applies the rules)", error ?: "device program");
        return 0;
}
