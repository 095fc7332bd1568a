/* SPDX-License-Identifier: Apache-2.0 */
/* `stevedore watch`: what this node sees of a resource, with the node's own credentials,
 * through the same list+watch the agent uses. One line per event:
 *   ADDED default/kubia-7x2qp 1234
 *   SYNCED 3 */
#include <getopt.h>
#include <signal.h>

#include "json-util.h"
#include "kube-watch.h"
#include "log.h"
#include "verbs.h"


typedef struct Resource {
        const char *name;
        const char *api; /* path prefix of its API group and version */
        bool namespaced;
} Resource;

static const Resource resources[] = {
        { "pods", "/api/v1", true },
        { "services", "/api/v1", true },
        { "endpoints", "/api/v1", true },
        { "configmaps", "/api/v1", true },
        { "secrets", "/api/v1", true },
        { "events", "/api/v1", true },
        { "nodes", "/api/v1", false },
        { "namespaces", "/api/v1", false },
        { "endpointslices", "/apis/discovery.k8s.io/v1", true },
        { "leases", "/apis/coordination.k8s.io/v1", true },
};

typedef struct WatchContext {
        bool once;
        sd_event *event;
} WatchContext;

/* With --once a failure ends the command (the error was logged); a watch retries. */

static void on_event(KubeWatch *w, KubeEvent event, json_object *object, void *userdata) {
        WatchContext *ctx = userdata;
        char key[512];

        if (event == KUBE_FAILED) {
                if (ctx->once)
                        sd_event_exit(ctx->event, 1);
                return;
        }
        if (event == KUBE_SYNCED) {
                printf("SYNCED %d\n", json_object_object_length(kube_watch_objects(w)));
                if (ctx->once)
                        sd_event_exit(ctx->event, 0);
        } else
                printf("%s %s %s\n", kube_event_to_string(event), kube_object_key(object, key, sizeof(key)) ?: "?",
                       json_get_string(object, "metadata", "resourceVersion", NULL) ?: "-");
        fflush(stdout);
}

static void usage(FILE *f) {
        fprintf(f, "Usage: stevedore watch [--kubeconfig FILE] [--context NAME] [-n NAMESPACE]\n"
                   "                       [--field-selector SELECTOR] [--once] RESOURCE\n"
                   "Lists and then watches RESOURCE as this node's agent does, one line per event.\n"
                   "Resources:");
        for (size_t i = 0; i < ELEMENTSOF(resources); i++)
                fprintf(f, " %s", resources[i].name);
        fputc('\n', f);
}

int verb_watch(int argc, char **argv, const GlobalOptions *opts) {
        static const struct option options[] = {
                { "kubeconfig", required_argument, NULL, 'k' },
                { "context", required_argument, NULL, 'c' },
                { "namespace", required_argument, NULL, 'n' },
                { "field-selector", required_argument, NULL, 'f' },
                { "once", no_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *kubeconfig_path = getenv("KUBECONFIG"), *context = NULL, *namespace = NULL, *selector = NULL;
        _cleanup_(verb_kube_done) VerbKube kube = {};
        _cleanup_(kube_watch_freep) KubeWatch *watch = NULL;
        _cleanup_free_ char *path = NULL;
        const Resource *resource = NULL;
        WatchContext ctx = {};
        int c, r;

        while ((c = getopt_long(argc, argv, "n:h", options, NULL)) >= 0)
                switch (c) {
                case 'k':
                        kubeconfig_path = optarg;
                        break;
                case 'c':
                        context = optarg;
                        break;
                case 'n':
                        namespace = optarg;
                        break;
                case 'f':
                        selector = optarg;
                        break;
                case 'o':
                        ctx.once = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        return 2;
                }
        if (optind != argc - 1 || !kubeconfig_path) {
                if (!kubeconfig_path)
                        log_error("watch: no kubeconfig (--kubeconfig or $KUBECONFIG)");
                usage(stderr);
                return 2;
        }
        for (size_t i = 0; i < ELEMENTSOF(resources); i++)
                if (streq(argv[optind], resources[i].name))
                        resource = &resources[i];
        if (!resource) {
                log_error("watch: unknown resource '%s'", argv[optind]);
                return 2;
        }
        if (namespace && resource->namespaced)
                r = asprintf(&path, "%s/namespaces/%s/%s", resource->api, namespace, resource->name);
        else
                r = asprintf(&path, "%s/%s", resource->api, resource->name);
        if (r < 0)
                return log_oom(), 1;

        if (verb_kube_open("watch", kubeconfig_path, context, 0, 0, &kube) < 0)
                return 1;
        ctx.event = kube.event;
        r = kube_watch_new(kube.client, path, selector, on_event, &ctx, &watch);
        if (r < 0)
                return log_error_errno(r, "watch %s: %m", path), 1;

        r = sd_event_loop(kube.event);
        (void) opts;
        return r != 0 ? 1 : 0;
}
