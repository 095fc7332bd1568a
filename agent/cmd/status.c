/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <inttypes.h>

#include <time.h>

#include "config.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "node-info.h"
#include "verbs.h"

static void print_row(const char *name, const char *value) {
        printf("%-20s %s\n", name, value);
}

static void print_node(const NodeInfo *n, const GlobalOptions *opts) {
        char buf[64];

        print_row("Node:", n->hostname);
        print_row("OS Image:", n->os_image);
        print_row("Operating System:", n->operating_system);
        print_row("Architecture:", n->architecture);
        print_row("Kernel Version:", n->kernel_version);
        print_row("Container Runtime:", "stevedore://" STEVEDORE_VERSION);
        print_row("Machine ID:", n->machine_id);
        print_row("System UUID:", n->system_uuid);
        print_row("Boot ID:", n->boot_id);
        snprintf(buf, sizeof(buf), "%ld", n->cpus);
        print_row("CPU:", buf);
        snprintf(buf, sizeof(buf), "%" PRIu64 "Ki", n->memory_bytes / 1024);
        print_row("Memory:", buf);
        print_row("Cgroups:", cgroup_mode_to_string(n->cgroup_mode));
        print_row("Root Dir:", opts->root_dir);
}

/* "5s", "3m", "2h", "4d" since an RFC 3339 time, as kubectl shows AGE. */
static void age(const char *since, char buf[static 32]) {
        struct tm tm = {};
        long seconds;

        if (!since || !strptime(since, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
                snprintf(buf, 32, "<unknown>");
                return;
        }
        seconds = (long) difftime(time(NULL), timegm(&tm));
        if (seconds < 120)
                snprintf(buf, 32, "%lds", seconds < 0 ? 0 : seconds);
        else if (seconds < 7200)
                snprintf(buf, 32, "%ldm", seconds / 60);
        else if (seconds < 172800)
                snprintf(buf, 32, "%ldh", seconds / 3600);
        else
                snprintf(buf, 32, "%ldd", seconds / 86400);
}

/* kubectl's STATUS column: a waiting or terminated reason of a container, else the phase. */
static const char *pod_status_column(json_object *status) {
        json_object *list = json_object_object_get(status, "containerStatuses");

        for (size_t i = 0; list && i < json_object_array_length(list); i++) {
                json_object *state = json_object_object_get(json_object_array_get_idx(list, i), "state");
                const char *reason = json_get_string(state, "waiting", "reason", NULL) ?:
                                     json_get_string(state, "terminated", "reason", NULL);
                if (reason)
                        return reason;
        }
        return json_get_string(status, "phase", NULL) ?: "Pending";
}

/* Pods as `kubectl get pods -o wide` shows them, then Services with their endpoints. */
static void print_workload(json_object *o) {
        json_object *pods = json_object_object_get(o, "pods"), *services = json_object_object_get(o, "services");
        const char *node = json_get_string(o, "node", NULL) ?: "";

        printf("\n%-24s %-6s %-18s %-9s %-6s %-16s %s\n", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE");
        for (size_t i = 0; pods && i < json_object_array_length(pods); i++) {
                json_object *pod = json_object_array_get_idx(pods, i), *status = json_object_object_get(pod, "status");
                json_object *list = json_object_object_get(status, "containerStatuses");
                size_t ready = 0, n = list ? json_object_array_length(list) : 0;
                int restarts = 0;
                char ready_text[48], when[32];

                for (size_t k = 0; k < n; k++) {
                        json_object *c = json_object_array_get_idx(list, k);
                        ready += json_object_get_boolean(json_object_object_get(c, "ready"));
                        restarts += json_object_get_int(json_object_object_get(c, "restartCount"));
                }
                snprintf(ready_text, sizeof(ready_text), "%zu/%zu", ready, n);
                age(json_get_string(status, "startTime", NULL), when);
                printf("%-24s %-6s %-18s %-9d %-6s %-16s %s\n", json_get_string(pod, "metadata", "name", NULL) ?: "",
                       ready_text, pod_status_column(status), restarts, when,
                       json_get_string(status, "podIP", NULL) ?: "<none>", node);
        }
        printf("\n%-24s %-10s %-16s %-16s %s\n", "SERVICE", "TYPE", "CLUSTER-IP", "PORT(S)", "ENDPOINTS");
        for (size_t i = 0; services && i < json_object_array_length(services); i++) {
                json_object *svc = json_object_array_get_idx(services, i), *spec = json_object_object_get(svc, "spec");
                json_object *ports = json_object_object_get(spec, "ports"), *endpoints = json_object_object_get(svc, "endpoints");
                char port_text[128] = "", endpoint_text[512] = "";
                size_t used = 0;

                for (size_t k = 0; ports && k < json_object_array_length(ports); k++) {
                        json_object *p = json_object_array_get_idx(ports, k), *node_port = json_object_object_get(p, "nodePort");
                        int n = node_port ? snprintf(port_text + used, sizeof(port_text) - used, "%s%d:%d/%s", k ? "," : "",
                                                     json_object_get_int(json_object_object_get(p, "port")),
                                                     json_object_get_int(node_port), json_get_string(p, "protocol", NULL) ?: "TCP")
                                          : snprintf(port_text + used, sizeof(port_text) - used, "%s%d/%s", k ? "," : "",
                                                     json_object_get_int(json_object_object_get(p, "port")),
                                                     json_get_string(p, "protocol", NULL) ?: "TCP");
                        used = n > 0 && used + (size_t) n < sizeof(port_text) ? used + (size_t) n : used;
                }
                used = 0;
                for (size_t k = 0; endpoints && k < json_object_array_length(endpoints); k++) {
                        json_object *e = json_object_array_get_idx(endpoints, k);
                        json_object *addresses = json_object_object_get(e, "addresses");
                        int n = snprintf(endpoint_text + used, sizeof(endpoint_text) - used, "%s%s%s", k ? "," : "",
                                         addresses ? json_object_get_string(json_object_array_get_idx(addresses, 0)) : "",
                                         json_object_get_boolean(json_object_object_get(json_object_object_get(e, "conditions"), "ready")) ? "" : "(not ready)");
                        used = n > 0 && used + (size_t) n < sizeof(endpoint_text) ? used + (size_t) n : used;
                }
                printf("%-24s %-10s %-16s %-16s %s\n", json_get_string(svc, "metadata", "name", NULL) ?: "",
                       json_get_string(spec, "type", NULL) ?: "ClusterIP", json_get_string(spec, "clusterIP", NULL) ?: "None",
                       port_text, used ? endpoint_text : "<none>");
        }
}

int verb_status(int argc, char **argv, const GlobalOptions *opts) {
        static const struct option options[] = {
                { "sysroot", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ char *status_path = NULL, *content = NULL;
        _cleanup_(json_object_putp) json_object *workload = NULL;
        const char *sysroot = "/";
        NodeInfo info;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        sysroot = optarg;
                        break;
                case 'h':
                        printf("Usage: stevedore status [--sysroot DIR]\n"
                               "Shows this node as the agent reports it and, in standalone mode, its pods (as\n"
                               "kubectl get pods -o wide) and Services with their endpoints.\n");
                        return 0;
                default:
                        return 2;
                }
        if (optind < argc) {
                log_error("status: unexpected argument '%s'", argv[optind]);
                return 2;
        }

        r = node_info_collect(sysroot, &info);
        if (r < 0)
                return 1;
        print_node(&info, opts);
        node_info_done(&info);
        /* What a standalone agent runs, from the file it keeps current. */
        if (asprintf(&status_path, "%s/status.json", opts->run_dir) >= 0 &&
            read_full_file(status_path, 16 << 20, &content, NULL) >= 0 && (workload = json_tokener_parse(content)))
                print_workload(workload);
        return 0;
}
