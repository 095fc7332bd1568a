/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Reads a whole file, at most max_size bytes (-EFBIG beyond), NUL-terminated. */
int read_full_file(const char *path, size_t max_size, char **ret_content, size_t *ret_size);
/* The same for a file a caller parses next: a failure is also in *ret_error as
 * "<path>: <strerror>". */
int read_full_file_error(const char *path, size_t max_size, char **ret_content, size_t *ret_size, char **ret_error);

/* Reads the last max_size bytes of a file (all of a smaller one), NUL-terminated. */
int read_file_tail(const char *path, size_t max_size, char **ret_content, size_t *ret_size);

/* Reads the first line of a file without its newline. */
int read_one_line_file(const char *path, char **ret_line);

/* Writes a file crash-safely: a temporary beside it, fsync, rename over the target. */
int write_file_atomic(const char *path, const void *data, size_t size, unsigned mode);
/* The same without fsync, for volatile state (under /run): readers never see it half
 * written, but a crash of the machine may lose it, as it loses /run. */
int write_file_replace(const char *path, const void *data, size_t size, unsigned mode);

/* Creates path and any missing parents; 0 also when it exists. */
int mkdir_p(const char *path, mode_t mode);

/* Writes value to an existing file in one write(2), as /proc/sys and /sys want it. */
int write_string_file(const char *path, const char *value);

/* Looks key up in an environment-style file (os-release(5) syntax: KEY=value, values may
 * be single- or double-quoted with backslash escapes). -ENOENT if absent. */
int env_file_get(const char *content, const char *key, char **ret_value);

/* Removes name below dir_fd and, for a directory, all it holds; never follows symlinks.
 * 0 when it does not exist. */
int rm_rf_at(int dir_fd, const char *name);
