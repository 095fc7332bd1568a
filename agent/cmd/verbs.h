/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <systemd/sd-event.h>

/* Declared here, defined in agent/kube/: stevedore-runc includes this header without it. */
typedef struct KubeConfig KubeConfig;
typedef struct KubeClient KubeClient;

/* Options every verb of the stevedore command shares. */
typedef struct GlobalOptions {
        const char *root_dir; /* persistent state, default /var/lib/stevedore */
        const char *run_dir;  /* volatile state, default /run/stevedore */
} GlobalOptions;

/* Each verb parses its own arguments (argv[0] is the verb) and returns an exit code. */
int verb_agent(int argc, char **argv, const GlobalOptions *opts);
int verb_image(int argc, char **argv, const GlobalOptions *opts);
int verb_network(int argc, char **argv, const GlobalOptions *opts);
int verb_watch(int argc, char **argv, const GlobalOptions *opts);
int verb_proxy(int argc, char **argv, const GlobalOptions *opts);
int verb_runtime(int argc, char **argv, const GlobalOptions *opts);
int verb_status(int argc, char **argv, const GlobalOptions *opts);

/* The default event loop for a verb that runs one, ended by SIGINT or SIGTERM (blocked,
 * then taken by the loop's signal sources). */
int verb_event_new(sd_event **ret);
/* The same loop with SIGINT and SIGTERM blocked but not taken: for a verb that adds its
 * own sources for them. */
int verb_event_new_signals_blocked(sd_event **ret);

/* What a verb that talks to the API server runs on: the kubeconfig, the verb's event loop
 * (verb_event_new()), and a client of the kubeconfig's server. */
typedef struct VerbKube {
        KubeConfig *config;
        sd_event *event;
        KubeClient *client;
} VerbKube;

/* Loads the kubeconfig at path (context NULL: its current-context), makes the loop and
 * the client, limited to qps requests a second with bursts of burst (0: the defaults).
 * Logs what failed, naming verb. */
int verb_kube_open(const char *verb, const char *kubeconfig_path, const char *context, unsigned qps, unsigned burst,
                   VerbKube *ret);
void verb_kube_done(VerbKube *k);
