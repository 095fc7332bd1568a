/* SPDX-License-Identifier: Apache-2.0 */
#include "image-ref.h"
#include "macro.h"
#include "tests.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void good(const char *in, const char *want) {
        _cleanup_free_ char *out = NULL, *error = NULL;

        if (image_ref_normalize(in, &out, &error) < 0) {
                fprintf(stderr, "'%s' refused: %s\n", in, error);
                check(false);
        }
        check_streq(out, want);
}

static void bad(const char *in, const char *want_error) {
        _cleanup_free_ char *out = NULL, *error = NULL;

        check_int(image_ref_normalize(in, &out, &error), ==, -EINVAL);
        check(error);
        if (!strstr(error, want_error) || !strstr(error, in)) {
                fprintf(stderr, "error for '%s' is '%s', wanted '%s' and the reference\n", in, error, want_error);
                check(false);
        }
}

TEST(normalise_like_docker) {
        good("busybox", "docker.io/library/busybox:latest");
        good("busybox:1.36", "docker.io/library/busybox:1.36");
        good("library/busybox", "docker.io/library/busybox:latest");
        good("docker.io/busybox", "docker.io/library/busybox:latest");
        good("index.docker.io/busybox", "docker.io/library/busybox:latest");
        good("user/app", "docker.io/user/app:latest");
        good("user/app/deep:v1.0-rc_1", "docker.io/user/app/deep:v1.0-rc_1");
        good("localhost/app", "localhost/app:latest");
        good("localhost:5000/kubia", "localhost:5000/kubia:latest");
        good("127.0.0.1:5000/a/b:t", "127.0.0.1:5000/a/b:t");
        good("[::1]:5000/x", "[::1]:5000/x:latest");
        good("quay.io/a/b@sha256:" D64, "quay.io/a/b@sha256:" D64);
        good("a:1@sha256:" D64, "docker.io/library/a:1@sha256:" D64);
        good("Registry.Example/a", "Registry.Example/a:latest");
        good("a__b.c-d---e", "docker.io/library/a__b.c-d---e:latest");
        good("my-registry:443/x", "my-registry:443/x:latest");
}

TEST(parts) {
        _cleanup_(image_ref_freep) ImageRef *ref = NULL;
        _cleanup_free_ char *repo = NULL;

        check_int(image_ref_parse("localhost:5000/kubia@sha256:" D64, &ref, NULL), ==, 0);
        check_streq(ref->domain, "localhost:5000");
        check_streq(ref->path, "kubia");
        check(!ref->tag);
        check_streq(ref->digest, "sha256:" D64);
        repo = image_ref_repository(ref);
        check_streq(repo, "localhost:5000/kubia");
}

TEST(refused) {
        bad("", "empty");
        bad("Busybox", "lower-case");
        bad("user/App", "lower-case");
        bad(D64, "image ID");
        bad("a:", "tag");
        bad("a:-x", "tag");
        bad("a:" "01234567890123456789012345678901234567890123456789012345678901234567890123456789"
            "01234567890123456789012345678901234567890123456789", "tag");
        bad("a@sha256:abc", "digest");
        bad("a@sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "digest");
        bad("a@md5:d41d8cd98f00b204e9800998ecf8427e", "digest");
        bad("a//b", "path component");
        bad("a/", "path component");
        bad("-a", "path component");
        bad("a_-b", "path component");
        bad("a___b", "path component");
        bad("a..b", "path component");
        bad("exa_mple.com/a", "registry");
        bad("-bad.com/a", "registry");
        bad("host.com:/a", "registry");
        bad("host.com:50x/a", "registry");
        bad("[zz]:5000/a", "registry");
        bad("localhost:5000/", "no repository");
        bad(":tag", "no repository");
        bad("a b", "path component");
}

TEST(length) {
        char name[300];

        /* docker.io/library/ + 237 = 255 characters: the longest name there is. */
        memset(name, 'a', 237);
        name[237] = 0;
        {
                _cleanup_free_ char *out = NULL;
                check_int(image_ref_normalize(name, &out, NULL), ==, 0);
        }
        name[237] = 'a';
        name[238] = 0;
        bad(name, "longer than 255");
}

TEST(digests) {
        check(digest_is_sha256("sha256:" D64));
        check(!digest_is_sha256("sha256:" D64 "0"));
        check(!digest_is_sha256("sha512:" D64 D64));
        check(digest_is_valid("sha512:" D64 D64));
        check(!digest_is_valid("sha256:"));
        check(!digest_is_valid(NULL));
}

int main(void) {
        RUN(normalise_like_docker);
        RUN(parts);
        RUN(refused);
        RUN(length);
        RUN(digests);
        return 0;
}
