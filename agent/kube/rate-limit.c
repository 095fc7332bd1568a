/* SPDX-License-Identifier: Apache-2.0 */
#include "rate-limit.h"

void rate_limit_init(RateLimit *l, double qps, unsigned burst, uint64_t now_usec) {
        *l = (RateLimit) { .qps = qps, .tokens = burst, .burst = burst, .last_usec = now_usec };
}

uint64_t rate_limit_take(RateLimit *l, uint64_t now_usec) {
        if (now_usec > l->last_usec) {
                l->tokens += (double) (now_usec - l->last_usec) * l->qps / 1e6;
                if (l->tokens > l->burst)
                        l->tokens = l->burst;
                l->last_usec = now_usec;
        }
        if (l->tokens >= 1) {
                l->tokens -= 1;
                return 0;
        }
        return (uint64_t) ((1 - l->tokens) * 1e6 / l->qps) + 1;
}
