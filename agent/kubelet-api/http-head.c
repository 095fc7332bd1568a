/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>
#include <strings.h>

#include "http-head.h"

/* The header line of name: its value's start and end, or false. */
static bool find_header(const char *request, const char *name, const char **ret_value, const char **ret_end) {
        size_t n = strlen(name);

        for (const char *line = strstr(request, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
                const char *h = line + 2, *end = strstr(h, "\r\n");
                if (end && strncasecmp(h, name, n) == 0 && h[n] == ':') {
                        *ret_value = h + n + 1;
                        *ret_end = end;
                        return true;
                }
        }
        return false;
}

bool http_header_has(const char *request, const char *name, const char *what) {
        const char *value, *end;

        for (const char *at = request; at && find_header(at, name, &value, &end); at = end)
                if (memmem(value, (size_t) (end - value), what, strlen(what)))
                        return true;
        return false;
}

char *http_header_get(const char *request, const char *name) {
        const char *value, *end;

        if (!find_header(request, name, &value, &end))
                return NULL;
        while (value < end && (*value == ' ' || *value == '\t'))
                value++;
        while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        return strndup(value, (size_t) (end - value));
}
