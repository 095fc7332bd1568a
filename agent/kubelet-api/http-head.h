/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

/* An HTTP request's head ("GET /x HTTP/1.1\r\nName: value\r\n...\r\n\r\n"), as the
 * kubelet API's upgrades read it. Header names are case-insensitive. */

/* Whether header name has a value containing what. */
bool http_header_has(const char *request, const char *name, const char *what);
/* The first value of header name, its surrounding blanks left out; NULL when absent (or
 * out of memory). */
char *http_header_get(const char *request, const char *name);
