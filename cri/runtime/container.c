/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup-systemd.h"
#include "container.h"
#include "error.h"
#include "fileio.h"
#include "init.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "spec.h"

#define START_TIMEOUT_MS 10000

char *container_state_root(const char *run_dir) {
        char *root = NULL;

        return asprintf(&root, "%s/runtime", run_dir) < 0 ? NULL : root;
}

const char *container_status_to_string(ContainerStatus s) {
        return s == CONTAINER_CREATED   ? "created"
               : s == CONTAINER_RUNNING ? "running"
               : s == CONTAINER_PAUSED  ? "paused"
                                        : "stopped";
}

/* The state a hook reads on stdin. */
static char *hook_state(const RuntimeSpec *spec, const char *id, const char *status, pid_t pid, const char *bundle) {
        json_object *o = json_object_new_object();
        char *text;

        if (!o)
                return NULL;
        json_object_object_add(o, "ociVersion", json_object_new_string("1.2.0"));
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "status", json_object_new_string(status));
        json_object_object_add(o, "pid", json_object_new_int(pid));
        json_object_object_add(o, "bundle", json_object_new_string(bundle));
        if (spec && spec->annotations)
                json_object_object_add(o, "annotations", json_object_get(spec->annotations));
        text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return text;
}

static int run_hooks(const RuntimeSpec *spec, int kind, const char *id, const char *status, pid_t pid,
                     const char *bundle, char **ret_error) {
        _cleanup_free_ char *state = NULL, *error = NULL;
        int r;

        if (spec->n_hooks[kind] == 0)
                return 0;
        state = hook_state(spec, id, status, pid, bundle);
        if (!state)
                return -ENOMEM;
        /* poststart and poststop go on past a failing hook: only warnings there. */
        r = hooks_run(spec->hooks[kind], spec->n_hooks[kind], state, kind == HOOK_POSTSTART || kind == HOOK_POSTSTOP,
                      &error);
        return r < 0 ? error_set(ret_error, -EINVAL, "container %s: %s hook: %s", id, hook_names[kind],
                                 error ?: strerror(-r)) : 0;
}

/* poststart and poststop: a failure is a warning; the container goes on. */
static void run_hooks_warn(const char *bundle, int kind, const char *id, const char *status, pid_t pid) {
        _cleanup_(spec_freep) RuntimeSpec *spec = NULL;
        _cleanup_free_ char *error = NULL;

        if (spec_load(bundle, &spec, NULL) < 0)
                return;
        if (run_hooks(spec, kind, id, status, pid, bundle, &error) < 0)
                log_warning("%s", error);
}

static bool id_valid(const char *id) {
        if (!*id || strlen(id) > 128 || streq(id, ".") || streq(id, ".."))
                return false;
        for (const char *c = id; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                      strchr("_.-+", *c)))
                        return false;
        return true;
}

static char *state_dir(const char *state_root, const char *id) {
        char *dir = NULL;

        return asprintf(&dir, "%s/%s", state_root, id) < 0 ? NULL : dir;
}

/* Field 22 of /proc/PID/stat (start time in ticks) and its state letter: a pid is only
 * "our" init while the start time matches. */
static int process_start_time(pid_t pid, uint64_t *ret, char *ret_state) {
        _cleanup_free_ char *line = NULL;
        char path[64], *p;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        r = read_one_line_file(path, &line);
        if (r < 0)
                return r;
        p = strrchr(line, ')');
        if (!p || strlen(p) < 4)
                return -EIO;
        *ret_state = p[2];
        p += 2;
        for (int field = 3; field < 22 && p; field++)
                p = strchr(p + 1, ' ');
        if (!p)
                return -EIO;
        *ret = strtoull(p + 1, NULL, 10);
        return 0;
}

typedef struct ContainerState {
        char *id, *bundle, *created, *cgroup;
        pid_t pid;
        uint64_t start_time;
        ContainerStatus status;
} ContainerState;

static void container_state_done(ContainerState *s) {
        free(s->id);
        free(s->bundle);
        free(s->created);
        free(s->cgroup);
}

