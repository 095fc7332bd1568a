/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <signal.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "probe.h"

#define USEC_PER_SEC UINT64_C(1000000)

typedef enum ProbeKind { PROBE_HTTP, PROBE_TCP, PROBE_EXEC } ProbeKind;

struct Probe {
        sd_event *event;
        ProbeKind kind;
        struct sockaddr_in address;
        char *path, *host_header;
        uint64_t period_usec, timeout_usec;
        unsigned failure_threshold, success_threshold, failures, successes;
        int result; /* -1: none yet, 0: failing, 1: succeeding */
        ProbeHandler handler;
        void *userdata;
        int fd;
        sd_event_source *timer, *io, *deadline;
        char reply[64];
        size_t n_reply;
        bool sent;
        char **exec_argv; /* exec probes: prefix + command */
        pid_t pid;
};

static int64_t field(json_object *o, const char *key, int64_t fallback) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) ? json_object_get_int64(v)
                                                                                               : fallback;
}

int handler_port(json_object *port, json_object *container) {
        json_object *ports = json_object_object_get(container, "ports");

        if (json_object_is_type(port, json_type_int))
                return json_object_get_int(port);
        for (size_t i = 0; port && ports && i < json_object_array_length(ports); i++) {
                json_object *p = json_object_array_get_idx(ports, i);
                if (streq(json_get_string(p, "name", NULL) ?: "", json_object_get_string(port)))
                        return json_object_get_int(json_object_object_get(p, "containerPort"));
        }
        return port ? atoi(json_object_get_string(port)) : 0;
}

static void schedule(Probe *p, uint64_t delay_usec);

static void attempt_done(Probe *p, bool success, const char *message) {
        bool flip;

        if (p->pid > 0) {
                siginfo_t info;
                (void) kill(p->pid, SIGKILL);
                (void) waitid(P_PID, (id_t) p->pid, &info, WEXITED);
                p->pid = 0;
        }
        p->io = sd_event_source_disable_unref(p->io);
        p->deadline = sd_event_source_disable_unref(p->deadline);
        p->fd = safe_close(p->fd);
        if (success) {
                p->failures = 0;
                flip = ++p->successes >= p->success_threshold && p->result != 1;
        } else {
                p->successes = 0;
                flip = ++p->failures >= p->failure_threshold && p->result != 0;
        }
        schedule(p, p->period_usec);
        /* Last: the handler may free the probe. */
        if (flip) {
                p->result = success;
                p->handler(p, success, success ? NULL : message, p->userdata);
        }
}

static void describe(Probe *p, const char *what, char *buf, size_t size) {
        char ip[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &p->address.sin_addr, ip, sizeof(ip));
        if (p->kind == PROBE_HTTP)
                snprintf(buf, size, "Get \"http://%s:%u%s\": %s", ip, ntohs(p->address.sin_port), p->path, what);
        else
                snprintf(buf, size, "dial tcp %s:%u: %s", ip, ntohs(p->address.sin_port), what);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Probe *p = userdata;
        char message[512];
        int error = 0;
        socklen_t len = sizeof(error);

        if (!p->sent) {
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 || error != 0) {
                        describe(p, strerror(error ?: errno), message, sizeof(message));
                        attempt_done(p, false, message);
                        return 0;
                }
                if (p->kind == PROBE_TCP) {
                        attempt_done(p, true, NULL);
                        return 0;
                }
                char request[1024];
                int n = snprintf(request, sizeof(request),
                                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\n"
                                 "Connection: close\r\n\r\n", p->path, p->host_header);
                if (send(fd, request, (size_t) n, MSG_NOSIGNAL) != n) {
                        describe(p, strerror(errno), message, sizeof(message));
                        attempt_done(p, false, message);
                        return 0;
                }
                p->sent = true;
                (void) sd_event_source_set_io_events(s, EPOLLIN);
                return 0;
        }
        ssize_t got = recv(fd, p->reply + p->n_reply, sizeof(p->reply) - 1 - p->n_reply, 0);
        if (got > 0)
                p->n_reply += (size_t) got;
        p->reply[p->n_reply] = '\0';
        if (got > 0 && p->n_reply < 13 && !strchr(p->reply, '\n'))
                return 0; /* the status line is not complete yet */
        int status = 0;
        if (sscanf(p->reply, "HTTP/%*s %d", &status) == 1 && status >= 200 && status < 400) {
                attempt_done(p, true, NULL);
                return 0;
        }
        if (status > 0)
                snprintf(message, sizeof(message), "HTTP probe failed with statuscode: %d", status);
        else
                describe(p, got < 0 ? strerror(errno) : "no HTTP answer", message, sizeof(message));
        attempt_done(p, false, message);
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata);

