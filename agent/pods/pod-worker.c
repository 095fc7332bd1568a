/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "container-spec.h"
#include "container.h"
#include "image-manager.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "pod-cgroup.h"
#include "pod-files.h"
#include "pod-paths.h"
#include "probe.h"
#include "pod-worker.h"
#include "pull-secrets.h"
#include "sandbox.h"

#define BACKOFF_INITIAL_USEC (10 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (300 * USEC_PER_SEC)
#define BACKOFF_RESET_USEC (600 * USEC_PER_SEC)
#define USEC_PER_SEC UINT64_C(1000000)

typedef enum ContainerPhase { CONTAINER_WAITING, CONTAINER_RUN, CONTAINER_EXITED } ContainerPhase;

typedef struct Exit {
        int exit_code, signal;
        char *reason, *started_at, *finished_at, *container_id;
} Exit;

typedef struct Container {
        PodWorker *worker;
        json_object *spec; /* in the pod */
        const char *name;
        bool init;
        ContainerPhase phase;
        char *waiting_reason, *waiting_message;
        unsigned restart_count;
        char *id;         /* the runtime's: <pod uid>-<name>-<restart> */
        char *dir;        /* <pod run dir>/containers/<name>/<restart> */
        char *image_ref, *image_id;
        char *started_at; /* running since */
        uint64_t started_usec;
        pid_t monitor_pid;
        int monitor_pidfd, ready_fd;
        sd_event_source *monitor_source, *ready_source, *backoff_timer;
        uint64_t backoff_usec, image_backoff_usec;
        ImageEnsure *ensure; /* the image being made present */
        Probe *startup, *readiness, *liveness;
        bool started;                /* running and its startupProbe (if any) has succeeded */
        bool ready;                  /* started and its readiness probe (if any) succeeds */
        sd_event_source *kill_timer; /* SIGKILL after a failed liveness or startup probe's SIGTERM */
        unsigned image_failures;
        Exit state, last; /* state while exited; last: the one before (lastState) */
        bool has_state, has_last;
} Container;

struct PodWorker {
        PodRuntime rt;
        json_object *pod, *status, *objects;
        char *uid, *key; /* key: namespace/name */
        char *pod_run_dir, *pod_state_dir, *sandbox_dir, *log_dir;
        char *pod_ip, *started_at, *netns_path;
        char *cgroup_parent; /* pod_cgroup_parent() */
        bool cgroup_created;
        bool sandbox_ready, network_added, terminating, gone;
        Container *containers;
        size_t n_containers, n_init;
        ContainerSpecVolume *volumes;
        size_t n_volumes;
        AuthFile *pull_credentials; /* from its imagePullSecrets; NULL: none */
        sd_event_source *kill_timer, *defer;
};

static uint64_t now_usec(PodWorker *w) {
        uint64_t t = 0;
        sd_event_now(w->rt.event, CLOCK_MONOTONIC, &t);
        return t;
}

static char *rfc3339_now(void) {
        char buf[32];
        time_t t = time(NULL);
        struct tm tm;

        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        return strdup(buf);
}

/* What the journal files a message about the pod (and container c, if given) under. */
static LogContext log_context(PodWorker *w, Container *c) {
        return (LogContext) {
                .namespace = json_get_string(w->pod, "metadata", "namespace", NULL),
                .pod = json_get_string(w->pod, "metadata", "name", NULL),
                .container = c ? c->name : NULL,
        };
}

/* An event about the pod, or about its container c (NULL: the pod's). */
static void emit(PodWorker *w, Container *c, const char *type, const char *reason, const char *format, ...)
        _printf_(5, 6);
static void emit(PodWorker *w, Container *c, const char *type, const char *reason, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        LogContext context = log_context(w, c);
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);
        if (!message)
                return;
        if (streq(type, "Warning"))
                log_context_warning(&context, "pod %s: %s: %s", w->key, reason, message);
        else
                log_context_info(&context, "pod %s: %s: %s", w->key, reason, message);
        if (w->rt.emit_event)
                w->rt.emit_event(w, type, reason, message, w->rt.userdata);
}

static void exit_done(Exit *e) {
        free(e->reason);
        free(e->started_at);
        free(e->finished_at);
        free(e->container_id);
        *e = (Exit) {};
}

static void set_waiting(Container *c, const char *reason, const char *message) {
        c->phase = CONTAINER_WAITING;
        free(c->waiting_reason);
        free(c->waiting_message);
        c->waiting_reason = reason ? strdup(reason) : NULL;
        c->waiting_message = message ? strdup(message) : NULL;
}

static void report(PodWorker *w);
static void sync_pod(PodWorker *w);

/* --- status ------------------------------------------------------------------------ */

static json_object *exit_json(const Exit *e) {
        json_object *t = json_object_new_object(), *o = json_object_new_object();

        json_object_object_add(t, "exitCode", json_object_new_int(e->exit_code));
        if (e->signal)
                json_object_object_add(t, "signal", json_object_new_int(e->signal));
        json_object_object_add(t, "reason", json_object_new_string(e->reason ?: "Error"));
        if (e->started_at)
                json_object_object_add(t, "startedAt", json_object_new_string(e->started_at));
        if (e->finished_at)
                json_object_object_add(t, "finishedAt", json_object_new_string(e->finished_at));
        if (e->container_id)
                json_object_object_add(t, "containerID", json_object_new_string(e->container_id));
        json_object_object_add(o, "terminated", t);
        return o;
}