static int load_state(const char *state_root, const char *id, ContainerState *ret, char **ret_error) {
        _cleanup_free_ char *dir = state_dir(state_root, id), *path = NULL, *content = NULL, *fifo = NULL;
        json_object *o, *v;
        uint64_t start_time;
        char st;
        int r;

        if (!id_valid(id))
                return error_set(ret_error, -EINVAL, "container '%s': not a valid id: %m", id);
        if (!dir || asprintf(&path, "%s/state.json", dir) < 0 || asprintf(&fifo, "%s/exec.fifo", dir) < 0)
                return -ENOMEM;
        r = read_full_file(path, 1 << 20, &content, NULL);
        if (r == -ENOENT)
                return error_set(ret_error, -ENOENT, "container %s does not exist: %m", id);
        if (r < 0)
                return error_set(ret_error, r, "container %s: read %s: %m", id, path);
        o = json_tokener_parse(content);
        if (!o)
                return error_set(ret_error, -EIO, "container %s: %s is not valid JSON: %m", id, path);
        *ret = (ContainerState) {
                .id = strdup(id),
                .bundle = strdup(json_object_object_get_ex(o, "bundle", &v) ? json_object_get_string(v) : ""),
                .created = strdup(json_object_object_get_ex(o, "created", &v) ? json_object_get_string(v) : ""),
                .cgroup = strdup(json_object_object_get_ex(o, "cgroup", &v) ? json_object_get_string(v) : ""),
                .pid = json_object_object_get_ex(o, "pid", &v) ? json_object_get_int(v) : 0,
                .start_time = json_object_object_get_ex(o, "starttime", &v) ? (uint64_t) json_object_get_int64(v) : 0,
        };
        json_object_put(o);
        if (!ret->id || !ret->bundle || !ret->created || !ret->cgroup) {
                container_state_done(ret);
                return -ENOMEM;
        }
        if (ret->pid <= 0 || process_start_time(ret->pid, &start_time, &st) < 0 || start_time != ret->start_time ||
            st == 'Z' || st == 'X')
                ret->status = CONTAINER_STOPPED;
        else
                ret->status = access(fifo, F_OK) == 0 ? CONTAINER_CREATED : CONTAINER_RUNNING;
        if (ret->status == CONTAINER_RUNNING && *ret->cgroup && cgroup_is_frozen(ret->cgroup))
                ret->status = CONTAINER_PAUSED;
        return 0;
}

static int wrong_status(const char *id, ContainerStatus status, ContainerStatus want, const char *verb,
                        char **ret_error) {
        return error_set(ret_error, -EINVAL, "container %s is %s, not %s: cannot %s it: %m", id,
                         container_status_to_string(status), container_status_to_string(want), verb);
}

/* The state of a container that must be `want` for what verb names ("start", "exec in"). */
static int load_state_as(const char *state_root, const char *id, ContainerStatus want, const char *verb,
                         ContainerState *ret, char **ret_error) {
        int r = load_state(state_root, id, ret, ret_error);

        if (r < 0)
                return r;
        if (ret->status != want)
                return wrong_status(id, ret->status, want, verb, ret_error);
        return 0;
}

static int remove_tree(const char *dir) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        return rmdir(dir) < 0 ? -errno : 0;
}

/* state.json, which load_state() reads back: the init's start time tells it from a later
 * process given the same pid. */
static int write_state(const char *path, const char *id, pid_t pid, uint64_t start_time, const char *bundle,
                       const char *cgroup, time_t created) {
        _cleanup_(json_object_putp) json_object *state = json_object_new_object();
        char stamp[64];
        const char *text;

        if (!state)
                return -ENOMEM;
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&created));
        json_object_object_add(state, "id", json_object_new_string(id));
        json_object_object_add(state, "pid", json_object_new_int(pid));
        json_object_object_add(state, "starttime", json_object_new_int64((int64_t) start_time));
        json_object_object_add(state, "bundle", json_object_new_string(bundle));
        json_object_object_add(state, "created", json_object_new_string(stamp));
        json_object_object_add(state, "cgroup", json_object_new_string(cgroup));
        text = json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN);
        return write_file_replace(path, text, strlen(text), 0600);
}

static int write_pid_file(const char *path, pid_t pid) {
        char text[32];

        snprintf(text, sizeof(text), "%d", pid);
        return write_file_replace(path, text, strlen(text), 0644);
}

static int write_id_map(pid_t pid, const char *file, const SpecIdMapping *maps, size_t n) {
        _cleanup_free_ char *text = NULL;
        char path[64];
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%u %u %u\n", maps[i].container_id, maps[i].host_id, maps[i].size);
        if (fclose(f) < 0)
                return -ENOMEM;
        snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
        /* The kernel takes a map in one write or not at all. */
        return write_string_file(path, text);
}

/* The init's new user namespace gets its maps before the init goes on. */
static int write_id_maps(pid_t pid, const RuntimeSpec *spec, const char *id, char **ret_error) {
        int r;

        if (!spec->n_uid_mappings)
                return 0;
        r = write_id_map(pid, "uid_map", spec->uid_mappings, spec->n_uid_mappings);
        if (r < 0)
                return error_set(ret_error, r, "container %s: write linux.uidMappings to /proc/%d/uid_map: %m", id,
                                 pid);
        r = write_id_map(pid, "gid_map", spec->gid_mappings, spec->n_gid_mappings);
        if (r < 0)
                return error_set(ret_error, r, "container %s: write linux.gidMappings to /proc/%d/gid_map: %m", id,
                                 pid);
        return 0;
}

/* The init's (or exec'd process's) answer: "ok" or why it failed, preceded, with
 * process.terminal, by "t" carrying the pty's master, which goes to *ret_console. */
