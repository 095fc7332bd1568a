/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "cri-log.h"
#include "error.h"
#include "fileio.h"
#include "macro.h"
#include "monitor.h"

/* After the process exits, what is still in the pipes is read for at most this long
 * (a process outside a pid namespace of its own may keep them open). */
#define DRAIN_TIMEOUT_MS 2000

static void rfc3339_now(char buf[static 64]) {
        struct timespec ts;
        struct tm tm;
        size_t n;

        clock_gettime(CLOCK_REALTIME, &ts);
        n = strftime(buf, 64, "%Y-%m-%dT%H:%M:%S", gmtime_r(&ts.tv_sec, &tm));
        snprintf(buf + n, 64 - n, ".%09ldZ", ts.tv_nsec);
}

/* stdin from /dev/null, stdout and stderr into pipes: what the init inherits. The
 * monitor's own descriptors 1 and 2 go back to /dev/null once it runs. */
static int redirect_stdio(int out[2], int err[2]) {
        _cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (null < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
                return -errno;
        if (dup2(null, STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0)
                return -errno;
        out[1] = safe_close(out[1]);
        err[1] = safe_close(err[1]);
        return 0;
}

static void stdio_to_null(void) {
        _cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (null >= 0) {
                (void) dup2(null, STDOUT_FILENO);
                (void) dup2(null, STDERR_FILENO);
        }
}

static void tell_error(int fd, const char *message) {
        if (fd >= 0)
                dprintf(fd, "error: %s\n", message);
}

static int write_exit_file(const char *path, pid_t pid, const siginfo_t *info, const char *started, bool oom_killed) {
        json_object *o = json_object_new_object();
        char finished[64];
        const char *text;
        int r;

        if (!o)
                return -ENOMEM;
        rfc3339_now(finished);
        json_object_object_add(o, "pid", json_object_new_int(pid));
        json_object_object_add(o, "exitCode", json_object_new_int(info->si_code == CLD_EXITED ? info->si_status
                                                                                              : 128 + info->si_status));
        json_object_object_add(o, "signal", json_object_new_int(info->si_code == CLD_EXITED ? 0 : info->si_status));
        json_object_object_add(o, "startedAt", json_object_new_string(started));
        json_object_object_add(o, "finishedAt", json_object_new_string(finished));
        if (oom_killed)
                json_object_object_add(o, "oomKilled", json_object_new_boolean(true));
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        r = write_file_atomic(path, text, strlen(text), 0600);
        json_object_put(o);
        return r;
}

/* The memory cgroup had news (oom_fd readable): was it an OOM kill? */
static void check_oom(const MonitorOptions *o, int oom_fd, bool *oom_killed) {
        char buffer[4096];
        uint64_t kills = 0;

        while (read(oom_fd, buffer, sizeof(buffer)) > 0)
                ;
        if (container_oom_kills(o->state_root, o->id, &kills, NULL) >= 0 && kills > 0)
                *oom_killed = true;
}

/* Copies both pipes to the log until they end (or DRAIN_TIMEOUT_MS after the process
 * exited; a pty's master in out's place ends with EIO once its last user is gone), notes
 * OOM kills as the cgroup reports them (oom_fd, may be -1), and reaps the process. */
static int follow(const MonitorOptions *o, CriLog *log, int out, int err, int pidfd, int oom_fd, siginfo_t *ret_info,
                  bool *oom_killed) {
        struct pollfd fds[4] = {
                { .fd = out, .events = POLLIN },
                { .fd = err, .events = POLLIN },
                { .fd = pidfd, .events = POLLIN },
                { .fd = oom_fd, .events = POLLIN },
        };
        char buffer[65536];
        bool exited = false;

        while (fds[0].fd >= 0 || fds[1].fd >= 0 || !exited) {
                int n = poll(fds, 4, exited ? DRAIN_TIMEOUT_MS : -1);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                for (int i = 0; i < 2; i++) {
                        ssize_t got;

                        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        got = read(fds[i].fd, buffer, sizeof(buffer));
                        if (got > 0) {
                                (void) cri_log_write(log, (CriStream) i, buffer, (size_t) got);
                                continue;
                        }
                        (void) cri_log_flush(log, (CriStream) i);
                        fds[i].fd = -1;
                }
                if (fds[3].revents & POLLIN)
                        check_oom(o, oom_fd, oom_killed);
                if (fds[2].revents & POLLIN) {
                        if (waitid((idtype_t) P_PIDFD, (id_t) pidfd, ret_info, WEXITED) < 0)
                                return -errno;
                        exited = true;
                        fds[2].fd = -1;
                }
        }
        if (!exited && waitid((idtype_t) P_PIDFD, (id_t) pidfd, ret_info, WEXITED) < 0)
                return -errno;
        return 0;
}

int monitor_run(const MonitorOptions *o, char **ret_error) {
        _cleanup_(cri_log_closep) CriLog *log = NULL;
        _cleanup_close_ int pidfd = -EBADF, oom_fd = -EBADF, console = -EBADF;
        _cleanup_free_ char *error = NULL;
        int out[2] = { -EBADF, -EBADF }, err[2] = { -EBADF, -EBADF }, r;
        char started[64];
        siginfo_t info = {};
        bool oom_killed = false;
        pid_t pid;

        r = cri_log_open(o->log_path, o->log_max_size, o->log_max_files, &log);
        if (r < 0)
                error_set(&error, r, "container %s: open its log %s: %m", o->id, o->log_path);
        else {
                r = redirect_stdio(out, err);
                if (r < 0)
                        error_set(&error, r, "container %s: pipes for its stdout and stderr: %m", o->id);
                else
                        r = container_create_started(o->state_root, o->id, o->bundle, &pid, &pidfd, &console, &error);
                stdio_to_null();
        }
        if (r < 0) {
                for (int i = 0; i < 2; i++) {
                        safe_close(out[i]);
                        safe_close(err[i]);
                }
                tell_error(o->ready_fd, error ?: strerror(-r));
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                return r;
        }
        rfc3339_now(started);
        if (o->ready_fd >= 0) {
                dprintf(o->ready_fd, "%d\n", pid);
                close(o->ready_fd);
        }

        /* OOM kills are seen as they happen and once more at the end, before the container
         * (and a cgroupfs cgroup) is deleted; a systemd scope's cgroup may be gone by then. */
        if (container_oom_watch(o->state_root, o->id, &oom_fd, NULL) < 0)
                oom_fd = -EBADF;
        /* A terminal's output is all stdout, as containerd logs it; the master stays open
         * (stdin: true reads nothing until someone attaches). */
        r = follow(o, log, console >= 0 ? console : out[0], err[0], pidfd, oom_fd, &info, &oom_killed);
        safe_close(out[0]);
        safe_close(err[0]);
        if (r < 0)
                return error_set(ret_error, r, "container %s: follow its output and exit: %m", o->id);
        if (oom_fd >= 0)
                check_oom(o, oom_fd, &oom_killed);
        r = write_exit_file(o->exit_file, pid, &info, started, oom_killed);
        return r < 0 ? error_set(ret_error, r, "container %s: %s: %m", o->id, o->exit_file) : 0;
}