static json_object *container_status(const Container *c) {
        json_object *s = json_object_new_object(), *state = json_object_new_object(), *inner;
        char id[256];

        json_object_object_add(s, "name", json_object_new_string(c->name));
        switch (c->phase) {
        case CONTAINER_WAITING:
                inner = json_object_new_object();
                json_object_object_add(inner, "reason", json_object_new_string(c->waiting_reason ?: "ContainerCreating"));
                if (c->waiting_message)
                        json_object_object_add(inner, "message", json_object_new_string(c->waiting_message));
                json_object_object_add(state, "waiting", inner);
                break;
        case CONTAINER_RUN:
                inner = json_object_new_object();
                json_object_object_add(inner, "startedAt", json_object_new_string(c->started_at ?: ""));
                json_object_object_add(state, "running", inner);
                break;
        case CONTAINER_EXITED:
                json_object_put(state);
                state = exit_json(&c->state);
                break;
        }
        json_object_object_add(s, "state", state);
        json_object_object_add(s, "lastState", c->has_last ? exit_json(&c->last) : json_object_new_object());
        json_object_object_add(s, "ready", json_object_new_boolean(c->phase == CONTAINER_RUN && c->started && c->ready));
        json_object_object_add(s, "started", json_object_new_boolean(c->phase == CONTAINER_RUN && c->started));
        json_object_object_add(s, "restartCount", json_object_new_int((int) c->restart_count));
        json_object_object_add(s, "image", json_object_new_string(json_get_string(c->spec, "image", NULL) ?: ""));
        json_object_object_add(s, "imageID", json_object_new_string(c->image_id ?: ""));
        if (c->id && c->phase != CONTAINER_WAITING) {
                snprintf(id, sizeof(id), "stevedore://%s", c->id);
                json_object_object_add(s, "containerID", json_object_new_string(id));
        }
        return s;
}

static json_object *condition(const char *type, bool status, const char *reason) {
        json_object *c = json_object_new_object();

        json_object_object_add(c, "type", json_object_new_string(type));
        json_object_object_add(c, "status", json_object_new_string(status ? "True" : "False"));
        if (reason && !status)
                json_object_object_add(c, "reason", json_object_new_string(reason));
        json_object_object_add(c, "lastProbeTime", NULL);
        return c;
}

/* kubelet's getPhase, for what this worker tracks. */
static const char *pod_phase(PodWorker *w, bool *ret_initialized, bool *ret_ready) {
        const char *policy = json_get_string(w->pod, "spec", "restartPolicy", NULL) ?: "Always";
        size_t running = 0, waiting = 0, succeeded = 0, failed = 0, n = w->n_containers - w->n_init;

        *ret_initialized = true;
        *ret_ready = false;
        for (size_t i = 0; i < w->n_init; i++) {
                Container *c = &w->containers[i];
                bool done = c->phase == CONTAINER_EXITED && c->state.exit_code == 0;
                if (!done) {
                        *ret_initialized = false;
                        if (c->phase == CONTAINER_EXITED && streq(policy, "Never"))
                                return "Failed";
                        return "Pending";
                }
        }
        for (size_t i = w->n_init; i < w->n_containers; i++) {
                Container *c = &w->containers[i];
                if (c->phase == CONTAINER_RUN)
                        running++;
                else if (c->phase == CONTAINER_WAITING && c->has_last)
                        streq(policy, "Always") || c->last.exit_code != 0 ? running++ : succeeded++;
                else if (c->phase == CONTAINER_WAITING)
                        waiting++;
                else if (c->state.exit_code == 0)
                        succeeded++;
                else
                        failed++;
        }
        *ret_ready = n > 0 && running == n;
        for (size_t i = w->n_init; i < w->n_containers; i++)
                if (w->containers[i].phase != CONTAINER_RUN || !w->containers[i].started || !w->containers[i].ready)
                        *ret_ready = false;
        if (waiting > 0)
                return "Pending";
        if (running > 0)
                return "Running";
        if (streq(policy, "Always"))
                return "Running";
        if (failed > 0)
                return streq(policy, "Never") ? "Failed" : "Running";
        return "Succeeded";
}

static void report(PodWorker *w) {
        json_object *status = json_object_new_object(), *conditions = json_object_new_array(), *list;
        bool initialized, ready;
        const char *phase = pod_phase(w, &initialized, &ready);

        json_object_object_add(status, "phase", json_object_new_string(phase));
        json_object_array_add(conditions, condition("PodReadyToStartContainers", w->sandbox_ready, NULL));
        json_object_array_add(conditions, condition("Initialized", initialized, "ContainersNotInitialized"));
        json_object_array_add(conditions, condition("ContainersReady", ready, "ContainersNotReady"));
        json_object_array_add(conditions, condition("Ready", ready, "ContainersNotReady"));
        json_object_array_add(conditions, condition("PodScheduled", true, NULL));
        json_object_object_add(status, "conditions", conditions);
        if (w->rt.node_ip) {
                json_object *ips = json_object_new_array(), *ip = json_object_new_object();
                json_object_object_add(status, "hostIP", json_object_new_string(w->rt.node_ip));
                json_object_object_add(ip, "ip", json_object_new_string(w->rt.node_ip));
                json_object_array_add(ips, ip);
                json_object_object_add(status, "hostIPs", ips);
        }
        if (w->pod_ip) {
                json_object *ips = json_object_new_array(), *ip = json_object_new_object();
                json_object_object_add(status, "podIP", json_object_new_string(w->pod_ip));
                json_object_object_add(ip, "ip", json_object_new_string(w->pod_ip));
                json_object_array_add(ips, ip);
                json_object_object_add(status, "podIPs", ips);
        }
        if (w->started_at)
                json_object_object_add(status, "startTime", json_object_new_string(w->started_at));
        json_object_object_add(status, "qosClass", json_object_new_string(pod_qos_class(w->pod)));
        list = json_object_new_array();
        for (size_t i = 0; i < w->n_init; i++)
                json_object_array_add(list, container_status(&w->containers[i]));
        json_object_object_add(status, "initContainerStatuses", list);
        list = json_object_new_array();
        for (size_t i = w->n_init; i < w->n_containers; i++)
                json_object_array_add(list, container_status(&w->containers[i]));
        json_object_object_add(status, "containerStatuses", list);

        if (w->status && json_object_equal(w->status, status)) {
                json_object_put(status);
                return;
        }
        json_object_put(w->status);
        w->status = status;
        if (w->rt.status_changed)
                w->rt.status_changed(w, status, w->rt.userdata);
}

