/* SPDX-License-Identifier: Apache-2.0 */
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "exec-terminal.h"
#include "tests.h"

static void on_ready(ExecTerminal *t, int master, void *userdata) {
        int *seen = userdata;

        check(master >= 0);
        (*seen)++;
}

/* What `stevedore-runc exec --console-socket` does: one message with the master. */
static void send_master(const char *path, int master) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        char control[CMSG_SPACE(sizeof(int))] = {}, name[] = "/dev/ptmx";
        struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) - 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &master, sizeof(int));
        check(strlen(path) < sizeof(addr.sun_path));
        strcpy(addr.sun_path, path);
        check(fd >= 0 && connect(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0 && sendmsg(fd, &msg, 0) > 0);
        close(fd);
}

static void check_size(int fd, unsigned rows, unsigned cols) {
        struct winsize ws = {};

        check(ioctl(fd, TIOCGWINSZ, &ws) == 0);
        check_int(ws.ws_row, ==, rows);
        check_int(ws.ws_col, ==, cols);
}

TEST(resize) {
        char *dir = test_mkdtemp();
        sd_event *event = NULL;
        ExecTerminal *t = NULL;
        int master, slave, masters_seen = 0;
        static const char first[] = "{\"Width\":80,\"Height\":24}\n{\"Width\":101,", rest[] = "\"Height\":33}\n";

        check(sd_event_new(&event) >= 0);
        check(openpty(&master, &slave, NULL, NULL, NULL) == 0);
        check_int(exec_terminal_new(event, dir, on_ready, &masters_seen, &t), ==, 0);
        /* Sizes before the master: the last one (split across frames) applies when it comes. */
        check_int(exec_terminal_resize(t, first, strlen(first)), ==, 0);
        check_int(exec_terminal_resize(t, rest, strlen(rest)), ==, 0);
        send_master(exec_terminal_socket(t), master);
        for (int i = 0; i < 10 && masters_seen == 0; i++)
                check(sd_event_run(event, 100 * 1000) >= 0);
        check_int(masters_seen, ==, 1);
        check_size(slave, 33, 101);
        check_int(exec_terminal_resize(t, "{\"Width\":120,\"Height\":40}\n", 26), ==, 0);
        check_size(slave, 40, 120);
        check_int(exec_terminal_resize(t, "{\"Width\":\"wide\"}\n", 17), ==, -EBADMSG);
        check_size(slave, 40, 120);
        exec_terminal_free(t);
        close(master);
        close(slave);
        sd_event_unref(event);
        check(rmdir(dir) == 0); /* the socket and its directory are gone */
        free(dir);
}

/* The runtime exited: what it sent is taken without waiting for the loop. */
TEST(collect) {
        char *dir = test_mkdtemp();
        sd_event *event = NULL;
        ExecTerminal *t = NULL;
        int master, slave, masters_seen = 0;

        check(sd_event_new(&event) >= 0);
        check(openpty(&master, &slave, NULL, NULL, NULL) == 0);
        check_int(exec_terminal_new(event, dir, on_ready, &masters_seen, &t), ==, 0);
        exec_terminal_collect(t);
        check_int(masters_seen, ==, 0);
        send_master(exec_terminal_socket(t), master);
        exec_terminal_collect(t);
        check_int(masters_seen, ==, 1);
        exec_terminal_free(t);
        close(master);
        close(slave);
        sd_event_unref(event);
        check(rmdir(dir) == 0);
        free(dir);
}

int main(void) {
        RUN(resize);
        RUN(collect);
        return 0;
}
