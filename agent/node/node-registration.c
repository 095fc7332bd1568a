/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/statvfs.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "node-registration.h"
#include "node-status.h"

#define TICK_USEC (10 * 1000 * 1000ULL)
#define STATUS_REPORT_USEC (5 * 60 * 1000 * 1000ULL) /* kubelet: nodeStatusReportFrequency */
#define LEASE_DURATION_SECONDS 40
#define LEASE_NAMESPACE "kube-node-lease"

struct NodeRegistration {
        KubeClient *client;
        NodeRegistrationConfig config;
        NodeInfo info;
        char *uid; /* of the Node object, for the Lease's owner reference */
        bool registered;
        bool have_pod_cidr; /* delivered to on_pod_cidr, or not wanted */
        KubeRequest *node_request, *status_request, *lease_request;
        struct StatusReport *report; /* the one status_request carries */
        sd_event_source *timer;

        NodeHealth reported; /* what the last accepted status said */
        bool have_reported;
        uint64_t reported_at;
        NodeConditionTimes times;
};

static void tick(NodeRegistration *a);
static void look_up_node(NodeRegistration *a);
static void report_status(NodeRegistration *a);

static uint64_t now_usec(NodeRegistration *a) {
        uint64_t t = 0;

        sd_event_now(kube_client_event(a->client), CLOCK_MONOTONIC, &t);
        return t;
}

static const char *status_error(int error, const char *message, long status, json_object *body, char buf[static 64]) {
        if (error < 0)
                return message;
        if (kube_status_message(body))
                return kube_status_message(body);
        snprintf(buf, 64, "HTTP %ld", status);
        return buf;
}

/* The pod CIDR the node controller assigned, from any Node object the API server sends. */
static bool take_pod_cidr(NodeRegistration *a, json_object *node) {
        const char *cidr = json_get_string(node, "spec", "podCIDR", NULL);

        if (a->have_pod_cidr || !cidr || !*cidr)
                return false;
        a->have_pod_cidr = true;
        log_info("node %s: pod CIDR %s from spec.podCIDR", a->config.name, cidr);
        a->config.on_pod_cidr(cidr, a->config.userdata);
        return true;
}

static int measure(NodeRegistration *a, NodeHealth *h) {
        _cleanup_free_ char *meminfo = NULL;
        struct statvfs vfs;
        int r;

        *h = (NodeHealth) {};
        r = read_full_file("/proc/meminfo", 1024 * 1024, &meminfo, NULL);
        if (r >= 0)
                r = meminfo_get_bytes(meminfo, "MemAvailable", &h->memory_available);
        if (r < 0)
                return log_warning_errno(r, "node %s: MemAvailable from /proc/meminfo: %m", a->config.name);
        if (statvfs(a->config.root_dir, &vfs) < 0)
                return log_warning_errno(errno, "node %s: statvfs %s: %m", a->config.name, a->config.root_dir);
        h->disk_capacity = (uint64_t) vfs.f_blocks * vfs.f_frsize;
        h->disk_available = (uint64_t) vfs.f_bavail * vfs.f_frsize;
        node_health_evaluate(h);
        if (!a->have_pod_cidr) {
                h->condition[NODE_READY] = false;
                h->not_ready_message = "container runtime network not ready: NetworkReady=false reason:NoPodCIDR "
                                       "message:waiting for the Node's spec.podCIDR (no --pod-cidr given)";
        }
        return 0;
}

/* --- status -------------------------------------------------------------------------- */

typedef struct StatusReport StatusReport;
struct StatusReport {
        NodeRegistration *agent;
        NodeHealth health;
        NodeConditionTimes times;
};

static void on_status(KubeClient *c, int error, const char *message, long status, json_object *body, void *userdata) {
        StatusReport *report = userdata;
        NodeRegistration *a = report->agent;
        char buf[64];

        a->status_request = NULL;
        a->report = NULL;
        if (error < 0 || status != 200)
                log_warning("node %s: report status: %s", a->config.name, status_error(error, message, status, body, buf));
        else {
                bool ready = report->health.condition[NODE_READY];

                if (!a->have_reported || a->reported.condition[NODE_READY] != ready)
                        log_info("node %s: status reported, %s", a->config.name, ready ? "Ready" : "NotReady");
                a->reported = report->health;
                a->times = report->times;
                a->have_reported = true;
                a->reported_at = now_usec(a);
                take_pod_cidr(a, body);
        }
        free(report);
        /* What changed while this report was on its way (the pod CIDR came) goes now, not
         * at the next tick; only after a success, so a failing API server is not hammered. */
        if (error >= 0 && status == 200)
                report_status(a);
}

