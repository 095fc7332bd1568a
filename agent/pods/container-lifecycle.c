/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container-lifecycle.h"
#include "container-spec.h"
#include "container.h"
#include "cri-log.h"
#include "error.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "pod-cgroup.h"
#include "pod-paths.h"
#include "pod-worker-internal.h"
#include "service-links.h"

/* --- the decisions ----------------------------------------------------------------- */

bool container_should_restart(PodRestartPolicy policy, bool init, bool terminating, int exit_code) {
        if (terminating)
                return false;
        if (init)
                return exit_code != 0 && policy != POD_RESTART_NEVER;
        return policy == POD_RESTART_ALWAYS || (policy == POD_RESTART_ON_FAILURE && exit_code != 0);
}

ContainerExitDecision container_exit_decide(PodRestartPolicy policy, bool init, bool terminating, int exit_code,
                                            uint64_t ran_usec, uint64_t backoff_usec) {
        if (!container_should_restart(policy, init, terminating, exit_code))
                return (ContainerExitDecision) { CONTAINER_STAY_EXITED, 0, backoff_usec };
        if (ran_usec >= CONTAINER_BACKOFF_RESET_USEC)
                backoff_usec = 0;
        if (backoff_usec == 0)
                return (ContainerExitDecision) { CONTAINER_RESTART_NOW, 0, CONTAINER_BACKOFF_INITIAL_USEC };
        return (ContainerExitDecision) { CONTAINER_RESTART_AFTER_BACKOFF, backoff_usec,
                                         MIN(backoff_usec * 2, CONTAINER_BACKOFF_MAX_USEC) };
}

uint64_t container_image_retry_delay(uint64_t *backoff_usec) {
        uint64_t delay = *backoff_usec ?: CONTAINER_BACKOFF_INITIAL_USEC;

        *backoff_usec = MIN(delay * 2, CONTAINER_BACKOFF_MAX_USEC);
        return delay;
}

const char *container_exit_reason(int exit_code, bool oom_killed) {
        return oom_killed ? "OOMKilled" : exit_code == 0 ? "Completed" : "Error";
}

/* --- carrying them out --------------------------------------------------------------- */

/* kubelet's limits on a termination message: the file's last 4 KiB; of the log, the last
 * 80 lines and 2 KiB (read from its last 64 KiB). */
#define TERMINATION_MESSAGE_MAX 4096
#define TERMINATION_MESSAGE_LOG_LINES 80
#define TERMINATION_MESSAGE_LOG_BYTES 2048
#define TERMINATION_LOG_READ_MAX (64 * 1024)

static void exit_done(ContainerExit *e) {
        free(e->reason);
        free(e->started_at);
        free(e->finished_at);
        free(e->container_id);
        free(e->message);
        *e = (ContainerExit) {};
}

static void set_waiting(Container *c, const char *reason, const char *message) {
        c->phase = CONTAINER_WAITING;
        free(c->waiting_reason);
        free(c->waiting_message);
        c->waiting_reason = reason ? strdup(reason) : NULL;
        c->waiting_message = message ? strdup(message) : NULL;
}

/* It could not be created or run: waiting for the reason, and a Warning event with the message. */
static void set_failed(Container *c, const char *reason, const char *message) {
        set_waiting(c, reason, message);
        pod_worker_emit(c->worker, c, "Warning", "Failed", "Error: %s", message);
}

static int container_paths(Container *c) {
        PodWorker *w = c->worker;

        free(c->id);
        free(c->dir);
        c->id = c->dir = NULL;
        c->id = pod_container_id(w->uid, c->name, c->restart_count);
        c->dir = pod_container_run_dir(w->pod_run_dir, c->name, c->restart_count);
        return c->id && c->dir ? 0 : -ENOMEM;
}

static int on_monitor_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static int on_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static void run_post_start(Container *c);

/* /var/log/containers/<pod>_<namespace>_<container>-<id>.log → the pod's log, as
 * kubelet links them for log collectors. */
static void link_container_log(Container *c, const char *log) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *dir = pod_container_log_links_dir(w->rt.log_dir),
                            *link = pod_container_log_link(w->rt.log_dir, w->spec->namespace, w->spec->name, c->name,
                                                           c->id);

        if (!dir || !link)
                return;
        (void) mkdir_p(dir, 0755);
        (void) unlink(link);
        (void) symlink(log, link);
}

