/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

/* Appends n bytes to the growing buffer *buf of *size bytes (*allocated of room), kept
 * NUL-terminated (response bodies, lines). -E2BIG when it would pass max bytes (nothing
 * appended), -ENOMEM. */
int buffer_append(char **buf, size_t *size, size_t *allocated, const void *data, size_t n, size_t max);
