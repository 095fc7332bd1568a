/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "spec.h"

/* What a container's init does, in the new namespaces, before its process runs: join
 * the namespaces given by path, set up the root filesystem (mounts resolved inside it,
 * devices, pivot_root, masked and read-only paths), hostname, sysctls, limits, user and
 * capabilities; then report "ok" on sync_fd, wait on the exec fifo (opened O_PATH as
 * fifo_fd before the root changed) for start, and exec the process.
 *
 * Never returns: on failure it writes the reason to sync_fd and exits 1. */
_Noreturn void container_init(const RuntimeSpec *spec, const char *rootfs, int fifo_fd, int sync_fd);

/* A further process in a running container (exec): in the cgroup once the creating
 * process has moved it and written a byte to sync_fd, it joins the namespaces of target
 * (the container's init; the pid namespace was joined by the creator, as it applies to
 * children), becomes the user with the capabilities of spec, and execs spec's process.
 * Reports "ok" or the reason on sync_fd. */
_Noreturn void container_exec_init(const RuntimeSpec *spec, pid_t target, int sync_fd);