static int spawn_monitor(Container *c, const char *log, const char *exit_file) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *root = pod_worker_runtime_root(w);
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        sigset_t unblocked;
        int ready[2], r;
        char *argv[] = {
                (char *) w->rt.runtime_path, (char *) "--root", root, (char *) "monitor", (char *) "--bundle", c->dir,
                (char *) "--log", (char *) log, (char *) "--exit-file", (char *) exit_file, (char *) "--ready-fd",
                (char *) "3", c->id, NULL,
        };

        if (!root || pipe2(ready, O_CLOEXEC) < 0)
                return -errno ?: -ENOMEM;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, ready[1], 3);
        posix_spawnattr_init(&attr);
        /* Not the agent's blocked SIGINT and SIGTERM (its loop takes them by signalfd): the
         * mask is inherited down to the container, whose SIGTERM would then never arrive. */
        sigemptyset(&unblocked);
        posix_spawnattr_setsigmask(&attr, &unblocked);
        /* A session of its own: it outlives the agent, and the agent's terminal. */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
        r = -posix_spawn(&c->monitor_pid, w->rt.runtime_path, &actions, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        close(ready[1]);
        if (r < 0) {
                close(ready[0]);
                return r;
        }
        c->ready_fd = ready[0];
        return 0;
}

static int watch_monitor(Container *c) {
        PodWorker *w = c->worker;
        int r;

        c->monitor_pidfd = (int) syscall(SYS_pidfd_open, c->monitor_pid, 0);
        if (c->monitor_pidfd < 0)
                return -errno;
        r = sd_event_add_io(w->rt.event, &c->monitor_source, c->monitor_pidfd, EPOLLIN, on_monitor_exit, c);
        return r;
}

static void record_monitor(Container *c) {
        _cleanup_free_ char *path = pod_file(c->dir, POD_RUN_MONITOR_PID_FILE);
        char text[32];

        if (!path)
                return;
        snprintf(text, sizeof(text), "%d\n", c->monitor_pid);
        (void) write_file_replace(path, text, strlen(text), 0600);
}

/* The Service variables of the pod's namespace (and the API server's) as the store holds
 * them now: a container started later sees the Services of then, as with kubelet. */
static char **service_variables(PodWorker *w) {
        json_object *names = w->rt.services ? service_store_namespace(w->rt.services, w->spec->namespace) : NULL;
        json_object *master = w->rt.services ? service_store_get(w->rt.services, "default", "kubernetes") : NULL;
        _cleanup_free_ json_object **list = calloc((names ? (size_t) json_object_object_length(names) : 0) + 2,
                                                   sizeof(json_object *));
        size_t n = 0;

        if (!list)
                return NULL;
        if (names) {
                json_object_object_foreach(names, name, service) {
                        (void) name;
                        list[n++] = service;
                }
        }
        if (master)
                list[n++] = master;
        return service_links_env(list, n, w->spec->namespace, w->spec->enable_service_links);
}

static int write_bundle(Container *c, json_object *image_config, const char *rootfs) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *hosts = NULL, *resolv = NULL, *hostname = NULL, *termination = NULL, *cgroup = NULL,
                            *config_path = NULL, *error = NULL;
        _cleanup_strv_free_ char **services = service_variables(w);
        json_object *config = NULL;
        const char *text;
        int r;

        if (!(hosts = pod_file(w->pod_run_dir, POD_HOSTS_FILE)) ||
            !(resolv = pod_file(w->pod_run_dir, POD_RESOLV_CONF_FILE)) ||
            !(hostname = pod_file(w->pod_run_dir, POD_HOSTNAME_FILE)) ||
            !(termination = pod_file(c->dir, POD_RUN_TERMINATION_LOG)) ||
            !(cgroup = pod_container_cgroups_path(pod_cgroups_driver(w->rt.cgroups), w->cgroup_parent, c->id)) ||
            !(config_path = pod_file(c->dir, POD_RUN_CONFIG_FILE)) || !services)
                return -ENOMEM;
        r = write_file_replace(termination, "", 0, 0666);
        if (r < 0)
                return r;
        ContainerSpecContext ctx = {
                .pod = pod_worker_pod(w), .container = c->spec->json, .image_config = image_config, .rootfs = rootfs,
                .sandbox_dir = w->sandbox_dir, .pod_ip = w->pod_ip, .host_ip = w->rt.node_ip, .node_name = w->rt.node_name,
                .hosts_file = hosts, .hostname_file = hostname, .resolv_conf = resolv, .termination_log = termination,
                .cgroups_path = cgroup, .node_memory = w->rt.node_memory,
                .allocatable_cpu_milli = w->rt.allocatable_cpu_milli, .allocatable_memory = w->rt.allocatable_memory, .volumes = w->volumes, .n_volumes = w->n_volumes,
                .extra_env = services, .lookup = pod_worker_lookup_object, .userdata = w,
        };
        /* The network namespace is the pod network's, not the sandbox's. */
        ctx.netns_path = w->netns_path;
        r = container_spec_build(&ctx, &config, &error);
        if (r < 0) {
                set_waiting(c, "CreateContainerConfigError", error);
                pod_worker_emit(w, c, "Warning", "Failed", "Error: %s", error ?: strerror(-r));
                return r;
        }
        text = json_object_to_json_string_ext(config, JSON_C_TO_STRING_PLAIN);
        r = write_file_replace(config_path, text, strlen(text), 0600);
        json_object_put(config);
        return r;
}

