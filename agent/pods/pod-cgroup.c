/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "cgroup-systemd.h"
#include "cgroup.h"
#include "container-spec.h"
#include "log.h"
#include "macro.h"
#include "pod-cgroup.h"

#define SCOPE_PREFIX "cri-stevedore"

struct PodCgroups {
        CgroupDriver driver;
        sd_bus *bus; /* systemd driver */
};

int pod_cgroups_new(sd_event *event, CgroupDriver driver, PodCgroups **ret) {
        _cleanup_free_ PodCgroups *c = calloc(1, sizeof(PodCgroups));
        int r;

        if (!c)
                return -ENOMEM;
        c->driver = driver != CGROUP_DRIVER_AUTO ? driver
                    : sd_booted() > 0           ? CGROUP_DRIVER_SYSTEMD
                                                : CGROUP_DRIVER_CGROUPFS;
        if (c->driver == CGROUP_DRIVER_SYSTEMD) {
                r = sd_bus_open_system(&c->bus);
                if (r < 0)
                        return log_error_errno(r, "cgroup driver systemd: connect to the system bus: %m");
                r = sd_bus_attach_event(c->bus, event, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0) {
                        sd_bus_flush_close_unref(c->bus);
                        return log_error_errno(r, "cgroup driver systemd: %m");
                }
        }
        log_info("agent: cgroup driver %s", cgroup_driver_to_string(c->driver));
        *ret = TAKE_PTR(c);
        return 0;
}

PodCgroups *pod_cgroups_free(PodCgroups *c) {
        if (c) {
                sd_bus_flush_close_unref(c->bus);
                free(c);
        }
        return NULL;
}

CgroupDriver pod_cgroups_driver(const PodCgroups *c) {
        return c->driver;
}

/* "" for Guaranteed, as kubelet puts those pods right below kubepods. */
static const char *qos_part(json_object *pod) {
        const char *qos = pod_qos_class(pod);

        return strcmp(qos, "Burstable") == 0 ? "burstable" : strcmp(qos, "BestEffort") == 0 ? "besteffort" : "";
}

char *pod_cgroup_parent(CgroupDriver driver, json_object *pod, const char *uid) {
        const char *qos = qos_part(pod);
        char *parent = NULL;

        if (driver != CGROUP_DRIVER_SYSTEMD) {
                if (asprintf(&parent, "/kubepods%s%s/pod%s", *qos ? "/" : "", qos, uid) < 0)
                        return NULL;
                return parent;
        }
        /* A dash in a slice's name is a level of the tree: kubelet escapes the UID's. */
        if (asprintf(&parent, "kubepods%s%s-pod%s.slice", *qos ? "-" : "", qos, uid) < 0)
                return NULL;
        for (char *p = parent + strlen(parent) - strlen(uid) - strlen(".slice"); *p != '.'; p++)
                if (*p == '-')
                        *p = '_';
        return parent;
}

char *pod_container_cgroups_path(CgroupDriver driver, const char *parent, const char *container_id) {
        char *path = NULL;

        if (asprintf(&path, driver == CGROUP_DRIVER_SYSTEMD ? "%s:" SCOPE_PREFIX ":%s" : "%s/%s", parent,
                     container_id) < 0)
                return NULL;
        return path;
}

typedef struct SliceCall {
        char *slice, *pod_key, *verb;
} SliceCall;

static void slice_call_free(void *userdata) {
        SliceCall *call = userdata;

        free(call->slice);
        free(call->pod_key);
        free(call->verb);
        free(call);
}

static int on_slice_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        SliceCall *call = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        (void) ret_error;
        /* A slice already gone is what StopUnit wanted; one already there (an earlier
         * agent made it) what StartTransientUnit did. */
        if (e && !sd_bus_error_has_name(e, strcmp(call->verb, "StopUnit") == 0 ? "org.freedesktop.systemd1.NoSuchUnit"
                                                                                 : "org.freedesktop.systemd1.UnitExists"))
                log_warning("pod %s: %s %s: %s", call->pod_key, call->verb, call->slice, e->message ?: e->name);
        return 0;
}

