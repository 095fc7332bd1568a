/* SPDX-License-Identifier: Apache-2.0 */
#include "base64.h"
#include "macro.h"
#include "registry-auth.h"
#include "tests.h"

static void parse_ok(const char *value, AuthChallenge **c, size_t *n) {
        if (www_authenticate_parse(value, c, n) < 0) {
                fprintf(stderr, "refused: %s\n", value);
                check(false);
        }
}

TEST(www_authenticate_registry_forms) {
        AuthChallenge *c;
        size_t n;

        /* Docker Hub's */
        parse_ok("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                 "scope=\"repository:library/busybox:pull\"",
                 &c, &n);
        check_int(n, ==, 1);
        check_streq(c[0].scheme, "bearer");
        check_streq(c[0].realm, "https://auth.docker.io/token");
        check_streq(c[0].service, "registry.docker.io");
        check_streq(c[0].scope, "repository:library/busybox:pull");
        check(!c[0].error);
        auth_challenges_free(c, n);

        /* docker-registry's htpasswd */
        parse_ok("Basic realm=\"stevedore-test\"", &c, &n);
        check_int(n, ==, 1);
        check_streq(c[0].scheme, "basic");
        check_streq(c[0].realm, "stevedore-test");
        check(!c[0].service && !c[0].scope);
        auth_challenges_free(c, n);

        /* tokens, spaces, case, an error, several scopes in one */
        parse_ok("BEARER  Realm = \"https://r.example/t\" , Service=svc,scope=\"repository:a:pull repository:b:pull\","
                 "error=\"insufficient_scope\"",
                 &c, &n);
        check_int(n, ==, 1);
        check_streq(c[0].realm, "https://r.example/t");
        check_streq(c[0].service, "svc");
        check_streq(c[0].scope, "repository:a:pull repository:b:pull");
        check_streq(c[0].error, "insufficient_scope");
        auth_challenges_free(c, n);
}

TEST(www_authenticate_several_challenges) {
        AuthChallenge *c;
        size_t n;

        parse_ok("Negotiate abc123==, Basic realm=\"a\\\"b\", Bearer realm=\"https://x/t\",service=s", &c, &n);
        check_int(n, ==, 3);
        check_streq(c[0].scheme, "negotiate");
        check(!c[0].realm);
        check_streq(c[1].realm, "a\"b");
        check(auth_challenge_find(c, n, "bearer") == c + 2);
        check_streq(auth_challenge_find(c, n, "bearer")->service, "s");
        check(!auth_challenge_find(c, n, "digest"));
        auth_challenges_free(c, n);

        parse_ok(", ,Basic", &c, &n);
        check_int(n, ==, 1);
        check_streq(c[0].scheme, "basic");
        auth_challenges_free(c, n);

        parse_ok("", &c, &n);
        check_int(n, ==, 0);
        auth_challenges_free(c, n);
}

TEST(www_authenticate_malformed) {
        static const char *const bad[] = {
                "Bearer realm=\"unterminated",
                "Bearer realm=\"x\" junk",
                "=x",
                "Bearer realm=\"x\\",
                "Bearer realm=\"a\",,=b",
                "Bea\"rer realm=x",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                AuthChallenge *c = NULL;
                size_t n = 0;

                if (www_authenticate_parse(bad[i], &c, &n) != -EINVAL) {
                        fprintf(stderr, "accepted: %s\n", bad[i]);
                        check(false);
                }
        }
}

static AuthFile *parse_file(const char *json) {
        AuthFile *f = NULL;
        char *error = NULL;

        if (auth_file_parse(json, strlen(json), "test.json", &f, &error) < 0) {
                fprintf(stderr, "refused: %s\n", error);
                check(false);
        }
        free(error);
        return f;
}

static void check_creds(const AuthFile *f, const char *domain, const char *path, const char *user, const char *pass) {
        RegistryCredentials c;

        if (!user) {
                check_int(auth_file_lookup(f, domain, path, &c), ==, -ENOENT);
                return;
        }
        check_int(auth_file_lookup(f, domain, path, &c), ==, 0);
        check_streq(c.username, user);
        check_streq(c.password, pass);
}

