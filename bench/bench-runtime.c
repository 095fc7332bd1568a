/* SPDX-License-Identifier: Apache-2.0 */
/* In-process side of bench/runtime: the runtime library as the agent calls it.
 *   bench-runtime STATE-ROOT BUNDLE RUNS
 * Runs the bundle RUNS times (create, start, wait, delete) and prints one line per run:
 * "run <seconds>". */
#include <time.h>

#include "container.h"
#include "log.h"

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        int runs;

        if (argc != 4) {
                fprintf(stderr, "usage: bench-runtime STATE-ROOT BUNDLE RUNS\n");
                return 2;
        }
        runs = atoi(argv[3]);
        for (int i = 0; i < runs; i++) {
                _cleanup_free_ char *error = NULL;
                char id[32];
                double t = now();
                int r;

                snprintf(id, sizeof(id), "lib-%d", i);
                r = container_run(argv[1], id, argv[2], NULL, NULL, &error);
                if (r != 0)
                        return log_error("run %s: %s", id, error ?: strerror(-r)), 1;
                printf("run %.6f\n", now() - t);
        }
        return 0;
}
