/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "macro.h"

int buffer_append(char **buf, size_t *size, size_t *allocated, const void *data, size_t n, size_t max) {
        if (*size + n > max)
                return -E2BIG;
        if (*size + n + 1 > *allocated) {
                size_t a = MAX(*allocated * 2, *size + n + 1);
                char *p = realloc(*buf, a);

                if (!p)
                        return -ENOMEM;
                *buf = p;
                *allocated = a;
        }
        if (n > 0) /* data may be NULL then */
                memcpy(*buf + *size, data, n);
        *size += n;
        (*buf)[*size] = 0;
        return 0;
}