static void start_with_image(Container *c, const char *image_id);

/* A back-off is over: the image pull or the restart again. */
static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Container *c = userdata;

        c->backoff_timer = sd_event_source_disable_unref(c->backoff_timer);
        pod_container_run(c);
        return 0;
}

/* The image is there (or could not be had): go on, or try again after a back-off as
 * kubelet does (ErrImagePull, then ImagePullBackOff). */
static void on_image(int error, const char *message, const ImageEnsureResult *result, void *userdata) {
        Container *c = userdata;
        PodWorker *w = c->worker;
        const char *ref = c->spec->image;

        c->ensure = NULL;
        if (error < 0) {
                char reason[600];

                snprintf(reason, sizeof(reason), "%s", message ?: strerror(-error));
                set_waiting(c, c->image_failures++ ? "ImagePullBackOff" : "ErrImagePull", reason);
                pod_worker_emit(w, c, "Warning", "Failed", "Failed to pull image \"%s\": %s", ref, reason);
                (void) sd_event_add_time_relative(w->rt.event, &c->backoff_timer, CLOCK_MONOTONIC,
                                                  container_image_retry_delay(&c->image_backoff_usec), 0, on_retry, c);
                pod_worker_report(w);
                return;
        }
        c->image_failures = 0;
        c->image_backoff_usec = 0;
        if (result->pull)
                pod_worker_emit(w, c, "Normal", "Pulled", "Successfully pulled image \"%s\"", ref);
        else
                pod_worker_emit(w, c, "Normal", "Pulled", "Container image \"%s\" already present on machine", ref);
        start_with_image(c, result->manifest_digest);
}

void pod_container_run(Container *c) {
        PodWorker *w = c->worker;
        _cleanup_(image_info_freep) ImageInfo *present = NULL;
        const char *ref = c->spec->image, *policy_name = c->spec->image_pull_policy;
        ImageEnsureCallbacks callbacks = { .done = on_image };
        ImagePullPolicy policy = image_pull_policy_default(ref);

        if (container_paths(c) < 0)
                return;
        if (!w->rt.image_manager) {
                start_with_image(c, ref);
                return;
        }
        if (policy_name && image_pull_policy_from_string(policy_name, &policy) < 0) {
                set_waiting(c, "InvalidImageName", "imagePullPolicy is not Always, IfNotPresent or Never");
                pod_worker_report(w);
                return;
        }
        if (policy == IMAGE_PULL_ALWAYS ||
            (policy == IMAGE_PULL_IF_NOT_PRESENT && image_store_try_get(w->rt.images, ref, &present, NULL) < 0))
                pod_worker_emit(w, c, "Normal", "Pulling", "Pulling image \"%s\"", ref);
        if (image_manager_ensure(w->rt.image_manager, ref, policy, w->pull_credentials, &callbacks, c, &c->ensure) < 0)
                log_oom();
}

/* Its root, its log's directory, the bundle, and the monitor that runs it. */
static int create_container(Container *c, const ImageInfo *image, json_object *image_config, const char *rootfs,
                            const char *log, const char *exit_file, char **ret_error) {
        _cleanup_free_ char *log_parent = pod_container_log_dir(c->worker->log_dir, c->name);
        int r;

        if (!log_parent)
                return -ENOMEM;
        r = mkdir_p(rootfs, 0755);
        if (r < 0)
                return error_set(ret_error, r, "create %s: %m", rootfs);
        r = mkdir_p(log_parent, 0755);
        if (r < 0)
                return error_set(ret_error, r, "create %s: %m", log_parent);
        r = image_rootfs_create(c->worker->rt.images, image->manifest_digest, c->id, rootfs, ret_error);
        if (r < 0)
                return error_set(ret_error, r, "unpack the image into %s: %m", rootfs);
        r = write_bundle(c, image_config, rootfs);
        if (r < 0)
                return error_set(ret_error, r, "write the bundle in %s: %m", c->dir);
        r = spawn_monitor(c, log, exit_file);
        if (r < 0)
                return error_set(ret_error, r, "start its monitor: %m");
        return 0;
}