TEST(auth_file_docker_config) {
        /* "alice:pa:ss" base64: the password may hold colons */
        _cleanup_(auth_file_freep) AuthFile *f = parse_file(
                "{\"auths\": {"
                "  \"https://index.docker.io/v1/\": {\"auth\": \"YWxpY2U6cGE6c3M=\"},"
                "  \"localhost:5000\": {\"username\": \"bob\", \"password\": \"pw\"},"
                "  \"http://reg.example:8443/v2/\": {\"auth\": \"Y2Fyb2w6eA==\"},"
                "  \"reg.example:8443/team\": {\"auth\": \"dGVhbTp0\"},"
                "  \"helper.example\": {},"
                "  \"token.example\": {\"registrytoken\": \"T0K\"}"
                "}, \"credHelpers\": {\"gcr.io\": \"gcloud\"}}");
        RegistryCredentials c;

        check_int(auth_file_size(f), ==, 5);
        check_creds(f, "docker.io", "library/busybox", "alice", "pa:ss");
        check_creds(f, "registry-1.docker.io", "x/y", "alice", "pa:ss");
        check_creds(f, "localhost:5000", "kubia", "bob", "pw");
        check_creds(f, "LOCALHOST:5000", "kubia", "bob", "pw");
        check_creds(f, "localhost", "kubia", NULL, NULL);
        check_creds(f, "reg.example:8443", "other/app", "carol", "x");
        /* the longest path wins, on component boundaries */
        check_creds(f, "reg.example:8443", "team/app", "team", "t");
        check_creds(f, "reg.example:8443", "teamwork/app", "carol", "x");
        check_creds(f, "helper.example", "a", NULL, NULL);
        check_int(auth_file_lookup(f, "token.example", "a", &c), ==, 0);
        check(!c.username);
        check_streq(c.registry_token, "T0K");
        check_int(auth_file_lookup(NULL, "docker.io", "a", &c), ==, -ENOENT);
}

TEST(auth_file_kubernetes_forms) {
        static const char inner[] = "{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"dTpw\"}}}",
                          second[] = "{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"dTI6cDI=\"}}}";
        _cleanup_free_ char *encoded = base64_encode(inner, strlen(inner)), *secret = NULL;
        AuthFile *f;

        /* .dockercfg: the map without "auths" */
        f = parse_file("{\"quay.io\": {\"auth\": \"cTpx\", \"email\": \"a@b\"}}");
        check_creds(f, "quay.io", "a/b", "q", "q");
        auth_file_free(f);

        /* a Secret as the API returns it */
        check(encoded);
        check(asprintf(&secret,
                       "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"type\":\"kubernetes.io/dockerconfigjson\","
                       "\"data\":{\".dockerconfigjson\":\"%s\"}}",
                       encoded) > 0);
        f = parse_file(secret);
        check_creds(f, "127.0.0.1:5000", "kubia", "u", "p");

        /* merged into the same AuthFile: later entries win */
        check_int(auth_file_parse(second, strlen(second), NULL, &f, NULL), ==, 0);
        check_creds(f, "127.0.0.1:5000", "kubia", "u2", "p2");
        auth_file_free(f);
}

TEST(auth_file_errors_name_the_entry) {
        static const struct {
                const char *json, *error;
        } bad[] = {
                { "[1]", "test.json: not a JSON object" },
                { "{\"auths\": 1}", "test.json: \"auths\" is not an object" },
                { "{\"auths\": {\"r.example\": 1}}", "test.json: registry 'r.example': not an object" },
                { "{\"auths\": {\"r.example\": {\"auth\": \"!!\"}}}", "registry 'r.example': \"auth\" is not base64" },
                { "{\"auths\": {\"r.example\": {\"auth\": \"bm9jb2xvbg==\"}}}", "is not base64 of user:password" },
                { "{\"auths\": {}} x", "test.json: not JSON" },
                { "{\"kind\": \"Secret\", \"data\": {\"x\": \"\"}}", "neither .dockerconfigjson nor .dockercfg" },
                { "{\"auths\": {\"https://\": {\"auth\": \"dTpw\"}}}", "registry 'https://': not a registry name" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                AuthFile *f = NULL;
                char *error = NULL;

                check_int(auth_file_parse(bad[i].json, strlen(bad[i].json), "test.json", &f, &error), ==, -EINVAL);
                check(!f);
                if (!error || !strstr(error, bad[i].error)) {
                        fprintf(stderr, "error for %s: '%s', wanted '%s'\n", bad[i].json, error, bad[i].error);
                        check(false);
                }
                free(error);
        }
}

int main(void) {
        RUN(www_authenticate_registry_forms);
        RUN(www_authenticate_several_challenges);
        RUN(www_authenticate_malformed);
        RUN(auth_file_docker_config);
        RUN(auth_file_kubernetes_forms);
        RUN(auth_file_errors_name_the_entry);
        return 0;
}
