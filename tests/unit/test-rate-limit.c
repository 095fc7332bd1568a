/* SPDX-License-Identifier: Apache-2.0 */
#include "rate-limit.h"
#include "tests.h"

static void test_burst_then_qps(void) {
        RateLimit l;
        uint64_t now = 5000000, wait;

        rate_limit_init(&l, 50, 100, now);
        for (int i = 0; i < 100; i++)
                check_int(rate_limit_take(&l, now), ==, 0);
        /* The bucket is empty: the next token comes in 1/50 s. */
        wait = rate_limit_take(&l, now);
        check_int(wait, >, 19000);
        check_int(wait, <=, 20001);
        check_int(rate_limit_take(&l, now + wait), ==, 0);
        check_int(rate_limit_take(&l, now + wait), >, 0);
        /* A second later 50 more, and no more than the burst after a long pause. */
        now += wait + 1000000;
        for (int i = 0; i < 50; i++)
                check_int(rate_limit_take(&l, now), ==, 0);
        check_int(rate_limit_take(&l, now), >, 0);
        now += 60 * 1000000ULL;
        for (int i = 0; i < 100; i++)
                check_int(rate_limit_take(&l, now), ==, 0);
        check_int(rate_limit_take(&l, now), >, 0);
}

static void test_clock_going_nowhere(void) {
        RateLimit l;

        rate_limit_init(&l, 1, 1, 10);
        check_int(rate_limit_take(&l, 10), ==, 0);
        /* An earlier time adds nothing (and does not wrap around). */
        check_int(rate_limit_take(&l, 5), >, 0);
}

int main(void) {
        test_burst_then_qps();
        test_clock_going_nowhere();
        return 0;
}
