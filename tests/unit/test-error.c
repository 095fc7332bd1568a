/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>

#include "error.h"
#include "tests.h"

TEST(set_expands_m_and_returns_negative) {
        _cleanup_free_ char *error = NULL;

        errno = EPERM;
        check_int(error_set(&error, -ENOENT, "mount overlay: %m"), ==, -ENOENT);
        check_streq(error, "mount overlay: No such file or directory");
        check_int(errno, ==, EPERM);
}

TEST(positive_and_zero_errors) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        check_int(error_set(&a, EEXIST, "mkdir %s: %m", "/x"), ==, -EEXIST);
        check_streq(a, "mkdir /x: File exists");
        check_int(error_set(&b, 0, "bad"), ==, -EINVAL);
        check_streq(b, "bad");
}

TEST(deepest_message_wins) {
        _cleanup_free_ char *error = NULL;

        error_set(&error, -ENOENT, "configMap app-config: not found");
        check_int(error_set(&error, -EIO, "something vaguer: %m"), ==, -EIO);
        check_streq(error, "configMap app-config: not found");
}

TEST(wrap_adds_context_on_the_way_up) {
        _cleanup_free_ char *error = NULL;

        error_set(&error, -ENOENT, "configMap app-config: not found");
        check_int(error_wrap(&error, -ENOENT, "volume %s", "config"), ==, -ENOENT);
        check_int(error_wrap(&error, -ENOENT, "pod %s", "default/kubia-x"), ==, -ENOENT);
        check_streq(error, "pod default/kubia-x: volume config: configMap app-config: not found");
}

TEST(wrap_without_message_names_the_errno) {
        _cleanup_free_ char *error = NULL;

        check_int(error_wrap(&error, -EACCES, "open %s", "/etc/x"), ==, -EACCES);
        check_streq(error, "open /etc/x: Permission denied");
}

TEST(no_message_wanted) {
        check_int(error_set(NULL, -EIO, "ignored"), ==, -EIO);
        check_int(error_wrap(NULL, -EIO, "ignored"), ==, -EIO);
}

int main(void) {
        RUN(set_expands_m_and_returns_negative);
        RUN(positive_and_zero_errors);
        RUN(deepest_message_wins);
        RUN(wrap_adds_context_on_the_way_up);
        RUN(wrap_without_message_names_the_errno);
        RUN(no_message_wanted);
        return 0;
}
