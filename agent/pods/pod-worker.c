/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "fileio.h"
#include "json-util.h"
#include "pod-admission.h"
#include "pod-cgroup.h"
#include "pod-files.h"
#include "pod-paths.h"
#include "pod-worker-internal.h"
#include "pull-secrets.h"
#include "sandbox.h"

#define DEADLINE_MESSAGE "Pod was active on the node longer than the specified deadline"

uint64_t pod_worker_now(PodWorker *w) {
        uint64_t t = 0;
        sd_event_now(w->rt.event, CLOCK_MONOTONIC, &t);
        return t;
}

char *pod_worker_now_rfc3339(void) {
        char buf[32];
        time_t t = time(NULL);
        struct tm tm;

        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        return strdup(buf);
}

LogContext pod_worker_log_context(PodWorker *w, Container *c) {
        return (LogContext) {
                .namespace = w->spec->namespace,
                .pod = w->spec->name,
                .container = c ? c->name : NULL,
        };
}

void pod_worker_emit(PodWorker *w, Container *c, const char *type, const char *reason, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        LogContext context = pod_worker_log_context(w, c);
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

/* --- status ------------------------------------------------------------------------ */

static json_object *exit_json(const ContainerExit *e) {
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
        if (e->message && *e->message)
                json_object_object_add(t, "message", json_object_new_string(e->message));
        json_object_object_add(o, "terminated", t);
        return o;
}

static bool sidecar_started(const Container *c) {
        return c->phase == CONTAINER_RUN && c->started;
}

static bool container_ready(const Container *c) {
        return c->phase == CONTAINER_RUN && c->started && c->ready;
}

/* Whose readiness makes the pod's: its containers and its sidecars. */
static bool readiness_counts(const Container *c) {
        return !c->spec->ephemeral && (!c->init || c->spec->restartable);
}

/* Who stops only once the other containers have ended: sidecars, ephemeral containers. */
static bool outlives_others(const Container *c) {
        return c->spec->restartable || c->spec->ephemeral;
}

static bool init_container_complete(const Container *c) {
        return c->spec->restartable ? sidecar_started(c) : c->phase == CONTAINER_EXITED && c->state.exit_code == 0;
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
        /* An init container that completed is ready, as kubelet reports it. */
        json_object_object_add(s, "ready", json_object_new_boolean(
                                                   container_ready(c) ||
                                                   (c->init && !c->spec->restartable && c->phase == CONTAINER_EXITED &&
                                                    c->state.exit_code == 0)));
        json_object_object_add(s, "started", json_object_new_boolean(c->phase == CONTAINER_RUN && c->started));
        json_object_object_add(s, "restartCount", json_object_new_int((int) c->restart_count));
        json_object_object_add(s, "image", json_object_new_string(c->spec->image));
        json_object_object_add(s, "imageID", json_object_new_string(c->image_id ?: ""));
        if (c->id && c->phase != CONTAINER_WAITING) {
                snprintf(id, sizeof(id), "stevedore://%s", c->id);
                json_object_object_add(s, "containerID", json_object_new_string(id));
        }
        return s;
}

static int64_t pod_generation(PodWorker *w) {
        return json_object_get_int64(json_get(json_get(pod_worker_pod(w), "metadata"), "generation"));
}

/* A condition as kubelet's status manager sets it: lastTransitionTime kept from the last
 * report (or, after a restart, from the API's status) while its status stays, now when
 * it flips; observedGeneration the pod's generation. */
static json_object *condition(PodWorker *w, const char *type, bool status, const char *reason, const char *message) {
        json_object *c = json_object_new_object(), *before = json_get(w->status ?: json_get(pod_worker_pod(w), "status"), "conditions");
        const char *value = status ? "True" : "False", *since = NULL;
        _cleanup_free_ char *now = NULL;

        for (size_t i = 0; i < json_array_length(before); i++) {
                json_object *b = json_object_array_get_idx(before, i);
                if (streq(json_get_string(b, "type", NULL) ?: "", type) && streq(json_get_string(b, "status", NULL) ?: "", value))
                        since = json_get_string(b, "lastTransitionTime", NULL);
        }
        if (!since)
                since = now = pod_worker_now_rfc3339();
        json_object_object_add(c, "type", json_object_new_string(type));
        json_object_object_add(c, "status", json_object_new_string(value));
        /* null, not left out: the status is a merge patch, and a reason or message of an
         * earlier report must go. */
        json_object_object_add(c, "reason", reason ? json_object_new_string(reason) : NULL);
        json_object_object_add(c, "message", message ? json_object_new_string(message) : NULL);
        json_object_object_add(c, "lastProbeTime", NULL);
        json_object_object_add(c, "lastTransitionTime", since ? json_object_new_string(since) : NULL);
        json_object_object_add(c, "observedGeneration",
                               json_object_new_int64(pod_generation(w)));
        return c;
}

static json_object *container_statuses(const Container *containers, size_t n) {
        json_object *list = json_object_new_array();

        for (size_t i = 0; i < n; i++)
                json_object_array_add(list, container_status(&containers[i]));
        return list;
}

/* An address as the API gives it twice: "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]. */
static void add_ip(json_object *status, const char *key, const char *list_key, const char *address) {
        json_object *ips = json_object_new_array(), *ip = json_object_new_object();

        json_object_object_add(status, key, json_object_new_string(address));
        json_object_object_add(ip, "ip", json_object_new_string(address));
        json_object_array_add(ips, ip);
        json_object_object_add(status, list_key, ips);
}

/* kubelet's getPhase, for what this worker tracks. Sidecars count for Initialized (once
 * started) and Ready, not for the phase. */
static const char *pod_phase(PodWorker *w, bool *ret_initialized, bool *ret_ready) {
        PodRestartPolicy policy = w->spec->restart_policy;
        size_t running = 0, waiting = 0, succeeded = 0, failed = 0, n = w->n_spec - w->n_init;

        *ret_initialized = true;
        *ret_ready = false;
        if (w->deadline_exceeded)
                return "Failed";
        for (size_t i = 0; i < w->n_init && !w->initialized; i++) {
                Container *c = &w->containers[i];
                if (!init_container_complete(c)) {
                        *ret_initialized = false;
                        if (!c->spec->restartable && c->phase == CONTAINER_EXITED && policy == POD_RESTART_NEVER)
                                return "Failed";
                        return "Pending";
                }
        }
        for (size_t i = w->n_init; i < w->n_spec; i++) {
                Container *c = &w->containers[i];
                if (c->phase == CONTAINER_RUN)
                        running++;
                else if (c->phase == CONTAINER_WAITING && c->has_last)
                        policy == POD_RESTART_ALWAYS || c->last.exit_code != 0 ? running++ : succeeded++;
                else if (c->phase == CONTAINER_WAITING)
                        waiting++;
                else if (c->state.exit_code == 0)
                        succeeded++;
                else
                        failed++;
        }
        *ret_ready = n > 0 && running == n;
        for (size_t i = 0; i < w->n_containers; i++) {
                const Container *c = &w->containers[i];
                if (readiness_counts(c) && !container_ready(c))
                        *ret_ready = false;
        }
        if (waiting > 0)
                return "Pending";
        if (running > 0)
                return "Running";
        if (policy == POD_RESTART_ALWAYS)
                return "Running";
        if (failed > 0)
                return policy == POD_RESTART_NEVER ? "Failed" : "Running";
        return "Succeeded";
}

static bool any_container_active(PodWorker *w) {
        for (size_t i = 0; i < w->n_containers; i++)
                if (pod_container_active(&w->containers[i]))
                        return true;
        return false;
}

/* kubelet's "containers with <what> status: [a b]" of the containers that are not ok. */
static char *containers_message(const char *what, const Container *containers, size_t n,
                                bool (*counts)(const Container *c), bool (*ok)(const Container *c)) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        bool any = false;

        if (!f)
                return NULL;
        fprintf(f, "containers with %s status: [", what);
        for (size_t i = 0; i < n; i++)
                if ((!counts || counts(&containers[i])) && !ok(&containers[i])) {
                        fprintf(f, "%s%s", any ? " " : "", containers[i].name);
                        any = true;
                }
        fputc(']', f);
        if (fclose(f) < 0 || !any) {
                free(text);
                return NULL;
        }
        return text;
}

