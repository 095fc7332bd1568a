/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "pod-admission.h"
#include "pod-paths.h"
#include "pod-set.h"

struct PodSet {
        PodRuntime rt;
        bool attached;
        PodEntry *entries;
        sd_event_source *reaper;
        PodsChanged pods_changed;
        void *userdata;
};

/* A removed entry's source hears no more of it. */
static PodEntry *entry_of(PodSet *set, PodWorker *w) {
        for (PodEntry *e = set->entries; e; e = e->next)
                if (e->worker == w)
                        return e->removed ? NULL : e;
        return NULL;
}

static void entry_free(PodEntry *e) {
        pod_worker_free(e->worker);
        if (e->data && e->free_data)
                e->free_data(e->data);
        json_object_put(e->pod);
        json_object_put(e->status);
        free(e->uid);
        free(e->namespace);
        free(e->name);
        free(e->log_dir);
        free(e->netns);
        strv_free(e->containers);
        free(e);
}

PodEntry *pod_entry_next(PodEntry *e) {
        for (e = e->next; e && e->removed; e = e->next)
                ;
        return e;
}

PodEntry *pod_set_first(PodSet *set) {
        PodEntry *e = set->entries;

        return e && e->removed ? pod_entry_next(e) : e;
}

PodEntry *pod_set_get(PodSet *set, const char *uid) {
        for (PodEntry *e = pod_set_first(set); e; e = pod_entry_next(e))
                if (streq(e->uid, uid))
                        return e;
        return NULL;
}

json_object *pod_entry_status(PodEntry *e) {
        return e->worker ? pod_worker_status(e->worker) : e->status;
}

void pod_set_report(PodSet *set) {
        unsigned running = 0, total = 0;

        if (!set->pods_changed)
                return;
        for (PodEntry *e = pod_set_first(set); e; e = pod_entry_next(e)) {
                if (!e->worker || e->ended)
                        continue;
                total++;
                if (streq(json_get_string(pod_worker_status(e->worker), "phase", NULL) ?: "", "Running"))
                        running++;
        }
        set->pods_changed(running, total, set->userdata);
}

/* --- the workers' callbacks, passed on to the source -------------------------------- */

static void on_status(PodWorker *w, json_object *status, void *userdata) {
        PodSet *set = userdata;
        PodEntry *e = entry_of(set, w);

        if (e && e->source->status_changed)
                e->source->status_changed(e, status, e->source->userdata);
}

static void on_event(PodWorker *w, const char *type, const char *reason, const char *message, void *userdata) {
        PodSet *set = userdata;
        PodEntry *e = entry_of(set, w);

        if (e && e->source->emit_event)
                e->source->emit_event(e, type, reason, message, e->source->userdata);
}

static void on_terminated(PodWorker *w, void *userdata) {
        PodSet *set = userdata;
        PodEntry *e = entry_of(set, w);

        if (!e)
                return;
        e->ended = true;
        if (e->source->terminated)
                e->source->terminated(e, e->source->userdata);
}

int pod_set_attach(PodSet *set, const PodRuntime *runtime) {
        if (set->attached)
                return -EBUSY;
        set->rt = *runtime;
        set->rt.status_changed = on_status;
        set->rt.emit_event = on_event;
        set->rt.terminated = on_terminated;
        set->rt.userdata = set;
        set->attached = true;
        return 0;
}

const PodRuntime *pod_set_runtime(PodSet *set) {
        return &set->rt;
}

/* --- entries ------------------------------------------------------------------------ */

/* The names of the pod's init, regular and ephemeral containers. */
static char **container_names(json_object *pod) {
        json_object *spec = json_get(pod, "spec");
        json_object *lists[] = { json_get(spec, "initContainers"), json_get(spec, "containers"),
                                 json_get(spec, "ephemeralContainers") };
        size_t n = json_array_length(lists[0]) + json_array_length(lists[1]) + json_array_length(lists[2]);
        char **names = calloc(n + 1, sizeof(char *));

        if (!names)
                return NULL;
        n = 0;
        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                for (size_t i = 0; i < json_array_length(lists[l]); i++) {
                        const char *name = json_get_string(json_object_array_get_idx(lists[l], i), "name", NULL);
                        if (!name)
                                continue;
                        names[n] = strdup(name);
                        if (!names[n++]) {
                                strv_free(names);
                                return NULL;
                        }
                }
        return names;
}