/* With the image in the store (by reference or digest): its root, the bundle, the monitor. */
static void start_with_image(Container *c, const char *image_ref) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *error = NULL, *rootfs = NULL, *log = NULL, *exit_file = NULL;
        _cleanup_(image_info_freep) ImageInfo *image = NULL;
        _cleanup_(json_object_putp) json_object *image_config = NULL;
        const char *ref = c->spec->image;
        int r;

        r = image_store_get(w->rt.images, image_ref, &image, &error);
        if (r < 0) {
                set_waiting(c, "ErrImagePull", error);
                pod_worker_emit(w, c, "Warning", "Failed", "Failed to pull image \"%s\": %s", ref, error ?: strerror(-r));
                pod_worker_report(w);
                return;
        }
        free(c->image_id);
        c->image_id = strdup(image->manifest_digest);
        r = image_store_get_config(w->rt.images, image, &image_config, &error);
        if (r < 0) {
                set_waiting(c, "CreateContainerError", error);
                pod_worker_report(w);
                return;
        }
        if (!(rootfs = pod_file(c->dir, POD_RUN_ROOTFS)) ||
            !(log = pod_container_log(w->log_dir, c->name, c->restart_count)) ||
            !(exit_file = pod_file(c->dir, POD_RUN_EXIT_FILE)))
                return;
        r = create_container(c, image, image_config, rootfs, log, exit_file, &error);
        if (r < 0) {
                bool config_error = c->phase == CONTAINER_WAITING && c->waiting_reason &&
                                    streq(c->waiting_reason, "CreateContainerConfigError");
                if (!config_error)
                        set_failed(c, "CreateContainerError", error ?: strerror(-r));
                (void) image_rootfs_remove(w->rt.images, c->id, rootfs, NULL);
                /* Tried again, as kubelet's pod worker syncs a pod again after an error: the
                 * annotation or env the subPathExpr lacked may be there by then. */
                if (config_error)
                        (void) sd_event_add_time_relative(w->rt.event, &c->backoff_timer, CLOCK_MONOTONIC,
                                                          CONTAINER_CONFIG_RETRY_USEC, 0, on_retry, c);
                pod_worker_report(w);
                return;
        }
        record_monitor(c);
        link_container_log(c, log);
        pod_worker_emit(w, c, "Normal", "Created", "Created container %s", c->name);
        r = sd_event_add_io(w->rt.event, &c->ready_source, c->ready_fd, EPOLLIN, on_ready, c);
        if (r < 0) {
                log_container_full_errno(c, LOG_ERR, r, "watch its monitor's ready pipe: %m");
                return;
        }
        r = watch_monitor(c);
        if (r < 0)
                log_container_full_errno(c, LOG_ERR, r, "watch its monitor: %m");
}

static void container_cleanup(Container *c) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *root = pod_worker_runtime_root(w), *rootfs = NULL;

        if (!c->id || !root)
                return;
        (void) container_delete(root, c->id, true, NULL);
        rootfs = pod_file(c->dir, POD_RUN_ROOTFS);
        if (rootfs)
                (void) image_rootfs_remove(w->rt.images, c->id, rootfs, NULL);
}

static void stop_probes(Container *c) {
        probe_free(c->startup);
        probe_free(c->readiness);
        probe_free(c->liveness);
        c->startup = c->readiness = c->liveness = NULL;
        c->kill_timer = sd_event_source_disable_unref(c->kill_timer);
        c->hook = lifecycle_hook_free(c->hook);
}

static void on_readiness(Probe *p, bool success, const char *message, void *userdata) {
        Container *c = userdata;

        c->ready = success;
        if (!success)
                pod_worker_emit(c->worker, c, "Warning", "Unhealthy", "Readiness probe failed: %s", message ?: "");
        pod_worker_report(c->worker);
}

static int on_kill_after_grace(sd_event_source *s, uint64_t usec, void *userdata) {
        Container *c = userdata;
        _cleanup_free_ char *root = pod_worker_runtime_root(c->worker);

        c->kill_timer = sd_event_source_disable_unref(c->kill_timer);
        if (root)
                (void) container_kill(root, c->id, SIGKILL, NULL);
        return 0;
}