static ssize_t read_reply(int sync, char *reply, size_t size, int *ret_console) {
        for (;;) {
                char control[CMSG_SPACE(sizeof(int))] = {};
                struct iovec iov = { .iov_base = reply, .iov_len = size - 1 };
                struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                                      .msg_controllen = sizeof(control) };
                struct cmsghdr *cmsg;
                ssize_t n = recvmsg(sync, &msg, MSG_CMSG_CLOEXEC);

                if (n < 0)
                        return -errno;
                reply[n] = '\0';
                cmsg = CMSG_FIRSTHDR(&msg);
                if (!(n == 1 && reply[0] == 't' && cmsg && cmsg->cmsg_type == SCM_RIGHTS))
                        return n;
                if (*ret_console >= 0)
                        close(*ret_console);
                memcpy(ret_console, CMSG_DATA(cmsg), sizeof(int));
        }
}

/* Hands a pty's master to whoever listens on the console socket (runc's
 * --console-socket), as runc does: one message naming it, with the fd. */
static int send_console(const char *socket_path, int console, const char *id, char **ret_error) {
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        char control[CMSG_SPACE(sizeof(int))] = {}, name[] = "/dev/ptmx";
        struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) - 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

        if (strlen(socket_path) >= sizeof(addr.sun_path))
                return error_set(ret_error, -ENAMETOOLONG, "container %s: console socket %s: %m", id, socket_path);
        strcpy(addr.sun_path, socket_path);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &console, sizeof(int));
        if (fd < 0 || connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 || sendmsg(fd, &msg, 0) < 0)
                return error_set(ret_error, -errno, "container %s: send the terminal to %s: %m", id, socket_path);
        return 0;
}

static pid_t clone3_pidfd(uint64_t flags, int *ret_pidfd) {
        struct clone_args args = {
                .flags = flags | CLONE_PIDFD,
                .pidfd = (uint64_t) (uintptr_t) ret_pidfd,
                .exit_signal = SIGCHLD,
        };

        return (pid_t) syscall(SYS_clone3, &args, sizeof(args));
}

/* Creates the container and leaves its init (a child of this process) waiting on the
 * fifo; returns the init's pidfd. */