int pod_set_add(PodSet *set, const PodSource *source, json_object *pod, void *data, PodEntry **ret) {
        const char *uid = json_get_string(pod, "metadata", "uid", NULL), *name = json_get_string(pod, "metadata", "name", NULL);
        const char *namespace = json_get_string(pod, "metadata", "namespace", NULL) ?: "default";
        PodEntry *e;

        if (!uid || !name || !(e = calloc(1, sizeof(PodEntry)))) {
                if (data && source->free_data)
                        source->free_data(data);
                return !uid || !name ? -EINVAL : -ENOMEM;
        }
        *e = (PodEntry) {
                .set = set,
                .source = source,
                .free_data = source->free_data,
                .uid = strdup(uid),
                .namespace = strdup(namespace),
                .name = strdup(name),
                .pod = json_object_get(pod),
                .log_dir = pod_log_dir(set->rt.log_dir, namespace, name, uid),
                .containers = container_names(pod),
                .data = data,
                .next = set->entries,
        };
        set->entries = e;
        if (!e->uid || !e->namespace || !e->name || !e->log_dir || !e->containers) {
                pod_set_remove(e);
                return -ENOMEM;
        }
        *ret = e;
        return 0;
}

/* The pods whose ports count: running or about to, or still stopping. */
static bool holds_node(PodEntry *e) {
        const char *phase = json_get_string(pod_entry_status(e), "phase", NULL) ?: "";

        return e->admitted && !e->ended && !streq(phase, "Succeeded") && !streq(phase, "Failed");
}

static void reject(PodEntry *e, const char *reason, const char *message) {
        _cleanup_free_ char *text = NULL;

        log_warning("pod %s/%s: rejected: %s", e->namespace, e->name, message);
        json_object_put(e->status);
        e->status = json_object_new_object();
        if (!e->status || asprintf(&text, "Pod was rejected: %s", message) < 0)
                return;
        json_object_object_add(e->status, "phase", json_object_new_string("Failed"));
        json_object_object_add(e->status, "reason", json_object_new_string(reason));
        json_object_object_add(e->status, "message", json_object_new_string(text));
        if (e->source->emit_event)
                e->source->emit_event(e, "Warning", reason, message, e->source->userdata);
        if (e->source->status_changed)
                e->source->status_changed(e, e->status, e->source->userdata);
}

bool pod_set_admit(PodEntry *e) {
        _cleanup_free_ json_object **admitted = NULL;
        const char *reason = NULL, *message = NULL;
        size_t n = 0, allocated = 0;
        int r;

        for (PodEntry *o = pod_set_first(e->set); o; o = pod_entry_next(o)) {
                if (o == e || !holds_node(o))
                        continue;
                if (n == allocated) {
                        json_object **grown = reallocarray(admitted, allocated = MAX(allocated * 2, (size_t) 8),
                                                           sizeof(json_object *));
                        if (!grown)
                                return log_oom(), false;
                        admitted = grown;
                }
                admitted[n++] = o->pod;
        }
        r = pod_admit(e->pod, admitted, n, &reason, &message);
        if (r < 0)
                return log_oom(), false;
        if (r == 0)
                reject(e, reason, message);
        e->admitted = r > 0;
        return e->admitted;
}

int pod_set_start(PodEntry *e, json_object *objects, char **ret_error) {
        int r = pod_worker_new(&e->set->rt, e->pod, objects, &e->worker, ret_error);

        if (r < 0)
                e->admitted = false; /* it holds nothing */
        return r;
}

void pod_set_update(PodEntry *e, json_object *pod) {
        json_object *spec = json_get(pod, "spec");
        size_t n = 0;

        while (e->containers[n])
                n++;
        /* Ephemeral containers join (the others cannot change): their logs and exec are
         * served by these names. */
        if (n != json_array_length(json_get(spec, "initContainers")) + json_array_length(json_get(spec, "containers")) +
                         json_array_length(json_get(spec, "ephemeralContainers"))) {
                char **names = container_names(pod);
                if (names) {
                        strv_free(e->containers);
                        e->containers = names;
                }
        }
        json_object_put(e->pod);
        e->pod = json_object_get(pod);
        if (e->worker)
                pod_worker_update(e->worker, pod);
}

/* Entries removed are freed here, outside their workers' callbacks. */
static int reap(sd_event_source *s, void *userdata) {
        PodSet *set = userdata;

        for (PodEntry **p = &set->entries; *p;) {
                PodEntry *e = *p;
                if (e->removed) {
                        *p = e->next;
                        entry_free(e);
                } else
                        p = &e->next;
        }
        return 0;
}

void pod_set_remove(PodEntry *e) {
        PodSet *set = e->set;

        e->removed = true;
        if (!set->reaper)
                (void) sd_event_add_defer(set->rt.event, &set->reaper, reap, set);
        (void) sd_event_source_set_enabled(set->reaper, SD_EVENT_ONESHOT);
}

/* --- pods left on the node by an earlier agent ------------------------------------- */

/* kubelet's minimumGracePeriodInSeconds: what it gives a pod it knows only from the
 * runtime. */
#define ORPHAN_GRACE_SECONDS 2

static void on_orphan_terminated(PodEntry *e, void *userdata) {
        log_info("pod %s/%s: stopped and removed", e->namespace, e->name);
        pod_set_remove(e);
        pod_set_report(e->set);
}

