/* SPDX-License-Identifier: Apache-2.0 */
/* Runs in a network namespace of its own: the host's ruleset is never touched. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <sched.h>
#include <unistd.h>

#include "fileio.h"
#include "hostports.h"
#include "macro.h"
#include "nft-batch.h"
#include "nft-build.h"
#include "tests.h"

static const char *const expected =
        "table ip stevedore-hostports {\n"
        "\tchain prerouting {\n"
        "\t\ttype nat hook prerouting priority dstnat + 1; policy accept;\n"
        "\t\tfib daddr type local ip daddr != 127.0.0.0/8 jump hostports\n"
        "\t}\n"
        "\n"
        "\tchain output {\n"
        "\t\ttype nat hook output priority -99; policy accept;\n"
        "\t\tfib daddr type local ip daddr != 127.0.0.0/8 jump hostports\n"
        "\t}\n"
        "\n"
        "\tchain hostports {\n"
        "\t\tsctp dport 9999 ip saddr 10.78.0.0/24 meta mark set meta mark | 0x00002000\n"
        "\t\tsctp dport 9999 dnat to 10.78.0.6:99\n"
        "\t\ttcp dport 8080 ip saddr 10.78.0.0/24 meta mark set meta mark | 0x00002000\n"
        "\t\ttcp dport 8080 dnat to 10.78.0.5:8080\n"
        "\t\tip daddr 198.51.100.21 udp dport 53 ip saddr 10.78.0.0/24 meta mark set meta mark | 0x00002000\n"
        "\t\tip daddr 198.51.100.21 udp dport 53 dnat to 10.78.0.5:5353\n"
        "\t}\n"
        "\n"
        "\tchain masquerading {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        "\t\tmeta mark & 0x00002000 == 0x00002000 masquerade\n"
        "\t}\n"
        "}\n";

static struct in_addr ip(const char *s) {
        struct in_addr a;

        check_int(inet_pton(AF_INET, s, &a), ==, 1);
        return a;
}

static char *dump(HostPorts *h) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        check(f);
        check_int(host_ports_dump(h, f), ==, 0);
        check_int(fclose(f), ==, 0);
        return text;
}

/* What the kernel holds, as nft lists it; NULL without the nft tool. */
static char *kernel_table(void) {
        static const char *const nft = "/usr/sbin/nft";
        char *text = NULL, buf[4096];
        size_t size = 0, n;
        FILE *out, *p;

        if (access(nft, X_OK) < 0)
                return NULL;
        out = open_memstream(&text, &size);
        p = popen("/usr/sbin/nft list table ip " HOST_PORTS_TABLE " 2>/dev/null", "r");
        check(out && p);
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                fwrite(buf, 1, n, out);
        pclose(p);
        fclose(out);
        return text;
}

/* Creating it exclusively fails exactly when it is there (and is rolled back). */
static bool table_exists(void) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nft_table_new(NFPROTO_IPV4, HOST_PORTS_TABLE);
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;
        int r;

        check_int(nft_batch_new(NFPROTO_IPV4, &b), ==, 0);
        check_int(nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, t), ==, 0);
        check_int(nft_batch_table(b, NFT_MSG_DELTABLE, 0, t), ==, 0);
        r = nft_batch_commit(b);
        check(r == 0 || r == -EEXIST);
        return r == -EEXIST;
}

static bool only_b(const char *uid, void *userdata) {
        return streq(uid, "b");
}

