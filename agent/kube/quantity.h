/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

/* Kubernetes resource quantities ("500m", "1.5", "128Mi", "1G", "2e3"): a decimal number
 * with an optional binary (Ki … Ei), decimal (n u m k M G T P E) or exponent (e3) suffix,
 * as k8s.io/apimachinery/pkg/api/resource parses them. Values are rounded up, as
 * Quantity.Value() and MilliValue() do. -EINVAL for a malformed one, -ERANGE when it
 * does not fit. */
int quantity_parse(const char *s, int64_t *ret_value);
/* In thousandths: "250m" → 250, "2" → 2000 (cpu). */
int quantity_parse_milli(const char *s, int64_t *ret_milli);