static int create(const char *state_root, const char *id, const char *bundle, const char *pid_file, pid_t *ret_pid,
                  int *ret_console, char **ret_error) {
        _cleanup_(spec_freep) RuntimeSpec *spec = NULL;
        _cleanup_free_ char *dir = state_dir(state_root, id), *fifo_path = NULL, *state_path = NULL,
                            *rootfs = NULL, *error = NULL, *abs_bundle = NULL, *cgroup = NULL, *error2 = NULL, *go = NULL,
                            *go_message = NULL;
        _cleanup_close_ int fifo = -EBADF, pid_ns = -EBADF, own_pid_ns = -EBADF, pidfd = -EBADF;
        int sync[2] = { -1, -1 }, console = -EBADF, r;
        uint64_t flags = 0, start_time;
        char reply[1024], st;
        ssize_t n;
        time_t now = time(NULL);
        pid_t pid;

        if (!id_valid(id))
                return error_set(ret_error, -EINVAL, "container '%s': not a valid id: %m", id);
        if (!dir)
                return -ENOMEM;
        abs_bundle = realpath(bundle, NULL);
        if (!abs_bundle)
                return error_set(ret_error, -errno, "container %s: bundle %s: %m", id, bundle);
        r = spec_load(abs_bundle, &spec, &error);
        if (r < 0)
                return error_set(ret_error, r == -ENOMEM ? r : -EINVAL, "container %s: %s: %m", id,
                                 error ?: "config.json");
        if (asprintf(&rootfs, "%s%s%s", spec->root_path[0] == '/' ? "" : abs_bundle,
                     spec->root_path[0] == '/' ? "" : "/", spec->root_path) < 0)
                return -ENOMEM;
        if (access(rootfs, F_OK) < 0)
                return error_set(ret_error, -errno, "container %s: root.path %s: %m", id, rootfs);
        if (!spec_has_namespace(spec, CLONE_NEWNS))
                return error_set(ret_error, -EINVAL,
                                 "container %s: linux.namespaces: a mount namespace is required: %m", id);
        if (spec->terminal && !ret_console)
                return error_set(ret_error, -EINVAL,
                                 "container %s: process.terminal is set: a console socket is needed: %m", id);

        r = mkdir_p(state_root, 0700);
        if (r < 0)
                return error_set(ret_error, r, "container %s: state root %s: %m", id, state_root);
        if (mkdir(dir, 0700) < 0)
                return errno == EEXIST ? error_set(ret_error, -EEXIST, "container %s already exists: %m", id)
                                       : error_set(ret_error, -errno, "container %s: create %s: %m", id, dir);
        if (asprintf(&fifo_path, "%s/exec.fifo", dir) < 0 || asprintf(&state_path, "%s/state.json", dir) < 0) {
                r = -ENOMEM;
                goto undo;
        }
        /* Writable by the process's user, who opens it once it is that user. */
        if (mkfifo(fifo_path, 0622) < 0 || chmod(fifo_path, 0622) < 0 ||
            (fifo = open(fifo_path, O_PATH | O_CLOEXEC)) < 0) {
                r = error_set(ret_error, -errno, "container %s: exec fifo: %m", id);
                goto undo;
        }
        for (size_t i = 0; i < spec->n_namespaces; i++) {
                const SpecNamespace *ns = &spec->namespaces[i];
                /* The cgroup one once in its cgroup; the others after a user namespace
                 * joined by path, so that it owns them (the init makes them). */
                if (!ns->path && ns->type != CLONE_NEWCGROUP &&
                    (ns->type == CLONE_NEWPID || !spec_joins_user_namespace(spec)))
                        flags |= (uint64_t) ns->type;
                else if (ns->type == CLONE_NEWPID) {
                        /* Joined here: a pid namespace applies to the children made after. */
                        own_pid_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
                        pid_ns = open(ns->path, O_RDONLY | O_CLOEXEC);
                        if (pid_ns < 0 || setns(pid_ns, CLONE_NEWPID) < 0) {
                                r = error_set(ret_error, -errno, "container %s: join pid namespace %s: %m", id,
                                              ns->path);
                                goto undo;
                        }
                }
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0) {
                r = error_set(ret_error, -errno, "container %s: socketpair: %m", id);
                goto undo;
        }
        pid = clone3_pidfd(flags, &pidfd);
        if (pid != 0 && own_pid_ns >= 0)
                (void) setns(own_pid_ns, CLONE_NEWPID);
        if (pid < 0) {
                r = error_set(ret_error, -errno, "container %s: clone: %m", id);
                goto undo;
        }
        if (pid == 0) {
                close(sync[0]);
                container_init(spec, rootfs, fifo, sync[1]);
        }
        close(sync[1]);
        sync[1] = -1;
        r = write_id_maps(pid, spec, id, ret_error);
        if (r < 0)
                goto kill;
        if (cgroup_path_is_systemd(spec->cgroups_path))
                r = cgroup_systemd_enter(spec->cgroups_path, id, &spec->resources, pid, &cgroup, &error2);
        else
                r = asprintf(&cgroup, "%s", spec->cgroups_path ?: id) < 0 ? -ENOMEM : 0;
        if (r >= 0)
                r = cgroup_enter(cgroup, &spec->resources, pid, &error2);
        if (r < 0) {
                r = error_set(ret_error, -EINVAL, "container %s: %s", id, error2 ?: strerror(-r));
                goto kill;
        }
        r = run_hooks(spec, HOOK_PRESTART, id, "creating", pid, abs_bundle, ret_error);
        if (r >= 0)
                r = run_hooks(spec, HOOK_CREATE_RUNTIME, id, "creating", pid, abs_bundle, ret_error);
        if (r < 0)
                goto kill;
        /* Go, with the state its own hooks will read. */
        go = hook_state(spec, id, "created", pid, abs_bundle);
        if (!go || asprintf(&go_message, "g%s", go) < 0) {
                r = -ENOMEM;
                goto kill;
        }
        if (write(sync[0], go_message, strlen(go_message) + 1) < 0) {
                r = error_set(ret_error, -errno, "container %s: its init died while setting up: %m", id);
                goto kill;
        }
        n = read_reply(sync[0], reply, sizeof(reply), &console);
        if (n != 2 || memcmp(reply, "ok", 2) != 0) {
                r = error_set(ret_error, -EINVAL, "container %s: %s", id,
                              n > 0 ? reply : "its init died while setting up");
                goto kill;
        }
        r = process_start_time(pid, &start_time, &st);
        if (r < 0) {
                r = error_set(ret_error, r, "container %s: the start time of its init: %m", id);
                goto kill;
        }
        r = write_state(state_path, id, pid, start_time, abs_bundle, cgroup, now);
        if (r < 0) {
                r = error_set(ret_error, r, "container %s: record its state: %m", id);
                goto kill;
        }
        if (pid_file && (r = write_pid_file(pid_file, pid)) < 0) {
                r = error_set(ret_error, r, "container %s: pid file %s: %m", id, pid_file);
                goto kill;
        }
        close(sync[0]);
        *ret_pid = pid;
        if (ret_console)
                *ret_console = TAKE_FD(console);
        return TAKE_FD(pidfd);
kill:
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        if (cgroup)
                (void) cgroup_remove(cgroup);
undo:
        if (console >= 0)
                close(console);
        if (sync[0] >= 0)
                close(sync[0]);
        if (sync[1] >= 0)
                close(sync[1]);
        (void) remove_tree(dir);
        return r;
}

int container_create(const char *state_root, const char *id, const char *bundle, const char *pid_file,
                     const char *console_socket, char **ret_error) {
        _cleanup_close_ int console = -EBADF;
        pid_t pid;
        int pidfd = create(state_root, id, bundle, pid_file, &pid, console_socket ? &console : NULL, ret_error), r = 0;

        if (pidfd < 0)
                return pidfd;
        close(pidfd);
        if (console >= 0)
                r = send_console(console_socket, console, id, ret_error);
        if (r < 0)
                (void) container_delete(state_root, id, true, NULL);
        return r;
}

