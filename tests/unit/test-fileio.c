/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"
#include "tests.h"

TEST(read_full_file_limits) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *content = NULL;
        size_t size;

        check(asprintf(&path, "%s/f", dir) >= 0);
        check_int(write_file_atomic(path, "0123456789", 10, 0644), ==, 0);

        check_int(read_full_file(path, 10, &content, &size), ==, 0);
        check_streq(content, "0123456789");
        check_int(size, ==, 10);

        check_int(read_full_file(path, 9, &content, &size), ==, -EFBIG);
        check_int(read_full_file("/nonexistent/x", 10, &content, &size), ==, -ENOENT);
        test_rm_rf(dir);
}

TEST(read_full_file_grows_past_one_page) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *content = NULL, *big = NULL;
        size_t n = 3 * 4096 + 17, size;

        big = malloc(n);
        check(big);
        for (size_t i = 0; i < n; i++)
                big[i] = (char) ('a' + i % 26);
        check(asprintf(&path, "%s/big", dir) >= 0);
        check_int(write_file_atomic(path, big, n, 0600), ==, 0);
        check_int(read_full_file(path, 1 << 20, &content, &size), ==, 0);
        check_int(size, ==, n);
        check(memcmp(content, big, n) == 0);
        test_rm_rf(dir);
}

TEST(read_full_file_error_names_the_path) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *content = NULL, *error = NULL;
        size_t size;

        check(asprintf(&path, "%s/f", dir) >= 0);
        check_int(read_full_file_error(path, 10, &content, &size, &error), ==, -ENOENT);
        check(error && strstr(error, path) && strstr(error, strerror(ENOENT)));
        check_int(write_file_atomic(path, "abc", 3, 0644), ==, 0);
        check_int(read_full_file_error(path, 10, &content, &size, NULL), ==, 0);
        check_streq(content, "abc");
        test_rm_rf(dir);
}

TEST(write_file_atomic_replaces_and_sets_mode) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *line = NULL;
        struct stat st;

        check(asprintf(&path, "%s/state", dir) >= 0);
        check_int(write_file_atomic(path, "old\n", 4, 0644), ==, 0);
        check_int(write_file_atomic(path, "new\nsecond\n", 11, 0600), ==, 0);
        check_int(read_one_line_file(path, &line), ==, 0);
        check_streq(line, "new");
        check(stat(path, &st) == 0);
        check_int(st.st_mode & 07777, ==, 0600);
        test_rm_rf(dir);
}

TEST(write_file_atomic_refuses_missing_dir) {
        check_int(write_file_atomic("/nonexistent-dir/x", "a", 1, 0644), ==, -ENOENT);
}

TEST(write_string_file_needs_an_existing_file) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *line = NULL;

        check(asprintf(&path, "%s/knob", dir) >= 0);
        check_int(write_string_file(path, "1"), ==, -ENOENT);
        check_int(write_file_atomic(path, "0\n", 2, 0644), ==, 0);
        check_int(write_string_file(path, "1"), ==, 0);
        check_int(read_one_line_file(path, &line), ==, 0);
        check_streq(line, "1");
        test_rm_rf(dir);
}

TEST(mkdir_p_makes_parents) {
        _cleanup_free_ char *dir = test_mkdtemp(), *deep = NULL;
        struct stat st;

        check(asprintf(&deep, "%s/a/b/c", dir) >= 0);
        check_int(mkdir_p(deep, 0700), ==, 0);
        check_int(mkdir_p(deep, 0700), ==, 0);
        check(stat(deep, &st) == 0 && S_ISDIR(st.st_mode));
        check_int(mkdir_p("/proc/version/x", 0700), ==, -ENOTDIR);
        test_rm_rf(dir);
}

TEST(env_file_get) {
        const char *os_release = "NAME=\"Debian GNU/Linux\"\n"
                                 "  # PRETTY_NAME=commented\n"
                                 "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
                                 "VERSION_ID='12'\n"
                                 "ID=debian # trailing comment\n"
                                 "ESC=\"a \\\"quoted\\\" word\"\n"
                                 "EMPTY=\n";
        _cleanup_free_ char *v1 = NULL, *v2 = NULL, *v3 = NULL, *v4 = NULL, *v5 = NULL;
        char *none = NULL;

        check_int(env_file_get(os_release, "PRETTY_NAME", &v1), ==, 0);
        check_streq(v1, "Debian GNU/Linux 12 (bookworm)");
        check_int(env_file_get(os_release, "VERSION_ID", &v2), ==, 0);
        check_streq(v2, "12");
        check_int(env_file_get(os_release, "ID", &v3), ==, 0);
        check_streq(v3, "debian");
        check_int(env_file_get(os_release, "ESC", &v4), ==, 0);
        check_streq(v4, "a \"quoted\" word");
        check_int(env_file_get(os_release, "EMPTY", &v5), ==, 0);
        check_streq(v5, "");
        check_int(env_file_get(os_release, "NAM", &none), ==, -ENOENT);
        check_int(env_file_get("", "X", &none), ==, -ENOENT);
        check(!none);
}

TEST(read_file_tail_takes_the_end) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *content = NULL, *all = NULL;
        size_t size;

        check(asprintf(&path, "%s/f", dir) >= 0);
        check_int(write_file_atomic(path, "0123456789", 10, 0644), ==, 0);
        check_int(read_file_tail(path, 4, &content, &size), ==, 0);
        check_streq(content, "6789");
        check_int(size, ==, 4);
        check_int(read_file_tail(path, 100, &all, &size), ==, 0);
        check_streq(all, "0123456789");
        check_int(size, ==, 10);
        check_int(read_file_tail("/nonexistent/x", 10, &content, &size), ==, -ENOENT);
        test_rm_rf(dir);
}

int main(void) {
        RUN(read_full_file_limits);
        RUN(read_file_tail_takes_the_end);
        RUN(read_full_file_grows_past_one_page);
        RUN(read_full_file_error_names_the_path);
        RUN(write_file_atomic_replaces_and_sets_mode);
        RUN(write_file_atomic_refuses_missing_dir);
        RUN(write_string_file_needs_an_existing_file);
        RUN(mkdir_p_makes_parents);
        RUN(env_file_get);
        return 0;
}
