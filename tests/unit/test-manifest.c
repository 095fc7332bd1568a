/* SPDX-License-Identifier: Apache-2.0 */
#include "macro.h"
#include "manifest.h"
#include "tests.h"

/* The documents of text as compact JSON, one per line. */
static char *parse_to_json(const char *text, char **ret_error) {
        _cleanup_(manifest_objects_freep) json_object **objects = NULL;
        char *out = NULL;
        size_t size = 0;
        FILE *f;

        *ret_error = NULL;
        if (manifest_objects_parse(text, strlen(text), "pods/web.yaml", &objects, ret_error) < 0)
                return NULL;
        f = open_memstream(&out, &size);
        for (json_object **o = objects; *o; o++)
                fprintf(f, "%s\n", json_object_to_json_string_ext(*o, JSON_C_TO_STRING_PLAIN));
        fclose(f);
        return out;
}

static void test_scalars_resolve_like_kubernetes(void) {
        _cleanup_free_ char *error = NULL, *json = parse_to_json(
                "a: 1\nb: 0x1F\nc: 010\nd: 1_000\ne: 1.5\nf: yes\ng: Off\nh: ~\ni: \"1\"\nj: !!str true\n"
                "k: 80:90\nl: 0b101\nm: -7\nn: 'on'\no: 1e3\np: 0o17\n",
                &error);

        check_streq(json, "{\"a\":1,\"b\":31,\"c\":8,\"d\":1000,\"e\":1.5,\"f\":true,\"g\":false,\"h\":null,\"i\":\"1\","
                          "\"j\":\"true\",\"k\":\"80:90\",\"l\":5,\"m\":-7,\"n\":\"on\",\"o\":1000.0,\"p\":15}\n");
}

static void test_documents_json_and_merges(void) {
        _cleanup_free_ char *error = NULL, *json = parse_to_json(
                "# comment\n---\nkind: Pod\nmetadata: {name: a}\n---\n---\n"
                "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n...\n---\n{\"kind\": \"Service\", \"spec\": {\"ports\": [80]}}\n",
                &error);

        check_streq(json, "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}\n"
                          "{\"base\":{\"x\":1,\"y\":2},\"use\":{\"y\":3,\"x\":1}}\n"
                          "{\"kind\":\"Service\",\"spec\":{\"ports\":[80]}}\n");
}

static void test_errors_name_file_and_line(void) {
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
        _cleanup_free_ char *j1 = parse_to_json("kind: Pod\nspec:\n  containers: [\n", &e1);
        _cleanup_free_ char *j2 = parse_to_json("kind: Pod\n---\n- a\n- b\n", &e2);
        _cleanup_free_ char *j3 = parse_to_json("a: 1\nb: 2\na: 3\n", &e3);
        _cleanup_free_ char *j4 = parse_to_json("x: .inf\n", &e4);

        check(!j1 && !j2 && !j3 && !j4);
        check(strncmp(e1, "pods/web.yaml:4:", 16) == 0);
        check_streq(e2, "pods/web.yaml:3:1: document 2 is not a mapping (an object)");
        check_streq(e3, "pods/web.yaml:3:1: key 'a' appears twice");
        check_streq(e4, "pods/web.yaml:1:4: '.inf' has no JSON form");
}

static void test_alias_bomb_is_refused(void) {
        _cleanup_free_ char *error = NULL, *json = parse_to_json(
                "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
                &error);

        check(!json);
        check(strstr(error, "more than 100000 values once aliases are expanded"));
}

int main(void) {
        test_scalars_resolve_like_kubernetes();
        test_documents_json_and_merges();
        test_errors_name_file_and_line();
        test_alias_bomb_is_refused();
        return 0;
}
