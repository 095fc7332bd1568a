/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "pod-worker.h"

/* The pods of this node, one PodWorker each, whatever says they should run: the API
 * server's watch (pod-manager.h) and, beside it, the static pods' manifests
 * (static-pods.h), or standalone's manifest directory (standalone.h). Each source
 * adds its pods, starts, updates and stops their workers, hears of their status, events
 * and end through its PodSource, and removes them when it is done with them; the
 * entries of several sources live side by side, told apart by their UIDs and
 * e->source. The kubelet API finds pods here (pod_set_find). */
typedef struct PodSet PodSet;
typedef struct PodEntry PodEntry;

/* After every change of a pod: how many pods the node has (their workers started and
 * not yet terminated) and how many of them run (phase Running). */
typedef void (*PodsChanged)(unsigned running, unsigned total, void *userdata);

/* A source: what it is told of its pods (each callback may be NULL), with its
 * userdata. The source owns it; the set calls it while the loop runs (free_data also
 * when the set is freed, after the sources may be). */
typedef struct PodSource {
        void (*status_changed)(PodEntry *e, json_object *status, void *userdata);
        void (*emit_event)(PodEntry *e, const char *type, const char *reason, const char *message, void *userdata);
        /* Everything of the pod is gone (the worker's terminated): e->ended is set. */
        void (*terminated)(PodEntry *e, void *userdata);
        /* Frees the source's data of an entry (e->data) when the entry goes. */
        void (*free_data)(void *data);
        void *userdata;
} PodSource;

struct PodEntry {
        PodSet *set;
        const PodSource *source; /* the one that added it */
        char *uid, *namespace, *name;
        json_object *pod;   /* the latest version given */
        PodWorker *worker;  /* NULL until started, and if it could not start */
        json_object *status; /* without a worker: the status it was rejected with */
        bool ended;         /* its worker terminated */
        void *data;         /* the source's */
        /* The set's own. */
        void (*free_data)(void *data);
        bool removed;
        bool admitted; /* its ports count from its admission until its worker ends */
        char *log_dir, *netns;
        char **containers;
        PodEntry *next;
};

/* What the kubelet API needs of a pod: borrowed, valid until the loop runs on. */
typedef struct PodInfo {
        const char *uid, *namespace, *name;
        const char *log_dir; /* its CRI logs: <log_dir>/<container>/<restart>.log */
        char *const *containers; /* the names of its init, regular and ephemeral containers, NULL-terminated */
        /* Its network namespace as its worker recorded it: "" for the node's; NULL while
         * its sandbox is not (or no longer) set up. */
        const char *netns_path;
} PodInfo;

int pod_set_new(PodsChanged pods_changed, void *userdata, PodSet **ret);
/* Frees the workers (the pods' containers keep running) and the entries. */
void pod_set_free(PodSet *set);
static inline void pod_set_freep(PodSet **set) {
        pod_set_free(*set);
}

/* What every worker runs with, given once before the sources start (its callbacks
 * become the set's; the rest is copied). -EBUSY if the set has it already. */
int pod_set_attach(PodSet *set, const PodRuntime *runtime);
const PodRuntime *pod_set_runtime(PodSet *set);

/* A pod of source (its metadata.uid and name set; namespace "default" if none) joins
 * the set, without a worker yet. data is the source's, the entry's from here (also on
 * failure): source->free_data frees it with the entry. */
int pod_set_add(PodSet *set, const PodSource *source, json_object *pod, void *data, PodEntry **ret);
/* Kubelet's admission (pod-admission.h) of e against the pods the set admitted before,
 * of every source (their workers not ended, not finished): true when it may start; the
 * source admits pods in the order kubelet does, by creation time. A pod that may not is
 * rejected as kubelet rejects it: its status Failed with the reason and "Pod was
 * rejected: " and the message, a Warning event with the reason, both told to the
 * source; it stays in the set without a worker. */
bool pod_set_admit(PodEntry *e);
/* Starts e's worker; objects and the error as pod_worker_new() takes them. */
int pod_set_start(PodEntry *e, json_object *objects, char **ret_error);
/* A new version of e's pod, handed to its worker if it runs. */
void pod_set_update(PodEntry *e, json_object *pod);
/* The source is done with e: it hears no more of it, and e goes (freed from the loop,
 * outside any callback). */
void pod_set_remove(PodEntry *e);

/* By UID, among the entries not removed. */
PodEntry *pod_set_get(PodSet *set, const char *uid);
/* The entries not removed, newest first. */
PodEntry *pod_set_first(PodSet *set);
PodEntry *pod_entry_next(PodEntry *e);
/* The current status of e's worker, or the one it was rejected with; NULL otherwise. */
json_object *pod_entry_status(PodEntry *e);

/* kubelet's cleanup of the pods it no longer has, once its sources know theirs: every
 * pod an earlier agent left on the node (a run or state dir) that is not in the set or
 * that kept() says goes (NULL: every one in the set stays) is stopped with kubelet's
 * grace for a pod it knows only from the runtime, and what it held is released. */
void pod_set_stop_orphans(PodSet *set, bool (*kept)(const char *uid, void *userdata), void *userdata);

/* Calls pods_changed with the counts as they are now; each source calls it when its pods
 * change (the API source at once, standalone once its status file is written). */
void pod_set_report(PodSet *set);

/* The pod namespace/name (of that UID if uid is not NULL), preferring one whose worker
 * has not ended: 0, or -ENOENT if the set has none. */
int pod_set_find(PodSet *set, const char *namespace, const char *name, const char *uid, PodInfo *ret);
