/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* A pod sandbox: the network, IPC and UTS namespaces a pod's containers share, held by
 * bind mounts of their nsfs files (DIR/net, DIR/ipc, DIR/uts) instead of a pause
 * process. Containers join them through linux.namespaces[].path; the network
 * namespace's loopback is up, the UTS namespace has the pod's hostname.
 *
 * Both return 0 or -errno with *ret_error naming the sandbox and what failed. */
int sandbox_create(const char *dir, const char *hostname, char **ret_error);
/* Unmounts and removes what sandbox_create made; a missing sandbox is not an error. */
int sandbox_remove(const char *dir, char **ret_error);
