/* SPDX-License-Identifier: Apache-2.0 */
#include "base64.h"
#include "macro.h"
#include "tests.h"

static void check_decodes(const char *in, const char *want) {
        _cleanup_free_ char *out = NULL;
        size_t n;

        check_int(base64_decode(in, strlen(in), &out, &n), ==, 0);
        check_int(n, ==, strlen(want));
        check_streq(out, want);
}

TEST(valid) {
        check_decodes("", "");
        check_decodes("Zg==", "f");
        check_decodes("Zm8=", "fo");
        check_decodes("Zm9v", "foo");
        check_decodes("Zm9vYmFy", "foobar");
        check_decodes("Zm9v\nYmFy\n", "foobar");
        check_decodes("c3RldmVkb3JlOi8/Kys=", "stevedore:/?++");
}

TEST(invalid) {
        static const char *const bad[] = { "Z", "Zg=", "Zg===", "Zm9v=", "=Zm9", "Zg==Zg==", "Zm9*", "Zm9vY" };
        char *out = NULL;
        size_t n;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (base64_decode(bad[i], strlen(bad[i]), &out, &n) != -EINVAL) {
                        fprintf(stderr, "accepted '%s'\n", bad[i]);
                        check(false);
                }
        check(!out);
}

TEST(encode) {
        static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar", "stevedore:/?++" };
        static const char *const encoded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy",
                                               "c3RldmVkb3JlOi8/Kys=" };

        for (size_t i = 0; i < ELEMENTSOF(plain); i++) {
                _cleanup_free_ char *e = base64_encode(plain[i], strlen(plain[i])), *d = NULL;

                check_streq(e, encoded[i]);
                check_int(base64_decode(e, strlen(e), &d, NULL), ==, 0);
                check_streq(d, plain[i]);
        }
}

int main(void) {
        RUN(valid);
        RUN(invalid);
        RUN(encode);
        return 0;
}
