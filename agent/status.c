/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <inttypes.h>

#include "config.h"
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

int verb_status(int argc, char **argv, const GlobalOptions *opts) {
        static const struct option options[] = {
                { "sysroot", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
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
                               "Shows this node as the agent reports it.\n");
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
        return 0;
}
