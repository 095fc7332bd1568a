/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buffer.h"
#include "container.h"
#include "error.h"
#include "exec-terminal.h"
#include "http-head.h"
#include "json-util.h"
#include "kubelet-exec.h"
#include "log.h"
#include "macro.h"
#include "pod-paths.h"
#include "spdy-conn.h"
#include "ws-conn.h"

#define STREAM_PROTOCOL "v4.channel.k8s.io"
#define STREAMS_TIMEOUT_USEC (30ULL * 1000 * 1000) /* kubelet's streamCreationTimeout */
#define CLOSE_TIMEOUT_USEC (10ULL * 1000 * 1000)
#define PIPE_READ 65536

extern char **environ;

typedef enum StreamKind { STREAM_ERROR, STREAM_STDIN, STREAM_STDOUT, STREAM_STDERR, STREAM_RESIZE, N_STREAMS } StreamKind;

static const char *const stream_names[N_STREAMS] = { "error", "stdin", "stdout", "stderr", "resize" };

/* Over a WebSocket each message starts with its channel: wsstream's numbering. */
static const uint8_t ws_channels[N_STREAMS] = {
        [STREAM_STDIN] = 0, [STREAM_STDOUT] = 1, [STREAM_STDERR] = 2, [STREAM_ERROR] = 3, [STREAM_RESIZE] = 4,
};
#define WS_CLOSE_CHANNEL 255 /* v5.channel.k8s.io: [255, channel] ends that channel */

/* The WebSocket subprotocols, kubelet's newest first. channel.k8s.io (v1) writes only a
 * failure's message on the error channel; v4 and v5 a metav1.Status. */
static const char *const ws_protocols[] = { "v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io", NULL };

struct ExecSession {
        sd_event *event;
        char *runtime_path, *root, *run_dir, *container_id;
        char **command;
        size_t n_command;
        bool want[N_STREAMS], tty;
        uint32_t stream[N_STREAMS]; /* the client's stream ids; 0: not (yet) opened */

        /* The connection: SPDY, or a WebSocket (ws_protocol set). */
        SpdyConn *conn;
        WsConn *ws;
        const char *ws_protocol;
        sd_event_source *timer;
        bool closing; /* all said: wait for the client to close */

        /* The command. With a tty, stdin and output are the pty's master (terminal_fd for
         * reading, stdin_fd a dup for writing); stdout and stderr carry the runtime's words. */
        pid_t pid;
        int pidfd, stdin_fd, stdout_fd, stderr_fd, terminal_fd;
        sd_event_source *child, *stdin_source, *stdout_source, *stderr_source, *terminal_source;
        ExecTerminal *terminal;
        char *stdin_pending;
        size_t n_stdin, stdin_allocated;
        bool stdin_eof, started, exited;
        int exit_code, exit_signal;
};

void exec_session_free(ExecSession *s) {
        if (!s)
                return;
        spdy_conn_free(s->conn);
        ws_conn_free(s->ws);
        sd_event_source_disable_unref(s->timer);
        sd_event_source_disable_unref(s->child);
        sd_event_source_disable_unref(s->stdin_source);
        sd_event_source_disable_unref(s->stdout_source);
        sd_event_source_disable_unref(s->stderr_source);
        sd_event_source_disable_unref(s->terminal_source);
        exec_terminal_free(s->terminal);
        safe_close(s->pidfd);
        safe_close(s->stdin_fd);
        safe_close(s->stdout_fd);
        safe_close(s->stderr_fd);
        safe_close(s->terminal_fd);
        for (size_t i = 0; i < s->n_command; i++)
                free(s->command[i]);
        free(s->command);
        free(s->stdin_pending);
        free(s->runtime_path);
        free(s->root);
        free(s->run_dir);
        free(s->container_id);
        sd_event_unref(s->event);
        free(s);
}

static void exec_session_freep(ExecSession **s) {
        exec_session_free(*s);
}