/* The pod's conditions with kubelet's reasons and messages (status.GeneratePod*Condition):
 * Initialized names the init containers not complete, ContainersReady and Ready those
 * not ready; a terminal pod's say PodCompleted or PodFailed. */
static void add_conditions(PodWorker *w, json_object *conditions, const char *phase, bool initialized, bool ready) {
        bool succeeded = streq(phase, "Succeeded"), failed = streq(phase, "Failed");
        _cleanup_free_ char *incomplete = initialized ? NULL
                                                      : containers_message("incomplete", w->containers, w->n_init, NULL,
                                                                           init_container_complete);
        _cleanup_free_ char *unready = ready || succeeded || failed
                                               ? NULL
                                               : containers_message("unready", w->containers, w->n_containers,
                                                                    readiness_counts, container_ready);
        const char *ready_reason = succeeded ? "PodCompleted" : failed ? "PodFailed" : ready ? NULL : "ContainersNotReady";
        json_object *scheduled;

        json_object_array_add(conditions, condition(w, "PodReadyToStartContainers", w->sandbox_ready, NULL, NULL));
        json_object_array_add(conditions, condition(w, "Initialized", initialized,
                                                    initialized ? (succeeded ? "PodCompleted" : NULL) : "ContainersNotInitialized",
                                                    incomplete));
        json_object_array_add(conditions, condition(w, "ContainersReady", ready, ready_reason, unready));
        json_object_array_add(conditions, condition(w, "Ready", ready, ready_reason, unready));
        /* As kubelet adds it; its time is the scheduler's (a static pod has none). */
        scheduled = json_object_new_object();
        json_object_object_add(scheduled, "type", json_object_new_string("PodScheduled"));
        json_object_object_add(scheduled, "status", json_object_new_string("True"));
        json_object_array_add(conditions, scheduled);
}