/* --- paths ------------------------------------------------------------------------- */

static int container_paths(Container *c) {
        PodWorker *w = c->worker;

        free(c->id);
        free(c->dir);
        c->id = c->dir = NULL;
        if (asprintf(&c->id, "%s-%s-%u", w->uid, c->name, c->restart_count) < 0 ||
            asprintf(&c->dir, "%s/containers/%s/%u", w->pod_run_dir, c->name, c->restart_count) < 0)
                return -ENOMEM;
        return 0;
}

static char *runtime_root(PodWorker *w) {
        char *root = NULL;
        return asprintf(&root, "%s/runtime", w->rt.run_dir) < 0 ? NULL : root;
}

/* --- the sandbox ------------------------------------------------------------------- */

static int write_pod_file(PodWorker *w, const char *name, const char *content) {
        _cleanup_free_ char *path = NULL;

        if (!content || asprintf(&path, "%s/%s", w->pod_run_dir, name) < 0)
                return -ENOMEM;
        return write_file_replace(path, content, strlen(content), 0644);
}

static int sandbox_up(PodWorker *w) {
        _cleanup_free_ char *error = NULL, *hostname = pod_hostname(w->pod), *hosts = NULL, *resolv = NULL;
        bool host_network = json_object_get_boolean(json_object_object_get(json_object_object_get(w->pod, "spec"), "hostNetwork"));
        PodNetworkResult net = {};
        int r;

        r = mkdir_p(w->pod_run_dir, 0700);
        if (r >= 0)
                r = mkdir_p(w->pod_state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "pod %s: create %s: %m", w->key, w->pod_run_dir);
        if (access(w->sandbox_dir, F_OK) < 0) {
                r = sandbox_create(w->sandbox_dir, hostname, &error);
                if (r < 0) {
                        emit(w, NULL, "Warning", "FailedCreatePodSandBox", "%s", error ?: strerror(-r));
                        return r;
                }
        }
        if (w->rt.network && !host_network) {
                r = pod_network_add(w->rt.network, w->uid, w->key, &net);
                if (r < 0) {
                        emit(w, NULL, "Warning", "FailedCreatePodSandBox", "network: %s", strerror(-r));
                        return r;
                }
                w->network_added = true;
                free(w->netns_path);
                w->netns_path = strdup(net.netns_path);
                free(w->pod_ip);
                w->pod_ip = strdup(inet_ntoa(net.address));
        } else if (host_network) {
                free(w->pod_ip);
                w->pod_ip = w->rt.node_ip ? strdup(w->rt.node_ip) : NULL;
        }
        hosts = pod_hosts_file(w->pod, w->pod_ip, w->rt.cluster_domain);
        resolv = pod_resolv_conf(w->pod, w->rt.host_resolv_conf ?: "", w->rt.cluster_dns, w->rt.cluster_domain);
        r = write_pod_file(w, "hosts", hosts);
        if (r >= 0)
                r = write_pod_file(w, "resolv.conf", resolv);
        if (r >= 0) {
                _cleanup_free_ char *line = NULL;
                r = asprintf(&line, "%s\n", hostname) < 0 ? -ENOMEM : write_pod_file(w, "hostname", line);
        }
        if (r >= 0) {
                /* Where the kubelet API's port-forward connects: the pod's network namespace,
                 * empty for the node's. */
                _cleanup_free_ char *netns = NULL;
                r = host_network ? write_pod_file(w, POD_NETNS_FILE, "")
                    : w->netns_path ? write_pod_file(w, POD_NETNS_FILE, w->netns_path)
                    : !(netns = pod_sandbox_netns(w->sandbox_dir)) ? -ENOMEM : write_pod_file(w, POD_NETNS_FILE, netns);
        }
        if (r < 0)
                return log_error_errno(r, "pod %s: write its /etc files and netns: %m", w->key);
        if (!w->cgroup_created) {
                r = pod_cgroup_create(w->rt.cgroups, w->cgroup_parent, w->pod, w->key);
                if (r < 0)
                        return r;
                w->cgroup_created = true;
        }
        w->sandbox_ready = true;
        return 0;
}

static json_object *lookup_object(void *userdata, const char *kind, const char *name) {
        PodWorker *w = userdata;
        char key[512];
        json_object *o;

        snprintf(key, sizeof(key), "%s/%s", kind, name);
        return json_object_object_get_ex(w->objects, key, &o) ? o : NULL;
}

/* The registry credentials of its imagePullSecrets; kubelet's warning for those that
 * could not be had (the pulls go on without them). */
static int pull_secrets_up(PodWorker *w) {
        _cleanup_free_ char *missing = NULL;
        int r;

        r = pull_secrets_credentials(w->pod, lookup_object, w, &w->pull_credentials, &missing);
        if (r < 0) {
                LogContext context = log_context(w, NULL);
                return log_context_error_errno(&context, r, "pod %s: imagePullSecrets: %m", w->key);
        }
        if (missing)
                emit(w, NULL, "Warning", "FailedToRetrieveImagePullSecret",
                     "Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.",
                     missing);
        return 0;
}

static int volumes_up(PodWorker *w) {
        _cleanup_free_ char *error = NULL;
        PodFieldContext fields = { w->pod_ip, w->rt.node_ip, w->rt.node_name };
        int r;

        if (w->volumes)
                return 0;
        r = volumes_setup(w->pod, w->pod_state_dir, &fields, lookup_object, w, &w->volumes,
                          &w->n_volumes, &error);
        if (r < 0)
                emit(w, NULL, "Warning", "FailedMount", "%s", error ?: strerror(-r));
        return r;
}

/* --- one container ----------------------------------------------------------------- */

static int on_monitor_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static int on_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static char *log_path(Container *c) {
        char *path = NULL;
        return asprintf(&path, "%s/%s/%u.log", c->worker->log_dir, c->name, c->restart_count) < 0 ? NULL : path;
}

