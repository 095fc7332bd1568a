/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <json-c/json.h>
#include <openssl/err.h>
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
#include "exec-terminal.h"
#include "json-util.h"
#include "kubelet-exec.h"
#include "log.h"
#include "macro.h"
#include "spdy.h"

#define STREAM_PROTOCOL "v4.channel.k8s.io"
#define STREAMS_TIMEOUT_USEC (30ULL * 1000 * 1000) /* kubelet's streamCreationTimeout */
#define CLOSE_TIMEOUT_USEC (10ULL * 1000 * 1000)
#define OUTPUT_HIGH (1u << 20) /* stop reading the command's output while this much is unsent */
#define PIPE_READ 65536

extern char **environ;

typedef enum StreamKind { STREAM_ERROR, STREAM_STDIN, STREAM_STDOUT, STREAM_STDERR, STREAM_RESIZE, N_STREAMS } StreamKind;

static const char *const stream_names[N_STREAMS] = { "error", "stdin", "stdout", "stderr", "resize" };

struct ExecSession {
        sd_event *event;
        char *runtime_path, *root, *run_dir, *container_id;
        char **command;
        size_t n_command;
        bool want[N_STREAMS], tty;
        uint32_t stream[N_STREAMS]; /* the client's stream ids; 0: not (yet) opened */

        /* The connection. */
        SSL *ssl;
        int fd;
        sd_event_source *io, *timer;
        SpdyZlib z;
        bool z_ready;
        char *in;
        size_t n_in, in_allocated;
        SpdyBuffer out;
        size_t written;
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
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->timer);
        sd_event_source_disable_unref(s->child);
        sd_event_source_disable_unref(s->stdin_source);
        sd_event_source_disable_unref(s->stdout_source);
        sd_event_source_disable_unref(s->stderr_source);
        sd_event_source_disable_unref(s->terminal_source);
        exec_terminal_free(s->terminal);
        if (s->ssl)
                SSL_free(s->ssl);
        safe_close(s->fd);
        safe_close(s->pidfd);
        safe_close(s->stdin_fd);
        safe_close(s->stdout_fd);
        safe_close(s->stderr_fd);
        safe_close(s->terminal_fd);
        if (s->z_ready)
                spdy_zlib_done(&s->z);
        for (size_t i = 0; i < s->n_command; i++)
                free(s->command[i]);
        free(s->command);
        free(s->in);
        free(s->out.data);
        free(s->stdin_pending);
        free(s->runtime_path);
        free(s->root);
        free(s->run_dir);
        free(s->container_id);
        sd_event_unref(s->event);
        free(s);
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