void pod_worker_report(PodWorker *w) {
        json_object *status = json_object_new_object(), *conditions = json_object_new_array();
        bool initialized, ready;
        const char *phase = pod_phase(w, &initialized, &ready);

        /* As kubelet, no terminal phase while a container (a sidecar, one being stopped)
         * still runs: Succeeded or Failed means nothing runs any more. */
        if ((streq(phase, "Succeeded") || streq(phase, "Failed")) && any_container_active(w))
                phase = "Running";

        json_object_object_add(status, "phase", json_object_new_string(phase));
        json_object_object_add(status, "observedGeneration",
                               json_object_new_int64(pod_generation(w)));
        if (w->deadline_exceeded) {
                json_object_object_add(status, "reason", json_object_new_string("DeadlineExceeded"));
                json_object_object_add(status, "message", json_object_new_string(DEADLINE_MESSAGE));
        }
        add_conditions(w, conditions, phase, initialized, ready);
        json_object_object_add(status, "conditions", conditions);
        if (w->rt.node_ip)
                add_ip(status, "hostIP", "hostIPs", w->rt.node_ip);
        if (w->pod_ip)
                add_ip(status, "podIP", "podIPs", w->pod_ip);
        if (w->started_at)
                json_object_object_add(status, "startTime", json_object_new_string(w->started_at));
        json_object_object_add(status, "qosClass", json_object_new_string(pod_qos_class(w->pod)));
        json_object_object_add(status, "initContainerStatuses", container_statuses(w->containers, w->n_init));
        json_object_object_add(status, "containerStatuses",
                               container_statuses(w->containers + w->n_init, w->n_spec - w->n_init));
        if (w->n_containers > w->n_spec)
                json_object_object_add(status, "ephemeralContainerStatuses",
                                       container_statuses(w->containers + w->n_spec, w->n_containers - w->n_spec));

        if (w->status && json_object_equal(w->status, status)) {
                json_object_put(status);
                return;
        }
        json_object_put(w->status);
        w->status = status;
        if (w->rt.status_changed)
                w->rt.status_changed(w, status, w->rt.userdata);
}

char *pod_worker_runtime_root(PodWorker *w) {
        return container_state_root(w->rt.run_dir);
}

/* --- the sandbox ------------------------------------------------------------------- */

static int write_pod_file(PodWorker *w, const char *name, const char *content) {
        _cleanup_free_ char *path = NULL;

        if (!content || !(path = pod_file(w->pod_run_dir, name)))
                return -ENOMEM;
        return write_file_replace(path, content, strlen(content), 0644);
}

static int write_hostname(PodWorker *w, const char *hostname) {
        _cleanup_free_ char *line = NULL;

        if (!hostname || asprintf(&line, "%s\n", hostname) < 0)
                return -ENOMEM;
        return write_pod_file(w, POD_HOSTNAME_FILE, line);
}

/* Where the kubelet API's port-forward connects: the pod's network namespace, empty for
 * the node's. */
static int write_netns(PodWorker *w) {
        _cleanup_free_ char *netns = NULL;

        if (w->spec->host_network)
                return write_pod_file(w, POD_NETNS_FILE, "");
        if (w->netns_path)
                return write_pod_file(w, POD_NETNS_FILE, w->netns_path);
        netns = pod_sandbox_netns(w->sandbox_dir);
        if (!netns)
                return -ENOMEM;
        return write_pod_file(w, POD_NETNS_FILE, netns);
}

/* Its containers' hostPorts mapped to its address, as kubelet has the runtime's portmap
 * do; a hostNetwork pod listens on the node's ports itself. */