/* /var/log/containers/<pod>_<namespace>_<container>-<id>.log → the pod's log, as
 * kubelet links them for log collectors. */
static void link_container_log(Container *c, const char *log) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *dir = NULL, *link = NULL;

        if (asprintf(&dir, "%s/containers", w->rt.log_dir) < 0 ||
            asprintf(&link, "%s/%s_%s_%s-%s.log", dir, json_get_string(w->pod, "metadata", "name", NULL),
                     json_get_string(w->pod, "metadata", "namespace", NULL) ?: "default", c->name, c->id) < 0)
                return;
        (void) mkdir_p(dir, 0755);
        (void) unlink(link);
        (void) symlink(log, link);
}

static int spawn_monitor(Container *c, const char *log, const char *exit_file) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *root = runtime_root(w);
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
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
        /* A session of its own: it outlives the agent, and the agent's terminal. */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
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
        _cleanup_free_ char *path = NULL;
        char text[32];

        if (asprintf(&path, "%s/monitor.pid", c->dir) < 0)
                return;
        snprintf(text, sizeof(text), "%d\n", c->monitor_pid);
        (void) write_file_replace(path, text, strlen(text), 0600);
}

static int write_bundle(Container *c, json_object *image_config, const char *rootfs) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *hosts = NULL, *resolv = NULL, *hostname = NULL, *termination = NULL, *cgroup = NULL,
                            *config_path = NULL, *error = NULL;
        json_object *config = NULL;
        const char *text;
        int r;

        if (asprintf(&hosts, "%s/hosts", w->pod_run_dir) < 0 || asprintf(&resolv, "%s/resolv.conf", w->pod_run_dir) < 0 ||
            asprintf(&hostname, "%s/hostname", w->pod_run_dir) < 0 ||
            asprintf(&termination, "%s/termination-log", c->dir) < 0 ||
            !(cgroup = pod_container_cgroups_path(pod_cgroups_driver(w->rt.cgroups), w->cgroup_parent, c->id)) ||
            asprintf(&config_path, "%s/config.json", c->dir) < 0)
                return -ENOMEM;
        r = write_file_replace(termination, "", 0, 0666);
        if (r < 0)
                return r;
        ContainerSpecContext ctx = {
                .pod = w->pod, .container = c->spec, .image_config = image_config, .rootfs = rootfs,
                .sandbox_dir = w->sandbox_dir, .pod_ip = w->pod_ip, .host_ip = w->rt.node_ip, .node_name = w->rt.node_name,
                .hosts_file = hosts, .hostname_file = hostname, .resolv_conf = resolv, .termination_log = termination,
                .cgroups_path = cgroup, .node_memory = w->rt.node_memory, .volumes = w->volumes, .n_volumes = w->n_volumes,
        };
        /* The network namespace is the pod network's, not the sandbox's. */
        ctx.netns_path = w->netns_path;
        r = container_spec_build(&ctx, &config, &error);
        if (r < 0) {
                set_waiting(c, "CreateContainerConfigError", error);
                emit(w, c, "Warning", "Failed", "Error: %s", error ?: strerror(-r));
                return r;
        }
        text = json_object_to_json_string_ext(config, JSON_C_TO_STRING_PLAIN);
        r = write_file_replace(config_path, text, strlen(text), 0600);
        json_object_put(config);
        return r;
}

static void start_with_image(Container *c, const char *image_id);
static void run_container(Container *c);

static int on_image_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Container *c = userdata;

        c->backoff_timer = sd_event_source_disable_unref(c->backoff_timer);
        run_container(c);
        return 0;
}

/* The image is there (or could not be had): go on, or try again after a back-off as
 * kubelet does (ErrImagePull, then ImagePullBackOff). */
static void on_image(int error, const char *message, const ImageEnsureResult *result, void *userdata) {
        Container *c = userdata;
        PodWorker *w = c->worker;
        const char *ref = json_get_string(c->spec, "image", NULL) ?: "";

        c->ensure = NULL;
        if (error < 0) {
                char reason[600];

                snprintf(reason, sizeof(reason), "%s", message ?: strerror(-error));
                set_waiting(c, c->image_failures++ ? "ImagePullBackOff" : "ErrImagePull", reason);
                emit(w, c, "Warning", "Failed", "Failed to pull image \"%s\": %s", ref, reason);
                if (!c->image_backoff_usec)
                        c->image_backoff_usec = BACKOFF_INITIAL_USEC;
                (void) sd_event_add_time_relative(w->rt.event, &c->backoff_timer, CLOCK_MONOTONIC, c->image_backoff_usec,
                                                  0, on_image_retry, c);
                c->image_backoff_usec = MIN(c->image_backoff_usec * 2, BACKOFF_MAX_USEC);
                report(w);
                return;
        }
        c->image_failures = 0;
        c->image_backoff_usec = 0;
        if (result->pull)
                emit(w, c, "Normal", "Pulled", "Successfully pulled image \"%s\"", ref);
        else
                emit(w, c, "Normal", "Pulled", "Container image \"%s\" already present on machine", ref);
        start_with_image(c, result->manifest_digest);
}

static void run_container(Container *c) {
        PodWorker *w = c->worker;
        _cleanup_(image_info_freep) ImageInfo *present = NULL;
        const char *ref = json_get_string(c->spec, "image", NULL) ?: "";
        const char *policy_name = json_get_string(c->spec, "imagePullPolicy", NULL);
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
                report(w);
                return;
        }
        if (policy == IMAGE_PULL_ALWAYS ||
            (policy == IMAGE_PULL_IF_NOT_PRESENT && image_store_try_get(w->rt.images, ref, &present, NULL) < 0))
                emit(w, c, "Normal", "Pulling", "Pulling image \"%s\"", ref);
        if (image_manager_ensure(w->rt.image_manager, ref, policy, w->pull_credentials, &callbacks, c, &c->ensure) < 0)
                log_oom();
}

