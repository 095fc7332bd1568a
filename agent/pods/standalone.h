/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <systemd/sd-event.h>

#include "pod-set.h"
#include "proxy.h"
#include "service-store.h"

/* The embedded default: no API server. Pods and Services come from a manifest
 * directory (kubelet's static pod files: YAML or JSON, several documents per file;
 * manifest-dir.h), watched with inotify and read again every 20 s; a pod's UID is
 * kubelet's for a file pod (static-pod.h), so a changed pod is replaced, as kubelet
 * replaces a static pod.
 * Services get a ClusterIP (and NodePorts) from the configured ranges when the manifest
 * gives none, and endpoints from the local pods their selector matches once those are
 * ready; the pods' containers get their variables (service-links.h). What runs is written to <run_dir>/status.json for `stevedore status`. The
 * pods are the pod set's (pod-set.h); the Services' allocations and endpoints are
 * standalone-services.h's. */
typedef struct Standalone Standalone;

typedef struct StandaloneConfig {
        const char *manifest_dir;
        const char *status_path;
        const ProxyConfig *proxy; /* NULL: Services are not programmed */
        Ipv4Prefix service_cidr;
        ServiceStore *services; /* given the manifests' Services (the pods' variables); may be NULL */
} StandaloneConfig;

/* Feeds set (its runtime attached); its pods_changed runs once the manifests are read
 * and after every change of a pod. 0, or a negative errno with *ret_error. */
int standalone_new(const StandaloneConfig *config, PodSet *set, Standalone **ret, char **ret_error);
/* Stops every pod (their grace periods apply); done() runs once all are gone. */
void standalone_stop(Standalone *s, void (*done)(void *userdata), void *userdata);
void standalone_free(Standalone *s);
static inline void standalone_freep(Standalone **s) {
        if (*s)
                standalone_free(*s);
}
