/* SPDX-License-Identifier: Apache-2.0 */
/* `stevedore network`: the pod network of this node by hand, as the agent drives it. */
#include <arpa/inet.h>
#include <getopt.h>
#include "json-util.h"
#include "log.h"
#include "pod-network.h"
#include "verbs.h"

static void usage(FILE *f) {
        fprintf(f, "Usage: stevedore network --pod-cidr CIDR [--cluster-cidr CIDR]… [--bridge NAME]\n"
                   "                         [--no-masquerade] COMMAND\n"
                   "\nCommands:\n"
                   "  setup                set up the node: bridge, ip_forward, masquerading\n"
                   "  add UID [NAME]       give pod UID its network; prints it as JSON\n"
                   "  del UID              remove pod UID's network\n"
                   "  gc [LIVE-UID…]       remove the network of every pod not named\n");
}

static int print_result(const char *uid, const PodNetworkResult *res) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        char address[INET_ADDRSTRLEN + 4], gateway[INET_ADDRSTRLEN];

        if (!o)
                return log_oom();
        inet_ntop(AF_INET, &res->address, address, INET_ADDRSTRLEN);
        snprintf(address + strlen(address), 4, "/%u", res->prefixlen);
        inet_ntop(AF_INET, &res->gateway, gateway, sizeof(gateway));
        json_object_object_add(o, "podUID", json_object_new_string(uid));
        json_object_object_add(o, "address", json_object_new_string(address));
        json_object_object_add(o, "gateway", json_object_new_string(gateway));
        json_object_object_add(o, "mtu", json_object_new_int((int) res->mtu));
        json_object_object_add(o, "netns", json_object_new_string(res->netns_path));
        json_object_object_add(o, "hostVeth", json_object_new_string(res->host_veth));
        json_object_object_add(o, "adopted", json_object_new_boolean(res->adopted));
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
}

static int parse_cidr(const char *option, const char *value, Ipv4Prefix *ret) {
        int r = ipv4_prefix_parse(value, ret);

        if (r < 0)
                log_error("network: %s '%s' is not an IPv4 network in CIDR form (like 10.244.1.0/24)",
                          option, value);
        return r;
}

static int parse_options(int argc, char **argv, PodNetworkConfig *config) {
        static const struct option options[] = {
                { "pod-cidr", required_argument, NULL, 'p' },
                { "cluster-cidr", required_argument, NULL, 'c' },
                { "bridge", required_argument, NULL, 'b' },
                { "no-masquerade", no_argument, NULL, 'M' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        bool have_pod_cidr = false;
        int c;

        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'p':
                        if (parse_cidr("--pod-cidr", optarg, &config->pod_cidr) < 0)
                                return -EINVAL;
                        have_pod_cidr = true;
                        break;
                case 'c':
                        if (config->n_cluster_cidrs >= POD_NETWORK_MAX_CLUSTER_CIDRS) {
                                log_error("network: at most %d --cluster-cidr", POD_NETWORK_MAX_CLUSTER_CIDRS);
                                return -E2BIG;
                        }
                        if (parse_cidr("--cluster-cidr", optarg, &config->cluster_cidrs[config->n_cluster_cidrs++]) < 0)
                                return -EINVAL;
                        break;
                case 'b':
                        config->bridge = optarg;
                        break;
                case 'M':
                        config->masquerade = false;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                default:
                        return -EINVAL;
                }
        if (!have_pod_cidr) {
                log_error("network: --pod-cidr is required");
                return -EINVAL;
        }
        return 0;
}

int verb_network(int argc, char **argv, const GlobalOptions *opts) {
        PodNetworkConfig config = {
                .state_dir = opts->root_dir,
                .run_dir = opts->run_dir,
                .masquerade = true,
        };
        _cleanup_(pod_network_freep) PodNetwork *net = NULL;
        const char *command;
        char **args;
        int nargs, r;

        r = parse_options(argc, argv, &config);
        if (r != 0)
                return r > 0 ? 0 : 2;
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        command = argv[optind];
        args = argv + optind + 1;
        nargs = argc - optind - 1;

        if (!streq(command, "setup") && !streq(command, "add") && !streq(command, "del") &&
            !streq(command, "gc")) {
                log_error("network: unknown command '%s'", command);
                return 2;
        }
        if ((streq(command, "add") && (nargs < 1 || nargs > 2)) || (streq(command, "del") && nargs != 1) ||
            (streq(command, "setup") && nargs != 0)) {
                usage(stderr);
                return 2;
        }

        r = pod_network_new(&config, &net);
        if (r < 0)
                return 1;

        if (streq(command, "add")) {
                PodNetworkResult res;

                r = pod_network_add(net, args[0], nargs > 1 ? args[1] : NULL, &res);
                if (r >= 0)
                        r = print_result(args[0], &res);
        } else if (streq(command, "del"))
                r = pod_network_del(net, args[0], NULL);
        else if (streq(command, "gc")) {
                r = pod_network_gc(net, args);
                if (r >= 0)
                        printf("reaped %d\n", r);
        }
        return r < 0 ? 1 : 0;
}
