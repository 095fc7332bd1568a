/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"
#include "tests.h"

TEST(errno_returns) {
        errno = EPERM;
        /* The error passed in is what comes back, negative, and errno is untouched. */
        check_int(log_error_errno(ENOENT, "open /x: %m"), ==, -ENOENT);
        check_int(log_error_errno(-EEXIST, "mkdir /y: %m"), ==, -EEXIST);
        check_int(errno, ==, EPERM);
        check_int(log_info("no error"), ==, 0);
}

TEST(filtered_levels_still_return) {
        log_set_max_level(LOG_ERR);
        check_int(log_debug_errno(EAGAIN, "not shown"), ==, -EAGAIN);
        log_set_max_level(LOG_INFO);
}

TEST(context_variant_returns_the_same) {
        LogContext context = { .namespace = "default", .pod = "web", .container = "nginx" };

        /* Without the journal (stderr is not its stream here) the message goes to stderr. */
        log_open();
        check_int(log_context_error_errno(&context, ENOENT, "pod default/web: container nginx: %m"), ==, -ENOENT);
        check_int(log_context_info(&context, "pod default/web: started"), ==, 0);
        log_set_max_level(LOG_ERR);
        check_int(log_context_full_errno(&context, LOG_DEBUG, EIO, "filtered"), ==, -EIO);
        log_set_max_level(LOG_INFO);
}

TEST(parse_level) {
        check_int(log_parse_level("debug"), ==, LOG_DEBUG);
        check_int(log_parse_level("error"), ==, LOG_ERR);
        check_int(log_parse_level("warning"), ==, LOG_WARNING);
        check_int(log_parse_level("loud"), ==, -EINVAL);
        check_int(log_parse_level(""), ==, -EINVAL);
}

int main(void) {
        RUN(errno_returns);
        RUN(filtered_levels_still_return);
        RUN(context_variant_returns_the_same);
        RUN(parse_level);
        return 0;
}
