/* SPDX-License-Identifier: Apache-2.0 */
/* The pty of an exec session: its master by console socket, resized (see exec-terminal.h). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "exec-terminal.h"
#include "json-util.h"
#include "macro.h"

#define RESIZE_LINE_MAX 256

struct ExecTerminal {
        sd_event *event;
        char *dir, *path;
        int listen_fd, conn_fd, master;
        sd_event_source *listen_source, *conn_source;
        ExecTerminalReady ready;
        void *userdata;
        char line[RESIZE_LINE_MAX];
        size_t n_line;
        struct winsize size;
        bool has_size;
};

static void apply_size(ExecTerminal *t) {
        if (t->master >= 0 && t->has_size)
                (void) ioctl(t->master, TIOCSWINSZ, &t->size);
}

/* The runtime's one message: its fd. false while nothing has come yet. */
static bool receive_master(ExecTerminal *t) {
        char control[CMSG_SPACE(sizeof(int))] = {}, name[64];
        struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
        struct cmsghdr *cmsg;
        ssize_t n = recvmsg(t->conn_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return false;
        t->conn_source = sd_event_source_disable_unref(t->conn_source);
        t->conn_fd = safe_close(t->conn_fd);
        cmsg = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
        if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
            cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
                return true;
        memcpy(&t->master, CMSG_DATA(cmsg), sizeof(int));
        t->listen_source = sd_event_source_disable_unref(t->listen_source);
        t->listen_fd = safe_close(t->listen_fd);
        apply_size(t);
        t->ready(t, t->master, t->userdata);
        return true;
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) receive_master(userdata);
        return 0;
}

/* A connection to take the master from: false when none is waiting. */
static bool accept_conn(ExecTerminal *t) {
        if (t->conn_fd >= 0 || t->listen_fd < 0)
                return t->conn_fd >= 0;
        t->conn_fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        return t->conn_fd >= 0;
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExecTerminal *t = userdata;

        if (t->conn_fd >= 0 || !accept_conn(t))
                return 0;
        if (!receive_master(t) && sd_event_add_io(t->event, &t->conn_source, t->conn_fd, EPOLLIN, on_conn, t) < 0)
                t->conn_fd = safe_close(t->conn_fd);
        return 0;
}

void exec_terminal_collect(ExecTerminal *t) {
        if (t->master < 0 && accept_conn(t))
                (void) receive_master(t);
}

int exec_terminal_new(sd_event *event, const char *dir, ExecTerminalReady ready, void *userdata, ExecTerminal **ret) {
        ExecTerminal *t = calloc(1, sizeof(ExecTerminal));
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        int r;

        if (!t)
                return -ENOMEM;
        *t = (ExecTerminal) { .event = event, .listen_fd = -EBADF, .conn_fd = -EBADF, .master = -EBADF,
                              .ready = ready, .userdata = userdata };
        if (asprintf(&t->dir, "%s/exec-XXXXXX", dir) < 0) {
                t->dir = NULL;
                exec_terminal_free(t);
                return -ENOMEM;
        }
        if (!mkdtemp(t->dir)) {
                r = -errno;
                free(t->dir);
                t->dir = NULL;
                exec_terminal_free(t);
                return r;
        }
        if (asprintf(&t->path, "%s/console.sock", t->dir) < 0) {
                t->path = NULL;
                exec_terminal_free(t);
                return -ENOMEM;
        }
        if (strlen(t->path) >= sizeof(addr.sun_path)) {
                exec_terminal_free(t);
                return -ENAMETOOLONG;
        }
        strcpy(addr.sun_path, t->path);
        t->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (t->listen_fd < 0 || bind(t->listen_fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 ||
            listen(t->listen_fd, 1) < 0) {
                r = -errno;
                exec_terminal_free(t);
                return r;
        }
        r = sd_event_add_io(event, &t->listen_source, t->listen_fd, EPOLLIN, on_listen, t);
        if (r < 0) {
                exec_terminal_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

const char *exec_terminal_socket(ExecTerminal *t) {
        return t->path;
}

static int parse_size(ExecTerminal *t, const char *line) {
        _cleanup_(json_object_putp) json_object *o = json_tokener_parse(line);
        json_object *width, *height;

        if (!json_object_object_get_ex(o, "Width", &width) || !json_object_object_get_ex(o, "Height", &height) ||
            !json_object_is_type(width, json_type_int) || !json_object_is_type(height, json_type_int) ||
            json_object_get_int64(width) < 0 || json_object_get_int64(width) > UINT16_MAX ||
            json_object_get_int64(height) < 0 || json_object_get_int64(height) > UINT16_MAX)
                return -EBADMSG;
        t->size = (struct winsize) { .ws_row = (unsigned short) json_object_get_int(height),
                                     .ws_col = (unsigned short) json_object_get_int(width) };
        t->has_size = true;
        apply_size(t);
        return 0;
}

int exec_terminal_resize(ExecTerminal *t, const void *data, size_t n) {
        const char *p = data;

        for (size_t i = 0; i < n; i++) {
                if (p[i] != '\n') {
                        if (t->n_line + 1 >= sizeof(t->line))
                                return -EBADMSG;
                        t->line[t->n_line++] = p[i];
                        continue;
                }
                t->line[t->n_line] = '\0';
                t->n_line = 0;
                if (parse_size(t, t->line) < 0)
                        return -EBADMSG;
        }
        return 0;
}

void exec_terminal_free(ExecTerminal *t) {
        if (!t)
                return;
        sd_event_source_disable_unref(t->listen_source);
        sd_event_source_disable_unref(t->conn_source);
        safe_close(t->listen_fd);
        safe_close(t->conn_fd);
        safe_close(t->master);
        if (t->path)
                (void) unlink(t->path);
        if (t->dir)
                (void) rmdir(t->dir);
        free(t->path);
        free(t->dir);
        free(t);
}
