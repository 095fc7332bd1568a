/* SPDX-License-Identifier: Apache-2.0 */
#include "quantity.h"
#include "tests.h"

static int64_t value(const char *s) {
        int64_t v = -12345;
        check_int(quantity_parse(s, &v), ==, 0);
        return v;
}

static int64_t milli(const char *s) {
        int64_t v = -12345;
        check_int(quantity_parse_milli(s, &v), ==, 0);
        return v;
}

int main(void) {
        check_int(value("128Mi"), ==, 134217728);
        check_int(value("1G"), ==, 1000000000);
        check_int(value("1.5Gi"), ==, 1610612736);
        check_int(value("2e3"), ==, 2000);
        check_int(value("100m"), ==, 1); /* rounded up */
        check_int(value("0"), ==, 0);
        check_int(value("1Ei"), ==, 1152921504606846976);
        check_int(milli("250m"), ==, 250);
        check_int(milli("2"), ==, 2000);
        check_int(milli("0.1"), ==, 100);
        check_int(milli("1.0005"), ==, 1001);
        check_int(milli("100u"), ==, 1);
        check_int(milli("1k"), ==, 1000000);
        check_int(milli("1e-40"), ==, 1);

        int64_t v;
        check_int(quantity_parse("", &v), ==, -EINVAL);
        check_int(quantity_parse("1.2.3", &v), ==, -EINVAL);
        check_int(quantity_parse("12Xi", &v), ==, -EINVAL);
        check_int(quantity_parse("m", &v), ==, -EINVAL);
        check_int(quantity_parse("1e", &v), ==, -EINVAL);
        check_int(quantity_parse("1e+", &v), ==, -EINVAL);
        check_int(quantity_parse("16Ei", &v), ==, -ERANGE);
        check_int(quantity_parse_milli("10E", &v), ==, -ERANGE);
        return 0;
}