static int host_ports_up(PodWorker *w, const PodNetworkResult *net) {
        _cleanup_free_ PodHostPort *wanted = NULL;
        _cleanup_free_ HostPort *ports = NULL;
        size_t n_wanted, n = 0;
        int r;

        if (!w->rt.host_ports)
                return 0;
        r = pod_host_ports(w->pod, POD_HOST_PORTS_MAPPED, &wanted, &n_wanted);
        if (r < 0)
                return log_oom();
        ports = calloc(MAX(n_wanted, (size_t) 1), sizeof(HostPort));
        if (!ports)
                return log_oom();
        for (size_t i = 0; i < n_wanted; i++) {
                HostPort *p = &ports[n];
                /* IPv4 only: an IPv6 hostIP has no address here to map. */
                if (inet_pton(AF_INET, wanted[i].host_ip, &p->host_ip) != 1)
                        continue;
                p->protocol = host_port_protocol_from_string(wanted[i].protocol);
                if (p->protocol == 0 || wanted[i].container_port < 1 || wanted[i].container_port > 65535)
                        continue;
                p->host_port = (uint16_t) wanted[i].host_port;
                p->container_port = (uint16_t) wanted[i].container_port;
                n++;
        }
        r = host_ports_set(w->rt.host_ports, w->uid, net->address, net->prefixlen, ports, n);
        if (r < 0) {
                pod_worker_emit(w, NULL, "Warning", "FailedCreatePodSandBox", "hostPorts: %s", strerror(-r));
                return r;
        }
        return 0;
}

static void dns_warning(const char *reason, const char *message, void *userdata) {
        pod_worker_emit(userdata, NULL, "Warning", reason, "%s", message);
}

/* The pod's resolv.conf from the node's file as it is now, as kubelet reads it for each
 * sandbox. A missing file counts as empty (kubelet would refuse every pod). */
static int resolv_conf(PodWorker *w, char **ret) {
        _cleanup_free_ char *host = NULL;
        PodDnsConfig dns = { .cluster_dns = w->rt.cluster_dns, .cluster_domain = w->rt.cluster_domain };
        int r;

        if (!isempty(w->rt.resolv_conf)) {
                r = read_full_file(w->rt.resolv_conf, POD_RESOLV_CONF_MAX_SIZE, &host, NULL);
                if (r == -ENOENT && !(host = strdup("")))
                        return -ENOMEM;
                if (r < 0 && r != -ENOENT) {
                        pod_worker_emit(w, NULL, "Warning", "FailedCreatePodSandBox",
                                        "Failed to generate sandbox config for pod \"%s_%s(%s)\": open %s: %s",
                                        w->spec->name, w->spec->namespace, w->uid, w->rt.resolv_conf, strerror(-r));
                        return r;
                }
                dns.host_resolv_conf = host;
        }
        *ret = pod_resolv_conf(w->pod, &dns, dns_warning, w);
        return *ret ? 0 : -ENOMEM;
}

static int sandbox_up(PodWorker *w) {
        _cleanup_free_ char *error = NULL, *hostname = pod_hostname(w->pod), *hosts = NULL, *resolv = NULL,
                            *node_hosts = NULL;
        bool host_network = w->spec->host_network;
        PodNetworkResult net = {};
        int r;

        r = mkdir_p(w->pod_run_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "pod %s: create %s: %m", w->key, w->pod_run_dir);
        r = mkdir_p(w->pod_state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "pod %s: create %s: %m", w->key, w->pod_state_dir);
        r = write_pod_file(w, POD_OBJECT_FILE, json_object_to_json_string_ext(w->pod, JSON_C_TO_STRING_PLAIN));
        if (r < 0)
                return log_error_errno(r, "pod %s: write %s: %m", w->key, POD_OBJECT_FILE);
        if (access(w->sandbox_dir, F_OK) < 0) {
                r = sandbox_create(w->sandbox_dir, hostname, &error);
                if (r < 0) {
                        pod_worker_emit(w, NULL, "Warning", "FailedCreatePodSandBox", "%s", error ?: strerror(-r));
                        return r;
                }
        }
        if (w->rt.network && !host_network) {
                r = pod_network_add(w->rt.network, w->uid, w->key, &net);
                if (r < 0) {
                        pod_worker_emit(w, NULL, "Warning", "FailedCreatePodSandBox", "network: %s", strerror(-r));
                        return r;
                }
                w->network_added = true;
                free(w->netns_path);
                w->netns_path = strdup(net.netns_path);
                free(w->pod_ip);
                w->pod_ip = strdup(inet_ntoa(net.address));
                r = host_ports_up(w, &net);
                if (r < 0)
                        return r;
        } else if (host_network) {
                free(w->pod_ip);
                w->pod_ip = w->rt.node_ip ? strdup(w->rt.node_ip) : NULL;
        }
        if (host_network && (r = read_full_file("/etc/hosts", POD_HOSTS_MAX_SIZE, &node_hosts, NULL)) < 0)
                return log_error_errno(r, "pod %s: read the node's /etc/hosts: %m", w->key);
        hosts = pod_hosts_file(w->pod, w->pod_ip, w->rt.cluster_domain, node_hosts);
        r = resolv_conf(w, &resolv);
        if (r < 0)
                return r;
        r = write_pod_file(w, POD_HOSTS_FILE, hosts);
        if (r < 0)
                return log_error_errno(r, "pod %s: write hosts: %m", w->key);
        r = write_pod_file(w, POD_RESOLV_CONF_FILE, resolv);
        if (r < 0)
                return log_error_errno(r, "pod %s: write resolv.conf: %m", w->key);
        r = write_hostname(w, hostname);
        if (r < 0)
                return log_error_errno(r, "pod %s: write hostname: %m", w->key);
        r = write_netns(w);
        if (r < 0)
                return log_error_errno(r, "pod %s: write netns: %m", w->key);
        if (!w->cgroup_created) {
                r = pod_cgroup_create(w->rt.cgroups, w->cgroup_parent, w->pod, w->key);
                if (r < 0)
                        return r;
                w->cgroup_created = true;
        }
        w->sandbox_ready = true;
        return 0;
}