/* With the image in the store (by reference or digest): its root, the bundle, the monitor. */
static void start_with_image(Container *c, const char *image_ref) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *error = NULL, *rootfs = NULL, *log = NULL, *exit_file = NULL, *log_parent = NULL;
        _cleanup_(image_info_freep) ImageInfo *image = NULL;
        _cleanup_(json_object_putp) json_object *image_config = NULL;
        const char *ref = json_get_string(c->spec, "image", NULL) ?: "";
        int r;

        r = image_store_get(w->rt.images, image_ref, &image, &error);
        if (r < 0) {
                set_waiting(c, "ErrImagePull", error);
                emit(w, c, "Warning", "Failed", "Failed to pull image \"%s\": %s", ref, error ?: strerror(-r));
                report(w);
                return;
        }
        free(c->image_id);
        c->image_id = strdup(image->manifest_digest);
        r = image_store_get_config(w->rt.images, image, &image_config, &error);
        if (r < 0) {
                set_waiting(c, "CreateContainerError", error);
                report(w);
                return;
        }
        if (asprintf(&rootfs, "%s/rootfs", c->dir) < 0 || !(log = log_path(c)) ||
            asprintf(&exit_file, "%s/exit.json", c->dir) < 0 || asprintf(&log_parent, "%s/%s", w->log_dir, c->name) < 0)
                return;
        r = mkdir_p(rootfs, 0755);
        if (r >= 0)
                r = mkdir_p(log_parent, 0755);
        if (r >= 0)
                r = image_rootfs_create(w->rt.images, image->manifest_digest, c->id, rootfs, &error);
        if (r >= 0)
                r = write_bundle(c, image_config, rootfs);
        if (r >= 0)
                r = spawn_monitor(c, log, exit_file);
        if (r < 0) {
                if (c->phase != CONTAINER_WAITING || !c->waiting_reason ||
                    !streq(c->waiting_reason, "CreateContainerConfigError")) {
                        set_waiting(c, "CreateContainerError", error ?: strerror(-r));
                        emit(w, c, "Warning", "Failed", "Error: %s", error ?: strerror(-r));
                }
                (void) image_rootfs_remove(w->rt.images, c->id, rootfs, NULL);
                report(w);
                return;
        }
        record_monitor(c);
        link_container_log(c, log);
        emit(w, c, "Normal", "Created", "Created container %s", c->name);
        r = sd_event_add_io(w->rt.event, &c->ready_source, c->ready_fd, EPOLLIN, on_ready, c);
        if (r >= 0)
                r = watch_monitor(c);
        if (r < 0) {
                LogContext context = log_context(w, c);
                log_context_error_errno(&context, r, "pod %s: container %s: watch its monitor: %m", w->key, c->name);
        }
}

static void container_cleanup(Container *c) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *root = runtime_root(w), *rootfs = NULL;

        if (!c->id || !root)
                return;
        (void) container_delete(root, c->id, true, NULL);
        if (asprintf(&rootfs, "%s/rootfs", c->dir) >= 0)
                (void) image_rootfs_remove(w->rt.images, c->id, rootfs, NULL);
}

static void stop_probes(Container *c) {
        probe_free(c->startup);
        probe_free(c->readiness);
        probe_free(c->liveness);
        c->startup = c->readiness = c->liveness = NULL;
        c->kill_timer = sd_event_source_disable_unref(c->kill_timer);
}

static void on_readiness(Probe *p, bool success, const char *message, void *userdata) {
        Container *c = userdata;

        c->ready = success;
        if (!success)
                emit(c->worker, c, "Warning", "Unhealthy", "Readiness probe failed: %s", message ?: "");
        report(c->worker);
}

static int on_kill_after_grace(sd_event_source *s, uint64_t usec, void *userdata) {
        Container *c = userdata;
        _cleanup_free_ char *root = runtime_root(c->worker);

        c->kill_timer = sd_event_source_disable_unref(c->kill_timer);
        if (root)
                (void) container_kill(root, c->id, SIGKILL, NULL);
        return 0;
}

/* A failed liveness or startup probe restarts the container as kubelet does: SIGTERM,
 * the grace period, SIGKILL; the restart policy does the rest. probe: "Liveness" or
 * "Startup". */
static void kill_unhealthy(Container *c, const char *probe, const char *what, const char *message) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *root = runtime_root(w);
        json_object *grace = json_object_object_get(json_object_object_get(w->pod, "spec"), "terminationGracePeriodSeconds");

        if (c->kill_timer || !root)
                return;
        emit(w, c, "Warning", "Unhealthy", "%s probe failed: %s", probe, message ?: "");
        emit(w, c, "Normal", "Killing", "Container %s failed %s probe, will be restarted", c->name, what);
        (void) container_kill(root, c->id, SIGTERM, NULL);
        (void) sd_event_add_time_relative(w->rt.event, &c->kill_timer, CLOCK_MONOTONIC,
                                          (uint64_t) (grace ? json_object_get_int64(grace) : 30) * USEC_PER_SEC, 0,
                                          on_kill_after_grace, c);
}

static void on_liveness(Probe *p, bool success, const char *message, void *userdata) {
        if (!success)
                kill_unhealthy(userdata, "Liveness", "liveness", message);
}

/* Readiness and liveness probes, once the container has started. */
static void start_health_probes(Container *c) {
        PodWorker *w = c->worker;
        json_object *readiness = json_object_object_get(c->spec, "readinessProbe");
        json_object *liveness = json_object_object_get(c->spec, "livenessProbe");
        _cleanup_free_ char *root = runtime_root(w);
        char *prefix[] = { (char *) w->rt.runtime_path, (char *) "--root", root, (char *) "exec", c->id, NULL };
        LogContext context = log_context(w, c);

        c->ready = !readiness;
        if (readiness &&
            probe_new(w->rt.event, readiness, c->spec, w->pod_ip, prefix, on_readiness, c, &c->readiness) < 0) {
                log_context_warning(&context, "pod %s: container %s: readinessProbe cannot be run (port, or no pod IP); "
                                    "ready without it", w->key, c->name);
                c->ready = true;
        }
        if (liveness && probe_new(w->rt.event, liveness, c->spec, w->pod_ip, prefix, on_liveness, c, &c->liveness) < 0)
                log_context_warning(&context, "pod %s: container %s: livenessProbe cannot be run (port, or no pod IP)",
                                    w->key, c->name);
}