/* SIGTERM and SIGKILL after grace_seconds; SIGKILL at once for 0. */
static void send_stop_signals(Container *c, int64_t grace_seconds) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *root = pod_worker_runtime_root(w);

        if (!root)
                return;
        (void) container_kill(root, c->id, grace_seconds > 0 ? SIGTERM : SIGKILL, NULL);
        c->kill_timer = sd_event_source_disable_unref(c->kill_timer);
        if (grace_seconds > 0 &&
            sd_event_add_time_relative(w->rt.event, &c->kill_timer, CLOCK_MONOTONIC,
                                       (uint64_t) grace_seconds * CONTAINER_USEC_PER_SEC, 0, on_kill_after_grace, c) < 0)
                log_container_full_errno(c, LOG_ERR, 0, "cannot schedule its SIGKILL");
}

static void on_pre_stop_done(LifecycleHook *h, bool success, const char *message, void *userdata) {
        Container *c = userdata;
        PodWorker *w = c->worker;
        int64_t left = c->stop_grace_seconds - (int64_t) ((pod_worker_now(w) - c->stop_started_usec) / CONTAINER_USEC_PER_SEC);

        c->hook = lifecycle_hook_free(c->hook);
        if (!success)
                pod_worker_emit(w, c, "Warning", "FailedPreStopHook", "PreStopHook failed: %s", message ?: "");
        send_stop_signals(c, MAX(left, CONTAINER_MIN_GRACE_SECONDS));
}

/* What runs a command in the container, for exec probes and hooks: stevedore-runc --root
 * ROOT exec ID; NULL when out of memory. */
static char **exec_prefix(Container *c) {
        _cleanup_free_ char *root = pod_worker_runtime_root(c->worker);
        const char *words[] = { c->worker->rt.runtime_path, "--root", root, "exec", c->id };
        char **prefix = root ? calloc(ELEMENTSOF(words) + 1, sizeof(char *)) : NULL;

        for (size_t i = 0; prefix && i < ELEMENTSOF(words); i++)
                if (!(prefix[i] = strdup(words[i]))) {
                        strv_free(prefix);
                        return NULL;
                }
        return prefix;
}

void pod_container_stop(Container *c, int64_t grace_seconds) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *error = NULL;
        _cleanup_strv_free_ char **prefix = NULL;
        int r;

        if (!pod_container_active(c))
                return;
        if (c->stopping) {
                if (grace_seconds == 0) {
                        c->hook = lifecycle_hook_free(c->hook);
                        send_stop_signals(c, 0);
                }
                return;
        }
        stop_probes(c);
        c->stopping = true;
        c->post_start_pending = false;
        c->stop_started_usec = pod_worker_now(w);
        c->stop_grace_seconds = grace_seconds;
        if (c->spec->pre_stop && grace_seconds > 0 && c->phase == CONTAINER_RUN && (prefix = exec_prefix(c))) {
                r = lifecycle_hook_run(w->rt.event, c->spec->pre_stop, c->spec->json, w->pod_ip, prefix,
                                       (uint64_t) grace_seconds * CONTAINER_USEC_PER_SEC, on_pre_stop_done, c, &c->hook,
                                       &error);
                if (r >= 0)
                        return;
                pod_worker_emit(w, c, "Warning", "FailedPreStopHook", "PreStopHook failed: %s", error ?: strerror(-r));
        }
        send_stop_signals(c, grace_seconds);
}

/* A failed liveness or startup probe restarts the container as kubelet does: stopped
 * with the pod's grace period; the restart policy does the rest. probe: "Liveness" or
 * "Startup". */
static void kill_unhealthy(Container *c, const char *probe, const char *what, const char *message) {
        PodWorker *w = c->worker;

        if (c->stopping)
                return;
        pod_worker_emit(w, c, "Warning", "Unhealthy", "%s probe failed: %s", probe, message ?: "");
        pod_worker_emit(w, c, "Normal", "Killing", "Container %s failed %s probe, will be restarted", c->name, what);
        pod_container_stop(c, w->spec->termination_grace_seconds);
}

static void on_liveness(Probe *p, bool success, const char *message, void *userdata) {
        if (!success)
                kill_unhealthy(userdata, "Liveness", "liveness", message);
}

/* Readiness and liveness probes, once the container has started. */
static void start_health_probes(Container *c) {
        PodWorker *w = c->worker;
        json_object *readiness = c->spec->readiness_probe, *liveness = c->spec->liveness_probe;
        _cleanup_strv_free_ char **prefix = exec_prefix(c);

        c->ready = !readiness;
        if (readiness &&
            probe_new(w->rt.event, readiness, c->spec->json, w->pod_ip, prefix, on_readiness, c, &c->readiness) < 0) {
                log_container_full_errno(c, LOG_WARNING, 0,
                                         "readinessProbe cannot be run (port, or no pod IP); ready without it");
                c->ready = true;
        }
        if (liveness && probe_new(w->rt.event, liveness, c->spec->json, w->pod_ip, prefix, on_liveness, c, &c->liveness) < 0)
                log_container_full_errno(c, LOG_WARNING, 0, "livenessProbe cannot be run (port, or no pod IP)");
}

