/* SPDX-License-Identifier: Apache-2.0 */
/* `stevedore runtime` (and `stevedore-runc`): the embedded OCI runtime with runc's
 * command line, for people and for validation harnesses that call `$RUNTIME <verb>`. */
#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

#include "cloned-binary.h"
#include "container.h"
#include "fileio.h"
#include "log.h"
#include "monitor.h"
#include "sandbox.h"
#include "verbs.h"

typedef struct RuntimeOptions {
        const char *root;
        const char *log_file;
        bool log_json;
} RuntimeOptions;

/* An error to stderr, and to --log as runc writes it. */
static int report(const RuntimeOptions *o, int r, const char *error) {
        const char *message = error ?: strerror(-r);
        _cleanup_fclose_ FILE *f = o->log_file ? fopen(o->log_file, "ae") : NULL;

        log_error("%s", message);
        if (f && o->log_json) {
                json_object *line = json_object_new_object();
                time_t now = time(NULL);
                char stamp[64];

                strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
                json_object_object_add(line, "level", json_object_new_string("error"));
                json_object_object_add(line, "msg", json_object_new_string(message));
                json_object_object_add(line, "time", json_object_new_string(stamp));
                fprintf(f, "%s\n", json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN));
                json_object_put(line);
        } else if (f)
                fprintf(f, "level=error msg=\"%s\"\n", message);
        return 1;
}

static int pid_compare(const void *a, const void *b) {
        pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;

        return (x > y) - (x < y);
}

static int parse_signal(const char *s) {
        static const struct {
                const char *name;
                int number;
        } names[] = {
                { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 },
                { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "ALRM", SIGALRM },
                { "PIPE", SIGPIPE }, { "CHLD", SIGCHLD }, { "WINCH", SIGWINCH },
        };
        char *end;
        long n = strtol(s, &end, 10);

        if (*s && !*end)
                return n > 0 && n < _NSIG ? (int) n : -EINVAL;
        if (strncmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i].name))
                        return names[i].number;
        return -EINVAL;
}

/* create and run: [--bundle DIR] [--pid-file F] [--console-socket S] [--detach] ID */
static int create_or_run(const RuntimeOptions *o, int argc, char **argv, bool run) {
        static const struct option options[] = {
                { "bundle", required_argument, NULL, 'b' },
                { "pid-file", required_argument, NULL, 'p' },
                { "console-socket", required_argument, NULL, 'c' },
                { "detach", no_argument, NULL, 'd' },
                { "no-pivot", no_argument, NULL, 'P' },
                { "no-new-keyring", no_argument, NULL, 'K' },
                {},
        };
        _cleanup_free_ char *error = NULL;
        const char *bundle = ".", *pid_file = NULL, *console_socket = NULL;
        bool detach = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "b:d", options, NULL)) >= 0)
                switch (c) {
                case 'b':
                        bundle = optarg;
                        break;
                case 'p':
                        pid_file = optarg;
                        break;
                case 'c':
                        console_socket = optarg;
                        break;
                case 'd':
                        detach = true;
                        break;
                case 'P':
                case 'K':
                        break;
                default:
                        return 2;
                }
        if (optind + 1 != argc)
                return report(o, -EINVAL, "usage: create|run [--bundle DIR] [--pid-file FILE] ID");
        if (!run || detach) {
                r = container_create(o->root, argv[optind], bundle, pid_file, console_socket, &error);
                if (r >= 0 && run)
                        r = container_start(o->root, argv[optind], &error);
                return r < 0 ? report(o, r, error) : 0;
        }
        r = container_run(o->root, argv[optind], bundle, pid_file, console_socket, &error);
        return r < 0 ? report(o, r, error) : r;
}

/* exec [--process FILE] [--tty] [--console-socket S] [--detach] [--pid-file F] ID [COMMAND ARG…] */
static int exec_verb(const RuntimeOptions *o, int argc, char **argv) {
        static const struct option options[] = {
                { "process", required_argument, NULL, 'p' },
                { "pid-file", required_argument, NULL, 'P' },
                { "console-socket", required_argument, NULL, 'c' },
                { "detach", no_argument, NULL, 'd' },
                { "tty", no_argument, NULL, 't' },
                {},
        };
        _cleanup_free_ char *error = NULL;
        ContainerExecOptions e = {};
        int c, r;

        while ((c = getopt_long(argc, argv, "+p:dt", options, NULL)) >= 0)
                switch (c) {
                case 'p':
                        e.process_file = optarg;
                        break;
                case 'P':
                        e.pid_file = optarg;
                        break;
                case 'c':
                        e.console_socket = optarg;
                        break;
                case 'd':
                        e.detach = true;
                        break;
                case 't':
                        e.tty = true;
                        break;
                default:
                        return 2;
                }
        if (optind >= argc || (!e.process_file && optind + 1 >= argc))
                return report(o, -EINVAL, "usage: exec [--process FILE] [--tty] [--detach] ID [COMMAND ARG…]");
        e.args = argv + optind + 1;
        r = container_exec(o->root, argv[optind], &e, &error);
        return r < 0 ? report(o, r, error) : r;
}