/* The startupProbe's verdict: started, and the other probes begin (kubelet stops
 * probing for startup then); or failureThreshold failures, and the container is killed. */
static void on_startup(Probe *p, bool success, const char *message, void *userdata) {
        Container *c = userdata;

        if (!success) {
                kill_unhealthy(c, "Startup", "startup", message);
                return;
        }
        if (c->kill_timer) /* being killed for an earlier failure */
                return;
        probe_free(c->startup);
        c->startup = NULL;
        c->started = true;
        start_health_probes(c);
        report(c->worker);
}

/* While a startupProbe has not succeeded the container is not started and its liveness
 * and readiness probes do not run, as kubelet's prober manager does it. */
static void start_probes(Container *c) {
        PodWorker *w = c->worker;
        json_object *startup = json_object_object_get(c->spec, "startupProbe");
        _cleanup_free_ char *root = runtime_root(w);
        char *prefix[] = { (char *) w->rt.runtime_path, (char *) "--root", root, (char *) "exec", c->id, NULL };
        LogContext context = log_context(w, c);

        stop_probes(c);
        c->started = !startup;
        c->ready = false;
        if (startup && probe_new(w->rt.event, startup, c->spec, w->pod_ip, prefix, on_startup, c, &c->startup) < 0) {
                log_context_warning(&context, "pod %s: container %s: startupProbe cannot be run (port, or no pod IP); "
                                    "started without it", w->key, c->name);
                c->started = true;
        }
        if (c->started)
                start_health_probes(c);
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
                c->started_at = rfc3339_now();
                c->started_usec = now_usec(w);
                emit(w, c, "Normal", "Started", "Started container %s", c->name);
                start_probes(c);
        } else {
                buf[strcspn(buf, "\n")] = '\0';
                set_waiting(c, "RunContainerError", n > 0 ? buf + (strncmp(buf, "error: ", 7) == 0 ? 7 : 0) : "the monitor died");
                emit(w, c, "Warning", "Failed", "Error: %s", c->waiting_message ?: "");
        }
        report(w);
        return 0;
}

/* "2026-11-23T12:00:00.123456789Z" → "2026-11-23T12:00:00Z", as the API shows times. */
static char *to_seconds(const char *t) {
        char *out = NULL;

        if (!t || strlen(t) < 19)
                return NULL;
        return asprintf(&out, "%.19sZ", t) < 0 ? NULL : out;
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
        if (asprintf(&path, "%s/exit.json", c->dir) >= 0 && read_full_file(path, 65536, &content, NULL) >= 0)
                o = json_tokener_parse(content);
        if (o) {
                c->state.exit_code = json_object_object_get_ex(o, "exitCode", &v) ? json_object_get_int(v) : 255;
                c->state.signal = json_object_object_get_ex(o, "signal", &v) ? json_object_get_int(v) : 0;
                c->state.started_at = to_seconds(json_get_string(o, "startedAt", NULL));
                c->state.finished_at = to_seconds(json_get_string(o, "finishedAt", NULL));
                oom_killed = json_object_object_get_ex(o, "oomKilled", &v) && json_object_get_boolean(v);
                json_object_put(o);
        }
        /* containerd's reasons: an OOM kill in the container's cgroup wins. */
        c->state.reason = strdup(oom_killed ? "OOMKilled" : c->state.exit_code == 0 ? "Completed" : "Error");
        snprintf(id, sizeof(id), "stevedore://%s", c->id);
        c->state.container_id = strdup(id);
        c->has_state = true;
        c->phase = CONTAINER_EXITED;
}

static bool should_restart(PodWorker *w, Container *c) {
        const char *policy = json_get_string(w->pod, "spec", "restartPolicy", NULL) ?: "Always";

        if (w->terminating)
                return false;
        if (c->init)
                return c->state.exit_code != 0 && !streq(policy, "Never");
        return streq(policy, "Always") || (streq(policy, "OnFailure") && c->state.exit_code != 0);
}

static int on_backoff_done(sd_event_source *s, uint64_t usec, void *userdata) {
        Container *c = userdata;

        c->backoff_timer = sd_event_source_disable_unref(c->backoff_timer);
        run_container(c);
        return 0;
}

/* The exited container becomes lastState; the next run starts now (the first
 * restart) or after the back-off, as kubelet does it. */
static void restart_later(Container *c) {
        PodWorker *w = c->worker;
        uint64_t ran = now_usec(w) - c->started_usec;
        char message[256];

        if (ran >= BACKOFF_RESET_USEC)
                c->backoff_usec = 0;
        exit_done(&c->last);
        c->last = c->state;
        c->state = (Exit) {};
        c->has_last = true;
        c->has_state = false;
        c->restart_count++;
        if (c->backoff_usec == 0) {
                c->backoff_usec = BACKOFF_INITIAL_USEC;
                set_waiting(c, "ContainerCreating", NULL);
                run_container(c);
                return;
        }
        snprintf(message, sizeof(message), "back-off %" PRIu64 "s restarting failed container=%s pod=%s",
                 c->backoff_usec / USEC_PER_SEC, c->name, json_get_string(w->pod, "metadata", "name", NULL) ?: "");
        set_waiting(c, "CrashLoopBackOff", message);
        emit(w, c, "Warning", "BackOff", "Back-off restarting failed container %s in pod %s", c->name,
             json_get_string(w->pod, "metadata", "name", NULL) ?: "");
        if (sd_event_add_time_relative(w->rt.event, &c->backoff_timer, CLOCK_MONOTONIC, c->backoff_usec, 0,
                                       on_backoff_done, c) < 0) {
                LogContext context = log_context(w, c);
                log_context_error(&context, "pod %s: container %s: cannot schedule its restart", w->key, c->name);
        }
        c->backoff_usec = c->backoff_usec * 2 > BACKOFF_MAX_USEC ? BACKOFF_MAX_USEC : c->backoff_usec * 2;
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
        c->ready = c->started = false;
        if (c->phase == CONTAINER_WAITING && !c->id)
                return 0;
        if (c->phase != CONTAINER_WAITING || !c->waiting_reason || !streq(c->waiting_reason, "RunContainerError"))
                read_exit(c);
        container_cleanup(c);
        if (c->phase == CONTAINER_EXITED && should_restart(w, c))
                restart_later(c);
        sync_pod(w);
        report(w);
        return 0;
}

