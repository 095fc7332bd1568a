/* SPDX-License-Identifier: Apache-2.0 */
/* Image references: the distribution grammar, Docker's normalisation (see image-ref.h). */
#include <ctype.h>

#include "error.h"
#include "image-ref.h"
#include "macro.h"

#define NAME_TOTAL_LENGTH_MAX 255
#define TAG_LENGTH_MAX 128
#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_REPO_PREFIX "library/"

void image_ref_free(ImageRef *ref) {
        if (!ref)
                return;
        free(ref->domain);
        free(ref->path);
        free(ref->tag);
        free(ref->digest);
        free(ref);
}

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_lower_hex(char c) {
        return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9');
}

static bool is_word(char c) {
        return isascii(c) && (isalnum(c) || c == '_');
}

static bool hex_of_length(const char *s, size_t n) {
        size_t i;

        for (i = 0; s[i]; i++)
                if (!is_lower_hex(s[i]))
                        return false;
        return i == n;
}

bool digest_is_sha256(const char *s) {
        return s && strneq(s, "sha256:", 7) && hex_of_length(s + 7, 64);
}

bool digest_is_valid(const char *s) {
        return digest_is_sha256(s) || (s && strneq(s, "sha512:", 7) && hex_of_length(s + 7, 128));
}

/* path-component := [a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)* */
static bool path_component_valid(const char *s, size_t n) {
        size_t i = 0;

        for (;;) {
                size_t start = i;

                while (i < n && is_lower_alnum(s[i]))
                        i++;
                if (i == start)
                        return false;
                if (i == n)
                        return true;
                /* a separator */
                if (s[i] == '.')
                        i++;
                else if (s[i] == '_')
                        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
                else if (s[i] == '-')
                        while (i < n && s[i] == '-')
                                i++;
                else
                        return false;
        }
}

/* domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool domain_component_valid(const char *s, size_t n) {
        if (n == 0 || !isascii(s[0]) || !isalnum(s[0]) || !isascii(s[n - 1]) || !isalnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isascii(s[i]) || (!isalnum(s[i]) && s[i] != '-'))
                        return false;
        return true;
}

/* domain := host [":" port]; host := domain-name | "[" IPv6 "]" */
static bool domain_valid(const char *s, size_t n) {
        size_t host_end;

        if (n > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', n);
                if (!close || close == s + 1)
                        return false;
                for (const char *p = s + 1; p < close; p++)
                        if (!isascii(*p) || (!isxdigit(*p) && *p != ':'))
                                return false;
                host_end = (size_t) (close - s) + 1;
        } else {
                const char *colon = memchr(s, ':', n);

                host_end = colon ? (size_t) (colon - s) : n;
                for (size_t i = 0, start = 0; i <= host_end; i++)
                        if (i == host_end || s[i] == '.') {
                                if (!domain_component_valid(s + start, i - start))
                                        return false;
                                start = i + 1;
                        }
        }
        if (host_end == n)
                return true;
        if (s[host_end] != ':' || host_end + 1 == n)
                return false;
        for (size_t i = host_end + 1; i < n; i++)
                if (!isdigit(s[i]))
                        return false;
        return true;
}

static bool tag_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > TAG_LENGTH_MAX || !is_word(s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
                        return false;
        return true;
}

