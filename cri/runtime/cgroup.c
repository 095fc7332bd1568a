/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "fileio.h"
#include "macro.h"

#define FREEZE_TIMEOUT_MS 5000

/* v1 hierarchy names, and the controller's name on v2 (NULL: none to enable there). */
static const char *const v1_names[_CGROUP_CONTROLLER_MAX] = {
        [CGROUP_CPU] = "cpu",         [CGROUP_CPUACCT] = "cpuacct", [CGROUP_CPUSET] = "cpuset",
        [CGROUP_MEMORY] = "memory",   [CGROUP_PIDS] = "pids",       [CGROUP_BLKIO] = "blkio",
        [CGROUP_DEVICES] = "devices", [CGROUP_FREEZER] = "freezer", [CGROUP_HUGETLB] = "hugetlb",
};
static const char *const v2_names[_CGROUP_CONTROLLER_MAX] = {
        [CGROUP_CPU] = "cpu",   [CGROUP_CPUSET] = "cpuset", [CGROUP_MEMORY] = "memory",
        [CGROUP_PIDS] = "pids", [CGROUP_BLKIO] = "io",      [CGROUP_HUGETLB] = "hugetlb",
};

/* The caller's cgroup in a v1 controller ("cpu") or in v2 (NULL), from the content of
 * /proc/self/cgroup ("4:memory:/a/b", "1:cpu,cpuacct:/", "0::/"); "" for the root. */
