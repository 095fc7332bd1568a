/* SPDX-License-Identifier: Apache-2.0 */
/* In-process side of bench/images: images ensured as the agent ensures them, one image
 * manager (its registry client and connections) kept across pulls.
 *   bench-images STORE-ROOT PLAIN-HTTP-HOST REFERENCE PULLS
 * Ensures REFERENCE with policy Always PULLS times in a row and prints one line per
 * pull: "pull <seconds> <requests> <blobs fetched>". */
#include <time.h>

#include "image-manager.h"
#include "log.h"

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

static void on_done(int error, const char *message, const ImageEnsureResult *result, void *userdata) {
        Bench *b = userdata;

        b->error = error;
        if (error < 0)
                log_error("%s", message);
        else if (result->pull) {
                b->requests = result->pull->requests;
                b->fetched = result->pull->blobs_fetched;
        }
        b->done = true;
}

int main(int argc, char **argv) {
        _cleanup_(image_store_freep) ImageStore *store = NULL;
        _cleanup_(image_manager_freep) ImageManager *manager = NULL;
        _cleanup_free_ char *error = NULL;
        Bench b = {};
        int pulls, r;

        if (argc != 5) {
                fprintf(stderr, "usage: bench-images STORE-ROOT PLAIN-HTTP-HOST REFERENCE PULLS\n");
                return 2;
        }
        pulls = atoi(argv[4]);
        r = sd_event_new(&b.event);
        if (r >= 0)
                r = image_store_open(argv[1], NULL, &store, &error);
        if (r >= 0)
                r = image_manager_new(b.event, store,
                                      &(RegistryOptions) {
                                              .hosts = &(RegistryHostConfig) { .host = argv[2], .plain_http = true },
                                              .n_hosts = 1,
                                      },
                                      &manager);
        if (r < 0) {
                log_error("bench-images: %s", error ?: strerror(-r));
                return 1;
        }
        for (int i = 0; i < pulls; i++) {
                double t = now();

                b.done = false;
                r = image_manager_ensure(manager, argv[3], IMAGE_PULL_ALWAYS, NULL,
                                         &(ImageEnsureCallbacks) { .done = on_done }, &b, NULL);
                while (r >= 0 && !b.done)
                        r = sd_event_run(b.event, UINT64_MAX);
                if (r < 0 || b.error < 0)
                        return 1;
                printf("pull %.6f %u %u\n", now() - t, b.requests, b.fetched);
        }
        image_manager_free(TAKE_PTR(manager));
        sd_event_unref(b.event);
        return 0;
}
