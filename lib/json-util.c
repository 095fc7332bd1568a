/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>

#include "json-util.h"

const char *json_get_string(json_object *o, ...) {
        va_list ap;
        const char *key;

        va_start(ap, o);
        while (o && (key = va_arg(ap, const char *)))
                if (!json_object_object_get_ex(o, key, &o))
                        o = NULL;
        va_end(ap);
        return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

json_object *json_get(json_object *o, const char *key) {
        json_object *v;

        return o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

size_t json_array_length(json_object *a) {
        return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}