json_object *pod_worker_pod(PodWorker *w) {
        return w->latest ?: w->pod;
}

json_object *pod_worker_lookup_object(void *userdata, const char *kind, const char *name) {
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

        r = pull_secrets_credentials(w->pod, pod_worker_lookup_object, w, &w->pull_credentials, &missing);
        if (r < 0) {
                LogContext context = pod_worker_log_context(w, NULL);
                return log_context_error_errno(&context, r, "pod %s: imagePullSecrets: %m", w->key);
        }
        if (missing)
                pod_worker_emit(w, NULL, "Warning", "FailedToRetrieveImagePullSecret",
                     "Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.",
                     missing);
        return 0;
}

static int volumes_up(PodWorker *w) {
        _cleanup_free_ char *error = NULL;
        PodFieldContext fields = { w->pod_ip, w->rt.node_ip, w->rt.node_name, w->rt.allocatable_cpu_milli,
                                   w->rt.allocatable_memory };
        int r;

        if (w->volumes)
                return 0;
        r = volumes_setup(w->pod, w->pod_state_dir, &fields, pod_worker_lookup_object, w, &w->volumes,
                          &w->n_volumes, &error);
        if (r < 0)
                pod_worker_emit(w, NULL, "Warning", "FailedMount", "%s", error ?: strerror(-r));
        return r;
}

/* --- the pod ----------------------------------------------------------------------- */

/* What a pod holds on the node besides its logs, its run and state dirs: volumes,
 * hostPorts, network (its address), cgroup, sandbox. *network_added and *cgroup_created
 * say which of the two were made, and are cleared once they are gone. */
static void release_node_resources(const PodRuntime *rt, const char *uid, const char *key, const char *state_dir,
                                   const char *sandbox_dir, const char *cgroup_parent, bool *network_added,
                                   bool *cgroup_created) {
        (void) volumes_teardown(state_dir);
        if (rt->host_ports)
                (void) host_ports_remove(rt->host_ports, uid);
        if (*network_added && pod_network_del(rt->network, uid, key) >= 0)
                *network_added = false;
        if (*cgroup_created && pod_cgroup_remove(rt->cgroups, cgroup_parent, key) >= 0)
                *cgroup_created = false;
        (void) sandbox_remove(sandbox_dir, NULL);
}

static void sandbox_down(PodWorker *w) {
        for (size_t i = 0; i < w->n_containers; i++)
                w->containers[i].backoff_timer = sd_event_source_disable_unref(w->containers[i].backoff_timer);
        release_node_resources(&w->rt, w->uid, w->key, w->pod_state_dir, w->sandbox_dir, w->cgroup_parent,
                               &w->network_added, &w->cgroup_created);
        w->sandbox_ready = false;
}

static void teardown(PodWorker *w) {
        sandbox_down(w);
        (void) rm_rf_at(AT_FDCWD, w->pod_run_dir);
        (void) rm_rf_at(AT_FDCWD, w->pod_state_dir);
        w->gone = true;
        if (w->rt.terminated)
                w->rt.terminated(w, w->rt.userdata);
}

bool pod_left_on_node(const PodRuntime *rt, const char *uid) {
        _cleanup_free_ char *run_dir = pod_run_dir(rt->run_dir, uid), *state_dir = pod_state_dir(rt->state_dir, uid);

        return (run_dir && access(run_dir, F_OK) >= 0) || (state_dir && access(state_dir, F_OK) >= 0);
}

int pod_left_object(const PodRuntime *rt, const char *uid, int64_t grace_seconds, json_object **ret) {
        _cleanup_free_ char *run_dir = pod_run_dir(rt->run_dir, uid), *path = NULL, *text = NULL, *now = NULL;
        _cleanup_(json_object_putp) json_object *pod = NULL;
        json_object *meta;
        int r;

        if (!run_dir || !(path = pod_file(run_dir, POD_OBJECT_FILE)) || !(now = pod_worker_now_rfc3339()))
                return -ENOMEM;
        r = read_full_file(path, POD_OBJECT_MAX_SIZE, &text, NULL);
        if (r < 0)
                return r;
        pod = json_tokener_parse(text);
        meta = json_get(pod, "metadata");
        if (!json_object_is_type(meta, json_type_object) || !streq(json_get_string(pod, "metadata", "uid", NULL) ?: "", uid))
                return -EBADMSG;
        json_object_object_add(meta, "deletionTimestamp", json_object_new_string(now));
        json_object_object_add(meta, "deletionGracePeriodSeconds", json_object_new_int64(grace_seconds));
        *ret = TAKE_PTR(pod);
        return 0;
}

