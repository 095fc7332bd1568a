/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* A minimal harness: each test-*.c runs its TEST()s from main(); a failed check prints
 * where and exits 1, exit 77 tells meson the test was skipped. */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_TEST_SKIP 77

#define check(expr)                                                                                \
        do {                                                                                       \
                if (!(expr)) {                                                                     \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);   \
                        exit(EXIT_FAILURE);                                                        \
                }                                                                                  \
        } while (0)

#define check_int(a, op, b)                                                                        \
        do {                                                                                       \
                long long _a_ = (long long) (a), _b_ = (long long) (b);                            \
                if (!(_a_ op _b_)) {                                                               \
                        fprintf(stderr, "%s:%d: check failed: %s %s %s (%lld vs %lld)\n",          \
                                __FILE__, __LINE__, #a, #op, #b, _a_, _b_);                        \
                        exit(EXIT_FAILURE);                                                        \
                }                                                                                  \
        } while (0)

#define check_streq(a, b)                                                                          \
        do {                                                                                       \
                const char *_a_ = (a), *_b_ = (b);                                                 \
                if (!_a_ || !_b_ || strcmp(_a_, _b_) != 0) {                                       \
                        fprintf(stderr, "%s:%d: check failed: %s == %s (\"%s\" vs \"%s\")\n",      \
                                __FILE__, __LINE__, #a, #b, _a_ ? _a_ : "(null)",                  \
                                _b_ ? _b_ : "(null)");                                             \
                        exit(EXIT_FAILURE);                                                        \
                }                                                                                  \
        } while (0)

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                                                  \
        do {                                                                                       \
                fprintf(stderr, "=== %s\n", #name);                                                \
                test_##name();                                                                     \
        } while (0)

/* Makes a fresh directory under $TMPDIR for one test; the caller removes it. */
static inline char *test_mkdtemp(void) {
        const char *tmp = getenv("TMPDIR");
        char *dir;

        if (asprintf(&dir, "%s/stevedore-test-XXXXXX", tmp ? tmp : "/tmp") < 0 || !mkdtemp(dir)) {
                perror("mkdtemp");
                exit(EXIT_FAILURE);
        }
        return dir;
}

static inline void test_rm_rf(const char *dir) {
        char *cmd;

        if (asprintf(&cmd, "rm -rf -- '%s'", dir) < 0 || system(cmd) != 0) {
                fprintf(stderr, "cannot remove %s\n", dir);
                exit(EXIT_FAILURE);
        }
        free(cmd);
}