static char *own_cgroup(const char *proc_self_cgroup, const char *controller) {
        _cleanup_free_ char *content = proc_self_cgroup ? strdup(proc_self_cgroup) : NULL;
        char *line, *save = NULL;

        if (!content)
                return NULL;
        for (line = strtok_r(content, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *list = strchr(line, ':'), *path = list ? strchr(list + 1, ':') : NULL, *tok, *s2 = NULL;
                bool match = false;

                if (!path)
                        continue;
                *path++ = '\0';
                list++;
                if (!controller)
                        match = !*list;
                else
                        for (tok = strtok_r(list, ",", &s2); tok && !match; tok = strtok_r(NULL, ",", &s2))
                                match = streq(tok, controller);
                if (match)
                        return strdup(streq(path, "/") ? "" : path);
        }
        return NULL;
}

/* Where path is in the hierarchy mounted at mount. */
static char *directory(const char *mount, const char *controller, const char *path, const char *proc_self_cgroup) {
        _cleanup_free_ char *base = path[0] == '/' ? strdup("") : own_cgroup(proc_self_cgroup, controller);
        char *dir = NULL;

        if (!base || asprintf(&dir, "%s%s/%s", mount, base, path[0] == '/' ? path + 1 : path) < 0)
                return NULL;
        return dir;
}

static void dirs_done(CgroupDirs *d) {
        free(d->unified);
        for (size_t i = 0; i < _CGROUP_CONTROLLER_MAX; i++)
                free(d->v1[i]);
}

/* Whether the cgroup2 tree at root offers controller (its cgroup.controllers). */
static bool v2_available(const char *controllers, const char *controller) {
        size_t n = strlen(controller);

        for (const char *p = controllers; p && (p = strstr(p, controller)); p += n)
                if ((p == controllers || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0' || p[n] == '\n'))
                        return true;
        return false;
}

static int dirs_find(const char *path, CgroupDirs *d, char **ret_error) {
        _cleanup_free_ char *controllers = NULL, *file = NULL, *own = NULL;
        const char *v2_root;
        int r;

        *d = (CgroupDirs) {};
        if (strstr(path, ".."))
                return cgroup_fail(ret_error, -EINVAL, "linux.cgroupsPath '%s'", path);
        r = cgroup_mode_detect(CGROUP_ROOT, &d->mode);
        if (r < 0)
                return cgroup_fail(ret_error, r, "detect the hierarchy at " CGROUP_ROOT);
        if (path[0] != '/' && (r = read_full_file("/proc/self/cgroup", 1 << 16, &own, NULL)) < 0)
                return cgroup_fail(ret_error, r, "/proc/self/cgroup");
        if (d->mode != CGROUP_MODE_UNIFIED)
                for (size_t c = 0; c < _CGROUP_CONTROLLER_MAX; c++) {
                        _cleanup_free_ char *mount = NULL;
                        if (asprintf(&mount, CGROUP_ROOT "/%s", v1_names[c]) < 0)
                                return -ENOMEM;
                        if (access(mount, F_OK) < 0)
                                continue;
                        d->v1[c] = directory(mount, v1_names[c], path, own);
                        if (!d->v1[c])
                                return -ENOMEM;
                }
        if (d->mode == CGROUP_MODE_LEGACY)
                return 0;
        v2_root = d->mode == CGROUP_MODE_UNIFIED ? CGROUP_ROOT : CGROUP_ROOT "/unified";
        d->unified = directory(v2_root, NULL, path, own);
        if (!d->unified || asprintf(&file, "%s/cgroup.controllers", v2_root) < 0)
                return -ENOMEM;
        (void) read_one_line_file(file, &controllers);
        for (size_t c = 0; c < _CGROUP_CONTROLLER_MAX; c++)
                d->v2[c] = !d->v1[c] && v2_names[c] && controllers && v2_available(controllers, v2_names[c]);
        return 0;
}

/* Controllers on v2 are only delegated to a cgroup that its parent enables them for:
 * turned on along the way down. In v2 mode all we use that the root offers (runc does
 * the same, and the agent reads their statistics); in hybrid mode only those a limit
 * needs (hugetlb, where it is not a v1 hierarchy). */
static void enable_controllers(const CgroupDirs *d, const CgroupResources *res) {
        const char *root = d->mode == CGROUP_MODE_UNIFIED ? CGROUP_ROOT : CGROUP_ROOT "/unified";
        _cleanup_free_ char *path = strdup(d->unified);
        char list[128] = "";
        size_t n = 0;

        for (size_t c = 0; c < _CGROUP_CONTROLLER_MAX && path; c++) {
                bool needed = d->mode == CGROUP_MODE_UNIFIED || (c == CGROUP_HUGETLB && res && res->n_hugepages);
                if (d->v2[c] && needed)
                        n += (size_t) snprintf(list + n, sizeof(list) - n, "%s+%s", n ? " " : "", v2_names[c]);
        }
        if (!path || n == 0)
                return;
        /* The root and each directory below it down to the container's parent. */
        for (char *slash = path + strlen(root); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                (void) cgroup_write(path, "cgroup.subtree_control", list, NULL);
                *slash = '/';
        }
}

static int enter_one(const char *dir, pid_t pid, char **ret_error) {
        char value[16];

        snprintf(value, sizeof(value), "%d", pid);
        return cgroup_write(dir, "cgroup.procs", value, ret_error);
}

/* creating: make the directories and apply all (the device rules always); else apply
 * what res gives to directories that exist. pid > 0: then move it in. */
static int setup(const char *path, const CgroupResources *res, pid_t pid, bool creating, char **ret_error) {
        _cleanup_(dirs_done) CgroupDirs d = {};
        int r;

        r = dirs_find(path, &d, ret_error);
        if (r < 0)
                return r;
        for (size_t c = 0; c <= _CGROUP_CONTROLLER_MAX; c++) {
                const char *dir = c < _CGROUP_CONTROLLER_MAX ? d.v1[c] : d.unified;
                if (!dir)
                        continue;
                r = creating ? mkdir_p(dir, 0755) : access(dir, F_OK) < 0 ? -errno : 0;
                if (r < 0)
                        return cgroup_fail(ret_error, r, "%s", dir);
        }
        if (d.unified && res)
                enable_controllers(&d, res);
        if (res) {
                r = cgroup_resources_apply(&d, res, creating, ret_error);
                if (r >= 0 && (creating || res->has_devices))
                        r = cgroup_devices_apply(&d, res, ret_error);
                if (r < 0)
                        return r;
        }
        if (pid <= 0)
                return 0;
        for (size_t c = 0; c <= _CGROUP_CONTROLLER_MAX; c++) {
                const char *dir = c < _CGROUP_CONTROLLER_MAX ? d.v1[c] : d.unified;
                if (dir && (r = enter_one(dir, pid, ret_error)) < 0)
                        return r;
        }
        return 0;
}

int cgroup_enter(const char *path, const CgroupResources *res, pid_t pid, char **ret_error) {
        static const CgroupResources none = {};

        return setup(path, res ?: &none, pid, true, ret_error);
}

int cgroup_join(const char *path, pid_t pid, char **ret_error) {
        return setup(path, NULL, pid, false, ret_error);
}

int cgroup_update(const char *path, const CgroupResources *res, char **ret_error) {
        return setup(path, res, 0, false, ret_error);
}

int cgroup_remove(const char *path) {
        _cleanup_(dirs_done) CgroupDirs d = {};
        int r = dirs_find(path, &d, NULL), result = 0;

        if (r < 0)
                return r;
        for (size_t c = 0; c <= _CGROUP_CONTROLLER_MAX; c++) {
                const char *dir = c < _CGROUP_CONTROLLER_MAX ? d.v1[c] : d.unified;
                if (dir && rmdir(dir) < 0 && errno != ENOENT)
                        result = -errno;
        }
        return result;
}

/* The memory controller's file that counts OOM kills: v2 memory.events, v1
 * memory.oom_control. */
static int oom_file(const char *path, char **ret_dir, char **ret_file, bool *ret_v2) {
        _cleanup_(dirs_done) CgroupDirs d = {};
        const char *dir;
        int r;

        r = dirs_find(path, &d, NULL);
        if (r < 0)
                return r;
        dir = cgroup_dir_of(&d, CGROUP_MEMORY, ret_v2);
        if (!dir)
                return -ENOMEDIUM;
        if (!(*ret_dir = strdup(dir)))
                return -ENOMEM;
        return asprintf(ret_file, "%s/%s", dir, *ret_v2 ? "memory.events" : "memory.oom_control") < 0 ? -ENOMEM : 0;
}

int cgroup_oom_kills(const char *path, uint64_t *ret) {
        _cleanup_free_ char *dir = NULL, *file = NULL, *content = NULL;
        char *line, *save = NULL;
        bool v2;
        int r;

        r = oom_file(path, &dir, &file, &v2);
        if (r < 0)
                return r;
        r = read_full_file(file, 1 << 16, &content, NULL);
        if (r < 0)
                return r;
        for (line = strtok_r(content, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (strncmp(line, "oom_kill ", 9) == 0) {
                        *ret = strtoull(line + 9, NULL, 10);
                        return 0;
                }
        return -ENODATA;
}

int cgroup_oom_watch(const char *path, int *ret_fd) {
        _cleanup_free_ char *dir = NULL, *file = NULL, *registration = NULL;
        _cleanup_close_ int fd = -EBADF, control = -EBADF;
        bool v2;
        int r;

        r = oom_file(path, &dir, &file, &v2);
        if (r < 0)
                return r;
        if (v2) {
                fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
                if (fd < 0 || inotify_add_watch(fd, file, IN_MODIFY) < 0)
                        return -errno;
        } else {
                fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
                control = open(file, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || control < 0)
                        return -errno;
                if (asprintf(&registration, "%d %d", fd, control) < 0)
                        return -ENOMEM;
                r = cgroup_write(dir, "cgroup.event_control", registration, NULL);
                if (r < 0)
                        return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The directory whose cgroup.procs lists every process of the container: the cgroup2
 * one (joined in v2 and hybrid modes), else the first v1 one. */
static const char *procs_dir(const CgroupDirs *d) {
        if (d->unified)
                return d->unified;
        for (size_t c = 0; c < _CGROUP_CONTROLLER_MAX; c++)
                if (d->v1[c])
                        return d->v1[c];
        return NULL;
}

static int collect_pids(const char *dir, pid_t **pids, size_t *n) {
        _cleanup_free_ char *file = NULL, *content = NULL;
        _cleanup_(closedirp) DIR *sub = NULL;
        struct dirent *de;
        char *line, *save = NULL;
        int r;

        if (asprintf(&file, "%s/cgroup.procs", dir) < 0)
                return -ENOMEM;
        r = read_full_file(file, 16 << 20, &content, NULL);
        if (r < 0)
                return r;
        for (line = strtok_r(content, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                pid_t *p = realloc(*pids, (*n + 1) * sizeof(pid_t));
                if (!p)
                        return -ENOMEM;
                *pids = p;
                (*pids)[(*n)++] = (pid_t) atoi(line);
        }
        sub = opendir(dir);
        while (sub && (de = readdir(sub))) {
                _cleanup_free_ char *child = NULL;
                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                if (asprintf(&child, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                r = collect_pids(child, pids, n);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        return 0;
}

static int pid_cmp(const void *a, const void *b) {
        pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;

        return (x > y) - (x < y);
}

int cgroup_pids(const char *path, pid_t **ret, size_t *ret_n) {
        _cleanup_(dirs_done) CgroupDirs d = {};
        _cleanup_free_ pid_t *pids = NULL;
        const char *dir;
        size_t n = 0;
        int r;

        r = dirs_find(path, &d, NULL);
        if (r < 0)
                return r;
        dir = procs_dir(&d);
        if (!dir)
                return -ENOMEDIUM;
        r = collect_pids(dir, &pids, &n);
        if (r < 0)
                return r;
        qsort(pids, n, sizeof(pid_t), pid_cmp);
        *ret = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

static void sleep_ms(long ms) {
        struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

        (void) nanosleep(&t, NULL);
}

/* v1: writes FROZEN or THAWED until freezer.state says so (a process forking while
 * the cgroup freezes can leave it FREEZING: runc writes again too). v2: cgroup.freeze,
 * then cgroup.events' "frozen" follows. */
int cgroup_freeze(const char *path, bool freeze, char **ret_error) {
        _cleanup_(dirs_done) CgroupDirs d = {};
        const char *dir, *file, *want;
        _cleanup_free_ char *state_file = NULL;
        bool v1;
        int r;

        r = dirs_find(path, &d, ret_error);
        if (r < 0)
                return r;
        v1 = d.v1[CGROUP_FREEZER];
        dir = v1 ? d.v1[CGROUP_FREEZER] : d.unified;
        if (!dir)
                return cgroup_fail(ret_error, -EOPNOTSUPP, "freezer: no v1 freezer and no cgroup2 hierarchy");
        file = v1 ? "freezer.state" : "cgroup.freeze";
        want = v1 ? (freeze ? "FROZEN" : "THAWED") : (freeze ? "1" : "0");
        if (asprintf(&state_file, "%s/%s", dir, v1 ? "freezer.state" : "cgroup.events") < 0)
                return -ENOMEM;
        for (int waited = 0; waited < FREEZE_TIMEOUT_MS; waited++) {
                _cleanup_free_ char *content = NULL;
                bool done;

                if (v1 ? waited % 10 == 0 : waited == 0) {
                        r = cgroup_write(dir, file, want, ret_error);
                        if (r < 0)
                                return r;
                }
                r = read_full_file(state_file, 4096, &content, NULL);
                if (r < 0)
                        return cgroup_fail(ret_error, r, "%s", state_file);
                if (v1)
                        done = strneq(content, want, strlen(want));
                else {
                        const char *f = strstr(content, "frozen ");
                        done = f && f[7] == want[0];
                }
                if (done)
                        return 0;
                sleep_ms(1);
        }
        return cgroup_fail(ret_error, -ETIMEDOUT, "%s: still not %s", dir, want);
}

bool cgroup_is_frozen(const char *path) {
        _cleanup_(dirs_done) CgroupDirs d = {};
        _cleanup_free_ char *file = NULL, *state = NULL;

        if (dirs_find(path, &d, NULL) < 0)
                return false;
        if (d.v1[CGROUP_FREEZER]) {
                if (asprintf(&file, "%s/freezer.state", d.v1[CGROUP_FREEZER]) < 0)
                        return false;
                return read_one_line_file(file, &state) >= 0 && streq(state, "FROZEN");
        }
        if (!d.unified || asprintf(&file, "%s/cgroup.freeze", d.unified) < 0)
                return false;
        return read_one_line_file(file, &state) >= 0 && streq(state, "1");
}