TEST(the_table_is_portmaps_chains_newest_pod_first) {
        _cleanup_free_ char *dir = test_mkdtemp(), *state = NULL, *text = NULL, *kernel = NULL, *again = NULL;
        _cleanup_(host_ports_freep) HostPorts *h = NULL, *reloaded = NULL;
        const HostPort a[] = {
                { .protocol = IPPROTO_TCP, .host_port = 8080, .container_port = 8080 },
                { .host_ip = ip("198.51.100.21"), .protocol = IPPROTO_UDP, .host_port = 53, .container_port = 5353 },
        };
        const HostPort b[] = { { .protocol = IPPROTO_SCTP, .host_port = 9999, .container_port = 99 } };

        check(asprintf(&state, "%s/hostports.json", dir) > 0);
        check_int(host_ports_new(state, &h), ==, 0);
        check(!table_exists());
        check_int(host_ports_set(h, "a", ip("10.78.0.5"), 24, a, ELEMENTSOF(a)), ==, 0);
        check_int(host_ports_set(h, "b", ip("10.78.0.6"), 24, b, ELEMENTSOF(b)), ==, 0);
        text = dump(h);
        check_streq(text, expected);
        check(table_exists());
        /* The kernel took every expression as meant: nft reads back the same rules. */
        kernel = kernel_table();
        if (kernel)
                check_streq(kernel, expected);

        /* The same again (a pod adopted by a new agent): nothing moves. */
        check_int(host_ports_set(h, "a", ip("10.78.0.5"), 24, a, ELEMENTSOF(a)), ==, 0);
        free(text);
        text = dump(h);
        check_streq(text, expected);

        /* A new agent starts from the state file, and programs it again. */
        check_int(host_ports_remove(h, "a"), ==, 0);
        check_int(host_ports_set(h, "a", ip("10.78.0.5"), 24, a, ELEMENTSOF(a)), ==, 0);
        check_int(nft_table_delete(NFPROTO_IPV4, HOST_PORTS_TABLE), ==, 0);
        check_int(host_ports_new(state, &reloaded), ==, 0);
        check(table_exists());
        free(text);
        text = dump(h);
        again = dump(reloaded);
        check_streq(again, text);
        check(strstr(text, "tcp dport 8080 dnat to 10.78.0.5:8080\n\t\tip daddr") &&
              strstr(text, "sctp dport 9999") > strstr(text, "tcp dport 8080"));

        /* Pods gone while no agent ran are dropped; the last mapping takes the table. */
        check_int(host_ports_retain(reloaded, only_b, NULL), ==, 0);
        free(again);
        again = dump(reloaded);
        check(!strstr(again, "8080") && strstr(again, "sctp dport 9999 dnat to 10.78.0.6:99"));
        check_int(host_ports_remove(reloaded, "b"), ==, 0);
        check(!table_exists());
        free(again);
        again = dump(reloaded);
        check_streq(again, "");
        check_int(host_ports_remove(reloaded, "b"), ==, 0);

        (void) rm_rf_at(AT_FDCWD, dir);
}

TEST(a_bad_state_file_is_left_out) {
        _cleanup_free_ char *dir = test_mkdtemp(), *state = NULL, *text = NULL;
        _cleanup_(host_ports_freep) HostPorts *h = NULL;

        check(asprintf(&state, "%s/hostports.json", dir) > 0);
        const char *not_a_list = "{\"not\": \"a list\"}";
        const char *port_zero = "[{\"uid\": \"x\", \"podIP\": \"10.1.1.1\", \"prefixLength\": 24, \"ports\": "
                                "[{\"hostIP\": \"0.0.0.0\", \"hostPort\": 0, \"protocol\": \"TCP\", \"containerPort\": 80}]}]";

        check_int(write_file_replace(state, not_a_list, strlen(not_a_list), 0600), ==, 0);
        check_int(host_ports_new(state, &h), ==, 0);
        host_ports_free(TAKE_PTR(h));
        check_int(write_file_replace(state, port_zero, strlen(port_zero), 0600), ==, 0);
        check_int(host_ports_new(state, &h), ==, 0);
        text = dump(h);
        check_streq(text, "");
        check(!table_exists());
        (void) rm_rf_at(AT_FDCWD, dir);
}

int main(void) {
        if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr, "needs root and network namespaces, skipping\n");
                return EXIT_TEST_SKIP;
        }
        RUN(the_table_is_portmaps_chains_newest_pod_first);
        RUN(a_bad_state_file_is_left_out);
        return 0;
}