/* --- the request -------------------------------------------------------------------- */

static int unhex(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A query value as url.Values encodes it: %XX, and + for a space. */
static char *url_unescape(const char *s, size_t n) {
        char *out = malloc(n + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (s[i] == '%' && i + 2 < n && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
                        *o++ = (char) (unhex(s[i + 1]) << 4 | unhex(s[i + 2]));
                        i += 2;
                } else
                        *o++ = s[i] == '+' ? ' ' : s[i];
        *o = '\0';
        return out;
}

static bool flag_true(const char *v, size_t n) {
        return (n == 1 && v[0] == '1') || (n == 4 && strncmp(v, "true", 4) == 0);
}

static int parse_query(ExecSession *s, const char *query) {
        for (const char *p = query; p && *p;) {
                size_t len = strcspn(p, "& "), name_len = strcspn(p, "=& ");
                const char *value = p + name_len + (p[name_len] == '=');
                size_t value_len = name_len < len ? len - name_len - 1 : 0;

                if (name_len == 7 && strncmp(p, "command", 7) == 0) {
                        char **grown = realloc(s->command, (s->n_command + 2) * sizeof(char *));
                        if (!grown)
                                return -ENOMEM;
                        s->command = grown;
                        s->command[s->n_command] = url_unescape(value, value_len);
                        if (!s->command[s->n_command])
                                return -ENOMEM;
                        s->command[++s->n_command] = NULL;
                } else if (name_len == 5 && strncmp(p, "input", 5) == 0)
                        s->want[STREAM_STDIN] = flag_true(value, value_len);
                else if (name_len == 6 && strncmp(p, "output", 6) == 0)
                        s->want[STREAM_STDOUT] = flag_true(value, value_len);
                else if (name_len == 5 && strncmp(p, "error", 5) == 0)
                        s->want[STREAM_STDERR] = flag_true(value, value_len);
                else if (name_len == 3 && strncmp(p, "tty", 3) == 0)
                        s->tty = flag_true(value, value_len);
                p = p[len] == '&' ? p + len + 1 : NULL;
        }
        return 0;
}

/* The container's runtime id of its newest run if that is still running: -ENOENT when
 * the pod or the container has none, -ESRCH when it has ended. */
static int find_container(const KubeletExecConfig *config, const char *namespace, const char *pod,
                          const char *container, char **ret) {
        _cleanup_free_ char *run_dir = NULL, *exit_file = NULL;
        unsigned newest;
        PodInfo info;
        int r;

        r = pod_set_find(config->pods, namespace, pod, NULL, &info);
        if (r < 0)
                return r;
        run_dir = pod_run_dir(config->run_dir, info.uid);
        if (!run_dir)
                return -ENOMEM;
        r = pod_container_newest_run(run_dir, container, &newest);
        if (r < 0)
                return r;
        exit_file = pod_container_exit_file(config->run_dir, info.uid, container, newest);
        if (!exit_file)
                return -ENOMEM;
        if (access(exit_file, F_OK) >= 0)
                return -ESRCH;
        *ret = pod_container_id(info.uid, container, newest);
        return *ret ? 0 : -ENOMEM;
}

int kubelet_exec_prepare(const KubeletExecConfig *config, const char *request, ExecSession **ret, char **ret_message) {
        char namespace[256], pod[256], container[256], target[4096];
        _cleanup_(exec_session_freep) ExecSession *s = NULL;
        const char *query;
        int r;

        *ret_message = NULL;
        if (sscanf(request, "%*s %4095s", target) != 1 ||
            sscanf(target, "/exec/%255[^/]/%255[^/]/%255[^/?]", namespace, pod, container) != 3 ||
            strstr(container, "..") || strstr(pod, "..") || strstr(namespace, ".."))
                return (*ret_message = strdup("expected /exec/<namespace>/<pod>/<container>\n")) ? 400 : -ENOMEM;
        s = calloc(1, sizeof(ExecSession));
        if (!s)
                return -ENOMEM;
        r = http_header_has(request, "upgrade", "websocket") || http_header_has(request, "upgrade", "WebSocket")
                    ? ws_upgrade_check(request, ws_protocols, &s->ws_protocol, ret_message)
                    : spdy_upgrade_check(request, STREAM_PROTOCOL, ret_message);
        if (r != 0)
                return r;
        s->pidfd = s->stdin_fd = s->stdout_fd = s->stderr_fd = s->terminal_fd = -EBADF;
        s->event = sd_event_ref(config->event);
        s->want[STREAM_ERROR] = true;
        query = strchr(target, '?');
        r = parse_query(s, query ? query + 1 : NULL);
        if (r < 0)
                return r;
        if (s->n_command == 0)
                return (*ret_message = strdup("you must specify at least 1 command\n")) ? 400 : -ENOMEM;
        if (!s->want[STREAM_STDIN] && !s->want[STREAM_STDOUT] && !s->want[STREAM_STDERR])
                return (*ret_message = strdup("you must specify at least 1 of stdin, stdout, stderr\n")) ? 400 : -ENOMEM;
        if (s->tty) {
                s->want[STREAM_STDERR] = false; /* a terminal has one output, as kubelet has it */
                s->want[STREAM_RESIZE] = true;
        }
        r = find_container(config, namespace, pod, container, &s->container_id);
        if (r == -ENOENT || r == -ESRCH) {
                if (asprintf(ret_message, r == -ENOENT ? "container not found (\"%s\")\n" : "container \"%s\" is not running\n",
                             container) < 0)
                        return -ENOMEM;
                return r == -ENOENT ? 404 : 400;
        }
        if (r < 0)
                return r;
        s->runtime_path = strdup(config->runtime_path);
        s->run_dir = strdup(config->run_dir);
        s->root = container_state_root(config->run_dir);
        if (!s->runtime_path || !s->run_dir || !s->root)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

/* --- the connection ----------------------------------------------------------------- */

static void session_check_done(ExecSession *s);
static StreamKind kind_of(ExecSession *s, uint32_t id);

static void connection_close(ExecSession *s) {
        spdy_conn_free(s->conn);
        s->conn = NULL;
        ws_conn_free(s->ws);
        s->ws = NULL;
        s->timer = sd_event_source_disable_unref(s->timer);
        /* The command loses its terminal: no more input, output goes nowhere. */
        s->stdin_source = sd_event_source_disable_unref(s->stdin_source);
        s->stdin_fd = safe_close(s->stdin_fd);
        s->stdout_source = sd_event_source_disable_unref(s->stdout_source);
        s->stdout_fd = safe_close(s->stdout_fd);
        s->stderr_source = sd_event_source_disable_unref(s->stderr_source);
        s->stderr_fd = safe_close(s->stderr_fd);
        s->terminal_source = sd_event_source_disable_unref(s->terminal_source);
        s->terminal_fd = safe_close(s->terminal_fd);
        session_check_done(s);
}

/* Free once the connection is gone and the command reaped. */
static void session_check_done(ExecSession *s) {
        if (!s->conn && !s->ws && !s->child)
                exec_session_free(s);
}

static bool connected(ExecSession *s) {
        return s->conn || s->ws;
}

static void throttle(ExecSession *s, bool full) {
        if (s->stdout_source)
                (void) sd_event_source_set_enabled(s->stdout_source, full ? SD_EVENT_OFF : SD_EVENT_ON);
        if (s->stderr_source)
                (void) sd_event_source_set_enabled(s->stderr_source, full ? SD_EVENT_OFF : SD_EVENT_ON);
        if (s->terminal_source)
                (void) sd_event_source_set_enabled(s->terminal_source, full ? SD_EVENT_OFF : SD_EVENT_ON);
}

static void on_throttle(SpdyConn *c, bool full, void *userdata) {
        throttle(userdata, full);
}

static void on_ws_throttle(WsConn *c, bool full, void *userdata) {
        throttle(userdata, full);
}

/* Data for the client on stream k: a SPDY data frame, or a WebSocket message on k's
 * channel; fin ends the stream (SPDY only: v4 WebSockets have no way to say it). */
static int send_stream(ExecSession *s, StreamKind k, bool fin, const void *data, size_t size) {
        _cleanup_free_ uint8_t *message = NULL;

        if (s->conn)
                return spdy_conn_data(s->conn, s->stream[k], fin ? SPDY_FLAG_FIN : 0, data, size);
        if (fin && size == 0)
                return 0;
        message = malloc(size + 1);
        if (!message)
                return -ENOMEM;
        message[0] = ws_channels[k];
        if (size > 0)
                memcpy(message + 1, data, size);
        return ws_conn_send(s->ws, message, size + 1);
}

/* Writes what is pending; false when the connection failed (and s may be gone). */
static bool flush(ExecSession *s) {
        if ((s->conn ? spdy_conn_flush(s->conn) : ws_conn_flush(s->ws)) >= 0)
                return true;
        connection_close(s);
        return false;
}

static int write_status(ExecSession *s) {
        _cleanup_(json_object_putp) json_object *status = json_object_new_object();
        const char *text;
        int r;

        json_object_object_add(status, "metadata", json_object_new_object());
        if (s->exit_code == 0 && s->exit_signal == 0)
                json_object_object_add(status, "status", json_object_new_string("Success"));
        else {
                _cleanup_free_ char *message = NULL, *joined = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&joined, &size);
                json_object *details = json_object_new_object(), *causes = json_object_new_array(),
                            *cause = json_object_new_object();
                int code = s->exit_signal ? 128 + s->exit_signal : s->exit_code;
                char number[16];

                if (!f)
                        return -ENOMEM;
                for (size_t i = 0; i < s->n_command; i++)
                        fprintf(f, "%s%s", i ? " " : "", s->command[i]);
                fclose(f);
                if (asprintf(&message, "command terminated with non-zero exit code: error executing command [%s], exit code %d",
                             joined, code) < 0)
                        return -ENOMEM;
                snprintf(number, sizeof(number), "%d", code);
                json_object_object_add(status, "status", json_object_new_string("Failure"));
                json_object_object_add(status, "message", json_object_new_string(message));
                json_object_object_add(status, "reason", json_object_new_string("NonZeroExitCode"));
                json_object_object_add(cause, "reason", json_object_new_string("ExitCode"));
                json_object_object_add(cause, "message", json_object_new_string(number));
                json_object_array_add(causes, cause);
                json_object_object_add(details, "causes", causes);
                json_object_object_add(status, "details", details);
        }
        text = json_object_to_json_string_ext(status, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (s->ws_protocol && streq(s->ws_protocol, "channel.k8s.io"))
                /* v1: a failure's message alone, nothing on success. */
                text = json_get_string(status, "message", NULL);
        r = text ? send_stream(s, STREAM_ERROR, true, text, strlen(text)) : 0;
        s->stream[STREAM_ERROR] = 0;
        return r;
}

static int on_close_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        connection_close(userdata);
        return 0;
}

/* The command is over and its output sent: the status, then every stream of ours ends;
 * the client closes the connection when it has read them. */
static int session_finish(ExecSession *s) {
        int r = 0;

        if (!connected(s) || s->closing)
                return 0;
        for (StreamKind k = STREAM_STDOUT; r >= 0 && k <= STREAM_STDERR; k++)
                if (s->stream[k]) {
                        r = send_stream(s, k, true, NULL, 0);
                        s->stream[k] = 0;
                }
        if (r >= 0 && s->stream[STREAM_ERROR])
                r = write_status(s);
        if (r >= 0 && s->ws)
                r = ws_conn_close(s->ws);
        if (r < 0)
                return r;
        s->closing = true;
        if (s->conn)
                spdy_conn_ignore_input(s->conn);
        s->timer = sd_event_source_disable_unref(s->timer);
        return sd_event_add_time_relative(s->event, &s->timer, CLOCK_MONOTONIC, CLOSE_TIMEOUT_USEC, 0, on_close_timeout, s);
}

/* Once the command has exited and its output is read: the end, sent (s may be gone). */
static void check_finished(ExecSession *s) {
        if (!s->exited || s->stdout_fd >= 0 || s->stderr_fd >= 0 || s->terminal_fd >= 0)
                return;
        if (session_finish(s) < 0)
                connection_close(s);
        else
                (void) flush(s);
}

/* --- the command -------------------------------------------------------------------- */

static int on_child(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ExecSession *s = userdata;
        siginfo_t info = {};

        if (waitid((idtype_t) P_PIDFD, (id_t) fd, &info, WEXITED | WNOHANG) < 0 || info.si_pid == 0)
                return 0;
        s->child = sd_event_source_disable_unref(s->child);
        s->pidfd = safe_close(s->pidfd);
        s->exited = true;
        /* What the runtime sent before it exited is there to take. */
        if (s->terminal)
                exec_terminal_collect(s->terminal);
        if (info.si_code == CLD_EXITED)
                s->exit_code = info.si_status;
        else
                s->exit_signal = info.si_status;
        if (connected(s))
                check_finished(s); /* may free s */
        else
                session_check_done(s);
        return 0;
}

static int on_output(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ExecSession *s = userdata;
        bool is_stderr = source == s->stderr_source;
        /* A terminal has one output: the runtime's own complaints go there too. */
        uint32_t stream = s->stream[is_stderr && !s->stream[STREAM_STDERR] ? STREAM_STDOUT
                                                                           : is_stderr ? STREAM_STDERR : STREAM_STDOUT];
        char buf[PIPE_READ];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) { /* a pipe's end, or EIO: the terminal's last user is gone */
                if (is_stderr) {
                        s->stderr_source = sd_event_source_disable_unref(s->stderr_source);
                        s->stderr_fd = safe_close(s->stderr_fd);
                } else if (source == s->terminal_source) {
                        s->terminal_source = sd_event_source_disable_unref(s->terminal_source);
                        s->terminal_fd = safe_close(s->terminal_fd);
                } else {
                        s->stdout_source = sd_event_source_disable_unref(s->stdout_source);
                        s->stdout_fd = safe_close(s->stdout_fd);
                }
                check_finished(s); /* may free s */
                return 0;
        }
        if (stream && send_stream(s, kind_of(s, stream), false, buf, (size_t) n) < 0) {
                connection_close(s);
                return 0;
        }
        (void) flush(s);
        return 0;
}

static void stdin_done(ExecSession *s) {
        s->stdin_source = sd_event_source_disable_unref(s->stdin_source);
        s->stdin_fd = safe_close(s->stdin_fd);
}

/* Writes what the client sent for stdin; closes it after the stream's FIN. */
static int on_stdin(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ExecSession *s = userdata;

        while (s->n_stdin > 0) {
                ssize_t n = write(s->stdin_fd, s->stdin_pending, s->n_stdin);
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0) {
                        s->n_stdin = 0;
                        stdin_done(s);
                        return 0;
                }
                if ((size_t) n < s->n_stdin)
                        memmove(s->stdin_pending, s->stdin_pending + n, s->n_stdin - (size_t) n);
                s->n_stdin -= (size_t) n;
        }
        if (s->n_stdin == 0 && s->stdin_eof)
                stdin_done(s);
        else if (s->stdin_source)
                (void) sd_event_source_set_enabled(s->stdin_source, s->n_stdin > 0 ? SD_EVENT_ON : SD_EVENT_OFF);
        return 0;
}

