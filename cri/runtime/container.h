/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Containers of the embedded OCI runtime, one directory each under a state root
 * (runc's --root): state.json (id, init pid and its start time, bundle, creation time)
 * and, until the container is started, exec.fifo, which its init blocks on.
 *
 * Every function returns 0 or -errno; on failure *ret_error (when given) says what,
 * naming the container ("container web: mount proc on /proc: Permission denied"). */

/* The state root under <run_dir> that the agent's containers live in, and the default
 * --root of `stevedore runtime`: <run_dir>/runtime. NULL when out of memory. */
char *container_state_root(const char *run_dir);

typedef enum ContainerStatus {
        CONTAINER_CREATED,
        CONTAINER_RUNNING,
        CONTAINER_STOPPED,
        CONTAINER_PAUSED, /* running, its cgroup frozen */
} ContainerStatus;

const char *container_status_to_string(ContainerStatus s);

/* Sets the container up from bundle/config.json and leaves its init waiting for start.
 * pid_file (optional) receives the init's pid; with process.terminal, the pty's master
 * goes to console_socket (a unix socket path, as runc's --console-socket), required then. */
int container_create(const char *state_root, const char *id, const char *bundle, const char *pid_file,
                     const char *console_socket, char **ret_error);
int container_start(const char *state_root, const char *id, char **ret_error);
/* create + start for a caller that waits for the process itself (it is the init's
 * parent): *ret_pidfd is the init's pidfd. The init inherits the caller's stdio, or with
 * process.terminal gets a pty whose master goes to *ret_console (-EBADF without one). */
int container_create_started(const char *state_root, const char *id, const char *bundle, pid_t *ret_pid,
                             int *ret_pidfd, int *ret_console, char **ret_error);
/* The runtime-spec state: ociVersion, id, status, pid, bundle. */
int container_state(const char *state_root, const char *id, json_object **ret, char **ret_error);
int container_kill(const char *state_root, const char *id, int signal, char **ret_error);
/* Removes a stopped container (any, with force: killed first). */
int container_delete(const char *state_root, const char *id, bool force, char **ret_error);
/* create + start, waits for the process and deletes the container; returns its exit
 * status (128 + signal when killed) or -errno. With process.terminal and no
 * console_socket, the caller's stdin and stdout are joined to the pty meanwhile. */
int container_run(const char *state_root, const char *id, const char *bundle, const char *pid_file,
                  const char *console_socket, char **ret_error);

typedef struct ContainerExecOptions {
        const char *process_file; /* an OCI process object to run … */
        char **args;              /* … or the container's process with these args */
        bool tty;                 /* with args: a terminal */
        bool detach;              /* return at once instead of waiting */
        const char *pid_file;
        const char *console_socket; /* the terminal's master goes there; else joined to stdio */
} ContainerExecOptions;

/* Runs a further process in a running container. Returns its exit status (128 +
 * signal), or 0 at once with detach, or -errno. */
int container_exec(const char *state_root, const char *id, const ContainerExecOptions *o, char **ret_error);
/* The ids under the state root, NULL-terminated. */
int container_list(const char *state_root, char ***ret);

/* Applies a linux.resources object to a created, running or paused container's cgroup,
 * over what it has (its config's, or the last update's, kept in resources.json in its
 * state directory): the values given replace those, the others stay and are applied
 * again; devices only when given (they then replace the rules). */
int container_update(const char *state_root, const char *id, json_object *resources, char **ret_error);
/* The pids (as this process sees them) in the container's cgroup, sorted. */
int container_pids(const char *state_root, const char *id, pid_t **ret, size_t *ret_n, char **ret_error);
/* How many of the container's processes the OOM killer has killed (0 without a cgroup);
 * read before the container is deleted. */
int container_oom_kills(const char *state_root, const char *id, uint64_t *ret, char **ret_error);
/* cgroup_oom_watch() of its cgroup: to catch an OOM kill while the cgroup is there (a
 * systemd scope's goes as soon as it is empty). -ENOENT without a cgroup. */
int container_oom_watch(const char *state_root, const char *id, int *ret_fd, char **ret_error);
/* Freezes a running container's processes (its state then says "paused"), and thaws them. */
int container_pause(const char *state_root, const char *id, char **ret_error);
int container_resume(const char *state_root, const char *id, char **ret_error);