/* --- the pod ----------------------------------------------------------------------- */

static bool container_active(const Container *c) {
        return c->monitor_source || c->ready_source;
}

static bool container_pending(const Container *c) {
        return container_active(c) || c->backoff_timer || c->ensure;
}

static void teardown(PodWorker *w) {
        for (size_t i = 0; i < w->n_containers; i++) {
                Container *c = &w->containers[i];
                c->backoff_timer = sd_event_source_disable_unref(c->backoff_timer);
        }
        (void) volumes_teardown(w->pod_state_dir);
        if (w->network_added && pod_network_del(w->rt.network, w->uid, w->key) >= 0)
                w->network_added = false;
        if (w->cgroup_created && pod_cgroup_remove(w->rt.cgroups, w->cgroup_parent, w->key) >= 0)
                w->cgroup_created = false;
        (void) sandbox_remove(w->sandbox_dir, NULL);
        (void) rm_rf_at(AT_FDCWD, w->pod_run_dir);
        (void) rm_rf_at(AT_FDCWD, w->pod_state_dir);
        w->sandbox_ready = false;
        w->gone = true;
        if (w->rt.terminated)
                w->rt.terminated(w, w->rt.userdata);
}

/* Starts what should run now: the next init container, or every container once the
 * init containers have succeeded. */
static void sync_pod(PodWorker *w) {
        bool any_active = false;

        for (size_t i = 0; i < w->n_containers; i++)
                any_active |= container_active(&w->containers[i]);
        if (w->terminating) {
                if (!any_active && !w->gone)
                        teardown(w);
                return;
        }
        if (!w->sandbox_ready) {
                if (sandbox_up(w) < 0 || volumes_up(w) < 0) {
                        report(w);
                        return;
                }
        }
        for (size_t i = 0; i < w->n_init; i++) {
                Container *c = &w->containers[i];
                if (c->phase == CONTAINER_EXITED && c->state.exit_code == 0)
                        continue;
                if (c->phase == CONTAINER_WAITING && !container_pending(c) && !c->id)
                        run_container(c);
                report(w);
                return;
        }
        for (size_t i = w->n_init; i < w->n_containers; i++) {
                Container *c = &w->containers[i];
                if (c->phase == CONTAINER_WAITING && !container_pending(c) && !c->id)
                        run_container(c);
        }
        report(w);
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        PodWorker *w = userdata;
        _cleanup_free_ char *root = runtime_root(w);

        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        for (size_t i = 0; i < w->n_containers; i++)
                if (container_active(&w->containers[i]) && root)
                        (void) container_kill(root, w->containers[i].id, SIGKILL, NULL);
        return 0;
}

void pod_worker_terminate(PodWorker *w, int64_t grace_seconds) {
        _cleanup_free_ char *root = runtime_root(w);
        json_object *grace;
        bool any_active = false;

        if (w->terminating)
                return;
        w->terminating = true;
        if (grace_seconds < 0) {
                grace = json_object_object_get(json_object_object_get(w->pod, "spec"), "terminationGracePeriodSeconds");
                grace_seconds = grace ? json_object_get_int64(grace) : 30;
        }
        for (size_t i = 0; i < w->n_containers; i++) {
                Container *c = &w->containers[i];
                c->backoff_timer = sd_event_source_disable_unref(c->backoff_timer);
                if (c->ensure) {
                        image_ensure_cancel(c->ensure);
                        c->ensure = NULL;
                }
                if (!container_active(c) || !root)
                        continue;
                any_active = true;
                emit(w, c, "Normal", "Killing", "Stopping container %s", c->name);
                (void) container_kill(root, c->id, grace_seconds > 0 ? SIGTERM : SIGKILL, NULL);
        }
        if (any_active && grace_seconds > 0)
                (void) sd_event_add_time_relative(w->rt.event, &w->kill_timer, CLOCK_MONOTONIC,
                                                  (uint64_t) grace_seconds * USEC_PER_SEC, 0, on_kill_timer, w);
        sync_pod(w);
}

void pod_worker_update(PodWorker *w, json_object *pod) {
        json_object *meta = json_object_object_get(pod, "metadata"), *grace;

        if (json_object_object_get(meta, "deletionTimestamp")) {
                grace = json_object_object_get(meta, "deletionGracePeriodSeconds");
                pod_worker_terminate(w, grace ? json_object_get_int64(grace) : -1);
        }
}

/* A container that a previous agent started: its monitor still runs (adopted) or
 * its exit file says how it ended. */
