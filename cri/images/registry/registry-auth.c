/* SPDX-License-Identifier: Apache-2.0 */
/* WWW-Authenticate challenges and registry credentials (see registry-auth.h). */
#include <ctype.h>
#include <json-c/json.h>
#include <limits.h>

#include "base64.h"
#include "error.h"
#include "fileio.h"
#include "json-util.h"
#include "macro.h"
#include "registry-auth.h"

#define AUTH_FILE_MAX_SIZE (4 * 1024 * 1024)
#define CHALLENGES_MAX 32

/* --- WWW-Authenticate ------------------------------------------------------------------ */

/* tchar of RFC 7230 */
static bool is_tchar(char c) {
        /* not strchr() alone: it finds the NUL too */
        return c && isascii(c) && (isalnum(c) || strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token68_char(char c) {
        return c && isascii(c) && (isalnum(c) || strchr("-._~+/", c));
}

static const char *skip_ws(const char *p) {
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

static size_t token_length(const char *p) {
        size_t n = 0;

        while (is_tchar(p[n]))
                n++;
        return n;
}

/* Is p at `token BWS "="` (a parameter), rather than at a new challenge's scheme or a
 * token68? A token68 may end in '=' too: "abc=" followed by end, ',' or nothing but
 * more '=' is one. */
static bool at_param(const char *p) {
        size_t n = token_length(p);
        const char *q;

        if (n == 0)
                return false;
        q = skip_ws(p + n);
        if (*q != '=')
                return false;
        q = skip_ws(q + 1);
        return *q && *q != ',' && *q != '=';
}

static int parse_quoted(const char **p, char **ret) {
        const char *s = *p + 1; /* after the opening quote */
        _cleanup_free_ char *out = malloc(strlen(s) + 1);
        size_t n = 0;

        if (!out)
                return -ENOMEM;
        for (;; s++) {
                if (!*s)
                        return -EINVAL; /* unterminated */
                if (*s == '"')
                        break;
                if (*s == '\\') {
                        s++;
                        if (!*s)
                                return -EINVAL;
                }
                out[n++] = *s;
        }
        out[n] = 0;
        *p = s + 1;
        *ret = TAKE_PTR(out);
        return 0;
}

void auth_challenges_free(AuthChallenge *c, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(c[i].scheme);
                free(c[i].realm);
                free(c[i].service);
                free(c[i].scope);
                free(c[i].error);
        }
        free(c);
}

const AuthChallenge *auth_challenge_find(const AuthChallenge *c, size_t n, const char *scheme) {
        for (size_t i = 0; i < n; i++)
                if (streq(c[i].scheme, scheme))
                        return c + i;
        return NULL;
}

static int parse_param(const char **p, AuthChallenge *c) {
        size_t n = token_length(*p);
        _cleanup_free_ char *name = strndup(*p, n), *value = NULL;
        const char *q = skip_ws(skip_ws(*p + n) + 1); /* at_param() saw the '=' */
        char **slot = NULL;
        int r;

        if (!name)
                return -ENOMEM;
        if (*q == '"') {
                r = parse_quoted(&q, &value);
                if (r < 0)
                        return r;
        } else {
                size_t m = token_length(q);

                if (m == 0)
                        return -EINVAL;
                value = strndup(q, m);
                if (!value)
                        return -ENOMEM;
                q += m;
        }
        for (char *s = name; *s; s++)
                *s = (char) tolower((unsigned char) *s);
        slot = streq(name, "realm")     ? &c->realm
               : streq(name, "service") ? &c->service
               : streq(name, "scope")   ? &c->scope
               : streq(name, "error")   ? &c->error
                                        : NULL;
        if (slot) {
                free(*slot); /* the last of a repeated parameter wins */
                *slot = TAKE_PTR(value);
        }
        *p = q;
        return 0;
}

int www_authenticate_parse(const char *value, AuthChallenge **ret, size_t *ret_n) {
        AuthChallenge *list = NULL;
        size_t n = 0;
        const char *p = value;
        int r = 0;

        for (;;) {
                AuthChallenge *c;
                size_t len;

                /* empty list elements are allowed: ", , Basic" */
                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                if (!*p)
                        break;
                len = token_length(p);
                if (len == 0 || n >= CHALLENGES_MAX) {
                        r = -EINVAL;
                        goto fail;
                }
                c = reallocarray(list, n + 1, sizeof(AuthChallenge));
                if (!c) {
                        r = -ENOMEM;
                        goto fail;
                }
                list = c;
                c = list + n++;
                *c = (AuthChallenge) { .scheme = strndup(p, len) };
                if (!c->scheme) {
                        r = -ENOMEM;
                        goto fail;
                }
                for (char *s = c->scheme; *s; s++)
                        *s = (char) tolower((unsigned char) *s);
                p += len;
                if (*p && *p != ' ' && *p != '\t' && *p != ',') {
                        r = -EINVAL;
                        goto fail;
                }
                p = skip_ws(p);
                if (!at_param(p) && is_token68_char(*p)) {
                        /* token68: kept as nothing, no registry sends one */
                        while (is_token68_char(*p))
                                p++;
                        while (*p == '=')
                                p++;
                        p = skip_ws(p);
                        if (*p && *p != ',') {
                                r = -EINVAL;
                                goto fail;
                        }
                        continue;
                }
                /* auth-params, comma-separated, until the next challenge or the end */
                for (;;) {
                        const char *q;

                        if (!at_param(p))
                                break;
                        r = parse_param(&p, c);
                        if (r < 0)
                                goto fail;
                        p = skip_ws(p);
                        if (!*p)
                                break;
                        if (*p != ',') {
                                r = -EINVAL;
                                goto fail;
                        }
                        q = p;
                        while (*q == ' ' || *q == '\t' || *q == ',')
                                q++;
                        if (!at_param(q)) /* a new challenge (or the end) */
                                break;
                        p = q;
                }
        }
        *ret = list;
        *ret_n = n;
        return 0;
fail:
        auth_challenges_free(list, n);
        return r;
}

/* --- credentials ----------------------------------------------------------------------- */

typedef struct AuthEntry {
        char *host; /* "docker.io", "localhost:5000" */
        char *path; /* "" or "team/sub" below that host */
        char *username, *password, *registry_token;
} AuthEntry;

struct AuthFile {
        AuthEntry *entries;
        size_t n;
};

static void auth_entry_done(AuthEntry *e) {
        free(e->host);
        free(e->path);
        free(e->username);
        erase_and_free(e->password);
        erase_and_free(e->registry_token);
}

void auth_file_free(AuthFile *f) {
        if (!f)
                return;
        for (size_t i = 0; i < f->n; i++)
                auth_entry_done(f->entries + i);
        free(f->entries);
        free(f);
}

size_t auth_file_size(const AuthFile *f) {
        return f ? f->n : 0;
}

static bool is_docker_hub(const char *host) {
        return streq(host, "docker.io") || streq(host, "index.docker.io") || streq(host, "registry-1.docker.io");
}

/* "https://index.docker.io/v1/" -> docker.io + "", "reg:5000/team/" -> reg:5000 + "team" */
static int split_key(const char *key, char **ret_host, char **ret_path) {
        const char *p = key, *slash;
        _cleanup_free_ char *host = NULL, *path = NULL;
        size_t n;

        if (strneq(p, "https://", 8))
                p += 8;
        else if (strneq(p, "http://", 7))
                p += 7;
        slash = strchr(p, '/');
        host = slash ? strndup(p, (size_t) (slash - p)) : strdup(p);
        if (!host)
                return -ENOMEM;
        if (!*host)
                return -EINVAL;
        for (char *s = host; *s; s++)
                *s = (char) tolower((unsigned char) *s);
        if (is_docker_hub(host)) {
                free(host);
                host = strdup("docker.io");
                if (!host)
                        return -ENOMEM;
        }
        p = slash ? slash + 1 : "";
        /* "/v1/", "/v2/": API versions, not repositories */
        if (streq(p, "v1/") || streq(p, "v2/") || streq(p, "v1") || streq(p, "v2"))
                p = "";
        path = strdup(p);
        if (!path)
                return -ENOMEM;
        n = strlen(path);
        while (n > 0 && path[n - 1] == '/')
                path[--n] = 0;
        *ret_host = TAKE_PTR(host);
        *ret_path = TAKE_PTR(path);
        return 0;
}

static const char *string_member(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static int add_entry(AuthFile *f, const char *key, json_object *o, const char *origin, char **ret_error) {
        const char *auth = string_member(o, "auth"), *user = string_member(o, "username"),
                   *pass = string_member(o, "password"), *token = string_member(o, "registrytoken");
        AuthEntry e = {}, *entries;
        int r;

        r = split_key(key, &e.host, &e.path);
        if (r == -EINVAL)
                return error_set(ret_error, -EINVAL, "%s: registry '%s': not a registry name", origin, key);
        if (r < 0)
                return r;
        if (!isempty(auth)) {
                _cleanup_free_ char *decoded = NULL;
                size_t size;
                char *colon;

                r = base64_decode(auth, strlen(auth), &decoded, &size);
                if (r < 0 || strlen(decoded) != size || !(colon = strchr(decoded, ':'))) {
                        if (decoded)
                                explicit_bzero(decoded, size);
                        auth_entry_done(&e);
                        return r == -ENOMEM ? r
                                            : error_set(ret_error, -EINVAL,
                                                        "%s: registry '%s': \"auth\" is not base64 of user:password",
                                                        origin, key);
                }
                *colon = 0;
                e.username = strdup(decoded);
                e.password = strdup(colon + 1);
                explicit_bzero(decoded, size);
                if (!e.username || !e.password)
                        goto oom;
        } else if (user && pass) {
                e.username = strdup(user);
                e.password = strdup(pass);
                if (!e.username || !e.password)
                        goto oom;
        }
        if (token && !(e.registry_token = strdup(token)))
                goto oom;
        if (!e.username && !e.registry_token) {
                /* no credentials of ours (a credential helper's entry, an identity
                 * token's): skipped */
                auth_entry_done(&e);
                return 0;
        }
        /* a later entry for the same key replaces the earlier one */
        for (size_t i = 0; i < f->n; i++)
                if (streq(f->entries[i].host, e.host) && streq(f->entries[i].path, e.path)) {
                        auth_entry_done(f->entries + i);
                        f->entries[i] = e;
                        return 0;
                }
        entries = reallocarray(f->entries, f->n + 1, sizeof(AuthEntry));
        if (!entries) {
                auth_entry_done(&e);
                return -ENOMEM;
        }
        f->entries = entries;
        f->entries[f->n++] = e;
        return 0;
oom:
        auth_entry_done(&e);
        return -ENOMEM;
}

static int parse_auths(AuthFile *f, json_object *auths, const char *origin, char **ret_error) {
        if (!json_object_is_type(auths, json_type_object))
                return error_set(ret_error, -EINVAL, "%s: \"auths\" is not an object", origin);
        json_object_object_foreach(auths, key, value) {
                int r;

                if (!json_object_is_type(value, json_type_object))
                        return error_set(ret_error, -EINVAL, "%s: registry '%s': not an object", origin, key);
                r = add_entry(f, key, value, origin, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_document(AuthFile *f, const char *json, size_t size, const char *origin, unsigned depth,
                          char **ret_error);

/* A Secret as the API returns it: data values are base64. */
static int parse_secret(AuthFile *f, json_object *data, const char *origin, unsigned depth, char **ret_error) {
        static const char *const keys[] = { ".dockerconfigjson", ".dockercfg" };

        if (!json_object_is_type(data, json_type_object))
                return error_set(ret_error, -EINVAL, "%s: secret \"data\" is not an object", origin);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const char *encoded = string_member(data, keys[i]);
                _cleanup_free_ char *decoded = NULL;
                size_t decoded_size;
                int r;

                if (!encoded)
                        continue;
                r = base64_decode(encoded, strlen(encoded), &decoded, &decoded_size);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_set(ret_error, -EINVAL, "%s: secret data %s is not base64", origin, keys[i]);
                r = parse_document(f, decoded, decoded_size, origin, depth + 1, ret_error);
                explicit_bzero(decoded, decoded_size);
                return r;
        }
        return error_set(ret_error, -EINVAL, "%s: secret has neither .dockerconfigjson nor .dockercfg", origin);
}

static int parse_document(AuthFile *f, const char *json, size_t size, const char *origin, unsigned depth,
                          char **ret_error) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        json_tokener *tok;
        json_object *v;

        if (depth > 1)
                return error_set(ret_error, -EINVAL, "%s: secret inside a secret", origin);
        if (size > INT_MAX)
                return error_set(ret_error, -EINVAL, "%s: too large", origin);
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        root = json_tokener_parse_ex(tok, json, (int) size);
        if (root && tok->char_offset < (int) size) {
                /* trailing garbage other than whitespace */
                for (size_t i = (size_t) tok->char_offset; i < size; i++)
                        if (!isspace((unsigned char) json[i])) {
                                json_object_put(TAKE_PTR(root));
                                break;
                        }
        }
        json_tokener_free(tok);
        if (!root)
                return error_set(ret_error, -EINVAL, "%s: not JSON", origin);
        if (!json_object_is_type(root, json_type_object))
                return error_set(ret_error, -EINVAL, "%s: not a JSON object", origin);
        if (json_object_object_get_ex(root, "auths", &v))
                return parse_auths(f, v, origin, ret_error);
        if (json_object_object_get_ex(root, "kind", &v) && json_object_is_type(v, json_type_string) &&
            streq(json_object_get_string(v), "Secret")) {
                if (!json_object_object_get_ex(root, "data", &v))
                        return error_set(ret_error, -EINVAL, "%s: secret without data", origin);
                return parse_secret(f, v, origin, depth, ret_error);
        }
        /* .dockercfg: the map itself; a config.json with credential helpers only has
         * neither, and no credentials */
        json_object_object_foreach(root, key, value) {
                int r;

                if (!json_object_is_type(value, json_type_object) ||
                    !(string_member(value, "auth") || string_member(value, "username")))
                        continue;
                r = add_entry(f, key, value, origin, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int auth_file_parse(const char *json, size_t size, const char *origin, AuthFile **ret, char **ret_error) {
        _cleanup_(auth_file_freep) AuthFile *made = NULL;
        AuthFile *f = *ret;
        int r;

        if (!f) {
                f = made = calloc(1, sizeof(AuthFile));
                if (!f)
                        return -ENOMEM;
        }
        r = parse_document(f, json, size, origin ?: "auth file", 0, ret_error);
        if (r < 0)
                return r;
        if (made)
                *ret = TAKE_PTR(made);
        return 0;
}

int auth_file_load(const char *path, AuthFile **ret, char **ret_error) {
        _cleanup_free_ char *content = NULL;
        size_t size;
        int r;

        r = read_full_file_error(path, AUTH_FILE_MAX_SIZE, &content, &size, ret_error);
        if (r < 0)
                return r;
        r = auth_file_parse(content, size, path, ret, ret_error);
        explicit_bzero(content, size);
        return r;
}

int auth_file_lookup(const AuthFile *f, const char *domain, const char *path, RegistryCredentials *ret) {
        const AuthEntry *best = NULL;
        _cleanup_free_ char *host = NULL;
        size_t best_len = 0;

        if (!f)
                return -ENOENT;
        host = strdup(domain);
        if (!host)
                return -ENOMEM;
        for (char *s = host; *s; s++)
                *s = (char) tolower((unsigned char) *s);
        for (size_t i = 0; i < f->n; i++) {
                const AuthEntry *e = f->entries + i;
                size_t n = strlen(e->path);

                if (!streq(e->host, host) && !(is_docker_hub(host) && streq(e->host, "docker.io")))
                        continue;
                if (n > 0 && !(path && strneq(path, e->path, n) && (path[n] == 0 || path[n] == '/')))
                        continue;
                if (!best || n > best_len) {
                        best = e;
                        best_len = n;
                }
        }
        if (!best)
                return -ENOENT;
        *ret = (RegistryCredentials) {
                .username = best->username,
                .password = best->password,
                .registry_token = best->registry_token,
        };
        return 0;
}
