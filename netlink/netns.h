/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

/* Network namespaces held by a bind mount of their nsfs file (as `ip netns add` does),
 * so they live without any process in them. */

/* Creates a new network namespace bound at path (a new file) and returns an fd of it.
 * The calling thread's own namespace is unchanged on return. -EEXIST if path exists. */
int netns_create(const char *path, int *ret_fd);

/* Opens the namespace bound at path: -ENOENT if none, -ESTALE if path exists but holds
 * no namespace (left over from a crash between create and mount). */
int netns_open(const char *path, int *ret_fd);

/* Unmounts and removes path; 0 also when it was already gone. */
int netns_remove(const char *path);

/* Moves the calling thread into the namespace fd, returning an fd of the one it left so
 * that netns_leave() can move it back. */
int netns_enter(int fd, int *ret_saved_fd);
int netns_leave(int *saved_fd);
