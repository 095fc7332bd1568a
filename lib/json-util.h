/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

/* The string at a path of object keys ("metadata", "name", NULL), or NULL. */
const char *json_get_string(json_object *o, ...);

/* The value of key in object o, or NULL (also when o is NULL or not an object). */
json_object *json_get(json_object *o, const char *key);

/* The length of array a, 0 when a is NULL or not an array. */
size_t json_array_length(json_object *a);
