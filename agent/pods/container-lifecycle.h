/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "image-manager.h"
#include "lifecycle-hook.h"
#include "pod-spec.h"
#include "probe.h"

/* One container of a pod through its life, as kubelet's runtime manager drives it: the
 * image made present (pulled by imagePullPolicy, retried with a back-off), the bundle and
 * the monitor started, its probes run, its exit read, and a restart by the restart
 * policy after kubelet's back-off.
 *
 * The decisions are pure functions of the state and the event, so they can be checked
 * without a runtime; the rest carries them out on the event loop. */

#define CONTAINER_BACKOFF_INITIAL_USEC (10 * CONTAINER_USEC_PER_SEC)
#define CONTAINER_BACKOFF_MAX_USEC (300 * CONTAINER_USEC_PER_SEC)
/* A container whose config could not be made is tried again after this (kubelet's pod
 * worker's back-off after a failed sync). */
#define CONTAINER_CONFIG_RETRY_USEC (10 * CONTAINER_USEC_PER_SEC)
#define CONTAINER_BACKOFF_RESET_USEC (600 * CONTAINER_USEC_PER_SEC)
#define CONTAINER_USEC_PER_SEC UINT64_C(1000000)
/* kubelet's minimumGracePeriodInSeconds: what a container gets after its preStop hook. */
#define CONTAINER_MIN_GRACE_SECONDS 2

typedef enum ContainerPhase { CONTAINER_WAITING, CONTAINER_RUN, CONTAINER_EXITED } ContainerPhase;

/* What follows an exit: nothing (it stays exited), a restart at once, or a restart after
 * delay_usec in CrashLoopBackOff. backoff_usec is the back-off to keep for the next one. */
typedef enum ContainerExitAction {
        CONTAINER_STAY_EXITED,
        CONTAINER_RESTART_NOW,
        CONTAINER_RESTART_AFTER_BACKOFF,
} ContainerExitAction;

typedef struct ContainerExitDecision {
        ContainerExitAction action;
        uint64_t delay_usec, backoff_usec;
} ContainerExitDecision;

/* Whether kubelet restarts a container that exited with exit_code: an init container
 * when it failed (unless Never), another by the policy. None while the pod terminates. */
bool container_should_restart(PodRestartPolicy policy, bool init, bool terminating, int exit_code);

/* The exit of a container that ran for ran_usec with back-off backoff_usec (0: none yet):
 * kubelet's crash-loop back-off restarts the first time at once, then after 10 s
 * doubling to 5 min; a run of 10 min or more starts it over. */
ContainerExitDecision container_exit_decide(PodRestartPolicy policy, bool init, bool terminating, int exit_code,
                                            uint64_t ran_usec, uint64_t backoff_usec);

/* A failed pull retried after *backoff_usec (10 s the first time), which then doubles to
 * at most 5 min; a successful pull sets it back to 0. Returns the delay. */
uint64_t container_image_retry_delay(uint64_t *backoff_usec);

/* containerd's reason for a terminated state: an OOM kill in the container's cgroup wins. */
const char *container_exit_reason(int exit_code, bool oom_killed);

typedef struct PodWorker PodWorker;

typedef struct ContainerExit {
        int exit_code, signal;
        char *reason, *started_at, *finished_at, *container_id;
        char *message; /* the termination message; NULL: none */
} ContainerExit;

typedef struct Container {
        PodWorker *worker;
        const PodSpecContainer *spec; /* in the worker's PodSpec */
        const char *name;
        bool init;
        ContainerPhase phase;
        char *waiting_reason, *waiting_message;
        unsigned restart_count;
        char *id;  /* the runtime's: <pod uid>-<name>-<restart> */
        char *dir; /* <pod run dir>/containers/<name>/<restart> */
        char *image_id;
        char *started_at; /* running since */
        uint64_t started_usec;
        pid_t monitor_pid;
        int monitor_pidfd, ready_fd;
        sd_event_source *monitor_source, *ready_source, *backoff_timer;
        uint64_t backoff_usec, image_backoff_usec;
        ImageEnsure *ensure; /* the image being made present */
        Probe *startup, *readiness, *liveness;
        bool started;                /* running and its startupProbe (if any) has succeeded */
        bool ready;                  /* started and its readiness probe (if any) succeeds */
        sd_event_source *kill_timer; /* SIGKILL after the SIGTERM of a stop */
        LifecycleHook *hook;         /* its postStart or preStop hook, while it runs */
        bool post_start_pending;     /* running, its postStart hook not done yet */
        bool stopping;               /* being stopped: its preStop hook, SIGTERM, SIGKILL */
        uint64_t stop_started_usec;
        int64_t stop_grace_seconds;
        unsigned image_failures;
        ContainerExit state, last; /* state while exited; last: the one before (lastState) */
        bool has_last;
} Container;

void pod_container_init(Container *c, PodWorker *w, const PodSpecContainer *spec, bool pod_has_init_containers);
void pod_container_done(Container *c);

/* Makes the image present, then writes the bundle and starts the monitor. */
void pod_container_run(Container *c);
/* Takes over a container that a previous agent started, if there is one. */
void pod_container_adopt(Container *c);
/* Stops a pending image pull or restart (the pod terminates). */
void pod_container_cancel(Container *c);
/* Stops it as kubelet's killContainer does: its preStop hook, given at most the grace
 * period, then SIGTERM and, after what is left of the period (at least 2 s), SIGKILL;
 * grace 0 is SIGKILL at once. Again while stopping: a shorter grace period only. */
void pod_container_stop(Container *c, int64_t grace_seconds);

/* Its monitor runs (or is starting). */
bool pod_container_active(const Container *c);
/* Active, or an image pull or a restart is pending. */
bool pod_container_pending(const Container *c);