static void stdin_kick(ExecSession *s) {
        if (s->started && s->stdin_fd >= 0)
                (void) on_stdin(s->stdin_source, s->stdin_fd, EPOLLOUT, s);
}

/* The command's output on fd (its stdout, stderr or terminal) goes to the client as it comes. */
static int watch_output(ExecSession *s, int fd, sd_event_source **ret_source) {
        (void) fcntl(fd, F_SETFL, O_NONBLOCK);
        return sd_event_add_io(s->event, ret_source, fd, EPOLLIN, on_output, s);
}

static int watch_stdin(ExecSession *s) {
        int r;

        (void) fcntl(s->stdin_fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_io(s->event, &s->stdin_source, s->stdin_fd, EPOLLOUT, on_stdin, s);
        if (r < 0)
                return r;
        stdin_kick(s);
        return 0;
}

/* The terminal's master becomes the command's output, and its input if the client
 * sends any. */
static int terminal_attach(ExecSession *s, int master, char **ret_error) {
        int r;

        s->terminal_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
        if (s->terminal_fd < 0)
                return error_set(ret_error, -errno, "its terminal for output: %m");
        if (s->stream[STREAM_STDIN] && (!s->stdin_eof || s->n_stdin > 0)) {
                s->stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
                if (s->stdin_fd < 0)
                        return error_set(ret_error, -errno, "its terminal for input: %m");
        }
        r = watch_output(s, s->terminal_fd, &s->terminal_source);
        if (r < 0)
                return error_set(ret_error, r, "watch its terminal: %m");
        if (s->stdin_fd >= 0) {
                r = watch_stdin(s);
                if (r < 0)
                        return error_set(ret_error, r, "watch its terminal's input: %m");
        }
        return 0;
}

/* The pty's master came from the runtime: the command's input and output from now on. */
static void on_terminal(ExecTerminal *t, int master, void *userdata) {
        ExecSession *s = userdata;
        _cleanup_free_ char *error = NULL;
        int r = terminal_attach(s, master, &error);

        if (r < 0) {
                log_error("kubelet API: exec in %s: %s", s->container_id, error ?: strerror(-r));
                s->terminal_source = sd_event_source_disable_unref(s->terminal_source);
                s->terminal_fd = safe_close(s->terminal_fd);
                stdin_done(s);
        }
}

static int spawn_command(ExecSession *s, char **ret_error) {
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        sigset_t none;
        int in[2] = { -EBADF, -EBADF }, out[2] = { -EBADF, -EBADF }, err[2] = { -EBADF, -EBADF }, r;
        _cleanup_free_ char **argv = calloc(s->n_command + 9, sizeof(char *));
        size_t n = 0;

        if (!argv)
                return error_set(ret_error, -ENOMEM, "%m");
        argv[n++] = s->runtime_path;
        argv[n++] = (char *) "--root";
        argv[n++] = s->root;
        argv[n++] = (char *) "exec";
        if (s->tty) {
                r = exec_terminal_new(s->event, s->run_dir, on_terminal, s, &s->terminal);
                if (r < 0)
                        return error_set(ret_error, r, "its terminal's console socket: %m");
                argv[n++] = (char *) "--tty";
                argv[n++] = (char *) "--console-socket";
                argv[n++] = (char *) exec_terminal_socket(s->terminal);
        }
        argv[n++] = s->container_id;
        for (size_t i = 0; i < s->n_command; i++)
                argv[n++] = s->command[i];
        if ((s->stream[STREAM_STDIN] && !s->tty && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
            pipe2(err, O_CLOEXEC) < 0) {
                r = error_set(ret_error, -errno, "pipes: %m");
                goto fail;
        }
        posix_spawn_file_actions_init(&actions);
        if (in[0] >= 0)
                posix_spawn_file_actions_adddup2(&actions, in[0], 0);
        else
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_adddup2(&actions, err[1], 2);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
        r = -posix_spawn(&s->pid, s->runtime_path, &actions, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        if (r < 0) {
                error_set(ret_error, r, "run %s: %m", s->runtime_path);
                goto fail;
        }
        safe_close(in[0]);
        safe_close(out[1]);
        safe_close(err[1]);
        s->stdin_fd = in[1];
        s->stdout_fd = out[0];
        s->stderr_fd = err[0];
        s->started = true;
        s->pidfd = (int) syscall(SYS_pidfd_open, s->pid, 0);
        if (s->pidfd < 0)
                return error_set(ret_error, -errno, "pidfd of %s: %m", s->runtime_path);
        r = sd_event_add_io(s->event, &s->child, s->pidfd, EPOLLIN, on_child, s);
        if (r < 0)
                return error_set(ret_error, r, "watch the command: %m");
        r = watch_output(s, s->stdout_fd, &s->stdout_source);
        if (r < 0)
                return error_set(ret_error, r, "watch its stdout: %m");
        r = watch_output(s, s->stderr_fd, &s->stderr_source);
        if (r < 0)
                return error_set(ret_error, r, "watch its stderr: %m");
        if (s->stdin_fd >= 0) {
                r = watch_stdin(s);
                if (r < 0)
                        return error_set(ret_error, r, "watch its stdin: %m");
        }
        return 0;
fail:
        safe_close(in[0]);
        safe_close(in[1]);
        safe_close(out[0]);
        safe_close(out[1]);
        safe_close(err[0]);
        safe_close(err[1]);
        return r;
}

/* --- the streams -------------------------------------------------------------------- */

static bool all_streams_open(ExecSession *s) {
        for (StreamKind k = 0; k < N_STREAMS; k++)
                if (s->want[k] && !s->stream[k])
                        return false;
        return true;
}

static StreamKind kind_of(ExecSession *s, uint32_t id) {
        if (id == 0)
                return N_STREAMS;
        for (StreamKind k = 0; k < N_STREAMS; k++)
                if (s->stream[k] == id)
                        return k;
        return N_STREAMS;
}

/* Every stream is there: the command runs. */
static int start_command(ExecSession *s) {
        _cleanup_free_ char *error = NULL;
        int r;

        s->timer = sd_event_source_disable_unref(s->timer);
        r = spawn_command(s, &error);
        if (r < 0) {
                log_error("kubelet API: exec in %s: %s", s->container_id, error ?: strerror(-r));
                s->exited = true;
                s->exit_code = 126;
                s->stdout_fd = safe_close(s->stdout_fd);
                s->stderr_fd = safe_close(s->stderr_fd);
                return session_finish(s);
        }
        return 0;
}

static int on_syn_stream(SpdyConn *c, const SpdyFrame *f, const SpdyHeaders *headers, void *userdata) {
        ExecSession *s = userdata;
        const char *type = spdy_headers_get(headers, "streamtype");
        StreamKind k;
        int r;

        for (k = 0; k < N_STREAMS; k++)
                if (type && streq(type, stream_names[k]))
                        break;
        if (k == N_STREAMS || s->stream[k] || s->started)
                return spdy_conn_reset(c, f->stream_id, 3 /* REFUSED_STREAM */);
        s->stream[k] = f->stream_id;
        r = spdy_conn_reply(c, f->stream_id);
        if (r < 0)
                return r;
        if ((f->flags & SPDY_FLAG_FIN) && k == STREAM_STDIN)
                s->stdin_eof = true;
        if (!all_streams_open(s))
                return 0;
        return start_command(s);
}

/* What the client sent on stream k: input, or a terminal size; fin ends the input. */
static int received(ExecSession *s, StreamKind k, const void *data, size_t size, bool fin) {
        int r;

        if (k == STREAM_RESIZE && s->terminal && exec_terminal_resize(s->terminal, data, size) < 0)
                log_warning("kubelet API: exec in %s: a resize message that is not a terminal size", s->container_id);
        if (k != STREAM_STDIN || s->stdin_eof)
                return 0;
        r = buffer_append(&s->stdin_pending, &s->n_stdin, &s->stdin_allocated, data, size, 64u << 20);
        if (r < 0)
                return r;
        if (fin)
                s->stdin_eof = true;
        stdin_kick(s);
        return 0;
}

static int on_data(SpdyConn *c, const SpdyFrame *f, void *userdata) {
        ExecSession *s = userdata;

        return received(s, kind_of(s, f->stream_id), f->payload, f->size, f->flags & SPDY_FLAG_FIN);
}

/* A WebSocket message: its first byte the channel; v5's [255, channel] closes one. */
static int on_ws_message(WsConn *c, const uint8_t *data, size_t size, void *userdata) {
        ExecSession *s = userdata;

        if (size == 0)
                return 0;
        if (data[0] == WS_CLOSE_CHANNEL)
                return size >= 2 && data[1] == ws_channels[STREAM_STDIN] ? received(s, STREAM_STDIN, NULL, 0, true) : 0;
        for (StreamKind k = 0; k < N_STREAMS; k++)
                if (ws_channels[k] == data[0] && s->stream[k])
                        return received(s, k, data + 1, size - 1, false);
        return 0;
}

static void on_ws_closed(WsConn *c, void *userdata) {
        connection_close(userdata);
}

static int on_rst_stream(SpdyConn *c, uint32_t stream_id, void *userdata) {
        ExecSession *s = userdata;

        if (kind_of(s, stream_id) == STREAM_STDIN) {
                s->stdin_eof = true;
                stdin_kick(s);
        }
        return 0;
}

static void on_closed(SpdyConn *c, void *userdata) {
        connection_close(userdata);
}

static int on_streams_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        ExecSession *s = userdata;

        log_warning("kubelet API: exec in %s: the client did not open its streams in time", s->container_id);
        connection_close(s);
        return 0;
}

/* Over a WebSocket the streams are the channels asked for: the command starts at once. */
static int ws_start(ExecSession *s, SSL *ssl, int fd, const char *request, const void *leftover, size_t n) {
        static const WsConnHandlers handlers = {
                .message = on_ws_message, .throttle = on_ws_throttle, .closed = on_ws_closed,
        };
        int r;

        r = ws_conn_new(s->event, ssl, fd, request, s->ws_protocol, leftover, n, &handlers, s, &s->ws);
        if (r < 0) {
                log_warning_errno(r, "kubelet API: exec in %s: the connection: %m", s->container_id);
                exec_session_free(s);
                return r;
        }
        for (StreamKind k = 0; k < N_STREAMS; k++)
                if (s->want[k])
                        s->stream[k] = (uint32_t) k + 1;
        r = start_command(s);
        if (r < 0 || !flush(s)) {
                if (r < 0)
                        connection_close(s);
                return r;
        }
        return 0;
}

int kubelet_exec_start(ExecSession *s, SSL *ssl, int fd, const char *request, const void *leftover, size_t n) {
        static const SpdyConnHandlers handlers = {
                .syn_stream = on_syn_stream, .data = on_data, .rst_stream = on_rst_stream, .throttle = on_throttle,
                .closed = on_closed,
        };
        int r;

        if (s->ws_protocol)
                return ws_start(s, ssl, fd, request, leftover, n);

        r = spdy_conn_new(s->event, ssl, fd, STREAM_PROTOCOL, leftover, n, &handlers, s, &s->conn, "exec in %s",
                          s->container_id);
        if (r < 0) {
                log_warning_errno(r, "kubelet API: exec in %s: the connection: %m", s->container_id);
                exec_session_free(s);
                return r;
        }
        r = sd_event_add_time_relative(s->event, &s->timer, CLOCK_MONOTONIC, STREAMS_TIMEOUT_USEC, 0,
                                       on_streams_timeout, s);
        if (r < 0) {
                log_warning_errno(r, "kubelet API: exec in %s: the streams' timer: %m", s->container_id);
                exec_session_free(s);
                return r;
        }
        return 0;
}