/* The reference in front of every reason it is refused. */
#define invalid_ref(ret_error, s, format, ...) \
        error_set(ret_error, -EINVAL, "invalid image reference '%s': " format, s, ##__VA_ARGS__)

int image_ref_parse(const char *s, ImageRef **ret, char **ret_error) {
        _cleanup_(image_ref_freep) ImageRef *ref = NULL;
        _cleanup_free_ char *name = NULL;
        const char *at, *slash, *colon, *remainder;
        size_t domain_len;
        char *p;

        if (isempty(s))
                return invalid_ref(ret_error, "", "empty");
        /* Docker refuses a bare 64-hex string: it is an image ID, not a name. */
        if (hex_of_length(s, 64))
                return invalid_ref(ret_error, s, "a 64-character hexadecimal string is an image ID, not a name");

        ref = calloc(1, sizeof(*ref));
        if (!ref)
                return -ENOMEM;

        at = strchr(s, '@');
        if (at) {
                if (!digest_is_valid(at + 1))
                        return invalid_ref(ret_error, s,
                                           "digest '%s' is not sha256:<64 hex> or sha512:<128 hex>", at + 1);
                ref->digest = strdup(at + 1);
                name = strndup(s, (size_t) (at - s));
        } else
                name = strdup(s);
        if (!name || (at && !ref->digest))
                return -ENOMEM;

        /* A tag follows the last ':' when no '/' comes after it (else it was a port). */
        colon = strrchr(name, ':');
        slash = strrchr(name, '/');
        if (colon && (!slash || colon > slash)) {
                if (!tag_valid(colon + 1))
                        return invalid_ref(ret_error, s,
                                           "tag '%s' is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", colon + 1);
                ref->tag = strdup(colon + 1);
                if (!ref->tag)
                        return -ENOMEM;
                name[colon - name] = 0;
        }
        if (isempty(name))
                return invalid_ref(ret_error, s, "no repository name");

        /* Docker's splitDockerDomain. */
        slash = strchr(name, '/');
        domain_len = slash ? (size_t) (slash - name) : 0;
        if (slash && (memchr(name, '.', domain_len) || memchr(name, ':', domain_len) ||
                      (domain_len == 9 && strneq(name, "localhost", 9)) ||
                      ({
                              bool upper = false;
                              for (size_t i = 0; i < domain_len; i++)
                                      upper = upper || isupper(name[i]);
                              upper;
                      }))) {
                if (!domain_valid(name, domain_len))
                        return invalid_ref(ret_error, s, "registry '%.*s' is not host[:port]", (int) domain_len, name);
                ref->domain = strndup(name, domain_len);
                remainder = slash + 1;
        } else {
                ref->domain = strdup(DEFAULT_DOMAIN);
                remainder = name;
        }
        if (!ref->domain)
                return -ENOMEM;
        if (streq(ref->domain, LEGACY_DEFAULT_DOMAIN)) {
                free(ref->domain);
                ref->domain = strdup(DEFAULT_DOMAIN);
                if (!ref->domain)
                        return -ENOMEM;
        }

        for (const char *c = remainder; *c; c++)
                if (isupper(*c))
                        return invalid_ref(ret_error, s, "repository name '%s' must be lower-case", remainder);
        if (!*remainder)
                return invalid_ref(ret_error, s, "no repository name after the registry");
        for (const char *c = remainder;;) {
                const char *end = strchrnul(c, '/');
                if (!path_component_valid(c, (size_t) (end - c)))
                        return invalid_ref(ret_error, s,
                                           "path component '%.*s' is not [a-z0-9]+ joined by '.', '_', '__' or '-'",
                                           (int) (end - c), c);
                if (!*end)
                        break;
                c = end + 1;
        }

        if (streq(ref->domain, DEFAULT_DOMAIN) && !strchr(remainder, '/')) {
                if (asprintf(&p, OFFICIAL_REPO_PREFIX "%s", remainder) < 0)
                        return -ENOMEM;
        } else if (!(p = strdup(remainder)))
                return -ENOMEM;
        ref->path = p;
        /* As the distribution code does, on the normalised name. */
        if (strlen(ref->domain) + 1 + strlen(ref->path) > NAME_TOTAL_LENGTH_MAX)
                return invalid_ref(ret_error, s, "repository name longer than %d characters", NAME_TOTAL_LENGTH_MAX);

        if (!ref->tag && !ref->digest && !(ref->tag = strdup("latest")))
                return -ENOMEM;

        *ret = TAKE_PTR(ref);
        return 0;
}

char *image_ref_repository(const ImageRef *ref) {
        char *s;

        if (asprintf(&s, "%s/%s", ref->domain, ref->path) < 0)
                return NULL;
        return s;
}

char *image_ref_to_string(const ImageRef *ref) {
        char *s;

        if (asprintf(&s, "%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "", ref->tag ?: "",
                     ref->digest ? "@" : "", ref->digest ?: "") < 0)
                return NULL;
        return s;
}

int image_ref_normalize(const char *s, char **ret, char **ret_error) {
        _cleanup_(image_ref_freep) ImageRef *ref = NULL;
        int r;

        r = image_ref_parse(s, &ref, ret_error);
        if (r < 0)
                return r;
        *ret = image_ref_to_string(ref);
        return *ret ? 0 : -ENOMEM;
}
