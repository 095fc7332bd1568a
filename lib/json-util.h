/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

/* The string at a path of object keys ("metadata", "name", NULL), or NULL. */
const char *json_get_string(json_object *o, ...);
