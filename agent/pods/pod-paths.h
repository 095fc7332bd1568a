/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Where a pod's things are on disk, the one place that spells it out. The workers
 * write there, the kubelet API reads from there, and an agent started again finds its
 * pods' containers there.
 *
 *   <log_dir>/pods/<namespace>_<name>_<uid>/<container>/<restart>.log   CRI logs, as kubelet's
 *   <run_dir>/pods/<uid>/                      pod.json, hosts, resolv.conf, hostname, netns
 *   <run_dir>/pods/<uid>/ns/                   the sandbox (its namespaces; net: the pod's network)
 *   <run_dir>/pods/<uid>/containers/<container>/<restart>/   a run: its bundle, exit.json
 *   <state_dir>/pods/<uid>/volumes/<volume>/   the volumes
 *   <run_dir>/runtime/                         the runtime's state (container_state_root)
 *
 * A container's runtime id is <uid>-<container>-<restart>. Every function returns a
 * new string, NULL when out of memory. */

char *pod_log_dir(const char *log_dir, const char *namespace, const char *name, const char *uid);
/* pod_log_dir's <container>: the container's logs, one per restart. */
char *pod_container_log_dir(const char *pod_log_dir, const char *container);
/* pod_log_dir's <container>/<restart>.log. */
char *pod_container_log(const char *pod_log_dir, const char *container, unsigned restart);
/* The glob(3) pattern of all of them. */
char *pod_container_logs_pattern(const char *pod_log_dir, const char *container);
/* <log_dir>/containers/<name>_<namespace>_<container>-<id>.log: the link to a container's
 * log kubelet makes for log collectors, in pod_container_log_links_dir. */
char *pod_container_log_links_dir(const char *log_dir);
char *pod_container_log_link(const char *log_dir, const char *namespace, const char *name, const char *container,
                             const char *id);

/* <run_dir>/pods or <state_dir>/pods: every pod's run or state dir, named by its UID. */
char *pod_dirs(const char *dir);
char *pod_run_dir(const char *run_dir, const char *uid);
char *pod_state_dir(const char *state_dir, const char *uid);
/* <pod_state_dir>/volumes, and one volume's directory below it. */
char *pod_volumes_dir(const char *pod_state_dir);
char *pod_volume_dir(const char *pod_state_dir, const char *volume);
char *pod_sandbox_dir(const char *run_dir, const char *uid);
/* The sandbox's network namespace: <sandbox_dir>/net. */
char *pod_sandbox_netns(const char *sandbox_dir);

/* The files of a pod's run directory: the containers' /etc files, and the one naming the
 * pod's network namespace, empty for the node's (hostNetwork): where port-forward connects. */
#define POD_HOSTS_FILE "hosts"
#define POD_RESOLV_CONF_FILE "resolv.conf"
#define POD_HOSTNAME_FILE "hostname"
#define POD_NETNS_FILE "netns"
/* The Pod object as its worker was given it: what a later agent stops the pod by when the
 * API no longer has it. */
#define POD_OBJECT_FILE "pod.json"
/* Past the API server's largest object. */
#define POD_OBJECT_MAX_SIZE (4u << 20)
/* <dir>/<name>: a file of a pod's run directory, or of a container run's. */
char *pod_file(const char *dir, const char *name);
char *pod_netns_file(const char *run_dir, const char *uid);

/* <pod_run_dir>/containers/<container>: one directory per run below it. */
char *pod_container_runs(const char *pod_run_dir, const char *container);
/* <pod_run_dir>/containers/<container>/<restart>: a run, holding its bundle and the files
 * below. */
char *pod_container_run_dir(const char *pod_run_dir, const char *container, unsigned restart);
#define POD_RUN_CONFIG_FILE "config.json"
#define POD_RUN_ROOTFS "rootfs"
#define POD_RUN_TERMINATION_LOG "termination-log"
#define POD_RUN_MONITOR_PID_FILE "monitor.pid"
/* There once the run has ended. */
#define POD_RUN_EXIT_FILE "exit.json"
char *pod_container_exit_file(const char *run_dir, const char *uid, const char *container, unsigned restart);
char *pod_container_id(const char *uid, const char *container, unsigned restart);

/* The newest run of container in pod_run_dir (its restart count): -ENOENT when it has none. */
int pod_container_newest_run(const char *pod_run_dir, const char *container, unsigned *ret);
