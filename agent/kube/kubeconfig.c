/* SPDX-License-Identifier: Apache-2.0 */
#include <libgen.h>
#include <yaml.h>

#include "base64.h"
#include "error.h"
#include "fileio.h"
#include "kubeconfig.h"
#include "macro.h"

#define KUBECONFIG_MAX_SIZE (4 * 1024 * 1024)
#define REFERENCED_FILE_MAX_SIZE (1024 * 1024)

typedef struct Parser {
        yaml_document_t doc;
        const char *origin;
        char *base_dir;
        char *error;
} Parser;

/* ":<line>" of node at, or "" without one. */
static const char *line_of(const yaml_node_t *at, char buf[static 24]) {
        if (!at)
                return "";
        snprintf(buf, 24, ":%zu", at->start_mark.line + 1);
        return buf;
}

/* The message with the file and line of node at in front ("config:12: ..."). The
 * first, innermost message stays: it says most. */
#define fail(p, at, r, format, ...) \
        error_set(&(p)->error, r, "%s%s: " format, (p)->origin, line_of(at, (char[24]) {}), ##__VA_ARGS__)

static const char *scalar(const yaml_node_t *n) {
        return n && n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

/* The value under key in mapping m, or NULL. */
static yaml_node_t *lookup(Parser *p, const yaml_node_t *m, const char *key) {
        if (!m || m->type != YAML_MAPPING_NODE)
                return NULL;
        for (yaml_node_pair_t *pair = m->data.mapping.pairs.start; pair < m->data.mapping.pairs.top; pair++) {
                const char *k = scalar(yaml_document_get_node(&p->doc, pair->key));
                if (k && streq(k, key))
                        return yaml_document_get_node(&p->doc, pair->value);
        }
        return NULL;
}

/* The entry named `name` of the list under `section` ("clusters", "users", "contexts"),
 * and the mapping under its `field` ("cluster", "user", "context"). */
static int find_named(Parser *p, const char *section, const char *field, const char *name, yaml_node_t **ret,
                      char path[static 64]) {
        yaml_node_t *root = yaml_document_get_root_node(&p->doc);
        yaml_node_t *list = lookup(p, root, section);

        if (list && list->type != YAML_SEQUENCE_NODE)
                return fail(p, list, -EINVAL, "%s: not a list", section);
        for (yaml_node_item_t *i = list ? list->data.sequence.items.start : NULL; list && i < list->data.sequence.items.top;
             i++) {
                yaml_node_t *entry = yaml_document_get_node(&p->doc, *i);
                const char *n = scalar(lookup(p, entry, "name"));

                if (!n || !streq(n, name))
                        continue;
                snprintf(path, 64, "%s[%td].%s", section, i - list->data.sequence.items.start, field);
                *ret = lookup(p, entry, field);
                if (!*ret || (*ret)->type != YAML_MAPPING_NODE)
                        return fail(p, entry, -EINVAL, "%s: missing or not a mapping", path);
                return 0;
        }
        return fail(p, NULL, -EINVAL, "no entry named '%s' in %s", name, section);
}

/* A string field; NULL if absent. Anything but a scalar is an error. */
static int get_string(Parser *p, const yaml_node_t *m, const char *path, const char *key, const char **ret) {
        yaml_node_t *n = lookup(p, m, key);

        *ret = NULL;
        if (!n)
                return 0;
        if (n->type != YAML_SCALAR_NODE)
                return fail(p, n, -EINVAL, "%s.%s: not a string", path, key);
        *ret = scalar(n);
        return 0;
}

static int dup_string(Parser *p, const yaml_node_t *m, const char *path, const char *key, char **ret) {
        const char *s;
        int r = get_string(p, m, path, key, &s);

        if (r < 0 || !s)
                return r;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* Credentials come as `<key>-data` (base64, inline) or `<key>` (a file path relative to
 * the kubeconfig's directory); the inline form wins, as in client-go. */
static int get_blob(Parser *p, const yaml_node_t *m, const char *path, const char *key, char **ret, size_t *ret_size) {
        _cleanup_free_ char *data_key = NULL, *file = NULL;
        const char *data, *name;
        int r;

        if (asprintf(&data_key, "%s-data", key) < 0)
                return -ENOMEM;
        r = get_string(p, m, path, data_key, &data);
        if (r < 0)
                return r;
        if (data) {
                r = base64_decode(data, strlen(data), ret, ret_size);
                if (r == -EINVAL)
                        return fail(p, lookup(p, m, data_key), r, "%s.%s: invalid base64", path, data_key);
                return r;
        }

        r = get_string(p, m, path, key, &name);
        if (r < 0 || !name)
                return r;
        if (name[0] == '/')
                file = strdup(name);
        else if (asprintf(&file, "%s/%s", p->base_dir, name) < 0)
                file = NULL;
        if (!file)
                return -ENOMEM;
        r = read_full_file(file, REFERENCED_FILE_MAX_SIZE, ret, ret_size);
        if (r < 0)
                return fail(p, lookup(p, m, key), r, "%s.%s: read %s: %m", path, key, file);
        return 0;
}

static int read_cluster(Parser *p, const char *name, KubeConfig *c) {
        yaml_node_t *cluster;
        char path[64];
        const char *skip;
        int r;

        r = find_named(p, "clusters", "cluster", name, &cluster, path);
        if (r < 0)
                return r;
        r = dup_string(p, cluster, path, "server", &c->server);
        if (r < 0)
                return r;
        if (!c->server)
                return fail(p, cluster, -EINVAL, "%s.server: missing", path);
        if (!strneq(c->server, "https://", 8))
                return fail(p, lookup(p, cluster, "server"), -EINVAL,
                            "%s.server: '%s' is not an https:// URL", path, c->server);
        r = get_string(p, cluster, path, "insecure-skip-tls-verify", &skip);
        if (r < 0)
                return r;
        if (skip && streq(skip, "true"))
                return fail(p, lookup(p, cluster, "insecure-skip-tls-verify"), -EINVAL,
                            "%s.insecure-skip-tls-verify: refused, the API server's certificate is always verified",
                            path);
        return get_blob(p, cluster, path, "certificate-authority", &c->ca, &c->ca_size);
}

static int read_user(Parser *p, const char *name, KubeConfig *c) {
        yaml_node_t *user;
        char path[64];
        int r;

        r = find_named(p, "users", "user", name, &user, path);
        if (r < 0)
                return r;
        if (lookup(p, user, "exec") || lookup(p, user, "auth-provider"))
                return fail(p, user, -EINVAL, "%s: exec and auth-provider credentials are not supported", path);
        r = get_blob(p, user, path, "client-certificate", &c->client_cert, &c->client_cert_size);
        if (r >= 0)
                r = get_blob(p, user, path, "client-key", &c->client_key, &c->client_key_size);
        if (r >= 0)
                r = dup_string(p, user, path, "token", &c->token);
        if (r >= 0 && !c->token)
                r = get_blob(p, user, path, "tokenFile", &c->token, NULL);
        if (r < 0)
                return r;
        if (!c->client_cert != !c->client_key)
                return fail(p, user, -EINVAL, "%s: client-certificate and client-key go together", path);
        if (c->token)
                c->token[strcspn(c->token, "\r\n")] = 0;
        return 0;
}

static int read_document(Parser *p, const char *context_override, KubeConfig *c) {
        yaml_node_t *root = yaml_document_get_root_node(&p->doc), *context;
        const char *name = context_override, *cluster, *user;
        char path[64];
        int r;

        if (!root || root->type != YAML_MAPPING_NODE)
                return fail(p, root, -EINVAL, "not a kubeconfig (expected a mapping)");
        if (!name) {
                r = get_string(p, root, "", "current-context", &name);
                if (r < 0)
                        return r;
                if (isempty(name))
                        return fail(p, root, -EINVAL, "current-context: missing, and no context was given");
        }
        c->context = strdup(name);
        if (!c->context)
                return -ENOMEM;

        r = find_named(p, "contexts", "context", name, &context, path);
        if (r < 0)
                return r;
        r = get_string(p, context, path, "cluster", &cluster);
        if (r >= 0)
                r = get_string(p, context, path, "user", &user);
        if (r >= 0)
                r = dup_string(p, context, path, "namespace", &c->namespace);
        if (r < 0)
                return r;
        if (!cluster || !user)
                return fail(p, context, -EINVAL, "%s: needs both cluster and user", path);
        r = read_cluster(p, cluster, c);
        if (r < 0)
                return r;
        return read_user(p, user, c);
}

int kubeconfig_parse(const char *text, size_t size, const char *origin, const char *context, KubeConfig **ret,
                     char **ret_error) {
        _cleanup_(kubeconfig_freep) KubeConfig *c = calloc(1, sizeof(KubeConfig));
        _cleanup_free_ char *origin_copy = strdup(origin);
        Parser p = { .origin = origin };
        yaml_parser_t parser;
        int r;

        *ret_error = NULL;
        if (!c || !origin_copy)
                return -ENOMEM;
        p.base_dir = strdup(dirname(origin_copy));
        if (!p.base_dir || !yaml_parser_initialize(&parser)) {
                free(p.base_dir);
                return -ENOMEM;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, size);
        if (!yaml_parser_load(&parser, &p.doc)) {
                r = error_set(ret_error, -EINVAL, "%s:%zu: %s", origin, parser.problem_mark.line + 1,
                              parser.problem ?: "invalid YAML");
                yaml_parser_delete(&parser);
                free(p.base_dir);
                return r;
        }
        yaml_parser_delete(&parser);

        r = read_document(&p, context, c);
        yaml_document_delete(&p.doc);
        free(p.base_dir);
        if (r < 0) {
                *ret_error = p.error;
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int kubeconfig_load(const char *path, const char *context, KubeConfig **ret, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file_error(path, KUBECONFIG_MAX_SIZE, &text, &size, ret_error);
        if (r < 0)
                return r;
        return kubeconfig_parse(text, size, path, context, ret, ret_error);
}

void kubeconfig_free(KubeConfig *c) {
        if (!c)
                return;
        free(c->context);
        free(c->server);
        free(c->namespace);
        free(c->ca);
        free(c->client_cert);
        free(c->client_key);
        free(c->token);
        free(c);
}
