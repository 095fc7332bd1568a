/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "quantity.h"

typedef __int128 int128;

/* s as mantissa × 10^exp10 × 2^exp2. */
static int parse(const char *s, int128 *ret_mantissa, int *ret_exp10, int *ret_exp2) {
        static const struct {
                const char *suffix;
                int exp10, exp2;
        } suffixes[] = {
                { "Ki", 0, 10 }, { "Mi", 0, 20 }, { "Gi", 0, 30 }, { "Ti", 0, 40 }, { "Pi", 0, 50 }, { "Ei", 0, 60 },
                { "n", -9, 0 },  { "u", -6, 0 },  { "m", -3, 0 },  { "", 0, 0 },    { "k", 3, 0 },   { "M", 6, 0 },
                { "G", 9, 0 },   { "T", 12, 0 },  { "P", 15, 0 },  { "E", 18, 0 },
        };
        int128 mantissa = 0;
        int exp10 = 0, digits = 0;
        bool negative = false, dot = false;

        if (*s == '+' || *s == '-')
                negative = *s++ == '-';
        for (; (*s >= '0' && *s <= '9') || (*s == '.' && !dot); s++) {
                if (*s == '.') {
                        dot = true;
                        continue;
                }
                /* More digits than an int64 holds say nothing more. */
                if (++digits > 36)
                        return -ERANGE;
                mantissa = mantissa * 10 + (*s - '0');
                if (dot)
                        exp10--;
        }
        if (digits == 0)
                return -EINVAL;
        /* An exponent is e or E and digits; "E" alone, or "Ei", is a suffix. */
        if ((s[0] == 'e' || s[0] == 'E') &&
            ((s[1] >= '0' && s[1] <= '9') || ((s[1] == '-' || s[1] == '+') && s[2] >= '0' && s[2] <= '9'))) {
                char *end;
                long e = strtol(s + 1, &end, 10);
                if (end == s + 1 || *end || e < -40 || e > 40)
                        return -EINVAL;
                *ret_mantissa = negative ? -mantissa : mantissa;
                *ret_exp10 = exp10 + (int) e;
                *ret_exp2 = 0;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (streq(s, suffixes[i].suffix)) {
                        *ret_mantissa = negative ? -mantissa : mantissa;
                        *ret_exp10 = exp10 + suffixes[i].exp10;
                        *ret_exp2 = suffixes[i].exp2;
                        return 0;
                }
        return -EINVAL;
}

/* mantissa × 10^exp10 × 2^exp2, a positive value rounded up, as apimachinery's
 * ScaledValue does. */
static int evaluate(int128 mantissa, int exp10, int exp2, int64_t *ret) {
        const int128 limit = (int128) INT64_MAX;
        int128 v = mantissa, divisor = 1;

        for (int i = 0; i < exp2; i++)
                if ((v *= 2) > limit || v < -limit)
                        return -ERANGE;
        for (; exp10 > 0; exp10--)
                if ((v *= 10) > limit || v < -limit)
                        return -ERANGE;
        if (exp10 < -36) /* beyond int128: the value is below one unit */
                return *ret = v > 0, 0;
        for (; exp10 < 0; exp10++)
                divisor *= 10;
        *ret = (int64_t) (v / divisor + (v > 0 && v % divisor != 0));
        return 0;
}

int quantity_parse(const char *s, int64_t *ret_value) {
        int128 mantissa;
        int exp10, exp2, r;

        r = parse(s, &mantissa, &exp10, &exp2);
        return r < 0 ? r : evaluate(mantissa, exp10, exp2, ret_value);
}

int quantity_parse_milli(const char *s, int64_t *ret_milli) {
        int128 mantissa;
        int exp10, exp2, r;

        r = parse(s, &mantissa, &exp10, &exp2);
        return r < 0 ? r : evaluate(mantissa, exp10 + 3, exp2, ret_milli);
}
