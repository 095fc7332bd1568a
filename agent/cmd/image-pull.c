/* SPDX-License-Identifier: Apache-2.0 */
/* `stevedore image pull`: images from registries into the image store (fetched into its
 * blobs, unpacked and recorded by the image manager, as the agent pulls), or into an OCI
 * image layout (--layout). On a terminal, one line per blob updated in place (bytes,
 * rate); otherwise one line per blob as it completes; then a summary per reference. */
#include <signal.h>
#include <time.h>

#include "image-pull.h"
#include "log.h"
#include "macro.h"
#include "image-manager.h"
#include "registry.h"
#include "verbs.h"

#define REDRAW_USEC (100 * 1000ULL)
#define MAX_HOSTS 64

typedef struct BlobLine {
        char digest[80];
        uint64_t size, done;
        RegistryBlobState state;
        uint64_t started, finished;
        bool reported;
} BlobLine;

typedef struct PullCommand PullCommand;

/* One reference being pulled (several are pulled at once, sharing their blobs). */
typedef struct PullState {
        PullCommand *cmd;
        const char *reference;
        BlobLine *lines;
        unsigned count;
} PullState;

struct PullCommand {
        sd_event *event;
        bool tty, quiet;
        PullState *pulls;
        size_t n_pulls, remaining;
        unsigned drawn, failed;
        uint64_t last_draw, started;
        const char *layout;
};

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static const char *format_bytes(char *buf, size_t n, double bytes) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        unsigned u = 0;

        while (bytes >= 1024 && u + 1 < ELEMENTSOF(units)) {
                bytes /= 1024;
                u++;
        }
        snprintf(buf, n, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
        return buf;
}

static void line_name(const BlobLine *l, unsigned index, unsigned count, char *buf, size_t n) {
        if (index == 0)
                snprintf(buf, n, "config      %.19s", l->digest);
        else
                snprintf(buf, n, "layer %2u/%-2u %.19s", index, count - 1, l->digest);
}

static void line_text(const BlobLine *l, unsigned index, unsigned count, uint64_t now, char *buf, size_t n) {
        char name[64], a[32], b[32], rate[32];
        double seconds = (double) ((l->finished ?: now) - l->started) / 1e6;

        line_name(l, index, count, name, sizeof(name));
        switch (l->state) {
        case REGISTRY_BLOB_PRESENT:
                snprintf(buf, n, "%s  already present", name);
                break;
        case REGISTRY_BLOB_WAITING:
                snprintf(buf, n, "%s  waiting for another pull", name);
                break;
        case REGISTRY_BLOB_DONE:
                snprintf(buf, n, "%s  %s in %.2f s (%s/s)", name, format_bytes(a, sizeof(a), (double) l->size),
                         seconds, format_bytes(rate, sizeof(rate), seconds > 0 ? (double) l->size / seconds : 0));
                break;
        case REGISTRY_BLOB_FETCHING:
        case REGISTRY_BLOB_RETRYING:
                snprintf(buf, n, "%s  %s / %s  %s/s%s", name, format_bytes(a, sizeof(a), (double) l->done),
                         format_bytes(b, sizeof(b), (double) l->size),
                         format_bytes(rate, sizeof(rate), seconds > 0 ? (double) l->done / seconds : 0),
                         l->state == REGISTRY_BLOB_RETRYING ? "  (connection lost, resuming)" : "");
                break;
        }
}

/* On a terminal: every blob's line, redrawn in place. */
static void redraw(PullCommand *cmd, bool force) {
        uint64_t now = now_usec();
        unsigned drawn = 0;
        char text[256];

        if (!force && now - cmd->last_draw < REDRAW_USEC)
                return;
        cmd->last_draw = now;
        if (cmd->drawn > 0)
                printf("\033[%uA", cmd->drawn);
        for (size_t k = 0; k < cmd->n_pulls; k++) {
                PullState *ps = cmd->pulls + k;

                if (cmd->n_pulls > 1) {
                        printf("\r\033[K%s\n", ps->reference);
                        drawn++;
                }
                for (unsigned i = 0; i < ps->count; i++) {
                        if (ps->lines[i].started == 0) /* not begun */
                                snprintf(text, sizeof(text), "%s", i == 0 ? "config" : "layer");
                        else
                                line_text(ps->lines + i, i, ps->count, now, text, sizeof(text));
                        printf("\r\033[K%s%s\n", cmd->n_pulls > 1 ? "  " : "", text);
                        drawn++;
                }
        }
        cmd->drawn = drawn;
        fflush(stdout);
}

