/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

/* Pods read from manifest files as kubelet makes them (pkg/kubelet/config/common.go,
 * file.go) and their mirror pods in the API (pkg/kubelet/pod/mirror_client.go):
 * pure functions of the objects, for the static pods' source (static-pods.h) and, for
 * the UID, standalone mode. */

#define STATIC_POD_HASH_ANNOTATION "kubernetes.io/config.hash"
#define STATIC_POD_SOURCE_ANNOTATION "kubernetes.io/config.source"
#define STATIC_POD_SEEN_ANNOTATION "kubernetes.io/config.seen"
#define MIRROR_POD_ANNOTATION "kubernetes.io/config.mirror"

/* The UID kubelet gives a pod read from a file: FNV-1a 128 of the pod, then of
 * "host:<node_name>" and "file:<path>", as 32 hex digits. The pod is hashed as JSON with
 * its keys sorted (kubelet hashes its Go struct: the same rule, not the same bytes), so
 * a manifest keeps its UID across restarts, and any change to it, another node or
 * another file gives another. NULL on ENOMEM. */
char *static_pod_uid(json_object *pod, const char *node_name, const char *path);

/* kubelet's defaults for a pod of a manifest file, on a new copy of pod (which must have
 * metadata.name): metadata.uid from static_pod_uid, the name "<name>-<node>" (the node's
 * name lower-cased), namespace "default" if none, spec.nodeName, the annotations
 * config.hash (= the UID), config.source "file" and config.seen (seen: when the agent
 * first read it), a toleration of every NoExecute taint, status.phase Pending. NULL on
 * ENOMEM or without a name. */
json_object *static_pod_from_manifest(json_object *pod, const char *node_name, const char *path, const char *seen);

/* What kubelet refuses in a static pod (podutil.HasAPIObjectReference), as NodeRestriction
 * refuses it in the mirror pod: a reference to another API object — a service account,
 * secrets, configmaps (in env, envFrom, imagePullSecrets or volumes), resource claims,
 * persistent volume claims, CSI or glusterfs volumes, projected service account tokens,
 * cluster trust bundles, pod certificates — or a volume type it does not know. 0, or
 * -EINVAL with *ret_error in kubelet's words ("static pods may not reference secrets"). */
int static_pod_check(json_object *pod, char **ret_error);

/* The mirror pod of a static pod (as static_pod_from_manifest made it) to create in the
 * API: a copy with annotation config.mirror = its config.hash and the Node its
 * controller owner (apiVersion v1, kind Node, name, uid; no blockOwnerDeletion, which
 * NodeRestriction refuses), without metadata.uid and status (the API server's). NULL on
 * ENOMEM. */
json_object *mirror_pod_new(json_object *static_pod, const char *node_name, const char *node_uid);

/* Whether pod is a mirror pod: the annotation config.mirror, kubelet's test. */
bool pod_is_mirror(json_object *pod);
/* Whether mirror is the mirror pod of static_pod now: the same namespace and name, and
 * its config.mirror is the static pod's config.hash (kubelet's IsMirrorPodOf). */
bool mirror_pod_of(json_object *mirror, json_object *static_pod);