void pod_release_leftovers(const PodRuntime *rt, json_object *pod) {
        const char *uid = json_get_string(pod, "metadata", "uid", NULL),
                   *namespace = json_get_string(pod, "metadata", "namespace", NULL) ?: "",
                   *name = json_get_string(pod, "metadata", "name", NULL) ?: "";
        _cleanup_free_ char *key = NULL, *run_dir = NULL, *state_dir = NULL, *sandbox_dir = NULL,
                            *cgroup_parent = NULL;
        bool network = rt->network != NULL, cgroup = true;

        if (!uid || !pod_left_on_node(rt, uid) || asprintf(&key, "%s/%s", namespace, name) < 0 ||
            !(run_dir = pod_run_dir(rt->run_dir, uid)) || !(state_dir = pod_state_dir(rt->state_dir, uid)) ||
            !(sandbox_dir = pod_sandbox_dir(rt->run_dir, uid)) ||
            !(cgroup_parent = pod_cgroup_parent(pod_cgroups_driver(rt->cgroups), pod, uid)))
                return;
        log_info("pod %s: releasing what an earlier agent left of it on the node", key);
        release_node_resources(rt, uid, key, state_dir, sandbox_dir, cgroup_parent, &network, &cgroup);
        (void) rm_rf_at(AT_FDCWD, run_dir);
        (void) rm_rf_at(AT_FDCWD, state_dir);
}

static bool pod_terminal(PodWorker *w) {
        bool initialized, ready;
        const char *phase = pod_phase(w, &initialized, &ready);

        return streq(phase, "Succeeded") || streq(phase, "Failed");
}

/* The sidecars (last first) and the ephemeral containers stop once the other containers
 * have ended: with what is left of the pod's grace period when it terminates, else its
 * whole period. */
static void stop_sidecars(PodWorker *w) {
        int64_t grace = w->spec->termination_grace_seconds;

        if (w->terminating) {
                int64_t left = w->terminate_grace_seconds -
                               (int64_t) ((pod_worker_now(w) - w->terminate_started_usec) / CONTAINER_USEC_PER_SEC);
                grace = w->terminate_grace_seconds == 0 ? 0 : MAX(left, CONTAINER_MIN_GRACE_SECONDS);
        }
        w->sidecars_stopping = true;
        for (size_t i = w->n_containers; i-- > 0;) {
                Container *c = &w->containers[i];
                if (!outlives_others(c))
                        continue;
                pod_container_cancel(c);
                if (pod_container_active(c) && !c->stopping) {
                        pod_worker_emit(w, c, "Normal", "Killing", "Stopping container %s", c->name);
                        pod_container_stop(c, grace);
                }
        }
}

/* The init containers in order, each after the one before completed (a sidecar: once it
 * started); true when all have. */
static bool run_init_containers(PodWorker *w) {
        for (size_t i = 0; i < w->n_init; i++) {
                Container *c = &w->containers[i];
                if (init_container_complete(c))
                        continue;
                if (c->phase == CONTAINER_WAITING && !pod_container_pending(c) && !c->id)
                        pod_container_run(c);
                return false;
        }
        return true;
}

/* Starts what should run now: the next init container, or every container once the
 * init containers have succeeded. */
void pod_worker_sync(PodWorker *w) {
        bool any_active = false, others_active = false;

        for (size_t i = 0; i < w->n_containers; i++) {
                bool active = pod_container_active(&w->containers[i]);
                any_active |= active;
                others_active |= active && !outlives_others(&w->containers[i]);
        }
        if (w->terminating) {
                if (!others_active && !w->sidecars_stopping)
                        stop_sidecars(w);
                if (!any_active && !w->gone)
                        teardown(w);
                return;
        }
        if (w->finished)
                return;
        if (w->deadline_exceeded) {
                if (!any_active) {
                        w->finished = true;
                        sandbox_down(w);
                }
                pod_worker_report(w);
                return;
        }
        if (!w->sandbox_ready) {
                if (sandbox_up(w) < 0 || volumes_up(w) < 0) {
                        pod_worker_report(w);
                        return;
                }
        }
        if (!w->initialized && !(w->initialized = run_init_containers(w))) {
                pod_worker_report(w);
                return;
        }
        for (size_t i = w->n_init; i < w->n_containers; i++) {
                Container *c = &w->containers[i];
                if (c->phase == CONTAINER_WAITING && !pod_container_pending(c) && !c->id)
                        pod_container_run(c);
        }
        /* Terminal: nothing runs again. As kubelet's SyncTerminatedPod, the network, the
         * volumes and the sandbox go now, not at the deletion (a finished Job's pod would
         * keep its address); the logs and the status stay. The sidecars go first. */
        if (!others_active && pod_terminal(w)) {
                if (any_active) {
                        if (!w->sidecars_stopping)
                                stop_sidecars(w);
                } else {
                        w->finished = true;
                        sandbox_down(w);
                }
        }
        pod_worker_report(w);
}

