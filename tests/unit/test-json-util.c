/* SPDX-License-Identifier: Apache-2.0 */
#include "json-util.h"
#include "tests.h"

TEST(get_string_by_path) {
        _cleanup_(json_object_putp) json_object *o =
                json_tokener_parse("{\"metadata\":{\"name\":\"kubia\",\"labels\":{\"app\":\"web\"},\"uid\":7}}");

        check(o);
        check_streq(json_get_string(o, "metadata", "name", NULL), "kubia");
        check_streq(json_get_string(o, "metadata", "labels", "app", NULL), "web");
        /* Not a string, missing, or a path through a non-object: NULL. */
        check(!json_get_string(o, "metadata", "uid", NULL));
        check(!json_get_string(o, "metadata", "namespace", NULL));
        check(!json_get_string(o, "metadata", "name", "deeper", NULL));
        check(!json_get_string(NULL, "metadata", NULL));
}

TEST(get_and_array_length) {
        _cleanup_(json_object_putp) json_object *o = json_tokener_parse("{\"ports\":[1,2,3],\"name\":\"x\"}");

        check(o);
        check_int(json_array_length(json_get(o, "ports")), ==, 3);
        check_int(json_array_length(json_get(o, "name")), ==, 0); /* not an array */
        check_int(json_array_length(NULL), ==, 0);
        check(!json_get(o, "missing"));
        check(!json_get(json_get(o, "name"), "x")); /* not an object */
        check(!json_get(NULL, "x"));
}

int main(void) {
        RUN(get_string_by_path);
        RUN(get_and_array_length);
        return 0;
}
