/* SPDX-License-Identifier: Apache-2.0 */
/* The pod sandbox's process, as Kubernetes' pause image runs it: waits for SIGINT or
 * SIGTERM and exits 0; as PID 1 of a pod's shared PID namespace it reaps orphans. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
        (void) sig;
        _exit(0);
}

static void on_child(int sig) {
        (void) sig;
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
}

int main(void) {
        struct sigaction stop = { .sa_handler = on_stop }, reap = { .sa_handler = on_child, .sa_flags = SA_NOCLDSTOP };

        sigaction(SIGINT, &stop, NULL);
        sigaction(SIGTERM, &stop, NULL);
        sigaction(SIGCHLD, &reap, NULL);
        for (;;)
                pause();
}