int container_create_started(const char *state_root, const char *id, const char *bundle, pid_t *ret_pid,
                             int *ret_pidfd, int *ret_console, char **ret_error) {
        _cleanup_close_ int console = -EBADF;
        _cleanup_close_ int pidfd = create(state_root, id, bundle, NULL, ret_pid, &console, ret_error);
        int r;

        if (pidfd < 0)
                return pidfd;
        r = container_start(state_root, id, ret_error);
        if (r < 0) {
                (void) container_delete(state_root, id, true, NULL);
                return r;
        }
        *ret_pidfd = TAKE_FD(pidfd);
        *ret_console = TAKE_FD(console);
        return 0;
}

/* A terminal for `run` and `exec` without a console socket: the caller's stdin to the
 * pty, the pty to its stdout (the caller's terminal raw meanwhile), until the process
 * is gone and the pty drained. */
static void proxy_terminal(int console, int pidfd) {
        struct termios saved, raw;
        bool restore = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) >= 0;
        struct pollfd fds[3] = {
                { .fd = console, .events = POLLIN },
                { .fd = pidfd, .events = POLLIN },
                { .fd = STDIN_FILENO, .events = POLLIN },
        };
        char buffer[4096];
        bool exited = false;

        if (restore) {
                raw = saved;
                cfmakeraw(&raw);
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        }
        while (poll(fds, 3, exited ? 0 : -1) > 0 || !exited) {
                ssize_t n;

                if (fds[1].revents & POLLIN) {
                        exited = true;
                        fds[1].fd = -1;
                }
                if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        n = read(console, buffer, sizeof(buffer));
                        if (n <= 0)
                                break;
                        if (write(STDOUT_FILENO, buffer, (size_t) n) < 0)
                                break;
                }
                if (fds[2].revents & (POLLIN | POLLHUP)) {
                        n = read(STDIN_FILENO, buffer, sizeof(buffer));
                        if (n <= 0 || write(console, buffer, (size_t) n) < 0)
                                fds[2].fd = -1;
                }
                if (exited && !(fds[0].revents & POLLIN))
                        break;
        }
        if (restore)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
}

int container_start(const char *state_root, const char *id, char **ret_error) {
        _cleanup_(container_state_done) ContainerState s = {};
        _cleanup_free_ char *fifo_path = NULL;
        _cleanup_close_ int fifo = -EBADF, pidfd = -EBADF;
        struct pollfd fds[2];
        char go;
        int r;

        r = load_state_as(state_root, id, CONTAINER_CREATED, "start", &s, ret_error);
        if (r < 0)
                return r;
        if (asprintf(&fifo_path, "%s/%s/exec.fifo", state_root, id) < 0)
                return -ENOMEM;
        fifo = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        pidfd = (int) syscall(SYS_pidfd_open, s.pid, 0);
        if (fifo < 0 || pidfd < 0)
                return error_set(ret_error, -errno, "container %s: start: %m", id);
        /* The init writes one byte once it has the fifo open; or it dies. */
        fds[0] = (struct pollfd) { .fd = fifo, .events = POLLIN };
        fds[1] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
        r = poll(fds, 2, START_TIMEOUT_MS);
        if (r < 0)
                return error_set(ret_error, -errno, "container %s: its init did not start: %m", id);
        if (r == 0 || !(fds[0].revents & POLLIN) || read(fifo, &go, 1) != 1)
                return error_set(ret_error, -EINVAL, "container %s: its init did not start", id);
        (void) unlink(fifo_path);
        /* End of file once the init has exec'd the process (or died trying). */
        while (poll(fds, 1, START_TIMEOUT_MS) > 0 && read(fifo, &go, 1) > 0)
                ;
        run_hooks_warn(s.bundle, HOOK_POSTSTART, id, "running", s.pid);
        return 0;
}

int container_state(const char *state_root, const char *id, json_object **ret, char **ret_error) {
        _cleanup_(container_state_done) ContainerState s = {};
        json_object *o;
        int r;

        r = load_state(state_root, id, &s, ret_error);
        if (r < 0)
                return r;
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "ociVersion", json_object_new_string("1.2.0"));
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "status", json_object_new_string(container_status_to_string(s.status)));
        json_object_object_add(o, "pid", json_object_new_int(s.status == CONTAINER_STOPPED ? 0 : s.pid));
        json_object_object_add(o, "bundle", json_object_new_string(s.bundle));
        json_object_object_add(o, "created", json_object_new_string(s.created));
        *ret = o;
        return 0;
}

int container_kill(const char *state_root, const char *id, int signal, char **ret_error) {
        _cleanup_(container_state_done) ContainerState s = {};
        _cleanup_close_ int pidfd = -EBADF;
        int r;

        r = load_state(state_root, id, &s, ret_error);
        if (r < 0)
                return r;
        if (s.status == CONTAINER_STOPPED)
                return error_set(ret_error, -ESRCH, "container %s is not running: %m", id);
        pidfd = (int) syscall(SYS_pidfd_open, s.pid, 0);
        if (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0) < 0)
                return error_set(ret_error, -errno, "container %s: send signal %d: %m", id, signal);
        return 0;
}

static void wait_gone(pid_t pid) {
        _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        struct pollfd p = { .fd = pidfd, .events = POLLIN };

        if (pidfd >= 0)
                (void) poll(&p, 1, START_TIMEOUT_MS);
}