/* The containers stop, the sidecars after the others (pod_worker_sync). A second
 * deletion with no grace period kills what still runs. */
void pod_worker_terminate(PodWorker *w, int64_t grace_seconds) {
        if (grace_seconds < 0)
                grace_seconds = w->spec->termination_grace_seconds;
        if (w->terminating) {
                for (size_t i = 0; i < w->n_containers && grace_seconds == 0; i++)
                        pod_container_stop(&w->containers[i], 0);
                return;
        }
        w->terminating = true;
        w->terminate_started_usec = pod_worker_now(w);
        w->terminate_grace_seconds = grace_seconds;
        for (size_t i = 0; i < w->n_containers; i++) {
                Container *c = &w->containers[i];
                pod_container_cancel(c);
                if (outlives_others(c) || !pod_container_active(c))
                        continue;
                pod_worker_emit(w, c, "Normal", "Killing", "Stopping container %s", c->name);
                pod_container_stop(c, grace_seconds);
        }
        pod_worker_sync(w);
}

/* kubelet's activeDeadline handler: past the deadline every container stops and the pod
 * is Failed; it is not deleted. */
static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        PodWorker *w = userdata;

        w->deadline_timer = sd_event_source_disable_unref(w->deadline_timer);
        if (w->terminating || w->finished || w->deadline_exceeded)
                return 0;
        w->deadline_exceeded = true;
        pod_worker_emit(w, NULL, "Normal", "DeadlineExceeded", DEADLINE_MESSAGE);
        for (size_t i = 0; i < w->n_containers; i++) {
                pod_container_cancel(&w->containers[i]);
                pod_container_stop(&w->containers[i], w->spec->termination_grace_seconds);
        }
        pod_worker_sync(w);
        return 0;
}

/* The deadline, counted from the pod's start (its status.startTime, which outlives the
 * agent); seconds -1: none. */
static void arm_deadline(PodWorker *w, int64_t seconds) {
        w->deadline_timer = sd_event_source_disable_unref(w->deadline_timer);
        if (seconds < 0 || w->finished || w->terminating)
                return;
        if (sd_event_add_time(w->rt.event, &w->deadline_timer, CLOCK_REALTIME,
                              w->start_realtime + (uint64_t) seconds * CONTAINER_USEC_PER_SEC, 0, on_deadline, w) < 0)
                log_warning("pod %s: cannot schedule its activeDeadlineSeconds", w->key);
}

/* The ephemeral containers of pod that the worker does not have yet, added (not
 * started); how many. */
static size_t add_ephemeral(PodWorker *w, json_object *pod) {
        json_object *list = json_get(json_get(pod, "spec"), "ephemeralContainers");
        size_t added = 0;

        for (size_t i = 0; i < json_array_length(list); i++) {
                json_object *o = json_object_array_get_idx(list, i);
                const char *name = json_get_string(o, "name", NULL) ?: "";
                size_t k = w->n_containers - w->n_spec;
                _cleanup_free_ char *error = NULL;
                bool known = false;

                for (size_t j = 0; j < w->n_containers; j++)
                        known |= streq(w->containers[j].name, name);
                if (known)
                        continue;
                if (k == POD_EPHEMERAL_MAX) {
                        log_warning("pod %s: ephemeral container %s: the pod has %d already", w->key, name,
                                    POD_EPHEMERAL_MAX);
                        continue;
                }
                if (!w->ephemeral_specs && !(w->ephemeral_specs = calloc(POD_EPHEMERAL_MAX, sizeof(PodSpecContainer)))) {
                        log_oom();
                        break;
                }
                if (pod_spec_parse_ephemeral(o, w->key, i, &w->ephemeral_specs[k], &error) < 0) {
                        log_warning("%s", error);
                        continue;
                }
                json_object_get(o);
                pod_container_init(&w->containers[w->n_containers++], w, &w->ephemeral_specs[k], false);
                added++;
        }
        return added;
}

