/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "registry-auth.h"
#include "volumes.h"

/* A pod's spec.imagePullSecrets as kubelet uses them: the Secrets of that name in the
 * pod's namespace (kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg), merged
 * into the registry credentials of the pod's pulls. A Secret that is missing (or not a
 * pull secret) is skipped: the pull goes on without it, and fails if the registry wants
 * credentials. */

/* The Secrets the pod's pulls may use: need("Secret", name, true) once per reference. */
void pull_secrets_required(json_object *pod, void (*need)(void *userdata, const char *kind, const char *name, bool optional),
                           void *userdata);

/* The credentials of the pod's pull secrets that lookup finds; *ret is NULL when the pod
 * names none or none was usable. *ret_missing (NULL when none) lists, comma-separated,
 * the secrets that could not be had or used, for kubelet's FailedToRetrieveImagePullSecret
 * event. -ENOMEM only. */
int pull_secrets_credentials(json_object *pod, VolumeLookup lookup, void *userdata, AuthFile **ret, char **ret_missing);