static void on_progress(const RegistryBlobProgress *b, void *userdata) {
        PullState *ps = userdata;
        PullCommand *cmd = ps->cmd;
        BlobLine *l;
        bool changed;

        if (!ps->lines) {
                ps->lines = calloc(b->count, sizeof(BlobLine));
                if (!ps->lines)
                        return;
                ps->count = b->count;
        }
        if (b->index >= ps->count)
                return;
        l = ps->lines + b->index;
        changed = l->state != b->state || l->started == 0;
        if (l->started == 0) {
                l->started = now_usec();
                snprintf(l->digest, sizeof(l->digest), "%s", b->digest);
        }
        l->state = b->state;
        l->size = b->size;
        l->done = b->done;
        if ((b->state == REGISTRY_BLOB_DONE || b->state == REGISTRY_BLOB_PRESENT) && !l->finished)
                l->finished = now_usec();
        if (cmd->quiet)
                return;
        if (cmd->tty) {
                redraw(cmd, changed);
                return;
        }
        if ((b->state == REGISTRY_BLOB_DONE || b->state == REGISTRY_BLOB_PRESENT) && !l->reported) {
                char text[256];

                l->reported = true;
                line_text(l, b->index, ps->count, now_usec(), text, sizeof(text));
                if (cmd->n_pulls > 1)
                        printf("%s: %s\n", ps->reference, text);
                else
                        printf("%s\n", text);
                fflush(stdout);
        }
}

/* One reference finished: its summary line (or, --quiet, its manifest digest). */
static void finished(PullState *ps, int error, const char *message, const char *reference,
                     const char *manifest_digest, const RegistryPullResult *pull) {
        PullCommand *cmd = ps->cmd;
        char bytes[32];

        if (cmd->tty && !cmd->quiet)
                redraw(cmd, true);
        if (error < 0) {
                log_error("%s", message);
                cmd->failed++;
        } else if (cmd->quiet)
                printf("%s\n", manifest_digest);
        else if (!pull)
                printf("%s: present (manifest %s), not pulled\n", reference, manifest_digest);
        else
                printf("pulled %s (manifest %s): %u blob%s fetched (%s), %u present, %u request%s in %.3f s\n",
                       reference, manifest_digest, pull->blobs_fetched, pull->blobs_fetched == 1 ? "" : "s",
                       format_bytes(bytes, sizeof(bytes), (double) pull->bytes_fetched), pull->blobs_present,
                       pull->requests, pull->requests == 1 ? "" : "s", (double) (now_usec() - cmd->started) / 1e6);
        fflush(stdout);
        /* a terminal's lines start afresh below the summary */
        cmd->drawn = 0;
        if (--cmd->remaining == 0)
                sd_event_exit(cmd->event, cmd->failed > 0);
}

/* Into the store: pulled, unpacked and recorded by the image manager. */
static void on_ensure_done(int error, const char *message, const ImageEnsureResult *result, void *userdata) {
        finished(userdata, error, message, result ? result->reference : NULL, result ? result->manifest_digest : NULL,
                 result ? result->pull : NULL);
}

/* Into a layout: the blobs are there, index.json names the manifest. */
static void on_layout_done(int error, const char *message, const RegistryPullResult *result, void *userdata) {
        PullState *ps = userdata;
        int r;

        if (error >= 0) {
                r = registry_layout_add(ps->cmd->layout, result->reference, result->manifest_media_type,
                                        result->manifest_digest, result->manifest_size);
                if (r < 0) /* logged */
                        error = r, message = "pull: layout not written";
        }
        finished(ps, error, message, result ? result->reference : NULL, result ? result->manifest_digest : NULL,
                 result);
}

/* The settings of host in the list, added if new. */
static RegistryHostConfig *host_config(RegistryHostConfig *hosts, size_t *n, const char *host) {
        for (size_t i = 0; i < *n; i++)
                if (streq(hosts[i].host, host))
                        return hosts + i;
        if (*n >= MAX_HOSTS)
                return NULL;
        hosts[*n] = (RegistryHostConfig) { .host = host };
        return hosts + (*n)++;
}

static char *default_auth_file(void) {
        const char *e = getenv("REGISTRY_AUTH_FILE"), *home = getenv("HOME"), *dc = getenv("DOCKER_CONFIG");
        char *path = NULL;

        if (e)
                return strdup(e);
        if (dc && asprintf(&path, "%s/config.json", dc) >= 0 && access(path, R_OK) == 0)
                return path;
        free(path);
        path = NULL;
        if (home && asprintf(&path, "%s/.docker/config.json", home) >= 0 && access(path, R_OK) == 0)
                return path;
        free(path);
        return NULL;
}