static void adopt(Container *c) {
        PodWorker *w = c->worker;
        _cleanup_free_ char *count_dir = NULL, *pid_path = NULL, *pid_text = NULL, *exit_path = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int latest = -1;

        if (asprintf(&count_dir, "%s/containers/%s", w->pod_run_dir, c->name) < 0 || !(d = opendir(count_dir)))
                return;
        while ((de = readdir(d)))
                if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && atoi(de->d_name) > latest)
                        latest = atoi(de->d_name);
        if (latest < 0)
                return;
        c->restart_count = (unsigned) latest;
        if (container_paths(c) < 0 || asprintf(&pid_path, "%s/monitor.pid", c->dir) < 0 ||
            asprintf(&exit_path, "%s/exit.json", c->dir) < 0)
                return;
        if (read_one_line_file(pid_path, &pid_text) >= 0) {
                c->monitor_pid = atoi(pid_text);
                if (access(exit_path, F_OK) < 0 && watch_monitor(c) >= 0) {
                        _cleanup_(image_info_freep) ImageInfo *image = NULL;

                        if (image_store_get(w->rt.images, json_get_string(c->spec, "image", NULL) ?: "", &image, NULL) >= 0)
                                c->image_id = strdup(image->manifest_digest);
                        c->phase = CONTAINER_RUN;
                        c->started_at = rfc3339_now();
                        c->started_usec = now_usec(w);
                        LogContext context = log_context(w, c);

                        log_context_info(&context, "pod %s: container %s: adopted (monitor %d)", w->key, c->name,
                                         c->monitor_pid);
                        start_probes(c);
                        return;
                }
        }
        /* It ended while no agent watched. */
        read_exit(c);
        container_cleanup(c);
        if (should_restart(w, c))
                restart_later(c);
}

static int make_containers(PodWorker *w) {
        json_object *spec = json_object_object_get(w->pod, "spec");
        json_object *inits = json_object_object_get(spec, "initContainers"), *mains = json_object_object_get(spec, "containers");
        size_t n_init = inits ? json_object_array_length(inits) : 0, n = mains ? json_object_array_length(mains) : 0;

        w->containers = calloc(n_init + n + 1, sizeof(Container));
        if (!w->containers)
                return -ENOMEM;
        for (size_t i = 0; i < n_init + n; i++) {
                Container *c = &w->containers[i];
                c->worker = w;
                c->init = i < n_init;
                c->spec = json_object_array_get_idx(c->init ? inits : mains, c->init ? i : i - n_init);
                c->name = json_get_string(c->spec, "name", NULL) ?: "";
                c->monitor_pidfd = c->ready_fd = -EBADF;
                set_waiting(c, c->init || n_init == 0 ? "ContainerCreating" : "PodInitializing", NULL);
        }
        w->n_init = n_init;
        w->n_containers = n_init + n;
        return 0;
}

static int start_pod(sd_event_source *s, void *userdata) {
        PodWorker *w = userdata;
        int r = 0;

        w->defer = sd_event_source_disable_unref(w->defer);
        if (pull_secrets_up(w) < 0)
                return 0;
        if (access(w->sandbox_dir, F_OK) >= 0) {
                r = sandbox_up(w);
                if (r >= 0)
                        r = volumes_up(w);
                for (size_t i = 0; r >= 0 && i < w->n_containers; i++)
                        adopt(&w->containers[i]);
        }
        pod_worker_update(w, w->pod);
        sync_pod(w);
        return 0;
}

int pod_worker_new(const PodRuntime *runtime, json_object *pod, json_object *objects, PodWorker **ret) {
        PodWorker *w = calloc(1, sizeof(PodWorker));
        const char *uid = json_get_string(pod, "metadata", "uid", NULL), *name = json_get_string(pod, "metadata", "name", NULL);
        const char *namespace = json_get_string(pod, "metadata", "namespace", NULL) ?: "default";
        int r;

        if (!w)
                return -ENOMEM;
        w->rt = *runtime;
        w->pod = json_object_get(pod);
        w->objects = json_object_get(objects);
        if (!uid || !name || !*uid || strchr(uid, '/') || strchr(uid, '.')) {
                pod_worker_free(w);
                return -EINVAL;
        }
        if (asprintf(&w->uid, "%s", uid) < 0 || asprintf(&w->key, "%s/%s", namespace, name) < 0 ||
            !(w->pod_run_dir = pod_run_dir(runtime->run_dir, uid)) ||
            !(w->pod_state_dir = pod_state_dir(runtime->state_dir, uid)) ||
            !(w->sandbox_dir = pod_sandbox_dir(runtime->run_dir, uid)) ||
            !(w->log_dir = pod_log_dir(runtime->log_dir, namespace, name, uid)) ||
            !(w->cgroup_parent = pod_cgroup_parent(pod_cgroups_driver(runtime->cgroups), pod, uid)) ||
            !(w->started_at = rfc3339_now()) || (r = make_containers(w)) < 0) {
                pod_worker_free(w);
                return -ENOMEM;
        }
        /* The first sync runs from the loop: the caller has the worker by then, for the
         * status and events it reports. */
        r = sd_event_add_defer(runtime->event, &w->defer, start_pod, w);
        if (r < 0) {
                pod_worker_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

void pod_worker_free(PodWorker *w) {
        if (!w)
                return;
        for (size_t i = 0; i < w->n_containers; i++) {
                Container *c = &w->containers[i];
                sd_event_source_disable_unref(c->monitor_source);
                sd_event_source_disable_unref(c->ready_source);
                sd_event_source_disable_unref(c->backoff_timer);
                if (c->ensure)
                        image_ensure_cancel(c->ensure);
                stop_probes(c);
                safe_close(c->monitor_pidfd);
                safe_close(c->ready_fd);
                free(c->waiting_reason);
                free(c->waiting_message);
                free(c->id);
                free(c->dir);
                free(c->image_ref);
                free(c->image_id);
                free(c->started_at);
                exit_done(&c->state);
                exit_done(&c->last);
        }
        free(w->containers);
        volumes_free(w->volumes, w->n_volumes);
        auth_file_free(w->pull_credentials);
        sd_event_source_disable_unref(w->kill_timer);
        sd_event_source_disable_unref(w->defer);
        json_object_put(w->pod);
        json_object_put(w->objects);
        json_object_put(w->status);
        free(w->uid);
        free(w->key);
        free(w->pod_run_dir);
        free(w->pod_state_dir);
        free(w->sandbox_dir);
        free(w->log_dir);
        free(w->pod_ip);
        free(w->netns_path);
        free(w->cgroup_parent);
        free(w->started_at);
        free(w);
}

json_object *pod_worker_pod(PodWorker *w) {
        return w->pod;
}

json_object *pod_worker_status(PodWorker *w) {
        return w->status;
}