/* The startupProbe's verdict: started, and the other probes begin (kubelet stops
 * probing for startup then); or failureThreshold failures, and the container is killed. */
static void on_startup(Probe *p, bool success, const char *message, void *userdata) {
        Container *c = userdata;

        if (!success) {
                kill_unhealthy(c, "Startup", "startup", message);
                return;
        }
        if (c->stopping) /* being killed for an earlier failure */
                return;
        probe_free(c->startup);
        c->startup = NULL;
        c->started = true;
        start_health_probes(c);
        /* A started sidecar lets the next init container run. */
        pod_worker_sync(c->worker);
}

/* While a startupProbe has not succeeded the container is not started and its liveness
 * and readiness probes do not run, as kubelet's prober manager does it. */
static void start_probes(Container *c) {
        PodWorker *w = c->worker;
        json_object *startup = c->spec->startup_probe;
        _cleanup_strv_free_ char **prefix = exec_prefix(c);

        stop_probes(c);
        c->started = !startup;
        c->ready = false;
        if (startup && probe_new(w->rt.event, startup, c->spec->json, w->pod_ip, prefix, on_startup, c, &c->startup) < 0) {
                log_container_full_errno(c, LOG_WARNING, 0,
                                         "startupProbe cannot be run (port, or no pod IP); started without it");
                c->started = true;
        }
        if (c->started)
                start_health_probes(c);
}

static void on_post_start_done(LifecycleHook *h, bool success, const char *message, void *userdata) {
        Container *c = userdata;
        PodWorker *w = c->worker;

        c->hook = lifecycle_hook_free(c->hook);
        c->post_start_pending = false;
        if (!success) {
                pod_worker_emit(w, c, "Warning", "FailedPostStartHook", "PostStartHook failed: %s", message ?: "");
                pod_container_stop(c, w->spec->termination_grace_seconds);
                return;
        }
        start_probes(c);
        pod_worker_sync(w);
}

/* Its probes wait for the postStart hook, as kubelet's start of the container does. */
static void run_post_start(Container *c) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *error = NULL;
        _cleanup_strv_free_ char **prefix = exec_prefix(c);
        int r;

        stop_probes(c);
        c->started = c->ready = false;
        c->post_start_pending = true;
        r = prefix ? lifecycle_hook_run(w->rt.event, c->spec->post_start, c->spec->json, w->pod_ip, prefix, 0,
                                        on_post_start_done, c, &c->hook, &error)
                   : -ENOMEM;
        if (r < 0)
                on_post_start_done(NULL, false, error ?: strerror(-r), c);
}

static int on_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Container *c = userdata;
        PodWorker *w = c->worker;
        char buf[1024];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);

        c->ready_source = sd_event_source_disable_unref(c->ready_source);
        c->ready_fd = safe_close(c->ready_fd);
        buf[n > 0 ? n : 0] = '\0';
        if (n > 0 && buf[0] >= '0' && buf[0] <= '9') {
                c->phase = CONTAINER_RUN;
                free(c->started_at);
                c->started_at = pod_worker_now_rfc3339();
                c->started_usec = pod_worker_now(w);
                pod_worker_emit(w, c, "Normal", "Started", "Started container %s", c->name);
                if (c->spec->post_start)
                        run_post_start(c);
                else
                        start_probes(c);
                pod_worker_sync(w);
        } else {
                buf[strcspn(buf, "\n")] = '\0';
                set_failed(c, "RunContainerError", n > 0 ? buf + (strncmp(buf, "error: ", 7) == 0 ? 7 : 0) : "the monitor died");
        }
        pod_worker_report(w);
        return 0;
}

/* "2026-11-23T12:00:00.123456789Z" → "2026-11-23T12:00:00Z", as the API shows times. */
static char *to_seconds(const char *t) {
        char *out = NULL;

        if (!t || strlen(t) < 19)
                return NULL;
        return asprintf(&out, "%.19sZ", t) < 0 ? NULL : out;
}

/* The end of the container's log as kubelet's FallbackToLogsOnError takes it: the last
 * 80 lines, at most 2 KiB. */
