/* SPDX-License-Identifier: Apache-2.0 */
/* The walkthrough's kubia app (Kubernetes in Action, ch. 2) as a small static program:
 * HTTP on :8080 (or $PORT), answers "You've hit <hostname>\n", logs each request. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;
static volatile sig_atomic_t listen_fd = -1;

/* Shutting the listener down wakes a blocked accept() even if the signal landed just
 * before it, so SIGTERM always stops the server at once. */
static void on_signal(int sig) {
        int saved = errno;

        (void) sig;
        stopping = 1;
        if (listen_fd >= 0)
                shutdown(listen_fd, SHUT_RDWR);
        errno = saved;
}

/* Reads the request head (up to the blank line or 8 KiB); the body is not needed. */
static void read_request(int fd) {
        char buf[8192];
        size_t n = 0;

        while (n < sizeof(buf) - 1) {
                ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);
                if (k <= 0)
                        return;
                n += (size_t) k;
                buf[n] = 0;
                if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
                        return;
        }
}

static void serve(int fd, const struct sockaddr_in *peer) {
        struct timeval timeout = { .tv_sec = 2 };
        char host[256] = "", addr[INET_ADDRSTRLEN], body[300], head[200];
        int body_len, head_len;

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        read_request(fd);

        inet_ntop(AF_INET, &peer->sin_addr, addr, sizeof(addr));
        printf("Received request from %s\n", addr);
        fflush(stdout);

        gethostname(host, sizeof(host) - 1);
        body_len = snprintf(body, sizeof(body), "You've hit %s\n", host);
        head_len = snprintf(head, sizeof(head),
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            "Content-Length: %d\r\nConnection: close\r\n\r\n",
                            body_len);
        if (write(fd, head, (size_t) head_len) == head_len)
                (void) !write(fd, body, (size_t) body_len);
}

int main(void) {
        struct sigaction sa = { .sa_handler = on_signal };
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
        const char *port = getenv("PORT");
        int one = 1, fd;

        /* No SA_RESTART: a blocked read() or accept() returns EINTR on SIGTERM. */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        addr.sin_port = htons(port ? (unsigned short) atoi(port) : 8080);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 || listen(fd, 128) < 0) {
                perror("kubia: listen");
                return 1;
        }

        listen_fd = fd;

        printf("Kubia server starting...\n");
        fflush(stdout);

        while (!stopping) {
                struct sockaddr_in peer;
                socklen_t len = sizeof(peer);
                int conn = accept4(fd, (struct sockaddr *) &peer, &len, SOCK_CLOEXEC);

                if (conn < 0) {
                        if (stopping)
                                break;
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        perror("kubia: accept");
                        return 1;
                }
                serve(conn, &peer);
                close(conn);
        }
        close(fd);
        return 0;
}