int container_delete(const char *state_root, const char *id, bool force, char **ret_error) {
        _cleanup_(container_state_done) ContainerState s = {};
        _cleanup_free_ char *dir = state_dir(state_root, id);
        int r;

        r = load_state(state_root, id, &s, ret_error);
        if (r < 0)
                return r;
        if (s.status != CONTAINER_STOPPED) {
                if (!force)
                        return error_set(ret_error, -EBUSY, "container %s is %s: stop it first or use --force: %m", id,
                                         container_status_to_string(s.status));
                (void) kill(s.pid, SIGKILL);
                if (s.status == CONTAINER_PAUSED) /* v1's freezer holds even SIGKILL */
                        (void) cgroup_freeze(s.cgroup, false, NULL);
                wait_gone(s.pid);
        }
        if (*s.cgroup) {
                r = cgroup_remove(s.cgroup);
                if (r < 0)
                        return error_set(ret_error, r, "container %s: remove its cgroup %s: %m", id, s.cgroup);
        }
        r = remove_tree(dir);
        if (r < 0)
                return error_set(ret_error, r, "container %s: remove %s: %m", id, dir);
        run_hooks_warn(s.bundle, HOOK_POSTSTOP, id, "stopped", 0);
        return 0;
}

int container_run(const char *state_root, const char *id, const char *bundle, const char *pid_file,
                  const char *console_socket, char **ret_error) {
        _cleanup_close_ int pidfd = -EBADF, console = -EBADF;
        siginfo_t info = {};
        pid_t pid;
        int r = 0;

        pidfd = create(state_root, id, bundle, pid_file, &pid, &console, ret_error);
        if (pidfd < 0)
                return pidfd;
        if (console >= 0 && console_socket)
                r = send_console(console_socket, console, id, ret_error);
        if (r >= 0)
                r = container_start(state_root, id, ret_error);
        if (r >= 0 && console >= 0 && !console_socket)
                proxy_terminal(console, pidfd);
        if (r >= 0 && waitid((idtype_t) P_PIDFD, (id_t) pidfd, &info, WEXITED) < 0)
                r = error_set(ret_error, -errno, "container %s: wait: %m", id);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitid((idtype_t) P_PIDFD, (id_t) pidfd, &info, WEXITED);
        }
        (void) container_delete(state_root, id, true, NULL);
        if (r < 0)
                return r;
        return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

/* The container's config with its process replaced by process_file's (an OCI process
 * object) or with its args replaced by args. */
static int exec_spec(const char *bundle, const char *process_file, char **args, bool tty, RuntimeSpec **ret,
                     char **ret_error) {
        _cleanup_free_ char *path = NULL, *content = NULL, *process_text = NULL;
        json_object *config = NULL, *process = NULL, *list;
        int r;

        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return -ENOMEM;
        r = read_full_file(path, 4 << 20, &content, NULL);
        if (r < 0)
                return r;
        config = json_tokener_parse(content);
        if (!config || !json_object_is_type(config, json_type_object)) {
                json_object_put(config);
                return -EINVAL;
        }
        if (process_file) {
                r = read_full_file(process_file, 1 << 20, &process_text, NULL);
                if (r >= 0 && !(process = json_tokener_parse(process_text)))
                        r = -EINVAL;
                if (r < 0) {
                        json_object_put(config);
                        return r == -EINVAL ? error_set(ret_error, r, "%s: not valid JSON", process_file) : r;
                }
                json_object_object_add(config, "process", process);
        } else if (json_object_object_get_ex(config, "process", &process)) {
                list = json_object_new_array();
                for (char **a = args; a && *a; a++)
                        json_object_array_add(list, json_object_new_string(*a));
                json_object_object_add(process, "args", list);
                json_object_object_add(process, "terminal", json_object_new_boolean(tty));
        }
        /* Hooks belong to the container's life, not to its exec'd processes. */
        json_object_object_del(config, "hooks");
        r = spec_parse(config, ret, ret_error);
        json_object_put(config);
        return r;
}

