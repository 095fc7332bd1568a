/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

/* A token bucket, as client-go's (flowcontrol.NewTokenBucketRateLimiter): `burst`
 * requests at once, then `qps` a second. The kubelet's defaults toward the API server
 * are 50 and 100 (kubeAPIQPS, kubeAPIBurst). */
typedef struct RateLimit {
        double qps, tokens;
        unsigned burst;
        uint64_t last_usec;
} RateLimit;

#define KUBE_API_QPS 50
#define KUBE_API_BURST 100

void rate_limit_init(RateLimit *l, double qps, unsigned burst, uint64_t now_usec);
/* 0 when a request may go now (its token is taken), else the microseconds until one may
 * (nothing is taken). */
uint64_t rate_limit_take(RateLimit *l, uint64_t now_usec);
