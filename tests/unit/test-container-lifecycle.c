/* SPDX-License-Identifier: Apache-2.0 */
#include "container-lifecycle.h"
#include "macro.h"
#include "tests.h"

#define SEC CONTAINER_USEC_PER_SEC

TEST(should_restart) {
        /* Containers by the policy. */
        check(container_should_restart(POD_RESTART_ALWAYS, false, false, 0));
        check(container_should_restart(POD_RESTART_ALWAYS, false, false, 1));
        check(!container_should_restart(POD_RESTART_ON_FAILURE, false, false, 0));
        check(container_should_restart(POD_RESTART_ON_FAILURE, false, false, 137));
        check(!container_should_restart(POD_RESTART_NEVER, false, false, 1));
        /* Init containers only when they failed, and not with Never. */
        check(!container_should_restart(POD_RESTART_ALWAYS, true, false, 0));
        check(container_should_restart(POD_RESTART_ALWAYS, true, false, 1));
        check(container_should_restart(POD_RESTART_ON_FAILURE, true, false, 1));
        check(!container_should_restart(POD_RESTART_NEVER, true, false, 1));
        /* Nothing while the pod terminates. */
        check(!container_should_restart(POD_RESTART_ALWAYS, false, true, 1));
        check(!container_should_restart(POD_RESTART_ALWAYS, true, true, 1));
}

TEST(crash_loop_backoff) {
        /* A container that keeps failing right away: at once, then 10 s doubling to 5 min. */
        static const uint64_t delays[] = { 0, 10, 20, 40, 80, 160, 300, 300 };
        uint64_t backoff = 0;

        for (size_t i = 0; i < ELEMENTSOF(delays); i++) {
                ContainerExitDecision d = container_exit_decide(POD_RESTART_ALWAYS, false, false, 1, 2 * SEC, backoff);

                check_int(d.action, ==, i == 0 ? CONTAINER_RESTART_NOW : CONTAINER_RESTART_AFTER_BACKOFF);
                check_int(d.delay_usec, ==, delays[i] * SEC);
                check_int(d.backoff_usec, <=, 300 * SEC);
                backoff = d.backoff_usec;
        }
}

TEST(backoff_reset) {
        ContainerExitDecision d;

        /* Ten minutes of running start the back-off over: a restart at once. */
        d = container_exit_decide(POD_RESTART_ALWAYS, false, false, 1, 600 * SEC, 160 * SEC);
        check_int(d.action, ==, CONTAINER_RESTART_NOW);
        check_int(d.delay_usec, ==, 0);
        check_int(d.backoff_usec, ==, 10 * SEC);
        /* Less than that keeps it. */
        d = container_exit_decide(POD_RESTART_ALWAYS, false, false, 1, 599 * SEC, 160 * SEC);
        check_int(d.action, ==, CONTAINER_RESTART_AFTER_BACKOFF);
        check_int(d.delay_usec, ==, 160 * SEC);
        check_int(d.backoff_usec, ==, 300 * SEC);
}

TEST(stay_exited) {
        ContainerExitDecision d;

        d = container_exit_decide(POD_RESTART_ON_FAILURE, false, false, 0, 2 * SEC, 40 * SEC);
        check_int(d.action, ==, CONTAINER_STAY_EXITED);
        check_int(d.backoff_usec, ==, 40 * SEC); /* untouched */
        d = container_exit_decide(POD_RESTART_NEVER, false, false, 1, 2 * SEC, 0);
        check_int(d.action, ==, CONTAINER_STAY_EXITED);
        d = container_exit_decide(POD_RESTART_ALWAYS, false, true, 1, 2 * SEC, 0);
        check_int(d.action, ==, CONTAINER_STAY_EXITED);
        d = container_exit_decide(POD_RESTART_ALWAYS, true, false, 0, 2 * SEC, 0);
        check_int(d.action, ==, CONTAINER_STAY_EXITED);
}

TEST(image_retry) {
        static const uint64_t delays[] = { 10, 20, 40, 80, 160, 300, 300 };
        uint64_t backoff = 0;

        for (size_t i = 0; i < ELEMENTSOF(delays); i++)
                check_int(container_image_retry_delay(&backoff), ==, delays[i] * SEC);
        check_int(backoff, ==, 300 * SEC);
}

TEST(exit_reason) {
        check_streq(container_exit_reason(0, false), "Completed");
        check_streq(container_exit_reason(1, false), "Error");
        check_streq(container_exit_reason(137, true), "OOMKilled");
        check_streq(container_exit_reason(0, true), "OOMKilled");
}

int main(void) {
        RUN(should_restart);
        RUN(crash_loop_backoff);
        RUN(backoff_reset);
        RUN(stay_exited);
        RUN(image_retry);
        RUN(exit_reason);
        return 0;
}
