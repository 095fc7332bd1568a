/* SPDX-License-Identifier: Apache-2.0 */
/* The stevedore command: one program, one verb per concern (see docs/architecture.md). */
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>

#include "config.h"
#include "kube-client.h"
#include "log.h"
#include "macro.h"
#include "verbs.h"

typedef struct Verb {
        const char *name;
        int (*run)(int argc, char **argv, const GlobalOptions *opts);
        const char *summary;
} Verb;

static int verb_version(int argc, char **argv, const GlobalOptions *opts);

static const Verb verbs[] = {
        { "agent", verb_agent, "register this node and keep its status current" },
        { "image", verb_image, "pull, import, list, inspect and remove container images" },
        { "network", verb_network, "set up pod networks on this node by hand" },
        { "proxy", verb_proxy, "program Services into nftables (kube-proxy's job)" },
        { "runtime", verb_runtime, "the OCI runtime, with runc's command line" },
        { "status", verb_status, "show this node as the agent reports it" },
        { "version", verb_version, "print the version" },
        { "watch", verb_watch, "list and watch a resource as this node sees it" },
};

static void usage(FILE *f) {
        fprintf(f,
                "Usage: stevedore [--root DIR] [--run-dir DIR] [--netns PATH] [--log-level LEVEL]\n"
                "                 VERB [ARGS…]\n"
                "\nVerbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(f, "\nOptions:\n"
                   "  --root DIR        persistent state (default " DEFAULT_ROOT_DIR ")\n"
                   "  --run-dir DIR     volatile state (default " DEFAULT_RUN_DIR ")\n"
                   "  --netns PATH      act in this network namespace as the node's\n"
                   "  --log-level LVL   error, warning, notice, info or debug\n");
}

static int verb_version(int argc, char **argv, const GlobalOptions *opts) {
        (void) argc, (void) argv, (void) opts;
        printf("stevedore version %s\n", STEVEDORE_VERSION);
        return 0;
}

int verb_event_new_signals_blocked(sd_event **ret) {
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        return sd_event_default(ret);
}

int verb_event_new(sd_event **ret) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        int r;

        r = verb_event_new_signals_blocked(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(event);
        return 0;
}

int verb_kube_open(const char *verb, const char *kubeconfig_path, const char *context, unsigned qps, unsigned burst,
                   VerbKube *ret) {
        _cleanup_(verb_kube_done) VerbKube k = {};
        _cleanup_free_ char *error = NULL;
        int r;

        r = kubeconfig_load(kubeconfig_path, context, &k.config, &error);
        if (r < 0) {
                log_error("kubeconfig %s", error ?: strerror(-r));
                return r;
        }
        r = verb_event_new(&k.event);
        if (r < 0)
                return log_error_errno(r, "%s: event loop: %m", verb);
        r = kube_client_new(k.event, k.config, &k.client);
        if (r < 0)
                return log_error_errno(r, "%s: API client for %s: %m", verb, k.config->server);
        kube_client_set_rate_limit(k.client, qps, burst);
        *ret = k;
        k = (VerbKube) {};
        return 0;
}

void verb_kube_done(VerbKube *k) {
        /* The client's sources are on the loop. */
        kube_client_free(k->client);
        sd_event_unref(k->event);
        kubeconfig_free(k->config);
}

/* --netns: act as if that network namespace were the host's. Tests run whole nodes in
 * namespaces they make; the mount namespace stays the host's, so the pods' namespace
 * mounts are visible to every process. */
static int enter_node_netns(const char *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return log_error_errno(errno, "--netns: open %s: %m", path);
        if (setns(fd, CLONE_NEWNET) < 0) {
                int r = log_error_errno(errno, "--netns: enter %s: %m", path);
                close(fd);
                return r;
        }
        close(fd);
        return 0;
}

static int set_log_level(const char *s, const char *source) {
        int level = log_parse_level(s);

        if (level < 0) {
                log_error("invalid log level '%s' in %s (want error, warning, notice, info or debug)",
                          s, source);
                return level;
        }
        log_set_max_level(level);
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "root", required_argument, NULL, 'r' },
                { "run-dir", required_argument, NULL, 'R' },
                { "log-level", required_argument, NULL, 'l' },
                { "netns", required_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'v' },
                {},
        };
        GlobalOptions opts = { .root_dir = DEFAULT_ROOT_DIR, .run_dir = DEFAULT_RUN_DIR };
        const char *env_level = getenv("STEVEDORE_LOG_LEVEL");
        int c;

        log_open();
        if (env_level && set_log_level(env_level, "$STEVEDORE_LOG_LEVEL") < 0)
                return 2;
        /* Called as stevedore-runc, it is the runtime itself, as harnesses expect. */
        if (streq(basename(argv[0]), "stevedore-runc"))
                return verb_runtime(argc, argv, &opts);

        /* "+" stops at the verb: what follows belongs to it. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'r':
                        opts.root_dir = optarg;
                        break;
                case 'R':
                        opts.run_dir = optarg;
                        break;
                case 'l':
                        if (set_log_level(optarg, "--log-level") < 0)
                                return 2;
                        break;
                case 'n':
                        if (enter_node_netns(optarg) < 0)
                                return 1;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'v':
                        return verb_version(0, NULL, &opts);
                default:
                        usage(stderr);
                        return 2;
                }

        if (optind >= argc) {
                usage(stderr);
                return 2;
        }

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[optind], verbs[i].name)) {
                        int verb_argc = argc - optind;
                        char **verb_argv = argv + optind;

                        optind = 0; /* the verb parses its own options afresh */
                        return verbs[i].run(verb_argc, verb_argv, &opts);
                }

        log_error("unknown verb '%s'; see 'stevedore --help'", argv[optind]);
        return 2;
}