static bool health_changed(const NodeHealth *a, const NodeHealth *b) {
        return memcmp(a->condition, b->condition, sizeof(a->condition)) != 0 || a->disk_capacity != b->disk_capacity;
}

static void report_status(NodeRegistration *a) {
        _cleanup_(json_object_putp) json_object *patch = NULL;
        _cleanup_free_ char *path = NULL;
        StatusReport *report;
        char now[32];
        int r;

        if (a->status_request)
                return;
        report = calloc(1, sizeof(StatusReport));
        if (!report) {
                log_oom();
                return;
        }
        report->agent = a;
        if (measure(a, &report->health) < 0 ||
            (a->have_reported && !health_changed(&report->health, &a->reported) &&
             now_usec(a) - a->reported_at < STATUS_REPORT_USEC)) {
                free(report);
                return;
        }
        report->times = a->times;
        format_now(now, false);
        patch = node_status_patch_new(a->config.name, a->config.internal_ip, a->config.kubelet_port ?: 10250, &a->info, &report->health,
                                      a->have_reported ? &a->reported : NULL, now, &report->times);
        if (!patch || asprintf(&path, "/api/v1/nodes/%s/status", a->config.name) < 0) {
                free(report);
                log_oom();
                return;
        }
        r = kube_client_request(a->client, "PATCH", path, json_object_to_json_string(patch),
                                "application/strategic-merge-patch+json", on_status, report, &a->status_request);
        if (r < 0) {
                free(report);
                log_error_errno(r, "node %s: report status: %m", a->config.name);
                return;
        }
        a->report = report;
}

/* --- lease --------------------------------------------------------------------------- */

static json_object *lease_object(NodeRegistration *a, const char *renew_time) {
        json_object *lease = json_object_new_object(), *metadata = json_object_new_object(),
                    *spec = json_object_new_object();

        json_object_object_add(lease, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
        json_object_object_add(lease, "kind", json_object_new_string("Lease"));
        json_object_object_add(metadata, "name", json_object_new_string(a->config.name));
        json_object_object_add(metadata, "namespace", json_object_new_string(LEASE_NAMESPACE));
        if (a->uid) {
                /* Owned by the Node, so deleting the Node deletes its Lease. */
                json_object *owners = json_object_new_array(), *owner = json_object_new_object();
                json_object_object_add(owner, "apiVersion", json_object_new_string("v1"));
                json_object_object_add(owner, "kind", json_object_new_string("Node"));
                json_object_object_add(owner, "name", json_object_new_string(a->config.name));
                json_object_object_add(owner, "uid", json_object_new_string(a->uid));
                json_object_array_add(owners, owner);
                json_object_object_add(metadata, "ownerReferences", owners);
        }
        json_object_object_add(spec, "holderIdentity", json_object_new_string(a->config.name));
        json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(LEASE_DURATION_SECONDS));
        json_object_object_add(spec, "renewTime", json_object_new_string(renew_time));
        json_object_object_add(lease, "metadata", metadata);
        json_object_object_add(lease, "spec", spec);
        return lease;
}

static void lease_send(NodeRegistration *a, bool create);

static void on_lease(KubeClient *c, int error, const char *message, long status, json_object *body, void *userdata) {
        NodeRegistration *a = userdata;
        char buf[64];

        a->lease_request = NULL;
        if (error >= 0 && status == 404) {
                lease_send(a, true);
                return;
        }
        if (error < 0 || (status != 200 && status != 201))
                log_warning("node %s: renew lease: %s", a->config.name, status_error(error, message, status, body, buf));
}

