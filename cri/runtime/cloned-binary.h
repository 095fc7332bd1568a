/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The CVE-2019-5736 defence: a process in a container may reach the runtime's binary
 * through /proc/<pid>/exe of a runtime process that joined it (an init before exec, an
 * exec'd process, or the container's program being `#!/proc/self/exe`) and, once that
 * process is gone, open it for writing. Before starting container processes the
 * runtime re-executes itself from a sealed memfd copy, so what a container can reach is
 * the copy, which cannot be written, and never the file on the host.
 *
 * Returns 0 when already running from a sealed copy; otherwise does not return unless
 * the copy could not be made or executed (-errno). Reads the arguments from
 * /proc/self/cmdline, so it may be called from anywhere before the first container
 * process is made. */
int cloned_binary_ensure(void);
