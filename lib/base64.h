/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

/* Decodes standard base64 (RFC 4648, with padding; whitespace between groups is
 * skipped, as in PEM and in YAML folded values). -EINVAL on anything else. The result
 * is NUL-terminated for convenience; *ret_size excludes the NUL. */
int base64_decode(const char *in, size_t len, char **ret, size_t *ret_size);

/* Encodes standard base64 with padding, NUL-terminated. NULL on out of memory. */
char *base64_encode(const void *in, size_t len);
