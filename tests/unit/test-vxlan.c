/* SPDX-License-Identifier: Apache-2.0 */
#include "tests.h"
#include "vxlan.h"

TEST(mac_addresses) {
        uint8_t mac[6];

        check_int(mac_parse("0a:1B:2c:3d:4e:ff", mac), ==, 0);
        check_int(mac[1], ==, 0x1b);
        check_int(mac[5], ==, 0xff);
        check_int(mac_parse("0a:1b:2c:3d:4e", mac), ==, -EINVAL);
        check_int(mac_parse("0a-1b-2c-3d-4e-5f", mac), ==, -EINVAL);
        check_int(mac_parse(" a:1b:2c:3d:4e:5f", mac), ==, -EINVAL);
        check_int(mac_parse("0a:1b:2c:3d:4e:5g", mac), ==, -EINVAL);
}

int main(void) {
        RUN(mac_addresses);
        return 0;
}
