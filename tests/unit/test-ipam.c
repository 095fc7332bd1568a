/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fileio.h"
#include "ipam.h"
#include "macro.h"
#include "tests.h"

static const char *ntoa(struct in_addr a) {
        static char buf[INET_ADDRSTRLEN];

        return inet_ntop(AF_INET, &a, buf, sizeof(buf));
}

static Ipam *open_cidr(const char *dir, const char *cidr) {
        Ipv4Prefix p;
        Ipam *ipam;

        check_int(ipv4_prefix_parse(cidr, &p), ==, 0);
        check_int(ipam_open(dir, &p, &ipam), ==, 0);
        return ipam;
}

TEST(allocate_is_lowest_free_and_idempotent) {
        _cleanup_free_ char *dir = test_mkdtemp();
        _cleanup_(ipam_freep) Ipam *ipam = open_cidr(dir, "10.244.1.0/24");
        struct in_addr a;

        check_streq(ntoa(ipam_gateway(ipam)), "10.244.1.1");
        check_int(ipam_allocate(ipam, "uid-a", &a), ==, 0);
        check_streq(ntoa(a), "10.244.1.2");
        check_int(ipam_allocate(ipam, "uid-b", &a), ==, 0);
        check_streq(ntoa(a), "10.244.1.3");
        check_int(ipam_allocate(ipam, "uid-a", &a), ==, 0);
        check_streq(ntoa(a), "10.244.1.2");

        /* A released address is the next one handed out. */
        check_int(ipam_release(ipam, "uid-a"), ==, 1);
        check_int(ipam_release(ipam, "uid-a"), ==, 0);
        check_int(ipam_find(ipam, "uid-a", &a), ==, -ENOENT);
        check_int(ipam_allocate(ipam, "uid-c", &a), ==, 0);
        check_streq(ntoa(a), "10.244.1.2");
        test_rm_rf(dir);
}

TEST(state_survives_reopen) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *content = NULL;
        _cleanup_strv_free_ char **owners = NULL;
        struct in_addr a;
        Ipam *ipam = open_cidr(dir, "10.244.1.0/24");

        check_int(ipam_allocate(ipam, "uid-a", &a), ==, 0);
        check_int(ipam_allocate(ipam, "uid-b", &a), ==, 0);
        ipam_free(ipam);

        check(asprintf(&path, "%s/10.244.1.0_24/10.244.1.3", dir) >= 0);
        check_int(read_full_file(path, 100, &content, NULL), ==, 0);
        check_streq(content, "uid-b\n");

        ipam = open_cidr(dir, "10.244.1.0/24");
        check_int(ipam_find(ipam, "uid-b", &a), ==, 0);
        check_streq(ntoa(a), "10.244.1.3");
        check_int(ipam_allocate(ipam, "uid-c", &a), ==, 0);
        check_streq(ntoa(a), "10.244.1.4");
        check_int(ipam_list_owners(ipam, &owners), ==, 0);
        check_streq(owners[0], "uid-a");
        check_streq(owners[1], "uid-b");
        check_streq(owners[2], "uid-c");
        check(!owners[3]);
        ipam_free(ipam);
        test_rm_rf(dir);
}

TEST(full_cidr) {
        _cleanup_free_ char *dir = test_mkdtemp();
        _cleanup_(ipam_freep) Ipam *ipam = open_cidr(dir, "10.244.9.0/29");
        char owner[16];
        struct in_addr a;

        /* .0 network, .1 gateway, .7 broadcast: five for pods. */
        for (int i = 0; i < 5; i++) {
                snprintf(owner, sizeof(owner), "uid-%d", i);
                check_int(ipam_allocate(ipam, owner, &a), ==, 0);
        }
        check_streq(ntoa(a), "10.244.9.6");
        check_int(ipam_allocate(ipam, "uid-5", &a), ==, -ENOSPC);
        check_int(ipam_allocate(ipam, "uid-2", &a), ==, 0);
        check_streq(ntoa(a), "10.244.9.4");
        test_rm_rf(dir);
}

TEST(two_handles_never_share_an_address) {
        _cleanup_free_ char *dir = test_mkdtemp();
        _cleanup_(ipam_freep) Ipam *one = open_cidr(dir, "10.244.1.0/24");
        _cleanup_(ipam_freep) Ipam *two = open_cidr(dir, "10.244.1.0/24");
        struct in_addr a, b;

        /* Both loaded an empty state; the second must notice the first's claim on disk. */
        check_int(ipam_allocate(one, "uid-a", &a), ==, 0);
        check_int(ipam_allocate(two, "uid-b", &b), ==, 0);
        check_streq(ntoa(a), "10.244.1.2");
        check_streq(ntoa(b), "10.244.1.3");
        test_rm_rf(dir);
}

TEST(bad_owners_and_prefixes) {
        _cleanup_free_ char *dir = test_mkdtemp();
        _cleanup_(ipam_freep) Ipam *ipam = open_cidr(dir, "10.244.1.0/24");
        struct in_addr a;
        Ipv4Prefix p;
        Ipam *none;

        check_int(ipam_allocate(ipam, "", &a), ==, -EINVAL);
        check_int(ipam_allocate(ipam, "../escape", &a), ==, -EINVAL);
        check_int(ipam_allocate(ipam, ".hidden", &a), ==, -EINVAL);
        check_int(ipv4_prefix_parse("10.0.0.0/8", &p), ==, 0);
        check_int(ipam_open(dir, &p, &none), ==, -ERANGE);
        check_int(ipv4_prefix_parse("10.0.0.0/31", &p), ==, 0);
        check_int(ipam_open(dir, &p, &none), ==, -ERANGE);
        test_rm_rf(dir);
}

TEST(stray_files_are_ignored) {
        _cleanup_free_ char *dir = test_mkdtemp(), *sub = NULL, *junk = NULL, *outside = NULL;
        _cleanup_(ipam_freep) Ipam *ipam = NULL;
        struct in_addr a;
        struct stat st;

        check(asprintf(&sub, "%s/10.244.1.0_24", dir) >= 0);
        check(mkdir(sub, 0700) == 0);
        check(asprintf(&junk, "%s/not-an-address", sub) >= 0);
        check(asprintf(&outside, "%s/10.244.2.7", sub) >= 0);
        check_int(write_file_atomic(junk, "?", 1, 0600), ==, 0);
        check_int(write_file_atomic(outside, "uid-z\n", 6, 0600), ==, 0);

        ipam = open_cidr(dir, "10.244.1.0/24");
        check(stat(junk, &st) == 0);
        check_int(ipam_allocate(ipam, "uid-a", &a), ==, 0);
        check_streq(ntoa(a), "10.244.1.2");
        check_int(ipam_find(ipam, "uid-z", &a), ==, -ENOENT);
        test_rm_rf(dir);
}

int main(void) {
        RUN(allocate_is_lowest_free_and_idempotent);
        RUN(state_survives_reopen);
        RUN(full_cidr);
        RUN(two_handles_never_share_an_address);
        RUN(bad_owners_and_prefixes);
        RUN(stray_files_are_ignored);
        return 0;
}
