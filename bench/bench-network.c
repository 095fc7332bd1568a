/* SPDX-License-Identifier: Apache-2.0 */
/* In-process side of bench/network: the pod network library as the agent calls it.
 *   bench-network NODE-NETNS ROOT RUN-DIR POD-CIDR PODS
 * Adds PODS pods one after another, then deletes them, and prints one line per call:
 * "add <seconds>" / "del <seconds>". */
#include <fcntl.h>
#include <sched.h>
#include <time.h>

#include "log.h"
#include "pod-network.h"

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        _cleanup_(pod_network_freep) PodNetwork *net = NULL;
        PodNetworkConfig config = { .masquerade = true };
        int fd, pods;

        if (argc != 6) {
                fprintf(stderr, "usage: bench-network NODE-NETNS ROOT RUN-DIR POD-CIDR PODS\n");
                return 2;
        }
        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
                return log_error_errno(errno, "enter %s: %m", argv[1]), 1;
        close(fd);
        config.state_dir = argv[2];
        config.run_dir = argv[3];
        if (ipv4_prefix_parse(argv[4], &config.pod_cidr) < 0)
                return log_error("bad pod CIDR %s", argv[4]), 2;
        pods = atoi(argv[5]);
        if (pod_network_new(&config, &net) < 0)
                return 1;

        for (int i = 0; i < pods; i++) {
                char uid[32];
                PodNetworkResult res;
                double t = now();

                snprintf(uid, sizeof(uid), "bench-%d", i);
                if (pod_network_add(net, uid, NULL, &res) < 0)
                        return 1;
                printf("add %.9f\n", now() - t);
        }
        for (int i = 0; i < pods; i++) {
                char uid[32];
                double t = now();

                snprintf(uid, sizeof(uid), "bench-%d", i);
                if (pod_network_del(net, uid, NULL) < 0)
                        return 1;
                printf("del %.9f\n", now() - t);
        }
        return 0;
}