int handler_reap(int pidfd, char *message, size_t size) {
        siginfo_t info = {};

        if (waitid((idtype_t) P_PIDFD, (id_t) pidfd, &info, WEXITED) < 0)
                return -errno;
        if (info.si_code == CLD_EXITED && info.si_status == 0)
                return 1;
        snprintf(message, size, "command terminated with exit code %d",
                 info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status);
        return 0;
}

static int on_exec_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Probe *p = userdata;
        char message[128];
        int r = handler_reap(fd, message, sizeof(message));

        if (r < 0)
                return 0;
        p->pid = 0;
        attempt_done(p, r > 0, r > 0 ? NULL : message);
        return 0;
}

int handler_spawn(char *const *argv, pid_t *ret_pid) {
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        sigset_t unblocked;
        int r, fd;

        posix_spawn_file_actions_init(&actions);
        for (int i = 0; i < 3; i++)
                posix_spawn_file_actions_addopen(&actions, i, "/dev/null", i ? O_WRONLY : O_RDONLY, 0);
        /* The command runs in the container: not with the agent's blocked signals. */
        posix_spawnattr_init(&attr);
        sigemptyset(&unblocked);
        posix_spawnattr_setsigmask(&attr, &unblocked);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        r = -posix_spawn(ret_pid, argv[0], &actions, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        if (r < 0) {
                *ret_pid = 0;
                return r;
        }
        fd = (int) syscall(SYS_pidfd_open, *ret_pid, 0);
        if (fd < 0) {
                r = -errno;
                (void) kill(*ret_pid, SIGKILL);
                (void) waitpid(*ret_pid, NULL, 0);
                *ret_pid = 0;
                return r;
        }
        return fd;
}

/* An exec probe's command, watched through a pidfd. */
static int exec_attempt(Probe *p) {
        p->fd = handler_spawn(p->exec_argv, &p->pid);
        if (p->fd < 0)
                return p->fd;
        if (sd_event_add_io(p->event, &p->io, p->fd, EPOLLIN, on_exec_exit, p) < 0 ||
            sd_event_add_time_relative(p->event, &p->deadline, CLOCK_MONOTONIC, p->timeout_usec, 0, on_deadline, p) < 0)
                return -EIO;
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Probe *p = userdata;
        char message[512];

        if (p->kind == PROBE_EXEC) {
                attempt_done(p, false, "command timed out");
                return 0;
        }
        describe(p, "context deadline exceeded (Client.Timeout exceeded while awaiting headers)", message,
                 sizeof(message));
        attempt_done(p, false, message);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Probe *p = userdata;
        char message[512];

        p->timer = sd_event_source_disable_unref(p->timer);
        if (p->kind == PROBE_EXEC) {
                if (exec_attempt(p) < 0)
                        attempt_done(p, false, "the probe's command could not be run");
                return 0;
        }
        p->sent = false;
        p->n_reply = 0;
        p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (p->fd < 0 || (connect(p->fd, (struct sockaddr *) &p->address, sizeof(p->address)) < 0 && errno != EINPROGRESS)) {
                describe(p, strerror(errno), message, sizeof(message));
                attempt_done(p, false, message);
                return 0;
        }
        if (sd_event_add_io(p->event, &p->io, p->fd, EPOLLOUT, on_io, p) < 0 ||
            sd_event_add_time_relative(p->event, &p->deadline, CLOCK_MONOTONIC, p->timeout_usec, 0, on_deadline, p) < 0)
                attempt_done(p, false, "cannot watch the probe's connection");
        return 0;
}

static void schedule(Probe *p, uint64_t delay_usec) {
        /* To the millisecond: sd-event's default accuracy (250 ms) would make a pod Ready
         * up to a quarter second late. */
        if (sd_event_add_time_relative(p->event, &p->timer, CLOCK_MONOTONIC, delay_usec, 1000, on_timer, p) < 0)
                log_warning("probe: cannot schedule the next attempt");
}

char **handler_exec_argv(char *const *prefix, json_object *command) {
        size_t n_prefix = 0, n = command && json_object_is_type(command, json_type_array) ? json_object_array_length(command) : 0;
        char **argv;

        while (prefix && prefix[n_prefix])
                n_prefix++;
        if (n == 0 || n_prefix == 0)
                return NULL;
        argv = calloc(n_prefix + n + 1, sizeof(char *));
        for (size_t i = 0; argv && i < n_prefix + n; i++) {
                const char *a = i < n_prefix ? prefix[i] : json_object_get_string(json_object_array_get_idx(command, i - n_prefix));
                if (!(argv[i] = strdup(a ?: ""))) {
                        strv_free(argv);
                        return NULL;
                }
        }
        return argv;
}

int probe_new(sd_event *event, json_object *spec, json_object *container, const char *pod_ip,
              char *const *exec_prefix, ProbeHandler handler, void *userdata, Probe **ret) {
        json_object *http = json_object_object_get(spec, "httpGet"), *tcp = json_object_object_get(spec, "tcpSocket");
        Probe *p = calloc(1, sizeof(Probe));
        int port;

        if (!p)
                return -ENOMEM;
        *p = (Probe) {
                .event = event,
                .kind = http ? PROBE_HTTP : tcp ? PROBE_TCP : PROBE_EXEC,
                .period_usec = (uint64_t) MAX(field(spec, "periodSeconds", 10), 1) * USEC_PER_SEC,
                .timeout_usec = (uint64_t) MAX(field(spec, "timeoutSeconds", 1), 1) * USEC_PER_SEC,
                .failure_threshold = (unsigned) MAX(field(spec, "failureThreshold", 3), 1),
                .success_threshold = (unsigned) MAX(field(spec, "successThreshold", 1), 1),
                .result = -1,
                .handler = handler,
                .userdata = userdata,
                .fd = -EBADF,
                .address = { .sin_family = AF_INET },
        };
        if (p->kind == PROBE_EXEC) {
                p->exec_argv = handler_exec_argv(exec_prefix, json_object_object_get(json_object_object_get(spec, "exec"), "command"));
                if (!p->exec_argv) {
                        free(p);
                        return -EINVAL;
                }
        }
        port = handler_port(json_object_object_get(http ?: tcp, "port"), container);
        if (p->kind != PROBE_EXEC && (port <= 0 || port > 65535 || !pod_ip ||
                                      inet_pton(AF_INET, pod_ip, &p->address.sin_addr) != 1)) {
                free(p);
                return -EINVAL;
        }
        p->address.sin_port = htons((uint16_t) port);
        if (asprintf(&p->path, "%s", json_get_string(http, "path", NULL) ?: "/") < 0 ||
            asprintf(&p->host_header, "%s:%d", pod_ip ?: "", port) < 0) {
                probe_free(p);
                return -ENOMEM;
        }
        schedule(p, (uint64_t) MAX(field(spec, "initialDelaySeconds", 0), 0) * USEC_PER_SEC);
        *ret = p;
        return 0;
}

void probe_free(Probe *p) {
        if (!p)
                return;
        sd_event_source_disable_unref(p->timer);
        sd_event_source_disable_unref(p->io);
        sd_event_source_disable_unref(p->deadline);
        safe_close(p->fd);
        if (p->pid > 0) {
                siginfo_t info;
                (void) kill(p->pid, SIGKILL);
                (void) waitid(P_PID, (id_t) p->pid, &info, WEXITED);
        }
        strv_free(p->exec_argv);
        free(p->path);
        free(p->host_header);
        free(p);
}
