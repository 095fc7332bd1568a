/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

/* A container's monitor (conmon's or containerd-shim's part): a small process of its
 * own, so that containers outlive the agent. It creates and starts the container as the
 * init's parent, owns the container's stdout and stderr and writes them to its CRI log
 * (cri-log.h), and when the container's process exits writes its exit status to
 * exit_file:
 *
 *   {"pid": 4242, "exitCode": 137, "signal": 9, "startedAt": "…", "finishedAt": "…"}
 *
 * with "oomKilled": true when the OOM killer killed any of its processes (its memory
 * cgroup's oom_kill count, read on the cgroup's memory events and after the exit), as
 * containerd reports an OOM event of the container's cgroup.
 *
 * The agent starts one per container and may die and come back meanwhile: the log and
 * the exit file are all it needs to adopt the container. */

typedef struct MonitorOptions {
        const char *state_root, *id, *bundle;
        const char *log_path;
        uint64_t log_max_size;  /* 0: 10 MiB */
        unsigned log_max_files; /* 0: 5 */
        const char *exit_file;
        /* Told "<pid>\n" once the container runs, or "error: <why>\n"; then closed. -1: none. */
        int ready_fd;
} MonitorOptions;

/* Returns once the container's process has exited and its status is written (0), or
 * -errno with *ret_error saying why the container could not be run. */
int monitor_run(const MonitorOptions *o, char **ret_error);