int container_exec(const char *state_root, const char *id, const ContainerExecOptions *o, char **ret_error) {
        _cleanup_(container_state_done) ContainerState s = {};
        _cleanup_(spec_freep) RuntimeSpec *spec = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int pid_ns = -EBADF, own_pid_ns = -EBADF, pidfd = -EBADF, console = -EBADF;
        int sync[2] = { -1, -1 }, r;
        char reply[1024];
        siginfo_t info = {};
        ssize_t n;
        pid_t pid;

        r = load_state_as(state_root, id, CONTAINER_RUNNING, "exec in", &s, ret_error);
        if (r < 0)
                return r;
        r = exec_spec(s.bundle, o->process_file, o->args, o->tty, &spec, &error);
        if (r < 0)
                return error_set(ret_error, -EINVAL, "container %s: exec: %s", id, error ?: strerror(-r));
        if (spec->terminal && o->detach && !o->console_socket)
                return error_set(ret_error, -EINVAL,
                                 "container %s: exec: a detached terminal needs a console socket: %m", id);
        {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/ns/pid", s.pid);
                own_pid_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
                pid_ns = open(path, O_RDONLY | O_CLOEXEC);
                if (pid_ns < 0 || setns(pid_ns, CLONE_NEWPID) < 0)
                        return error_set(ret_error, -errno, "container %s: join its pid namespace: %m", id);
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0)
                return error_set(ret_error, -errno, "container %s: socketpair: %m", id);
        pid = clone3_pidfd(0, &pidfd);
        /* Back to our own for any later child of ours (sanitizers' helpers among them). */
        if (pid != 0 && own_pid_ns >= 0)
                (void) setns(own_pid_ns, CLONE_NEWPID);
        if (pid < 0) {
                r = error_set(ret_error, -errno, "container %s: clone: %m", id);
                close(sync[0]);
                close(sync[1]);
                return r;
        }
        if (pid == 0) {
                close(sync[0]);
                container_exec_init(spec, s.pid, sync[1]);
        }
        close(sync[1]);
        r = *s.cgroup ? cgroup_join(s.cgroup, pid, &error) : 0;
        if (r >= 0 && write(sync[0], "g", 1) != 1)
                r = -errno;
        n = r >= 0 ? read_reply(sync[0], reply, sizeof(reply), &console) : -1;
        close(sync[0]);
        if (r >= 0 && n == 2 && console >= 0 && o->console_socket)
                r = send_console(o->console_socket, console, id, &error);
        if (r < 0 || n != 2 || memcmp(reply, "ok", 2) != 0) {
                (void) kill(pid, SIGKILL);
                (void) waitid((idtype_t) P_PIDFD, (id_t) pidfd, &info, WEXITED);
                return error_set(ret_error, -EINVAL, "container %s: exec: %s", id,
                                 error ?: n > 0 ? reply : "the process died while setting up");
        }
        if (o->pid_file && (r = write_pid_file(o->pid_file, pid)) < 0)
                return error_set(ret_error, r, "container %s: pid file %s: %m", id, o->pid_file);
        if (o->detach)
                return 0;
        if (console >= 0 && !o->console_socket)
                proxy_terminal(console, pidfd);
        if (waitid((idtype_t) P_PIDFD, (id_t) pidfd, &info, WEXITED) < 0)
                return error_set(ret_error, -errno, "container %s: wait: %m", id);
        return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

static int id_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int container_list(const char *state_root, char ***ret) {
        _cleanup_(closedirp) DIR *d = opendir(state_root);
        _cleanup_strv_free_ char **ids = calloc(1, sizeof(char *));
        struct dirent *de;
        size_t n = 0;

        if (!ids)
                return -ENOMEM;
        while (d && (de = readdir(d))) {
                char **p;
                if (de->d_name[0] == '.' || !id_valid(de->d_name))
                        continue;
                p = realloc(ids, (n + 2) * sizeof(char *));
                if (!p)
                        return -ENOMEM;
                ids = p;
                ids[n] = strdup(de->d_name);
                ids[++n] = NULL;
                if (!ids[n - 1])
                        return -ENOMEM;
        }
        qsort(ids, n, sizeof(char *), id_cmp);
        *ret = TAKE_PTR(ids);
        return 0;
}

/* --- resources, processes, pause ---------------------------------------------------- */

static json_object *read_json(const char *path, int *r) {
        _cleanup_free_ char *content = NULL;
        json_object *o;

        *r = read_full_file(path, 4 << 20, &content, NULL);
        if (*r < 0)
                return NULL;
        o = json_tokener_parse(content);
        if (!o)
                *r = -EINVAL;
        return o;
}

/* The values of changes over those of base: objects merged key by key, anything else
 * (numbers, strings, arrays) replaced. */
static void merge_json(json_object *base, json_object *changes) {
        json_object_object_foreach(changes, key, value) {
                json_object *old;
                if (json_object_is_type(value, json_type_object) && json_object_object_get_ex(base, key, &old) &&
                    json_object_is_type(old, json_type_object))
                        merge_json(old, value);
                else
                        json_object_object_add(base, key, json_object_get(value));
        }
}

/* "container ID: update: " and the step's own message (the errno's text without one). */
static int update_failed(char **ret_error, int r, const char *id, const char *error) {
        return error_set(ret_error, r == -ENOMEM ? r : -EINVAL, "container %s: update: %s", id, error ?: strerror(-r));
}

int container_update(const char *state_root, const char *id, json_object *resources, char **ret_error) {
        _cleanup_(container_state_done) ContainerState s = {};
        _cleanup_free_ char *error = NULL, *saved_path = NULL, *config_path = NULL;
        _cleanup_(cgroup_resources_done) CgroupResources given = {}, all = {};
        _cleanup_(json_object_putp) json_object *config = NULL, *base = NULL;
        json_object *linux_object = NULL, *devices = NULL;
        const char *text;
        int r;

        r = load_state(state_root, id, &s, ret_error);
        if (r < 0)
                return r;
        if (s.status == CONTAINER_STOPPED || !*s.cgroup)
                return error_set(ret_error, -EINVAL, "container %s is %s: cannot update it: %m", id,
                                 !*s.cgroup ? "without a cgroup" : "stopped");
        r = cgroup_resources_parse(resources, "linux.resources", &given, &error);
        if (r < 0)
                return update_failed(ret_error, r, id, error);
        if (asprintf(&saved_path, "%s/%s/resources.json", state_root, id) < 0 ||
            asprintf(&config_path, "%s/config.json", s.bundle) < 0)
                return -ENOMEM;
        config = read_json(config_path, &r);
        if (json_object_object_get_ex(config, "linux", &linux_object))
                (void) json_object_object_get_ex(linux_object, "devices", &devices);
        base = read_json(saved_path, &r);
        if (!base && json_object_object_get_ex(linux_object, "resources", &base))
                base = json_object_get(base);
        if (!base || !json_object_is_type(base, json_type_object)) {
                json_object_put(base);
                base = json_object_new_object();
        }
        if (resources)
                merge_json(base, resources);
        r = cgroup_resources_parse(base, "linux.resources", &all, &error);
        if (r < 0)
                return update_failed(ret_error, r, id, error);
        /* The rules from before stay as they are unless devices is given. */
        all.has_devices = given.has_devices;
        for (size_t i = 0; devices && i < json_object_array_length(devices); i++) {
                json_object *path;
                int d = json_object_object_get_ex(json_object_array_get_idx(devices, i), "path", &path)
                                ? cgroup_default_device_index(json_object_get_string(path))
                                : -1;
                if (d >= 0)
                        all.skip_default_devices |= UINT32_C(1) << d;
        }
        r = cgroup_update(s.cgroup, &all, &error);
        if (r < 0)
                return update_failed(ret_error, r, id, error);
        text = json_object_to_json_string_ext(base, JSON_C_TO_STRING_PLAIN);
        r = write_file_replace(saved_path, text, strlen(text), 0600);
        if (r < 0)
                return update_failed(ret_error, r, id, NULL);
        return 0;
}

/* The container's state for a look at its cgroup: 1 when it has one, 0 when not. */
static int load_state_cgroup(const char *state_root, const char *id, ContainerState *ret, char **ret_error) {
        int r = load_state(state_root, id, ret, ret_error);

        return r < 0 ? r : !!*ret->cgroup;
}

int container_pids(const char *state_root, const char *id, pid_t **ret, size_t *ret_n, char **ret_error) {
        _cleanup_(container_state_done) ContainerState s = {};
        int r;

        *ret = NULL;
        *ret_n = 0;
        r = load_state_cgroup(state_root, id, &s, ret_error);
        if (r <= 0)
                return r;
        r = cgroup_pids(s.cgroup, ret, ret_n);
        if (r == -ENOENT)
                return 0;
        return r < 0 ? error_set(ret_error, r, "container %s: the processes of cgroup %s: %m", id, s.cgroup) : 0;
}

int container_oom_kills(const char *state_root, const char *id, uint64_t *ret, char **ret_error) {
        _cleanup_(container_state_done) ContainerState s = {};
        int r;

        *ret = 0;
        r = load_state_cgroup(state_root, id, &s, ret_error);
        if (r <= 0)
                return r;
        r = cgroup_oom_kills(s.cgroup, ret);
        return r < 0 ? error_set(ret_error, r, "container %s: the OOM kills of cgroup %s: %m", id, s.cgroup) : 0;
}

int container_oom_watch(const char *state_root, const char *id, int *ret_fd, char **ret_error) {
        _cleanup_(container_state_done) ContainerState s = {};
        int r;

        r = load_state_cgroup(state_root, id, &s, ret_error);
        if (r < 0)
                return r;
        if (r == 0)
                return error_set(ret_error, -ENOENT, "container %s has no cgroup: %m", id);
        r = cgroup_oom_watch(s.cgroup, ret_fd);
        return r < 0 ? error_set(ret_error, r, "container %s: watch the OOM kills of cgroup %s: %m", id, s.cgroup)
                     : 0;
}

static int freeze(const char *state_root, const char *id, bool pause, char **ret_error) {
        _cleanup_(container_state_done) ContainerState s = {};
        _cleanup_free_ char *error = NULL;
        ContainerStatus want = pause ? CONTAINER_RUNNING : CONTAINER_PAUSED;
        int r;

        r = load_state_as(state_root, id, want, pause ? "pause" : "resume", &s, ret_error);
        if (r < 0)
                return r;
        if (!*s.cgroup)
                return wrong_status(id, s.status, want, pause ? "pause" : "resume", ret_error);
        r = cgroup_freeze(s.cgroup, pause, &error);
        if (r < 0 && pause)
                (void) cgroup_freeze(s.cgroup, false, NULL);
        return r < 0 ? error_set(ret_error, -EINVAL, "container %s: %s: %s", id, pause ? "pause" : "resume",
                                 error ?: strerror(-r))
                     : 0;
}

int container_pause(const char *state_root, const char *id, char **ret_error) {
        return freeze(state_root, id, true, ret_error);
}

int container_resume(const char *state_root, const char *id, char **ret_error) {
        return freeze(state_root, id, false, ret_error);
}
