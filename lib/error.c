/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static int error_normalize(int r) {
        return r < 0 ? r : r > 0 ? -r : -EINVAL;
}

/* The formatted text, "%m" being the error's; NULL when out of memory. */
_printf_(2, 0) static char *error_format(int r, const char *format, va_list ap) {
        int saved_errno = errno;
        char *text = NULL;

        errno = -r;
        if (vasprintf(&text, format, ap) < 0)
                text = NULL;
        errno = saved_errno;
        return text;
}

int error_set(char **ret_error, int r, const char *format, ...) {
        va_list ap;

        r = error_normalize(r);
        if (!ret_error || *ret_error)
                return r;
        va_start(ap, format);
        *ret_error = error_format(r, format, ap);
        va_end(ap);
        return r;
}

int error_wrap(char **ret_error, int r, const char *format, ...) {
        _cleanup_free_ char *context = NULL;
        char *wrapped = NULL;
        va_list ap;

        r = error_normalize(r);
        if (!ret_error)
                return r;
        va_start(ap, format);
        context = error_format(r, format, ap);
        va_end(ap);
        if (!context)
                return r; /* out of memory: the message below, if any, stays as it is */
        if (asprintf(&wrapped, "%s: %s", context, *ret_error ?: strerror(-r)) < 0)
                return r;
        free(*ret_error);
        *ret_error = wrapped;
        return r;
}