void pod_worker_update(PodWorker *w, json_object *pod) {
        int64_t grace;

        json_object_put(w->latest);
        w->latest = json_object_get(pod);
        /* kubectl debug: a container joins the running pod. */
        if (!w->terminating && !w->finished && add_ephemeral(w, pod) > 0 && w->sandbox_ready)
                pod_worker_sync(w);
        /* A new generation is observed (status.observedGeneration) once reported. */
        if (w->status && json_object_get_int64(json_get(w->status, "observedGeneration")) != pod_generation(w))
                pod_worker_report(w);
        if (pod_spec_deletion(pod, &grace))
                pod_worker_terminate(w, grace);
        else
                arm_deadline(w, pod_spec_active_deadline(pod));
}

static int make_containers(PodWorker *w) {
        w->containers = calloc(w->spec->n_containers + POD_EPHEMERAL_MAX + 1, sizeof(Container));
        if (!w->containers)
                return -ENOMEM;
        w->n_init = w->spec->n_init;
        w->n_spec = w->n_containers = w->spec->n_containers;
        for (size_t i = 0; i < w->n_containers; i++)
                pod_container_init(&w->containers[i], w, &w->spec->containers[i], w->n_init > 0);
        (void) add_ephemeral(w, w->pod);
        return 0;
}

static int start_pod(sd_event_source *s, void *userdata) {
        PodWorker *w = userdata;

        w->defer = sd_event_source_disable_unref(w->defer);
        if (!w->spec->deleting && pull_secrets_up(w) < 0)
                return 0;
        /* A sandbox left by an earlier agent: its containers are taken over once it is
         * up again (each step reports its own failure). Those of a pod being deleted are
         * taken over to be stopped, whatever its sandbox and volumes say. */
        if (access(w->sandbox_dir, F_OK) >= 0) {
                bool up = sandbox_up(w) >= 0 && (w->spec->deleting || volumes_up(w) >= 0);
                if (up || w->spec->deleting)
                        for (size_t i = 0; i < w->n_containers; i++)
                                pod_container_adopt(&w->containers[i]);
        }
        if (w->spec->deleting)
                pod_worker_terminate(w, w->spec->deletion_grace_seconds);
        else
                arm_deadline(w, w->spec->active_deadline_seconds);
        pod_worker_sync(w);
        return 0;
}

/* status.startTime as the API has it (an earlier agent's), else now. */
static int start_time(PodWorker *w) {
        const char *t = json_get_string(w->pod, "status", "startTime", NULL);
        struct tm tm = {};
        time_t seconds = time(NULL);

        if (t && strptime(t, "%Y-%m-%dT%H:%M:%SZ", &tm))
                seconds = timegm(&tm);
        w->start_realtime = (uint64_t) seconds * CONTAINER_USEC_PER_SEC;
        w->started_at = t ? strdup(t) : pod_worker_now_rfc3339();
        return w->started_at ? 0 : -ENOMEM;
}

int pod_worker_new(const PodRuntime *runtime, json_object *pod, json_object *objects, PodWorker **ret,
                   char **ret_error) {
        PodWorker *w = calloc(1, sizeof(PodWorker));
        const char *uid, *name, *namespace;
        int r;

        if (!w)
                return -ENOMEM;
        w->rt = *runtime;
        w->pod = json_object_get(pod);
        w->objects = json_object_get(objects);
        r = pod_spec_parse(pod, &w->spec, ret_error);
        if (r < 0) {
                pod_worker_free(w);
                return r;
        }
        uid = w->spec->uid;
        name = w->spec->name;
        namespace = w->spec->namespace;
        if (asprintf(&w->uid, "%s", uid) < 0 || asprintf(&w->key, "%s/%s", namespace, name) < 0 ||
            !(w->pod_run_dir = pod_run_dir(runtime->run_dir, uid)) ||
            !(w->pod_state_dir = pod_state_dir(runtime->state_dir, uid)) ||
            !(w->sandbox_dir = pod_sandbox_dir(runtime->run_dir, uid)) ||
            !(w->log_dir = pod_log_dir(runtime->log_dir, namespace, name, uid)) ||
            !(w->cgroup_parent = pod_cgroup_parent(pod_cgroups_driver(runtime->cgroups), pod, uid)) ||
            start_time(w) < 0 || (r = make_containers(w)) < 0) {
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
        for (size_t i = 0; i < w->n_containers; i++)
                pod_container_done(&w->containers[i]);
        for (size_t i = w->n_spec; i < w->n_containers; i++)
                json_object_put(w->ephemeral_specs[i - w->n_spec].json);
        free(w->ephemeral_specs);
        free(w->containers);
        volumes_free(w->volumes, w->n_volumes);
        auth_file_free(w->pull_credentials);
        sd_event_source_disable_unref(w->defer);
        pod_spec_free(w->spec);
        json_object_put(w->pod);
        json_object_put(w->latest);
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
        sd_event_source_disable_unref(w->deadline_timer);
        free(w);
}

json_object *pod_worker_status(PodWorker *w) {
        return w->status;
}
