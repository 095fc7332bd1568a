/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "error.h"
#include "fileio.h"
#include "json-util.h"
#include "macro.h"
#include "manifest.h"

/* Aliases let a few lines name the same mapping exponentially often ("billion laughs"). */
#define MAX_NODES 100000
#define MAX_DEPTH 128

typedef struct Anchor {
        char *name;
        json_object *value;
        size_t n_nodes;
} Anchor;

typedef struct Converter {
        yaml_parser_t parser;
        const char *origin;
        size_t n_nodes;
        Anchor *anchors;
        size_t n_anchors;
        char *error;
} Converter;

/* The message with the file, line and column of at in front ("pods.yaml:3:7: ...");
 * -EINVAL. */
#define fail(c, at, format, ...)                                                                                   \
        error_set(&(c)->error, -EINVAL, "%s:%zu:%zu: " format, (c)->origin, (at) ? (at)->line + 1 : 0,           \
                  (at) ? (at)->column + 1 : 0, ##__VA_ARGS__)

static int next_event(Converter *c, yaml_event_t *e) {
        if (yaml_parser_parse(&c->parser, e))
                return 0;
        return fail(c, &c->parser.problem_mark, "%s%s%s", c->parser.problem ?: "invalid YAML",
                    c->parser.context ? " " : "", c->parser.context ?: "");
}

static bool in_list(const char *s, const char *const *list) {
        for (; *list; list++)
                if (streq(s, *list))
                        return true;
        return false;
}

/* go-yaml v2's integers: strconv.ParseInt(s without '_', base 0) and 0b binary. */
static bool parse_integer(const char *s, int64_t *ret) {
        char plain[128], *end;
        size_t n = 0;
        const char *digits;
        bool negative = false;
        int base = 10;

        for (; *s && n < sizeof(plain) - 1; s++)
                if (*s != '_')
                        plain[n++] = *s;
        if (*s || n == 0)
                return false;
        plain[n] = '\0';
        digits = plain;
        if (*digits == '+' || *digits == '-')
                negative = *digits++ == '-';
        if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
                base = 16, digits += 2;
        else if (digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O'))
                base = 8, digits += 2;
        else if (digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B'))
                base = 2, digits += 2;
        else if (digits[0] == '0' && digits[1])
                base = 8, digits += 1;
        if (!*digits || *digits == '+' || *digits == '-')
                return false;
        errno = 0;
        unsigned long long v = strtoull(digits, &end, base);
        if (*end || errno == ERANGE || v > (unsigned long long) INT64_MAX + negative)
                return false;
        *ret = negative ? (int64_t) (0 - v) : (int64_t) v;
        return true;
}

static bool parse_float(const char *s, double *ret) {
        /* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
        const char *p = s + (*s == '+' || *s == '-');
        bool digits = false;
        char *end;

        while (*p >= '0' && *p <= '9')
                p++, digits = true;
        if (*p == '.') {
                p++;
                while (*p >= '0' && *p <= '9')
                        p++, digits = true;
        }
        if (!digits)
                return false;
        if (*p == 'e' || *p == 'E') {
                p++;
                p += *p == '+' || *p == '-';
                if (!(*p >= '0' && *p <= '9'))
                        return false;
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        if (*p)
                return false;
        *ret = strtod(s, &end);
        return *end == '\0';
}

static int scalar_to_json(Converter *c, const yaml_event_t *e, json_object **ret) {
        static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
        static const char *const trues[] = { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", NULL };
        static const char *const falses[] = { "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", NULL };
        static const char *const specials[] = { ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                                 "-.inf", "-.Inf", "-.INF", NULL };
        const char *s = (const char *) e->data.scalar.value;
        /* Only untagged plain scalars resolve; quoted or tagged ones are strings. */
        bool plain = e->data.scalar.plain_implicit && !e->data.scalar.tag;
        int64_t i;
        double d;

        if (plain && in_list(s, nulls))
                *ret = NULL;
        else if (plain && in_list(s, trues))
                *ret = json_object_new_boolean(true);
        else if (plain && in_list(s, falses))
                *ret = json_object_new_boolean(false);
        else if (plain && parse_integer(s, &i))
                *ret = json_object_new_int64(i);
        else if (plain && parse_float(s, &d))
                *ret = json_object_new_double(d);
        else if (plain && in_list(s, specials))
                return fail(c, &e->start_mark, "'%s' has no JSON form", s);
        else {
                *ret = json_object_new_string_len(s, (int) e->data.scalar.length);
                if (!*ret)
                        return -ENOMEM;
        }
        return 0;
}

static int remember_anchor(Converter *c, const yaml_char_t *name, json_object *value, size_t n_nodes) {
        Anchor *grown;

        if (!name)
                return 0;
        grown = realloc(c->anchors, (c->n_anchors + 1) * sizeof(Anchor));
        if (!grown)
                return -ENOMEM;
        c->anchors = grown;
        c->anchors[c->n_anchors] = (Anchor) { strdup((const char *) name), json_object_get(value), n_nodes };
        if (!c->anchors[c->n_anchors].name)
                return -ENOMEM;
        c->n_anchors++;
        return 0;
}

/* An alias is a copy of what its anchor (the latest of that name) stood for. */
static int expand_alias(Converter *c, const yaml_event_t *e, json_object **ret) {
        const char *name = (const char *) e->data.alias.anchor;

        for (size_t i = c->n_anchors; i > 0; i--) {
                Anchor *a = &c->anchors[i - 1];
                if (!streq(a->name, name))
                        continue;
                c->n_nodes += a->n_nodes;
                if (c->n_nodes > MAX_NODES)
                        return fail(c, &e->start_mark, "more than %d values once aliases are expanded", MAX_NODES);
                *ret = NULL;
                if (a->value && json_object_deep_copy(a->value, ret, NULL) < 0)
                        return -ENOMEM;
                return 0;
        }
        return fail(c, &e->start_mark, "alias '%s' names no anchor before it", name);
}

static int parse_node(Converter *c, yaml_event_t *e, unsigned depth, json_object **ret);

/* Merges (merge keys) a mapping or a list of mappings into o, keeping o's own keys. */
static int merge_into(Converter *c, json_object *o, json_object *from, const yaml_mark_t *at) {
        if (json_object_is_type(from, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(from); i++) {
                        int r = merge_into(c, o, json_object_array_get_idx(from, i), at);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (!json_object_is_type(from, json_type_object))
                return fail(c, at, "'<<' must merge a mapping or a list of mappings");
        json_object_object_foreach(from, key, value) {
                if (!json_object_object_get_ex(o, key, NULL))
                        json_object_object_add(o, key, json_object_get(value));
        }
        return 0;
}

static int parse_mapping(Converter *c, unsigned depth, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *merge = NULL;
        yaml_mark_t merge_at = {};
        int r;

        if (!o)
                return -ENOMEM;
        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t key = {};
                yaml_event_t value = {};
                json_object *v = NULL;
                bool merge_key;

                r = next_event(c, &key);
                if (r < 0)
                        return r;
                if (key.type == YAML_MAPPING_END_EVENT)
                        break;
                if (key.type != YAML_SCALAR_EVENT)
                        return fail(c, &key.start_mark, "a mapping key must be a scalar");
                merge_key = key.data.scalar.plain_implicit && streq((const char *) key.data.scalar.value, "<<");
                if (!merge_key && json_object_object_get_ex(o, (const char *) key.data.scalar.value, NULL))
                        return fail(c, &key.start_mark, "key '%s' appears twice", key.data.scalar.value);
                r = next_event(c, &value);
                if (r >= 0)
                        r = parse_node(c, &value, depth + 1, &v);
                yaml_event_delete(&value);
                if (r < 0)
                        return r;
                if (merge_key) {
                        json_object_put(merge);
                        merge = v;
                        merge_at = key.start_mark;
                } else
                        json_object_object_add(o, (const char *) key.data.scalar.value, v);
        }
        /* Explicit keys win over merged ones, wherever "<<" stands. */
        if (merge) {
                r = merge_into(c, o, merge, &merge_at);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

static int parse_sequence(Converter *c, unsigned depth, json_object **ret) {
        _cleanup_(json_object_putp) json_object *a = json_object_new_array();
        int r;

        if (!a)
                return -ENOMEM;
        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t item = {};
                json_object *v = NULL;

                r = next_event(c, &item);
                if (r < 0)
                        return r;
                if (item.type == YAML_SEQUENCE_END_EVENT)
                        break;
                r = parse_node(c, &item, depth + 1, &v);
                if (r < 0)
                        return r;
                json_object_array_add(a, v);
        }
        *ret = TAKE_PTR(a);
        return 0;
}

/* The value that starts with event e (already read). */
static int parse_node(Converter *c, yaml_event_t *e, unsigned depth, json_object **ret) {
        size_t before = c->n_nodes;
        const yaml_char_t *anchor = NULL;
        int r;

        if (depth > MAX_DEPTH)
                return fail(c, &e->start_mark, "nested more than %d levels deep", MAX_DEPTH);
        if (++c->n_nodes > MAX_NODES)
                return fail(c, &e->start_mark, "more than %d values once aliases are expanded", MAX_NODES);
        switch (e->type) {
        case YAML_SCALAR_EVENT:
                anchor = e->data.scalar.anchor;
                r = scalar_to_json(c, e, ret);
                break;
        case YAML_ALIAS_EVENT:
                return expand_alias(c, e, ret);
        case YAML_MAPPING_START_EVENT:
                anchor = e->data.mapping_start.anchor;
                r = parse_mapping(c, depth, ret);
                break;
        case YAML_SEQUENCE_START_EVENT:
                anchor = e->data.sequence_start.anchor;
                r = parse_sequence(c, depth, ret);
                break;
        default:
                return fail(c, &e->start_mark, "unexpected YAML event %d", e->type);
        }
        if (r >= 0)
                r = remember_anchor(c, anchor, *ret, c->n_nodes - before);
        return r;
}

void manifest_objects_free(json_object **objects) {
        for (json_object **o = objects; o && *o; o++)
                json_object_put(*o);
        free(objects);
}

static void converter_done(Converter *c) {
        yaml_parser_delete(&c->parser);
        for (size_t i = 0; i < c->n_anchors; i++) {
                free(c->anchors[i].name);
                json_object_put(c->anchors[i].value);
        }
        free(c->anchors);
        free(c->error);
}

/* One document's content: NULL for an empty one. */
static int parse_document(Converter *c, unsigned number, json_object **ret) {
        _cleanup_(yaml_event_delete) yaml_event_t first = {}, end = {};
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        c->n_nodes = 0;
        r = next_event(c, &first);
        if (r >= 0)
                r = parse_node(c, &first, 0, &o);
        if (r >= 0)
                r = next_event(c, &end);
        if (r < 0)
                return r;
        if (o && !json_object_is_type(o, json_type_object))
                return fail(c, &first.start_mark, "document %u is not a mapping (an object)", number);
        *ret = TAKE_PTR(o);
        return 0;
}

int manifest_objects_parse(const char *text, size_t size, const char *origin, json_object ***ret, char **ret_error) {
        _cleanup_(manifest_objects_freep) json_object **objects = calloc(1, sizeof(json_object *));
        _cleanup_(converter_done) Converter c = { .origin = origin };
        size_t n = 0;
        int r = 0;

        if (!objects || !yaml_parser_initialize(&c.parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&c.parser, (const unsigned char *) text, size);
        for (unsigned document = 1;; ) {
                _cleanup_(yaml_event_delete) yaml_event_t e = {};
                json_object *o = NULL, **grown;

                r = next_event(&c, &e);
                if (r < 0 || e.type == YAML_STREAM_END_EVENT)
                        break;
                if (e.type != YAML_DOCUMENT_START_EVENT)
                        continue; /* the stream's start */
                r = parse_document(&c, document++, &o);
                if (r < 0)
                        break;
                if (!o)
                        continue;
                grown = realloc(objects, (n + 2) * sizeof(json_object *));
                if (!grown) {
                        json_object_put(o);
                        r = -ENOMEM;
                        break;
                }
                objects = grown;
                objects[n++] = o;
                objects[n] = NULL;
        }
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(c.error);
                return r;
        }
        *ret = TAKE_PTR(objects);
        return 0;
}

int manifest_objects_load(const char *path, json_object ***ret, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r;

        r = read_full_file_error(path, MANIFEST_MAX_SIZE, &text, &size, ret_error);
        if (r < 0)
                return r;
        return manifest_objects_parse(text, size, path, ret, ret_error);
}
