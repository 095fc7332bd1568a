/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* What the pod worker shares with its containers' lifecycle (container-lifecycle.c). */

#include "container-lifecycle.h"
#include "log.h"
#include "macro.h"
#include "pod-spec.h"
#include "pod-worker.h"
#include "registry-auth.h"

/* Ephemeral containers a pod may have at once on this node. */
#define POD_EPHEMERAL_MAX 16

struct PodWorker {
        PodRuntime rt;
        json_object *pod, *status, *objects;
        /* The newest Pod the API gave (pod_worker_update): a container made later reads its
         * labels and annotations (fieldRef); NULL: pod is. */
        json_object *latest;
        PodSpec *spec; /* pod, parsed */
        char *uid, *key; /* key: namespace/name */
        char *pod_run_dir, *pod_state_dir, *sandbox_dir, *log_dir;
        char *pod_ip, *started_at, *netns_path;
        char *cgroup_parent; /* pod_cgroup_parent() */
        bool cgroup_created;
        bool sandbox_ready, network_added, terminating, gone;
        bool finished; /* terminal (Succeeded or Failed): its sandbox released, nothing runs again */
        /* As spec->containers (the init containers first: n_spec in all), then the
         * ephemeral ones as they are added, up to POD_EPHEMERAL_MAX: room is made for them
         * at the start, as the event sources hold pointers to the containers. */
        Container *containers;
        size_t n_containers, n_init, n_spec;
        PodSpecContainer *ephemeral_specs; /* POD_EPHEMERAL_MAX, their JSON referenced; NULL: none yet */
        ContainerSpecVolume *volumes;
        size_t n_volumes;
        AuthFile *pull_credentials; /* from its imagePullSecrets; NULL: none */
        bool initialized;      /* its init containers have all completed (sidecars: started) once */
        bool deadline_exceeded; /* ran longer than activeDeadlineSeconds: stopped, Failed */
        uint64_t start_realtime; /* status.startTime, CLOCK_REALTIME usec */
        sd_event_source *deadline_timer;
        bool sidecars_stopping; /* the other containers ended: its sidecars stop, for good */
        uint64_t terminate_started_usec;
        int64_t terminate_grace_seconds;
        sd_event_source *defer;
};

/* The status again, sent when it changed. */
void pod_worker_report(PodWorker *w);
/* Starts what should run now, or removes the pod once it terminated. */
void pod_worker_sync(PodWorker *w);
/* An event about the pod, or about its container c (NULL: the pod's). */
void pod_worker_emit(PodWorker *w, Container *c, const char *type, const char *reason, const char *format, ...)
        _printf_(5, 6);
/* What the journal files a message about the pod (and container c, if given) under. */
LogContext pod_worker_log_context(PodWorker *w, Container *c);
/* A message about container c, filed under it: "pod NS/NAME: container C: " and format. */
#define log_container_full_errno(c, level, error, format, ...)                                                   \
        ({                                                                                                      \
                Container *_c_ = (c);                                                                           \
                LogContext _context_ = pod_worker_log_context(_c_->worker, _c_);                                \
                log_context_full_errno(&_context_, level, error, "pod %s: container %s: " format, _c_->worker->key, \
                                       _c_->name, ##__VA_ARGS__);                                               \
        })
/* The runtime's state directory (its --root). */
char *pod_worker_runtime_root(PodWorker *w);
uint64_t pod_worker_now(PodWorker *w);
char *pod_worker_now_rfc3339(void);
/* The pod as the API has it now: the newest one given, else the first. */
json_object *pod_worker_pod(PodWorker *w);
/* A ConfigMap, Secret or token the pod manager fetched for the pod (a ContainerSpecLookup
 * and VolumeLookup; userdata is the PodWorker). */
json_object *pod_worker_lookup_object(void *userdata, const char *kind, const char *name);