static void lease_send(NodeRegistration *a, bool create) {
        _cleanup_(json_object_putp) json_object *lease = NULL;
        _cleanup_free_ char *path = NULL;
        char now[32];
        int r;

        format_now(now, true);
        lease = lease_object(a, now);
        r = create ? asprintf(&path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases", LEASE_NAMESPACE)
                   : asprintf(&path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", LEASE_NAMESPACE,
                              a->config.name);
        if (!lease || r < 0) {
                log_oom();
                return;
        }
        /* A merge patch renews without a read-modify-write round trip; 404 creates it. */
        r = kube_client_request(a->client, create ? "POST" : "PATCH", path, json_object_to_json_string(lease),
                                create ? "application/json" : "application/merge-patch+json", on_lease, a,
                                &a->lease_request);
        if (r < 0)
                log_error_errno(r, "node %s: renew lease: %m", a->config.name);
}

/* --- registration -------------------------------------------------------------------- */

static void on_node(KubeClient *c, int error, const char *message, long status, json_object *body, void *userdata) {
        NodeRegistration *a = userdata;
        const char *uid = json_get_string(body, "metadata", "uid", NULL);
        char buf[64];
        bool first;

        a->node_request = NULL;
        if (error >= 0 && status == 409) {
                /* Registered before (by an earlier run): fetch it for its UID. */
                look_up_node(a);
                return;
        }
        if (error < 0 || (status != 200 && status != 201) || !uid) {
                log_warning("node %s: register: %s", a->config.name, status_error(error, message, status, body, buf));
                return;
        }
        free(a->uid);
        a->uid = strdup(uid);
        first = !a->registered;
        if (first)
                log_info("node %s: registered with %s", a->config.name, kube_client_server(c));
        a->registered = true;
        if (first && a->config.registered)
                a->config.registered(a->config.userdata);
        /* A lookup for the pod CIDR reports at once only when it brought one (tick()
         * would look again otherwise). */
        if (take_pod_cidr(a, body) || first)
                tick(a);
}

static void register_node(NodeRegistration *a) {
        _cleanup_(json_object_putp) json_object *node = node_object_new(a->config.name, &a->info, a->config.taints,
                                                                        a->config.n_taints);
        int r;

        if (a->node_request)
                return;
        r = kube_client_request(a->client, "POST", "/api/v1/nodes", json_object_to_json_string(node), NULL, on_node,
                                a, &a->node_request);
        if (r < 0)
                log_error_errno(r, "node %s: register: %m", a->config.name);
}

static void look_up_node(NodeRegistration *a) {
        _cleanup_free_ char *path = NULL;

        if (a->node_request)
                return;
        if (asprintf(&path, "/api/v1/nodes/%s", a->config.name) < 0 ||
            kube_client_request(a->client, "GET", path, NULL, NULL, on_node, a, &a->node_request) < 0)
                log_error("node %s: cannot look the node up", a->config.name);
}

static void tick(NodeRegistration *a) {
        if (!a->registered) {
                register_node(a);
                return;
        }
        if (!a->have_pod_cidr)
                look_up_node(a);
        report_status(a);
        if (!a->lease_request)
                lease_send(a, false);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        NodeRegistration *a = userdata;

        tick(a);
        (void) sd_event_source_set_time(s, usec + TICK_USEC);
        return 0;
}

int node_registration_new(KubeClient *client, const NodeRegistrationConfig *config, NodeRegistration **ret) {
        _cleanup_(node_registration_freep) NodeRegistration *a = calloc(1, sizeof(NodeRegistration));
        int r;

        if (!a)
                return -ENOMEM;
        a->client = client;
        a->config = *config;
        a->have_pod_cidr = !config->on_pod_cidr;
        r = node_info_collect("/", &a->info);
        if (r < 0)
                return r;
        r = sd_event_add_time(kube_client_event(client), &a->timer, CLOCK_MONOTONIC, now_usec(a) + TICK_USEC, 0,
                              on_timer, a);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(a->timer, SD_EVENT_ON);
        register_node(a);
        *ret = TAKE_PTR(a);
        return 0;
}

void node_registration_free(NodeRegistration *a) {
        if (!a)
                return;
        kube_request_cancel(a->node_request);
        kube_request_cancel(a->status_request);
        free(a->report);
        kube_request_cancel(a->lease_request);
        sd_event_source_disable_unref(a->timer);
        node_info_done(&a->info);
        free(a->uid);
        free(a);
}
