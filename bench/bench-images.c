/* SPDX-License-Identifier: Apache-2.0 */
/* In-process side of bench/images: the registry client as the agent calls it, one client
 * (and its connections) kept across pulls.
 *   bench-images BLOBS-DIR PLAIN-HTTP-HOST REFERENCE PULLS
 * Pulls REFERENCE PULLS times in a row and prints one line per pull:
 * "pull <seconds> <requests> <blobs fetched>". */
#include <time.h>

#include "log.h"
#include "registry.h"

typedef struct Bench {
        sd_event *event;
        int error;
        bool done;
        unsigned requests, fetched;
} Bench;

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void on_done(int error, const char *message, const RegistryPullResult *result, void *userdata) {
        Bench *b = userdata;

        b->error = error;
        if (error < 0)
                log_error("%s", message);
        else {
                b->requests = result->requests;
                b->fetched = result->blobs_fetched;
        }
        b->done = true;
}

int main(int argc, char **argv) {
        _cleanup_(registry_client_freep) RegistryClient *client = NULL;
        Bench b = {};
        int pulls, r;

        if (argc != 5) {
                fprintf(stderr, "usage: bench-images BLOBS-DIR PLAIN-HTTP-HOST REFERENCE PULLS\n");
                return 2;
        }
        pulls = atoi(argv[4]);
        r = sd_event_new(&b.event);
        if (r < 0)
                return 1;
        r = registry_client_new(b.event,
                                &(RegistryOptions) {
                                        .hosts = &(RegistryHostConfig) { .host = argv[2], .plain_http = true },
                                        .n_hosts = 1,
                                },
                                &client);
        if (r < 0)
                return 1;
        for (int i = 0; i < pulls; i++) {
                double t = now();

                b.done = false;
                r = registry_pull(client, argv[3], argv[1], NULL, &(RegistryPullCallbacks) { .done = on_done }, &b,
                                  NULL);
                while (r >= 0 && !b.done)
                        r = sd_event_run(b.event, UINT64_MAX);
                if (r < 0 || b.error < 0)
                        return 1;
                printf("pull %.6f %u %u\n", now() - t, b.requests, b.fetched);
        }
        registry_client_free(TAKE_PTR(client));
        sd_event_unref(b.event);
        return 0;
}
