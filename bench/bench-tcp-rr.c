/* SPDX-License-Identifier: Apache-2.0 */
/* TCP request/response latency for bench/network, run inside a pod's network namespace:
 *
 *   bench-tcp-rr server PORT              echoes one byte for one, a connection at a time
 *   bench-tcp-rr client ADDR PORT COUNT   COUNT round trips of one byte after a warm-up;
 *                                         prints "rr <microseconds>" for each
 *
 * netperf's TCP_RR with one-byte messages, which Debian's main archive lacks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARM_UP 200

static int fail(const char *what) {
        fprintf(stderr, "bench-tcp-rr: %s: %s\n", what, strerror(errno));
        return 1;
}

static double now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int no_delay(int fd) {
        int one = 1;

        return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int serve(unsigned port) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
        int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 || listen(fd, 8) < 0)
                return fail("listen");
        for (;;) {
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                char byte;

                if (c < 0)
                        return fail("accept");
                (void) no_delay(c);
                while (read(c, &byte, 1) == 1 && write(c, &byte, 1) == 1)
                        ;
                close(c);
        }
}

static int client(const char *address, unsigned port, long count) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        double *rtt = calloc(count, sizeof(double));
        char byte = 'x';

        if (!rtt || inet_pton(AF_INET, address, &addr.sin_addr) != 1)
                return fail("address");
        if (fd < 0 || connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 || no_delay(fd) < 0)
                return fail("connect");
        for (long i = -WARM_UP; i < count; i++) {
                double start = now_us();
                if (write(fd, &byte, 1) != 1 || read(fd, &byte, 1) != 1)
                        return fail("round trip");
                if (i >= 0)
                        rtt[i] = now_us() - start;
        }
        for (long i = 0; i < count; i++)
                printf("rr %.2f\n", rtt[i]);
        free(rtt);
        close(fd);
        return 0;
}

int main(int argc, char **argv) {
        if (argc == 3 && strcmp(argv[1], "server") == 0)
                return serve(strtoul(argv[2], NULL, 10));
        if (argc == 5 && strcmp(argv[1], "client") == 0)
                return client(argv[2], strtoul(argv[3], NULL, 10), strtol(argv[4], NULL, 10));
        fprintf(stderr, "usage: bench-tcp-rr server PORT | client ADDR PORT COUNT\n");
        return 2;
}