static char *log_tail(Container *c) {
        _cleanup_free_ char *log = pod_container_log(c->worker->log_dir, c->name, c->restart_count), *content = NULL,
                            *text = NULL;
        size_t size = 0, start, n_content;
        const char *lines;
        FILE *f;

        if (!log || read_file_tail(log, TERMINATION_LOG_READ_MAX, &content, &n_content) < 0 ||
            !(f = open_memstream(&text, &size)))
                return NULL;
        /* A window that starts inside a line starts after it. */
        lines = n_content == TERMINATION_LOG_READ_MAX ? strchr(content, '\n') : content;
        cri_log_to_text(lines ? lines + (lines != content) : "", false, f);
        fclose(f);
        start = size;
        for (unsigned n = 0; start > 0; start--)
                if (text[start - 1] == '\n' && start != size && ++n == TERMINATION_MESSAGE_LOG_LINES)
                        break;
        if (size - start > TERMINATION_MESSAGE_LOG_BYTES)
                start = size - TERMINATION_MESSAGE_LOG_BYTES;
        return strdup(text + start);
}

/* The end of what the container left in its terminationMessagePath (4 KiB, as kubelet
 * reads it), else, with terminationMessagePolicy FallbackToLogsOnError and a failure, the
 * end of its log. */
static char *termination_message(Container *c, int exit_code) {
        _cleanup_free_ char *path = pod_file(c->dir, POD_RUN_TERMINATION_LOG), *content = NULL;
        size_t size = 0;

        if (path && read_file_tail(path, TERMINATION_MESSAGE_MAX, &content, &size) >= 0 && size > 0)
                return TAKE_PTR(content);
        if (exit_code != 0 &&
            streq(json_get_string(c->spec->json, "terminationMessagePolicy", NULL) ?: "", "FallbackToLogsOnError"))
                return log_tail(c);
        return NULL;
}

static void read_exit(Container *c) {
        _cleanup_free_ char *path = NULL, *content = NULL;
        json_object *o = NULL, *v;
        bool oom_killed = false;
        char id[256];

        exit_done(&c->state);
        /* No exit file: the monitor itself was killed with the container. */
        c->state.exit_code = 128 + SIGKILL;
        c->state.signal = SIGKILL;
        if ((path = pod_file(c->dir, POD_RUN_EXIT_FILE)) && read_full_file(path, 65536, &content, NULL) >= 0)
                o = json_tokener_parse(content);
        if (o) {
                c->state.exit_code = json_object_object_get_ex(o, "exitCode", &v) ? json_object_get_int(v) : 255;
                c->state.signal = json_object_object_get_ex(o, "signal", &v) ? json_object_get_int(v) : 0;
                c->state.started_at = to_seconds(json_get_string(o, "startedAt", NULL));
                c->state.finished_at = to_seconds(json_get_string(o, "finishedAt", NULL));
                oom_killed = json_object_object_get_ex(o, "oomKilled", &v) && json_object_get_boolean(v);
                json_object_put(o);
        }
        c->state.reason = strdup(container_exit_reason(c->state.exit_code, oom_killed));
        c->state.message = termination_message(c, c->state.exit_code);
        snprintf(id, sizeof(id), "stevedore://%s", c->id);
        c->state.container_id = strdup(id);
        c->phase = CONTAINER_EXITED;
}

/* The exited container becomes lastState; the next run starts now or after the back-off,
 * or none when the restart policy says so. */
static void after_exit(Container *c) {
        PodWorker *w = c->worker;
        bool sidecar = c->spec->restartable;
        ContainerExitDecision next = container_exit_decide(sidecar ? POD_RESTART_ALWAYS
                                                           : c->spec->ephemeral ? POD_RESTART_NEVER
                                                                                : w->spec->restart_policy,
                                                           c->init && !sidecar,
                                                           w->terminating || w->deadline_exceeded ||
                                                                   (sidecar && w->sidecars_stopping),
                                                           c->state.exit_code, pod_worker_now(w) - c->started_usec,
                                                           c->backoff_usec);
        char message[256];

        if (next.action == CONTAINER_STAY_EXITED)
                return;
        c->backoff_usec = next.backoff_usec;
        exit_done(&c->last);
        c->last = c->state;
        c->state = (ContainerExit) {};
        c->has_last = true;
        c->restart_count++;
        if (next.action == CONTAINER_RESTART_NOW) {
                set_waiting(c, "ContainerCreating", NULL);
                pod_container_run(c);
                return;
        }
        snprintf(message, sizeof(message), "back-off %" PRIu64 "s restarting failed container=%s pod=%s",
                 next.delay_usec / CONTAINER_USEC_PER_SEC, c->name, w->spec->name);
        set_waiting(c, "CrashLoopBackOff", message);
        pod_worker_emit(w, c, "Warning", "BackOff", "Back-off restarting failed container %s in pod %s", c->name,
                        w->spec->name);
        if (sd_event_add_time_relative(w->rt.event, &c->backoff_timer, CLOCK_MONOTONIC, next.delay_usec, 0,
                                       on_retry, c) < 0)
                log_container_full_errno(c, LOG_ERR, 0, "cannot schedule its restart");
}