static int slice_call(PodCgroups *c, sd_bus_message *m, const char *verb, const char *slice, const char *pod_key) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        SliceCall *call = calloc(1, sizeof(SliceCall));
        int r;

        if (!call)
                return -ENOMEM;
        call->slice = strdup(slice);
        call->pod_key = strdup(pod_key);
        call->verb = strdup(verb);
        if (!call->slice || !call->pod_key || !call->verb) {
                slice_call_free(call);
                return -ENOMEM;
        }
        r = sd_bus_call_async(c->bus, &slot, m, on_slice_reply, call, 0);
        if (r < 0) {
                slice_call_free(call);
                return log_error_errno(r, "pod %s: %s %s: %m", pod_key, verb, slice);
        }
        /* The call's data goes with the slot: after the reply, or with the bus. */
        (void) sd_bus_slot_set_destroy_callback(slot, slice_call_free);
        (void) sd_bus_slot_set_floating(slot, 1);
        return 0;
}

/* The slice's properties, as an array a(sv): its description and accounting, and its limits. */
static int append_slice_properties(sd_bus_message *m, const char *pod_key, const PodCgroupResources *res) {
        _cleanup_free_ char *description = NULL;
        int r;

        if (asprintf(&description, "stevedore pod %s", pod_key) < 0)
                return -ENOMEM;
        r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)", "Description", "s", description, "DefaultDependencies",
                                  "b", 0, "MemoryAccounting", "b", 1, "CPUAccounting", "b", 1, "CPUWeight", "t",
                                  cgroup_systemd_cpu_weight((uint64_t) res->cpu_shares));
        if (r < 0)
                return r;
        if (res->cpu_quota > 0) {
                r = sd_bus_message_append(m, "(sv)", "CPUQuotaPerSecUSec", "t",
                                          cgroup_systemd_cpu_quota_per_sec(res->cpu_quota, (uint64_t) res->cpu_period));
                if (r < 0)
                        return r;
        }
        if (res->memory_limit > 0) {
                r = sd_bus_message_append(m, "(sv)", "MemoryMax", "t", (uint64_t) res->memory_limit);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

/* systemd's Manager.<verb>(slice, "replace", …): the call with its first two arguments. */
static int new_slice_call(PodCgroups *c, const char *verb, const char *slice, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(c->bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", verb);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", slice, "replace");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int pod_cgroup_create(PodCgroups *c, const char *parent, json_object *pod, const char *pod_key) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        PodCgroupResources res;
        int r;

        if (c->driver != CGROUP_DRIVER_SYSTEMD)
                return 0;
        pod_cgroup_resources(pod, &res);
        r = new_slice_call(c, "StartTransientUnit", parent, &m);
        if (r < 0)
                return log_error_errno(r, "pod %s: slice %s: StartTransientUnit call: %m", pod_key, parent);
        r = append_slice_properties(m, pod_key, &res);
        if (r < 0)
                return log_error_errno(r, "pod %s: slice %s: properties: %m", pod_key, parent);
        r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return log_error_errno(r, "pod %s: slice %s: auxiliary units: %m", pod_key, parent);
        return slice_call(c, m, "StartTransientUnit", parent, pod_key);
}

int pod_cgroup_remove(PodCgroups *c, const char *parent, const char *pod_key) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        if (c->driver != CGROUP_DRIVER_SYSTEMD) {
                r = cgroup_remove(parent);
                return r < 0 && r != -EBUSY ? log_warning_errno(r, "pod %s: remove cgroup %s: %m", pod_key, parent) : 0;
        }
        r = new_slice_call(c, "StopUnit", parent, &m);
        if (r < 0)
                return log_error_errno(r, "pod %s: slice %s: StopUnit call: %m", pod_key, parent);
        return slice_call(c, m, "StopUnit", parent, pod_key);
}