/* Whether a header of the request (case-insensitive name) has a value containing what. */
static bool header_has(const char *request, const char *name, const char *what) {
        size_t n = strlen(name);

        for (const char *line = strstr(request, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
                const char *h = line + 2, *end = strstr(h, "\r\n");
                if (end && strncasecmp(h, name, n) == 0 && h[n] == ':' &&
                    memmem(h + n + 1, (size_t) (end - h - n - 1), what, strlen(what)))
                        return true;
        }
        return false;
}

/* The container's runtime id, <uid>-<name>-<restart>, of its newest run if that is still
 * running: from the pod's log directory (its UID) and its run directory. */
static int find_container(const KubeletExecConfig *config, const char *namespace, const char *pod,
                          const char *container, char **ret) {
        _cleanup_free_ char *pattern = NULL;
        glob_t dirs = {};
        int r = -ENOENT;

        if (asprintf(&pattern, "%s/pods/%s_%s_*", config->log_dir, namespace, pod) < 0)
                return -ENOMEM;
        if (glob(pattern, GLOB_ONLYDIR, NULL, &dirs) != 0)
                return -ENOENT;
        for (size_t i = 0; i < dirs.gl_pathc && r == -ENOENT; i++) {
                const char *uid = dirs.gl_pathv[i] + strlen(pattern) - 1;
                _cleanup_free_ char *containers = NULL, *exit_file = NULL;
                DIR *d;
                struct dirent *e;
                long newest = -1;

                if (strchr(uid, '/') ||
                    asprintf(&containers, "%s/pods/%s/containers/%s", config->run_dir, uid, container) < 0)
                        continue;
                d = opendir(containers);
                if (!d)
                        continue;
                while ((e = readdir(d))) {
                        char *end;
                        long n = strtol(e->d_name, &end, 10);
                        if (end != e->d_name && !*end && n > newest)
                                newest = n;
                }
                closedir(d);
                if (newest < 0)
                        continue;
                if (asprintf(&exit_file, "%s/%ld/exit.json", containers, newest) < 0)
                        r = -ENOMEM;
                else if (access(exit_file, F_OK) >= 0)
                        r = -ESRCH;
                else if (asprintf(ret, "%s-%s-%ld", uid, container, newest) < 0)
                        r = -ENOMEM;
                else
                        r = 0;
        }
        globfree(&dirs);
        return r;
}

int kubelet_exec_prepare(const KubeletExecConfig *config, const char *request, ExecSession **ret, char **ret_message) {
        char namespace[256], pod[256], container[256], target[4096];
        const char *query;
        ExecSession *s;
        int r;

        *ret_message = NULL;
        if (sscanf(request, "%*s %4095s", target) != 1 ||
            sscanf(target, "/exec/%255[^/]/%255[^/]/%255[^/?]", namespace, pod, container) != 3 ||
            strstr(container, "..") || strstr(pod, "..") || strstr(namespace, ".."))
                return (*ret_message = strdup("expected /exec/<namespace>/<pod>/<container>\n")) ? 400 : -ENOMEM;
        if (!header_has(request, "upgrade", "SPDY/3.1") && !header_has(request, "upgrade", "spdy/3.1"))
                return (*ret_message = strdup("unable to upgrade: missing upgrade headers in request\n")) ? 400 : -ENOMEM;
        if (!header_has(request, "x-stream-protocol-version", STREAM_PROTOCOL))
                return (*ret_message = strdup("unable to upgrade: unable to negotiate protocol: client supports no "
                                              "protocol the server does (" STREAM_PROTOCOL ")\n"))
                               ? 403
                               : -ENOMEM;
        s = calloc(1, sizeof(ExecSession));
        if (!s)
                return -ENOMEM;
        s->fd = s->pidfd = s->stdin_fd = s->stdout_fd = s->stderr_fd = s->terminal_fd = -EBADF;
        s->event = sd_event_ref(config->event);
        s->want[STREAM_ERROR] = true;
        query = strchr(target, '?');
        r = parse_query(s, query ? query + 1 : NULL);
        if (r >= 0 && s->n_command == 0) {
                exec_session_free(s);
                return (*ret_message = strdup("you must specify at least 1 command\n")) ? 400 : -ENOMEM;
        }
        if (r >= 0 && !s->want[STREAM_STDIN] && !s->want[STREAM_STDOUT] && !s->want[STREAM_STDERR]) {
                exec_session_free(s);
                return (*ret_message = strdup("you must specify at least 1 of stdin, stdout, stderr\n")) ? 400 : -ENOMEM;
        }
        if (s->tty) {
                s->want[STREAM_STDERR] = false; /* a terminal has one output, as kubelet has it */
                s->want[STREAM_RESIZE] = true;
        }
        if (r >= 0)
                r = find_container(config, namespace, pod, container, &s->container_id);
        if (r == -ENOENT || r == -ESRCH) {
                exec_session_free(s);
                if (asprintf(ret_message, r == -ENOENT ? "container not found (\"%s\")\n" : "container \"%s\" is not running\n",
                             container) < 0)
                        return -ENOMEM;
                return r == -ENOENT ? 404 : 400;
        }
        s->runtime_path = strdup(config->runtime_path);
        s->run_dir = strdup(config->run_dir);
        if (r >= 0 && (!s->runtime_path || !s->run_dir || asprintf(&s->root, "%s/runtime", config->run_dir) < 0))
                r = -ENOMEM;
        if (r < 0) {
                exec_session_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

/* --- the connection ----------------------------------------------------------------- */

static void session_check_done(ExecSession *s);

static void connection_close(ExecSession *s) {
        s->io = sd_event_source_disable_unref(s->io);
        s->timer = sd_event_source_disable_unref(s->timer);
        if (s->ssl) {
                SSL_free(s->ssl);
                s->ssl = NULL;
        }
        s->fd = safe_close(s->fd);
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
        if (!s->ssl && !s->child)
                exec_session_free(s);
}

static void output_throttle(ExecSession *s) {
        bool on = s->out.size - s->written < OUTPUT_HIGH;

        if (s->stdout_source)
                (void) sd_event_source_set_enabled(s->stdout_source, on ? SD_EVENT_ON : SD_EVENT_OFF);
        if (s->stderr_source)
                (void) sd_event_source_set_enabled(s->stderr_source, on ? SD_EVENT_ON : SD_EVENT_OFF);
        if (s->terminal_source)
                (void) sd_event_source_set_enabled(s->terminal_source, on ? SD_EVENT_ON : SD_EVENT_OFF);
}

/* Writes what is pending; false when the connection failed (and s may be gone). */
static bool flush(ExecSession *s) {
        while (s->written < s->out.size) {
                int r = SSL_write(s->ssl, s->out.data + s->written, (int) MIN(s->out.size - s->written, (size_t) INT_MAX));
                if (r <= 0) {
                        int error = SSL_get_error(s->ssl, r);
                        ERR_clear_error();
                        if (error != SSL_ERROR_WANT_WRITE && error != SSL_ERROR_WANT_READ) {
                                connection_close(s);
                                return false;
                        }
                        break;
                }
                s->written += (size_t) r;
        }
        if (s->written == s->out.size)
                s->out.size = s->written = 0;
        (void) sd_event_source_set_io_events(s->io, EPOLLIN | (s->written < s->out.size ? EPOLLOUT : 0));
        output_throttle(s);
        return true;
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
        r = spdy_append_data(&s->out, s->stream[STREAM_ERROR], SPDY_FLAG_FIN, text, strlen(text));
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

        if (!s->ssl || s->closing)
                return 0;
        for (StreamKind k = STREAM_STDOUT; r >= 0 && k <= STREAM_STDERR; k++)
                if (s->stream[k]) {
                        r = spdy_append_data(&s->out, s->stream[k], SPDY_FLAG_FIN, NULL, 0);
                        s->stream[k] = 0;
                }
        if (r >= 0 && s->stream[STREAM_ERROR])
                r = write_status(s);
        if (r < 0)
                return r;
        s->closing = true;
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
        if (s->ssl)
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
        if (stream && spdy_append_data(&s->out, stream, 0, buf, (size_t) n) < 0) {
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

static int watch_stdin(ExecSession *s) {
        int r;

        (void) fcntl(s->stdin_fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_io(s->event, &s->stdin_source, s->stdin_fd, EPOLLOUT, on_stdin, s);
        if (r >= 0)
                stdin_kick(s);
        return r;
}

/* The pty's master came from the runtime: the command's input and output from now on. */
static void on_terminal(ExecTerminal *t, int master, void *userdata) {
        ExecSession *s = userdata;
        int r = 0;

        s->terminal_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
        if (s->terminal_fd < 0 ||
            (s->stream[STREAM_STDIN] && (!s->stdin_eof || s->n_stdin > 0) &&
             (s->stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3)) < 0))
                r = -errno;
        if (r >= 0) {
                (void) fcntl(s->terminal_fd, F_SETFL, O_NONBLOCK);
                r = sd_event_add_io(s->event, &s->terminal_source, s->terminal_fd, EPOLLIN, on_output, s);
        }
        if (r >= 0 && s->stdin_fd >= 0)
                r = watch_stdin(s);
        if (r < 0) {
                log_error_errno(r, "kubelet API: exec in %s: its terminal: %m", s->container_id);
                s->terminal_source = sd_event_source_disable_unref(s->terminal_source);
                s->terminal_fd = safe_close(s->terminal_fd);
                stdin_done(s);
        }
}

static int spawn_command(ExecSession *s) {
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        sigset_t none;
        int in[2] = { -EBADF, -EBADF }, out[2] = { -EBADF, -EBADF }, err[2] = { -EBADF, -EBADF }, r;
        _cleanup_free_ char **argv = calloc(s->n_command + 9, sizeof(char *));
        size_t n = 0;

        if (!argv)
                return -ENOMEM;
        argv[n++] = s->runtime_path;
        argv[n++] = (char *) "--root";
        argv[n++] = s->root;
        argv[n++] = (char *) "exec";
        if (s->tty) {
                r = exec_terminal_new(s->event, s->run_dir, on_terminal, s, &s->terminal);
                if (r < 0)
                        return r;
                argv[n++] = (char *) "--tty";
                argv[n++] = (char *) "--console-socket";
                argv[n++] = (char *) exec_terminal_socket(s->terminal);
        }
        argv[n++] = s->container_id;
        for (size_t i = 0; i < s->n_command; i++)
                argv[n++] = s->command[i];
        if ((s->stream[STREAM_STDIN] && !s->tty && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
            pipe2(err, O_CLOEXEC) < 0) {
                r = -errno;
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
        if (r < 0)
                goto fail;
        safe_close(in[0]);
        safe_close(out[1]);
        safe_close(err[1]);
        s->stdin_fd = in[1];
        s->stdout_fd = out[0];
        s->stderr_fd = err[0];
        s->started = true;
        s->pidfd = (int) syscall(SYS_pidfd_open, s->pid, 0);
        if (s->pidfd < 0)
                return -errno;
        r = sd_event_add_io(s->event, &s->child, s->pidfd, EPOLLIN, on_child, s);
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->stdout_source, s->stdout_fd, EPOLLIN, on_output, s);
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->stderr_source, s->stderr_fd, EPOLLIN, on_output, s);
        if (r >= 0 && s->stdin_fd >= 0)
                r = watch_stdin(s);
        (void) fcntl(s->stdout_fd, F_SETFL, O_NONBLOCK);
        (void) fcntl(s->stderr_fd, F_SETFL, O_NONBLOCK);
        return r;
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

static int on_syn_stream(ExecSession *s, const SpdyFrame *f) {
        SpdyHeaders headers = {};
        const char *type;
        StreamKind k;
        int r = spdy_headers_decode(&s->z, f->payload, f->size, &headers);

        if (r < 0)
                return r;
        type = spdy_headers_get(&headers, "streamtype");
        for (k = 0; k < N_STREAMS; k++)
                if (type && streq(type, stream_names[k]))
                        break;
        spdy_headers_clear(&headers);
        if (k == N_STREAMS || s->stream[k] || s->started)
                return spdy_append_rst_stream(&s->out, f->stream_id, 3 /* REFUSED_STREAM */);
        s->stream[k] = f->stream_id;
        r = spdy_append_syn_reply(&s->out, &s->z, f->stream_id, 0, NULL, 0);
        if (r >= 0 && (f->flags & SPDY_FLAG_FIN) && k == STREAM_STDIN)
                s->stdin_eof = true;
        if (r >= 0 && all_streams_open(s)) {
                s->timer = sd_event_source_disable_unref(s->timer);
                r = spawn_command(s);
                if (r < 0) {
                        log_error_errno(r, "kubelet API: exec in %s: %m", s->container_id);
                        s->exited = true;
                        s->exit_code = 126;
                        s->stdout_fd = safe_close(s->stdout_fd);
                        s->stderr_fd = safe_close(s->stderr_fd);
                        r = session_finish(s);
                }
        }
        return r;
}

static int on_frame(ExecSession *s, const SpdyFrame *f) {
        SpdyHeaders ignored = {};
        int r;

        if (!f->control) {
                StreamKind k = kind_of(s, f->stream_id);
                if (k == STREAM_STDIN && !s->stdin_eof) {
                        r = buffer_append(&s->stdin_pending, &s->n_stdin, &s->stdin_allocated, f->payload, f->size, 64u << 20);
                        if (r < 0)
                                return r;
                        if (f->flags & SPDY_FLAG_FIN)
                                s->stdin_eof = true;
                        stdin_kick(s);
                } else if (k == STREAM_RESIZE && s->terminal && exec_terminal_resize(s->terminal, f->payload, f->size) < 0)
                        log_warning("kubelet API: exec in %s: a resize message that is not a terminal size",
                                    s->container_id);
                return 0;
        }
        switch (f->type) {
        case SPDY_SYN_STREAM:
                return on_syn_stream(s, f);
        case SPDY_SYN_REPLY:
        case SPDY_HEADERS:
                /* Not expected from a client, but the header stream must stay in step. */
                r = spdy_headers_decode(&s->z, f->payload, f->size, &ignored);
                spdy_headers_clear(&ignored);
                return r;
        case SPDY_RST_STREAM:
                if (kind_of(s, f->stream_id) == STREAM_STDIN) {
                        s->stdin_eof = true;
                        stdin_kick(s);
                }
                return 0;
        case SPDY_PING:
                return spdy_append_ping(&s->out, f->value);
        case SPDY_GOAWAY:
                return -ECONNRESET;
        default:
                return 0; /* SETTINGS, WINDOW_UPDATE: spdystream keeps no flow control either */
        }
}

static int on_streams_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        ExecSession *s = userdata;

        log_warning("kubelet API: exec in %s: the client did not open its streams in time", s->container_id);
        connection_close(s);
        return 0;
}

/* The whole frames received so far; false when the connection was closed (s may be gone). */
static bool process_input(ExecSession *s) {
        size_t at = 0;
        int r = 0;

        while (r >= 0 && !s->closing) {
                SpdyFrame f;
                ssize_t used = spdy_frame_parse((const uint8_t *) s->in + at, s->n_in - at, &f);
                if (used <= 0) {
                        r = (int) used;
                        break;
                }
                at += (size_t) used;
                r = on_frame(s, &f);
        }
        if (r < 0) {
                if (r != -ECONNRESET)
                        log_warning_errno(r, "kubelet API: exec in %s: bad SPDY frame: %m", s->container_id);
                connection_close(s);
                return false;
        }
        if (at < s->n_in)
                memmove(s->in, s->in + at, s->n_in - at);
        s->n_in -= at;
        return flush(s);
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ExecSession *s = userdata;
        char buf[16384];

        if (!process_input(s))
                return 0;
        for (;;) {
                int n = SSL_read(s->ssl, buf, sizeof(buf));

                if (n <= 0) {
                        int error = SSL_get_error(s->ssl, n);
                        ERR_clear_error();
                        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE)
                                break;
                        connection_close(s); /* the client is done, or gone */
                        return 0;
                }
                if (s->closing)
                        continue;
                if (buffer_append(&s->in, &s->n_in, &s->in_allocated, buf, (size_t) n, 2 * SPDY_FRAME_MAX) < 0) {
                        connection_close(s);
                        return 0;
                }
                if (!process_input(s))
                        return 0;
        }
        return 0;
}

int kubelet_exec_start(ExecSession *s, SSL *ssl, int fd, const void *leftover, size_t n) {
        static const char answer[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                                     "X-Stream-Protocol-Version: " STREAM_PROTOCOL "\r\n\r\n";
        int r;

        s->ssl = ssl;
        s->fd = fd;
        r = spdy_zlib_init(&s->z);
        s->z_ready = r >= 0;
        if (r >= 0)
                r = buffer_append(&s->out.data, &s->out.size, &s->out.allocated, answer, strlen(answer), SIZE_MAX / 2);
        if (r >= 0 && n > 0)
                r = buffer_append(&s->in, &s->n_in, &s->in_allocated, leftover, n, 2 * SPDY_FRAME_MAX);
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->io, fd, EPOLLIN | EPOLLOUT, on_io, s);
        if (r >= 0)
                r = sd_event_add_time_relative(s->event, &s->timer, CLOCK_MONOTONIC, STREAMS_TIMEOUT_USEC, 0,
                                               on_streams_timeout, s);
        if (r < 0) {
                exec_session_free(s);
                return r;
        }
        return 0;
}
