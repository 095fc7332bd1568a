/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>

#include "log.h"

static int log_max_level = LOG_INFO;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit",
        [LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_parse_level(const char *s) {
        if (isempty(s))
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (streq(s, level_names[i]))
                        return (int) i;
        return -EINVAL;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        int saved_errno = errno;
        va_list ap;

        if (error < 0)
                error = -error;

        /* "%m" in the format expands to the error passed in, not to whatever errno is. */
        errno = error;
        va_start(ap, format);
        fprintf(stderr, "stevedore[%d]: ", (int) getpid());
        if (log_max_level >= LOG_DEBUG)
                fprintf(stderr, "%s:%d %s(): ", file, line, func);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);

        errno = saved_errno;
        return -error;
}

int error_message(char **ret_error, int error, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        if (ret_error && vasprintf(ret_error, format, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return -error;
}