static int on_monitor_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Container *c = userdata;
        PodWorker *w = c->worker;
        siginfo_t info = {};

        /* Ours to reap unless it was adopted from an earlier agent. */
        (void) waitid((idtype_t) P_PIDFD, (id_t) fd, &info, WEXITED | WNOHANG);
        c->monitor_source = sd_event_source_disable_unref(c->monitor_source);
        c->monitor_pidfd = safe_close(c->monitor_pidfd);
        c->ready_source = sd_event_source_disable_unref(c->ready_source);
        c->ready_fd = safe_close(c->ready_fd);
        stop_probes(c);
        c->ready = c->started = c->stopping = c->post_start_pending = false;
        if (c->phase == CONTAINER_WAITING && !c->id)
                return 0;
        if (c->phase != CONTAINER_WAITING || !c->waiting_reason || !streq(c->waiting_reason, "RunContainerError"))
                read_exit(c);
        container_cleanup(c);
        if (c->phase == CONTAINER_EXITED)
                after_exit(c);
        pod_worker_sync(w);
        pod_worker_report(w);
        return 0;
}

bool pod_container_active(const Container *c) {
        return c->monitor_source || c->ready_source;
}

bool pod_container_pending(const Container *c) {
        return pod_container_active(c) || c->backoff_timer || c->ensure;
}

/* A container that a previous agent started: its monitor still runs (adopted) or
 * its exit file says how it ended. */
void pod_container_adopt(Container *c) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *pid_path = NULL, *pid_text = NULL, *exit_path = NULL;
        unsigned latest;

        if (pod_container_newest_run(w->pod_run_dir, c->name, &latest) < 0)
                return;
        c->restart_count = latest;
        if (container_paths(c) < 0 || !(pid_path = pod_file(c->dir, POD_RUN_MONITOR_PID_FILE)) ||
            !(exit_path = pod_file(c->dir, POD_RUN_EXIT_FILE)))
                return;
        if (read_one_line_file(pid_path, &pid_text) >= 0) {
                c->monitor_pid = atoi(pid_text);
                if (access(exit_path, F_OK) < 0 && watch_monitor(c) >= 0) {
                        _cleanup_(image_info_freep) ImageInfo *image = NULL;

                        if (image_store_get(w->rt.images, c->spec->image, &image, NULL) >= 0)
                                c->image_id = strdup(image->manifest_digest);
                        c->phase = CONTAINER_RUN;
                        c->started_at = pod_worker_now_rfc3339();
                        c->started_usec = pod_worker_now(w);
                        log_container_full_errno(c, LOG_INFO, 0, "adopted (monitor %d)", c->monitor_pid);
                        start_probes(c);
                        return;
                }
        }
        /* It ended while no agent watched. */
        read_exit(c);
        container_cleanup(c);
        after_exit(c);
}

void pod_container_init(Container *c, PodWorker *w, const PodSpecContainer *spec, bool pod_has_init_containers) {
        *c = (Container) {
                .worker = w,
                .spec = spec,
                .name = spec->name,
                .init = spec->init,
                .monitor_pidfd = -EBADF,
                .ready_fd = -EBADF,
        };
        set_waiting(c, pod_has_init_containers ? "PodInitializing" : "ContainerCreating", NULL);
}

void pod_container_cancel(Container *c) {
        c->backoff_timer = sd_event_source_disable_unref(c->backoff_timer);
        if (c->ensure) {
                image_ensure_cancel(c->ensure);
                c->ensure = NULL;
        }
}

void pod_container_done(Container *c) {
        sd_event_source_disable_unref(c->monitor_source);
        sd_event_source_disable_unref(c->ready_source);
        pod_container_cancel(c);
        stop_probes(c);
        safe_close(c->monitor_pidfd);
        safe_close(c->ready_fd);
        free(c->waiting_reason);
        free(c->waiting_message);
        free(c->id);
        free(c->dir);
        free(c->image_id);
        free(c->started_at);
        exit_done(&c->state);
        exit_done(&c->last);
}
