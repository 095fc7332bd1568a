/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Where a pod's things are on disk, the one place that spells it out. The workers
 * write there, the kubelet API reads from there, and an agent started again finds its
 * pods' containers there.
 *
 *   <log_dir>/pods/<namespace>_<name>_<uid>/<container>/<restart>.log   CRI logs, as kubelet's
 *   <run_dir>/pods/<uid>/                      hosts, resolv.conf, hostname, netns
 *   <run_dir>/pods/<uid>/ns/                   the sandbox (its namespaces; net: the pod's network)
 *   <run_dir>/pods/<uid>/containers/<container>/<restart>/   a run: its bundle, exit.json
 *   <state_dir>/pods/<uid>/                    the volumes
 *   <run_dir>/runtime/                         the runtime's state (containers by id)
 *
 * A container's runtime id is <uid>-<container>-<restart>. Every function returns a
 * new string, NULL when out of memory. */

char *pod_log_dir(const char *log_dir, const char *namespace, const char *name, const char *uid);
/* pod_log_dir's <container>/<restart>.log. */
char *pod_container_log(const char *pod_log_dir, const char *container, unsigned restart);

char *pod_run_dir(const char *run_dir, const char *uid);
char *pod_state_dir(const char *state_dir, const char *uid);
char *pod_sandbox_dir(const char *run_dir, const char *uid);
/* The sandbox's network namespace: <sandbox_dir>/net. */
char *pod_sandbox_netns(const char *sandbox_dir);
/* The file in the pod's run directory naming its network namespace, empty for the
 * node's (hostNetwork): where port-forward connects. */
#define POD_NETNS_FILE "netns"
char *pod_netns_file(const char *run_dir, const char *uid);

/* <run_dir>/pods/<uid>/containers/<container>: one directory per run below it. */
char *pod_container_runs(const char *run_dir, const char *uid, const char *container);
/* A run's exit.json: there once the run has ended. */
char *pod_container_exit_file(const char *run_dir, const char *uid, const char *container, unsigned restart);
char *pod_container_id(const char *uid, const char *container, unsigned restart);
char *pod_runtime_root(const char *run_dir);

/* The newest run of container (its restart count): -ENOENT when it has none. */
int pod_container_newest_run(const char *run_dir, const char *uid, const char *container, unsigned *ret);