/* "512", "-1"; with sizes also "64m", "1G", "100KiB" (1024-based, as runc's). */
static int parse_number(const char *s, bool size, int64_t *ret) {
        static const char units[] = "kmgtp";
        char *end;
        long long n;
        const char *u;

        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno || end == s)
                return -EINVAL;
        if (size && *end && n > 0 && (u = strchr(units, tolower((unsigned char) *end)))) {
                for (long i = 0; i <= u - units; i++) {
                        if (n > INT64_MAX / 1024)
                                return -ERANGE;
                        n *= 1024;
                }
                end++;
                if (streq(end, "b") || streq(end, "B") || streq(end, "ib") || streq(end, "iB"))
                        end += strlen(end);
        } else if (size && (streq(end, "b") || streq(end, "B")))
                end++;
        if (*end)
                return -EINVAL;
        *ret = n;
        return 0;
}

/* update [--resources FILE|-] [--memory N] … ID: a linux.resources object from the file
 * and the options (over it). */
static int update_verb(const RuntimeOptions *o, int argc, char **argv) {
        static const struct {
                const char *option, *object, *key;
                bool size, string;
        } fields[] = {
                { "memory", "memory", "limit", true, false },
                { "memory-reservation", "memory", "reservation", true, false },
                { "memory-swap", "memory", "swap", true, false },
                { "cpu-shares", "cpu", "shares", false, false },
                { "cpu-share", "cpu", "shares", false, false },
                { "cpu-quota", "cpu", "quota", false, false },
                { "cpu-period", "cpu", "period", false, false },
                { "cpu-burst", "cpu", "burst", false, false },
                { "cpu-rt-period", "cpu", "realtimePeriod", false, false },
                { "cpu-rt-runtime", "cpu", "realtimeRuntime", false, false },
                { "cpu-idle", "cpu", "idle", false, false },
                { "cpuset-cpus", "cpu", "cpus", false, true },
                { "cpuset-mems", "cpu", "mems", false, true },
                { "pids-limit", "pids", "limit", false, false },
                { "blkio-weight", "blockIO", "weight", false, false },
        };
        struct option options[ELEMENTSOF(fields) + 2] = { { "resources", required_argument, NULL, 'r' } };
        _cleanup_free_ char *error = NULL, *text = NULL;
        const char *file = NULL;
        json_object *resources, *flags = json_object_new_object();
        int c, index, r;

        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                options[i + 1] = (struct option) { fields[i].option, required_argument, NULL, 0 };
        if (!flags)
                return report(o, -ENOMEM, NULL);
        while ((c = getopt_long(argc, argv, "r:", options, &index)) >= 0) {
                json_object *object, *value;
                int64_t n;

                if (c == 'r') {
                        file = optarg;
                        continue;
                }
                if (c != 0) {
                        json_object_put(flags);
                        return 2;
                }
                index--;
                if (fields[index].string)
                        value = json_object_new_string(optarg);
                else if (parse_number(optarg, fields[index].size, &n) < 0) {
                        json_object_put(flags);
                        if (asprintf(&error, "update: --%s: '%s' is not a %s", fields[index].option, optarg,
                                     fields[index].size ? "size (64m, 1g)" : "number") < 0)
                                error = NULL;
                        return report(o, -EINVAL, error);
                } else
                        value = json_object_new_int64(n);
                if (!json_object_object_get_ex(flags, fields[index].object, &object)) {
                        object = json_object_new_object();
                        json_object_object_add(flags, fields[index].object, object);
                }
                json_object_object_add(object, fields[index].key, value);
        }
        if (optind + 1 != argc) {
                json_object_put(flags);
                return report(o, -EINVAL, "usage: update [--resources FILE|-] [--memory N] [--cpu-shares N] … ID");
        }
        if (file) {
                r = read_full_file(streq(file, "-") ? "/dev/stdin" : file, 4 << 20, &text, NULL);
                resources = r >= 0 ? json_tokener_parse(text) : NULL;
                if (!resources) {
                        json_object_put(flags);
                        if (asprintf(&error, "update: %s: %s", file, r < 0 ? strerror(-r) : "not valid JSON") < 0)
                                error = NULL;
                        return report(o, r < 0 ? r : -EINVAL, error);
                }
                json_object_object_foreach(flags, key, value) {
                        json_object *object;
                        if (json_object_object_get_ex(resources, key, &object) &&
                            json_object_is_type(object, json_type_object)) {
                                json_object_object_foreach(value, k, v)
                                        json_object_object_add(object, k, json_object_get(v));
                        } else
                                json_object_object_add(resources, key, json_object_get(value));
                }
                json_object_put(flags);
        } else
                resources = flags;
        r = container_update(o->root, argv[optind], resources, &error);
        json_object_put(resources);
        return r < 0 ? report(o, r, error) : 0;
}

