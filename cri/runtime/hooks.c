/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "hooks.h"
#include "macro.h"

const char *const hook_names[_HOOK_MAX] = {
        [HOOK_PRESTART] = "prestart",
        [HOOK_CREATE_RUNTIME] = "createRuntime",
        [HOOK_CREATE_CONTAINER] = "createContainer",
        [HOOK_START_CONTAINER] = "startContainer",
        [HOOK_POSTSTART] = "poststart",
        [HOOK_POSTSTOP] = "poststop",
};

static int run_one(const SpecHook *h, const char *state_json, char **ret_error) {
        char *const empty[] = { NULL };
        char *const default_args[] = { h->path, NULL };
        posix_spawn_file_actions_t actions;
        int in[2], pidfd = -1, status, r;
        struct pollfd p;
        pid_t pid;

        /* A socket rather than a pipe: a hook that does not read its stdin must not kill
         * the runtime with SIGPIPE (MSG_NOSIGNAL). */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
                return -errno;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
        r = posix_spawn(&pid, h->path, &actions, NULL, h->args ?: default_args, h->env ?: empty);
        posix_spawn_file_actions_destroy(&actions);
        close(in[0]);
        if (r != 0) {
                close(in[1]);
                return error_set(ret_error, -r, "hook %s: %m", h->path);
        }
        (void) send(in[1], state_json, strlen(state_json), MSG_NOSIGNAL);
        close(in[1]);
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        p = (struct pollfd) { .fd = pidfd, .events = POLLIN };
        if (pidfd >= 0 && h->timeout > 0 && poll(&p, 1, h->timeout * 1000) == 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                close(pidfd);
                return error_set(ret_error, -ETIMEDOUT, "hook %s: timed out after %d s", h->path, h->timeout);
        }
        if (pidfd >= 0)
                close(pidfd);
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        return error_set(ret_error, -EIO, "hook %s: %s %d", h->path,
                         WIFEXITED(status) ? "exited with status" : "killed by signal",
                         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int hooks_run(const SpecHook *hooks, size_t n, const char *state_json, bool keep_going, char **ret_error) {
        int first = 0;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *error = NULL;
                int r = run_one(&hooks[i], state_json, &error);

                if (r >= 0)
                        continue;
                if (first == 0) {
                        first = r;
                        if (ret_error)
                                *ret_error = TAKE_PTR(error);
                }
                if (!keep_going)
                        break;
        }
        return first;
}

void hooks_free(SpecHook *hooks, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(hooks[i].path);
                strv_free(hooks[i].args);
                strv_free(hooks[i].env);
        }
        free(hooks);
}
