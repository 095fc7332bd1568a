/* SPDX-License-Identifier: Apache-2.0 */
/* A pod's imagePullSecrets as registry credentials (see pull-secrets.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "pull-secrets.h"

static json_object *pull_secrets(json_object *pod) {
        json_object *list = json_object_object_get(json_object_object_get(pod, "spec"), "imagePullSecrets");
        return json_object_is_type(list, json_type_array) ? list : NULL;
}

void pull_secrets_required(json_object *pod, void (*need)(void *userdata, const char *kind, const char *name, bool optional),
                           void *userdata) {
        json_object *list = pull_secrets(pod);

        for (size_t i = 0; list && i < json_object_array_length(list); i++) {
                const char *name = json_get_string(json_object_array_get_idx(list, i), "name", NULL);
                if (name && *name)
                        need(userdata, "Secret", name, true);
        }
}

static int add_missing(char **missing, const char *name) {
        char *joined = NULL;

        if (asprintf(&joined, "%s%s%s", *missing ?: "", *missing ? ", " : "", name) < 0)
                return -ENOMEM;
        free(*missing);
        *missing = joined;
        return 0;
}

int pull_secrets_credentials(json_object *pod, VolumeLookup lookup, void *userdata, AuthFile **ret, char **ret_missing) {
        _cleanup_(auth_file_freep) AuthFile *credentials = NULL;
        _cleanup_free_ char *missing = NULL;
        json_object *list = pull_secrets(pod);
        const char *namespace = json_get_string(pod, "metadata", "namespace", NULL) ?: "default";
        const char *pod_name = json_get_string(pod, "metadata", "name", NULL) ?: "";

        for (size_t i = 0; list && i < json_object_array_length(list); i++) {
                const char *name = json_get_string(json_object_array_get_idx(list, i), "name", NULL);
                _cleanup_free_ char *error = NULL, *origin = NULL;
                json_object *secret;
                const char *text;
                int r;

                if (!name || !*name)
                        continue;
                secret = lookup ? lookup(userdata, "Secret", name) : NULL;
                if (!secret) {
                        if (add_missing(&missing, name) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (asprintf(&origin, "secret %s/%s", namespace, name) < 0)
                        return -ENOMEM;
                text = json_object_to_json_string_ext(secret, JSON_C_TO_STRING_PLAIN);
                r = auth_file_parse(text, strlen(text), origin, &credentials, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        LogContext context = { namespace, pod_name, NULL };
                        log_context_warning(&context, "pod %s/%s: imagePullSecrets: %s", namespace, pod_name,
                                            error ?: strerror(-r));
                        if (add_missing(&missing, name) < 0)
                                return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(credentials);
        *ret_missing = TAKE_PTR(missing);
        return 0;
}