/* ps [--format table|json] ID [PS OPTION…]: json is an array of pids; table is the
 * lines of `ps` (default -ef) whose PID is the container's, as runc prints them. */
static int ps_verb(const RuntimeOptions *o, int argc, char **argv) {
        static const struct option options[] = {
                { "format", required_argument, NULL, 'f' },
                {},
        };
        _cleanup_free_ char *error = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        _cleanup_strv_free_ char **ps_argv = NULL;
        _cleanup_fclose_ FILE *in = NULL;
        const char *format = "table";
        size_t n = 0, pid_column = SIZE_MAX;
        char *line = NULL;
        size_t line_size = 0;
        int c, r, pipe_fds[2], status;
        posix_spawn_file_actions_t actions;
        pid_t ps;

        while ((c = getopt_long(argc, argv, "+f:", options, NULL)) >= 0)
                switch (c) {
                case 'f':
                        format = optarg;
                        break;
                default:
                        return 2;
                }
        if (optind >= argc || (!streq(format, "table") && !streq(format, "json")))
                return report(o, -EINVAL, "usage: ps [--format table|json] ID [PS OPTION…]");
        r = container_pids(o->root, argv[optind], &pids, &n, &error);
        if (r < 0)
                return report(o, r, error);
        if (streq(format, "json")) {
                printf("[");
                for (size_t i = 0; i < n; i++)
                        printf("%s%d", i ? "," : "", pids[i]);
                printf("]\n");
                return 0;
        }
        ps_argv = calloc((size_t) (argc - optind) + 2, sizeof(char *));
        if (!ps_argv || !(ps_argv[0] = strdup("ps")) ||
            !(ps_argv[1] = strdup(optind + 1 < argc ? argv[optind + 1] : "-ef")))
                return report(o, -ENOMEM, NULL);
        for (int i = optind + 2; i < argc; i++)
                if (!(ps_argv[i - optind] = strdup(argv[i])))
                        return report(o, -ENOMEM, NULL);
        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return report(o, -errno, "ps: pipe");
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
        r = posix_spawnp(&ps, "ps", &actions, NULL, ps_argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        close(pipe_fds[1]);
        if (r != 0) {
                close(pipe_fds[0]);
                return report(o, -r, "ps: run ps");
        }
        in = fdopen(pipe_fds[0], "r");
        for (bool header = true; in && getline(&line, &line_size, in) > 0; header = false) {
                char *copy = strdup(line), *tok, *save = NULL;
                size_t column = 0;
                bool ours = header;

                for (tok = copy ? strtok_r(copy, " \t\n", &save) : NULL; tok;
                     tok = strtok_r(NULL, " \t\n", &save), column++)
                        if (header && streq(tok, "PID"))
                                pid_column = column;
                        else if (!header && column == pid_column) {
                                pid_t pid = (pid_t) atoi(tok);
                                ours = bsearch(&pid, pids, n, sizeof(pid_t), pid_compare);
                        }
                free(copy);
                if (ours)
                        fputs(line, stdout);
        }
        free(line);
        (void) waitpid(ps, &status, 0);
        if (pid_column == SIZE_MAX)
                return report(o, -EINVAL, "ps: no PID column in the output of ps");
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/* monitor --bundle DIR --log FILE --exit-file FILE [--log-max-size BYTES]
 *         [--log-max-files N] [--ready-fd FD] ID: runs the container as its monitor,
 * returning once it has exited (monitor.h). */
static int monitor_verb(const RuntimeOptions *o, int argc, char **argv) {
        static const struct option options[] = {
                { "bundle", required_argument, NULL, 'b' },
                { "log", required_argument, NULL, 'l' },
                { "exit-file", required_argument, NULL, 'e' },
                { "log-max-size", required_argument, NULL, 's' },
                { "log-max-files", required_argument, NULL, 'n' },
                { "ready-fd", required_argument, NULL, 'r' },
                {},
        };
        _cleanup_free_ char *error = NULL;
        MonitorOptions m = { .state_root = o->root, .bundle = ".", .ready_fd = -1 };
        int c, r;

        while ((c = getopt_long(argc, argv, "b:", options, NULL)) >= 0)
                switch (c) {
                case 'b':
                        m.bundle = optarg;
                        break;
                case 'l':
                        m.log_path = optarg;
                        break;
                case 'e':
                        m.exit_file = optarg;
                        break;
                case 's':
                        m.log_max_size = strtoull(optarg, NULL, 10);
                        break;
                case 'n':
                        m.log_max_files = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'r':
                        m.ready_fd = atoi(optarg);
                        break;
                default:
                        return 2;
                }
        if (optind + 1 != argc || !m.log_path || !m.exit_file)
                return report(o, -EINVAL, "usage: monitor [--bundle DIR] --log FILE --exit-file FILE [--ready-fd FD] ID");
        m.id = argv[optind];
        r = monitor_run(&m, &error);
        return r < 0 ? report(o, r, error) : 0;
}

/* sandbox create [--hostname NAME] DIR | sandbox delete DIR: a pod's shared namespaces,
 * for containers to join by path (linux.namespaces[].path = DIR/net, DIR/ipc, DIR/uts). */
static int sandbox_verb(const RuntimeOptions *o, int argc, char **argv) {
        static const struct option options[] = {
                { "hostname", required_argument, NULL, 'H' },
                {},
        };
        _cleanup_free_ char *error = NULL;
        const char *hostname = NULL;
        bool create;
        int c, r;

        if (argc < 2 || !(streq(argv[1], "create") || streq(argv[1], "delete")))
                return report(o, -EINVAL, "usage: sandbox create [--hostname NAME] DIR | sandbox delete DIR");
        create = streq(argv[1], "create");
        argc--;
        argv++;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'H':
                        hostname = optarg;
                        break;
                default:
                        return 2;
                }
        if (optind + 1 != argc)
                return report(o, -EINVAL, "usage: sandbox create [--hostname NAME] DIR | sandbox delete DIR");
        r = create ? sandbox_create(argv[optind], hostname, &error) : sandbox_remove(argv[optind], &error);
        return r < 0 ? report(o, r, error) : 0;
}

int verb_runtime(int argc, char **argv, const GlobalOptions *opts) {
        static const struct option options[] = {
                { "root", required_argument, NULL, 'r' },
                { "log", required_argument, NULL, 'l' },
                { "log-format", required_argument, NULL, 'f' },
                { "systemd-cgroup", no_argument, NULL, 's' },
                { "debug", no_argument, NULL, 'D' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ char *default_root = NULL, *error = NULL;
        RuntimeOptions o = {};
        const char *verb, *id;
        int c, r;

        default_root = container_state_root(opts->run_dir);
        if (!default_root)
                return log_oom(), 1;
        o.root = default_root;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'r':
                        o.root = optarg;
                        break;
                case 'l':
                        o.log_file = optarg;
                        break;
                case 'f':
                        o.log_json = streq(optarg, "json");
                        break;
                case 's':
                case 'D':
                        break;
                case 'h':
                        printf("Usage: stevedore runtime [--root DIR] [--log FILE] [--log-format text|json] VERB …\n"
                               "  create [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] ID\n"
                               "                                               set up a container, its process waiting\n"
                               "  start ID                                     let its process run\n"
                               "  run [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] [--detach] ID\n"
                               "  state ID                                     runtime-spec state as JSON\n"
                               "  exec [--process FILE] [--tty] [--console-socket SOCKET] [--detach] ID [COMMAND ARG…]\n"
                               "  kill ID [SIGNAL]                             default SIGTERM\n"
                               "  delete [--force] ID\n"
                               "  list\n"
                               "  update [--resources FILE|-] [--memory N] [--memory-swap N] [--memory-reservation N]\n"
                               "         [--cpu-shares N] [--cpu-quota N] [--cpu-period N] [--cpu-rt-period N]\n"
                               "         [--cpu-rt-runtime N] [--cpuset-cpus LIST] [--cpuset-mems LIST]\n"
                               "         [--pids-limit N] [--blkio-weight N] ID\n"
                               "                      apply a linux.resources object (FILE, - for stdin) and\n"
                               "                      the options (sizes as 64m, 1g) to the container's cgroup\n"
                               "  ps [--format table|json] ID [PS OPTION…]   its processes (ps -ef lines, or pids)\n"
                               "  pause ID / resume ID                       freeze / thaw its processes\n"
                               "  monitor [--bundle DIR] --log FILE --exit-file FILE [--ready-fd FD] ID\n"
                               "                                               run it, its output to a CRI log\n"
                               "  sandbox create [--hostname NAME] DIR         a pod's net, ipc and uts namespaces\n"
                               "  sandbox delete DIR                           as DIR/net, DIR/ipc, DIR/uts\n");
                        return 0;
                default:
                        return 2;
                }
        if (optind >= argc)
                return report(&o, -EINVAL, "runtime: a verb is required; see --help");
        verb = argv[optind];
        argc -= optind;
        argv += optind;
        optind = 0;

        /* The verbs that put a runtime process into a container run from a sealed copy. */
        if (streq(verb, "create") || streq(verb, "run") || streq(verb, "exec") || streq(verb, "monitor")) {
                r = cloned_binary_ensure();
                if (r < 0)
                        return report(&o, r, "runtime: re-execute from a sealed copy of the program");
        }
        if (streq(verb, "create") || streq(verb, "run"))
                return create_or_run(&o, argc, argv, streq(verb, "run"));
        if (streq(verb, "exec"))
                return exec_verb(&o, argc, argv);
        if (streq(verb, "sandbox"))
                return sandbox_verb(&o, argc, argv);
        if (streq(verb, "update"))
                return update_verb(&o, argc, argv);
        if (streq(verb, "ps"))
                return ps_verb(&o, argc, argv);
        if (streq(verb, "monitor"))
                return monitor_verb(&o, argc, argv);
        if (streq(verb, "list")) {
                _cleanup_strv_free_ char **ids = NULL;
                r = container_list(o.root, &ids);
                if (r < 0)
                        return report(&o, r, NULL);
                printf("%-24s %-8s %-10s %s\n", "ID", "PID", "STATUS", "BUNDLE");
                for (char **i = ids; *i; i++) {
                        json_object *state = NULL, *v;
                        if (container_state(o.root, *i, &state, NULL) < 0)
                                continue;
                        printf("%-24s %-8d %-10s %s\n", *i,
                               json_object_object_get_ex(state, "pid", &v) ? json_object_get_int(v) : 0,
                               json_object_object_get_ex(state, "status", &v) ? json_object_get_string(v) : "",
                               json_object_object_get_ex(state, "bundle", &v) ? json_object_get_string(v) : "");
                        json_object_put(state);
                }
                return 0;
        }

        /* The rest take the id first; delete takes --force before it. */
        bool force = false;
        int first = 1;
        for (; first < argc && argv[first][0] == '-'; first++)
                if (streq(argv[first], "--force") || streq(argv[first], "-f"))
                        force = true;
                else if (!streq(argv[first], "--all") && !streq(argv[first], "-a"))
                        return report(&o, -EINVAL, "runtime: unknown option");
        if (first >= argc)
                return report(&o, -EINVAL, "runtime: a container id is required");
        id = argv[first];

        if (streq(verb, "start"))
                r = container_start(o.root, id, &error);
        else if (streq(verb, "state")) {
                json_object *state = NULL;
                r = container_state(o.root, id, &state, &error);
                if (r >= 0) {
                        printf("%s\n", json_object_to_json_string_ext(state, JSON_C_TO_STRING_PRETTY));
                        json_object_put(state);
                }
        } else if (streq(verb, "kill")) {
                int signal = first + 1 < argc ? parse_signal(argv[first + 1]) : SIGTERM;
                if (signal < 0)
                        return report(&o, signal, "kill: not a signal");
                r = container_kill(o.root, id, signal, &error);
        } else if (streq(verb, "delete"))
                r = container_delete(o.root, id, force, &error);
        else if (streq(verb, "pause"))
                r = container_pause(o.root, id, &error);
        else if (streq(verb, "resume"))
                r = container_resume(o.root, id, &error);
        else
                return report(&o, -EOPNOTSUPP, "runtime: unknown or unsupported verb");
        return r < 0 ? report(&o, r, error) : 0;
}