static const PodSource orphan_source = { .terminated = on_orphan_terminated };

static void stop_orphan(PodSet *set, const char *uid) {
        _cleanup_(json_object_putp) json_object *pod = NULL;
        _cleanup_free_ char *error = NULL;
        PodEntry *e;
        int r;

        r = pod_left_object(&set->rt, uid, ORPHAN_GRACE_SECONDS, &pod);
        if (r >= 0 && pod_set_add(set, &orphan_source, pod, NULL, &e) >= 0) {
                log_info("pod %s/%s: no longer bound to this node, stopping what an earlier agent left of it",
                         e->namespace, e->name);
                r = pod_set_start(e, NULL, &error);
                if (r >= 0)
                        return;
                log_error("pod %s/%s: stop: %s", e->namespace, e->name, error ?: strerror(-r));
                pod_set_remove(e);
        } else if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "pod %s: %s left by an earlier agent: %m", uid, POD_OBJECT_FILE);
        /* Without its object no container of it ran (the object is written before the
         * sandbox is made) or the node rebooted: only its directories, network and
         * volumes are left. */
        json_object_put(pod);
        pod = json_object_new_object();
        if (!pod)
                return;
        json_object_object_add(pod, "metadata", json_object_new_object());
        json_object_object_add(json_get(pod, "metadata"), "uid", json_object_new_string(uid));
        pod_release_leftovers(&set->rt, pod);
}

/* The UIDs of the pods with a directory in dir's pods/, NULL-terminated; NULL when out of
 * memory. */
static char **pod_uids(const char *dir) {
        _cleanup_free_ char *pods = pod_dirs(dir);
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0;

        if (!pods || !(names = calloc(1, sizeof(char *))))
                return NULL;
        d = opendir(pods);
        if (!d)
                return TAKE_PTR(names);
        for (struct dirent *de; (de = readdir(d));) {
                char **grown;
                if (de->d_name[0] == '.')
                        continue;
                grown = reallocarray(names, n + 2, sizeof(char *));
                if (!grown)
                        return NULL;
                names = grown;
                names[n + 1] = NULL;
                if (!(names[n++] = strdup(de->d_name)))
                        return NULL;
        }
        return TAKE_PTR(names);
}

void pod_set_stop_orphans(PodSet *set, bool (*kept)(const char *uid, void *userdata), void *userdata) {
        const char *dirs[] = { set->rt.run_dir, set->rt.state_dir };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_strv_free_ char **uids = pod_uids(dirs[i]);

                if (!uids) {
                        log_oom();
                        return;
                }
                for (char **uid = uids; *uid; uid++) {
                        PodEntry *e = pod_set_get(set, *uid);
                        if ((e && (e->source == &orphan_source || !kept || kept(*uid, userdata))) ||
                            !pod_left_on_node(&set->rt, *uid))
                                continue;
                        stop_orphan(set, *uid);
                }
        }
}

/* --- the kubelet API's view ----------------------------------------------------------- */

/* The network namespace the worker recorded, read again: the sandbox may have come or
 * gone since. */
static void read_netns(PodEntry *e) {
        _cleanup_free_ char *path = pod_netns_file(e->set->rt.run_dir, e->uid);
        char *content = NULL;

        free(e->netns);
        e->netns = NULL;
        if (!path || read_full_file(path, 4096, &content, NULL) < 0)
                return;
        content[strcspn(content, "\n")] = '\0';
        e->netns = content;
}

int pod_set_find(PodSet *set, const char *namespace, const char *name, const char *uid, PodInfo *ret) {
        PodEntry *found = NULL;

        for (PodEntry *e = pod_set_first(set); e; e = pod_entry_next(e))
                if (streq(e->namespace, namespace) && streq(e->name, name) && (!uid || streq(e->uid, uid)) &&
                    (!found || (found->ended && !e->ended)))
                        found = e;
        if (!found)
                return -ENOENT;
        read_netns(found);
        *ret = (PodInfo) {
                .uid = found->uid,
                .namespace = found->namespace,
                .name = found->name,
                .log_dir = found->log_dir,
                .containers = found->containers,
                .netns_path = found->netns,
        };
        return 0;
}

int pod_set_new(PodsChanged pods_changed, void *userdata, PodSet **ret) {
        PodSet *set = calloc(1, sizeof(PodSet));

        if (!set)
                return -ENOMEM;
        set->pods_changed = pods_changed;
        set->userdata = userdata;
        *ret = set;
        return 0;
}

void pod_set_free(PodSet *set) {
        if (!set)
                return;
        while (set->entries) {
                PodEntry *e = set->entries;
                set->entries = e->next;
                entry_free(e);
        }
        sd_event_source_disable_unref(set->reaper);
        free(set);
}