/* --insecure-registry and --mirror as a RegistryHostConfig per host. */
static int host_configs(const ImagePullArgs *args, RegistryHostConfig *hosts, size_t *n_hosts,
                        const char *mirrors[MAX_HOSTS][MAX_HOSTS / 4 + 1]) {
        size_t n_mirrors[MAX_HOSTS] = {};
        RegistryHostConfig *h;

        for (char **i = args->insecure; i && *i; i++) {
                h = host_config(hosts, n_hosts, *i);
                if (!h)
                        return log_error_errno(E2BIG, "image pull: too many registries");
                h->plain_http = true;
        }
        for (char **m = args->mirrors; m && *m; m++) {
                char *eq = strchr(*m, '=');

                if (!eq || eq == *m || !eq[1])
                        return log_error_errno(EINVAL, "image pull: --mirror '%s': want HOST=MIRROR", *m);
                *eq = 0;
                h = host_config(hosts, n_hosts, *m);
                if (!h || n_mirrors[h - hosts] >= MAX_HOSTS / 4)
                        return log_error_errno(E2BIG, "image pull: too many mirrors");
                mirrors[h - hosts][n_mirrors[h - hosts]++] = eq + 1;
                h->mirrors = mirrors[h - hosts];
        }
        return 0;
}

int image_pull_command(const ImagePullArgs *args, char **references, int n) {
        RegistryHostConfig hosts[MAX_HOSTS] = {};
        const char *mirrors[MAX_HOSTS][MAX_HOSTS / 4 + 1] = {};
        size_t n_hosts = 0;
        _cleanup_free_ char *auth_path = NULL, *blobs = NULL, *error = NULL;
        _cleanup_(auth_file_freep) AuthFile *auth = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(registry_client_freep) RegistryClient *client = NULL;
        _cleanup_(image_store_freep) ImageStore *store = NULL;
        _cleanup_(image_manager_freep) ImageManager *manager = NULL;
        RegistryOptions options;
        PullCommand cmd = { .tty = isatty(STDOUT_FILENO), .quiet = args->quiet, .layout = args->layout };
        int r;

        if (n < 1) {
                log_error("usage: image pull [OPTIONS] REFERENCE…");
                return 2;
        }
        if (host_configs(args, hosts, &n_hosts, mirrors) < 0)
                return 2;
        if (args->auth_file && !(auth_path = strdup(args->auth_file)))
                return log_oom(), 1;
        if (!auth_path)
                auth_path = default_auth_file();
        if (auth_path) {
                r = auth_file_load(auth_path, &auth, &error);
                if (r < 0) {
                        log_error("image pull: auth file %s", error ?: strerror(-r));
                        return 1;
                }
        }
        if (cmd.layout && asprintf(&blobs, "%s/blobs", cmd.layout) < 0)
                return log_oom(), 1;

        r = verb_event_new(&event);
        if (r < 0)
                return log_error_errno(r, "image pull: set up the event loop: %m"), 1;
        cmd.event = event;
        cmd.started = now_usec();

        options = (RegistryOptions) {
                .hosts = hosts,
                .n_hosts = n_hosts,
                .ca_file = args->ca_file,
                .auth = auth,
                .platform = args->platform,
                .max_parallel = args->max_parallel,
        };
        if (cmd.layout)
                r = registry_client_new(event, &options, &client);
        else {
                r = image_store_open(args->store, NULL, &store, &error);
                if (r < 0)
                        return log_error("image pull: %s", error ?: strerror(-r)), 1;
                r = image_manager_new(event, store, &options, &manager);
        }
        if (r < 0)
                return log_error_errno(r, "image pull: registry client: %m"), 1;
        cmd.n_pulls = cmd.remaining = (size_t) n;
        cmd.pulls = calloc(cmd.n_pulls, sizeof(PullState));
        if (!cmd.pulls)
                return log_oom(), 1;
        for (size_t i = 0; i < cmd.n_pulls; i++) {
                PullState *ps = cmd.pulls + i;

                ps->cmd = &cmd;
                ps->reference = references[i];
                if (manager)
                        r = image_manager_ensure(manager, ps->reference, args->policy, NULL,
                                                 &(ImageEnsureCallbacks) { .progress = on_progress, .done = on_ensure_done },
                                                 ps, NULL);
                else
                        r = registry_pull(client, ps->reference, blobs, NULL,
                                          &(RegistryPullCallbacks) { .progress = on_progress, .done = on_layout_done }, ps,
                                          NULL);
                if (r < 0) { /* logged, naming the reference (or out of memory) */
                        cmd.failed++;
                        cmd.remaining--;
                }
        }
        r = cmd.remaining > 0 ? sd_event_loop(event) : 1;
        /* interrupted: the pulls still running are cancelled (an unpack killed) */
        image_manager_free(TAKE_PTR(manager));
        registry_client_free(TAKE_PTR(client));
        for (size_t i = 0; i < cmd.n_pulls; i++)
                free(cmd.pulls[i].lines);
        free(cmd.pulls);
        if (cmd.remaining > 0) {
                log_error("image pull: interrupted");
                return 1;
        }
        return r != 0 || cmd.failed > 0 ? 1 : 0;
}
