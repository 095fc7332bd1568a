/* SPDX-License-Identifier: Apache-2.0 */
/* Images made present per pull policy, off the event loop's back (see image-manager.h).
 *
 *   lookup ──present──> done
 *     │ missing (or Always)
 *   lease (pulls.lock) ──> registry_pull into blobs/ ──> child: image_store_import_pulled
 *                                                          (unpack, record) ──> done
 *
 * Steps that need a store lock only try it; when the store is busy they run again from
 * a timer. */
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "image-manager.h"
#include "image-ref.h"
#include "list.h"
#include "log.h"
#include "macro.h"

#define BUSY_RETRY_USEC (20 * 1000ULL)
#define MESSAGE_MAX 4096

typedef enum EnsureStep {
        STEP_LOOKUP,
        STEP_LEASE,
        STEP_PULL,   /* the registry client's */
        STEP_UNPACK, /* the child's */
} EnsureStep;

struct ImageManager {
        sd_event *event;
        ImageStore *store;
        RegistryClient *client;
        char *blobs_dir;
        ImageEnsure *ensures;
};

struct ImageEnsure {
        ImageManager *manager;
        ImageEnsure *prev, *next;
        char *reference; /* normalised (as given, when it is not a reference) */
        char *invalid;   /* why it is not */
        ImagePullPolicy policy;
        const AuthFile *credentials;
        ImageEnsureCallbacks cb;
        void *userdata;

        EnsureStep step;
        sd_event_source *later; /* runs the step from the loop: at once, or when the store may be free */
        int lease;
        RegistryPull *pull;
        RegistryPullResult pulled; /* its strings ours */
        bool have_pulled;
        pid_t pid;
        int pidfd, message_fd;
        sd_event_source *child;
};

/* --- policies ------------------------------------------------------------------------- */

static const char *const policy_names[] = {
        [IMAGE_PULL_IF_NOT_PRESENT] = "IfNotPresent",
        [IMAGE_PULL_ALWAYS] = "Always",
        [IMAGE_PULL_NEVER] = "Never",
};

int image_pull_policy_from_string(const char *s, ImagePullPolicy *ret) {
        for (size_t i = 0; i < ELEMENTSOF(policy_names); i++)
                if (s && streq(s, policy_names[i])) {
                        *ret = (ImagePullPolicy) i;
                        return 0;
                }
        return -EINVAL;
}

const char *image_pull_policy_to_string(ImagePullPolicy policy) {
        return (size_t) policy < ELEMENTSOF(policy_names) ? policy_names[policy] : "?";
}

ImagePullPolicy image_pull_policy_default(const char *reference) {
        _cleanup_(image_ref_freep) ImageRef *ref = NULL;

        if (image_ref_parse(reference, &ref, NULL) < 0)
                return IMAGE_PULL_IF_NOT_PRESENT;
        return ref->tag && streq(ref->tag, "latest") ? IMAGE_PULL_ALWAYS : IMAGE_PULL_IF_NOT_PRESENT;
}

/* --- an ensure ------------------------------------------------------------------------ */

static void pulled_done(RegistryPullResult *r) {
        free((char *) r->reference);
        free((char *) r->digest);
        free((char *) r->index_media_type);
        free((char *) r->manifest_digest);
        free((char *) r->manifest_media_type);
        free((char *) r->config_digest);
        *r = (RegistryPullResult) {};
}

static char *strdup_or_null(const char *s, bool *oom) {
        char *copy = s ? strdup(s) : NULL;

        if (s && !copy)
                *oom = true;
        return copy;
}

static int pulled_copy(const RegistryPullResult *from, RegistryPullResult *to) {
        bool oom = false;

        *to = *from;
        to->reference = strdup_or_null(from->reference, &oom);
        to->digest = strdup_or_null(from->digest, &oom);
        to->index_media_type = strdup_or_null(from->index_media_type, &oom);
        to->manifest_digest = strdup_or_null(from->manifest_digest, &oom);
        to->manifest_media_type = strdup_or_null(from->manifest_media_type, &oom);
        to->config_digest = strdup_or_null(from->config_digest, &oom);
        if (oom) {
                pulled_done(to);
                return -ENOMEM;
        }
        return 0;
}

/* The child, when one runs: killed and reaped (a moment: it is unpacking). */
static void stop_child(ImageEnsure *e) {
        siginfo_t info = {};

        e->child = sd_event_source_disable_unref(e->child);
        if (e->pidfd >= 0) {
                (void) syscall(SYS_pidfd_send_signal, e->pidfd, SIGKILL, NULL, 0);
                (void) waitid((idtype_t) P_PIDFD, (id_t) e->pidfd, &info, WEXITED);
        }
        e->pidfd = safe_close(e->pidfd);
        e->message_fd = safe_close(e->message_fd);
}

static void ensure_free(ImageEnsure *e) {
        ImageManager *m = e->manager;

        LIST_REMOVE(m->ensures, e);
        e->later = sd_event_source_disable_unref(e->later);
        if (e->pull)
                registry_pull_cancel(TAKE_PTR(e->pull));
        stop_child(e);
        e->lease = safe_close(e->lease);
        pulled_done(&e->pulled);
        free(e->reference);
        free(e->invalid);
        free(e);
}

void image_ensure_cancel(ImageEnsure *e) {
        if (e)
                ensure_free(e);
}

static void ensure_finish(ImageEnsure *e, int error, const char *message, const char *manifest_digest,
                          const char *config_digest) {
        ImageEnsureResult result = {
                .reference = e->reference,
                .manifest_digest = manifest_digest,
                .config_digest = config_digest,
                .pull = e->have_pulled ? &e->pulled : NULL,
        };

        if (error < 0)
                log_debug("ensure %s: %s", e->reference, message);
        e->cb.done(error, message, error < 0 ? NULL : &result, e->userdata);
        ensure_free(e);
}

/* The ensure ends with a message formatted as error_set() does ("%m" the error's text). */
#define ensure_fail(e, r, format, ...)                                         \
        ({                                                                     \
                _cleanup_free_ char *_message = NULL;                          \
                int _r = error_set(&_message, r, format, ##__VA_ARGS__);       \
                ensure_finish(e, _r, _message ?: "out of memory", NULL, NULL); \
        })

static int on_later(sd_event_source *s, void *userdata);
static int on_later_time(sd_event_source *s, uint64_t usec, void *userdata) {
        return on_later(s, userdata);
}

/* The current step again from the loop: at once, or after delay_usec. */
static int schedule(ImageEnsure *e, uint64_t delay_usec) {
        ImageManager *m = e->manager;

        e->later = sd_event_source_disable_unref(e->later);
        if (delay_usec == 0)
                return sd_event_add_defer(m->event, &e->later, on_later, e);
        return sd_event_add_time_relative(m->event, &e->later, CLOCK_MONOTONIC, delay_usec, 0, on_later_time, e);
}

static void on_pull_progress(const RegistryBlobProgress *blob, void *userdata) {
        ImageEnsure *e = userdata;

        if (e->cb.progress)
                e->cb.progress(blob, e->userdata);
}

static int on_child_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ImageEnsure *e = userdata;
        char message[MESSAGE_MAX + 1];
        siginfo_t info = {};
        ssize_t n;

        if (waitid((idtype_t) P_PIDFD, (id_t) e->pidfd, &info, WEXITED | WNOHANG) < 0) {
                int r = -errno;

                e->pidfd = safe_close(e->pidfd); /* nothing to kill or reap */
                ensure_fail(e, r, "%s: unpacking process: %m", e->reference);
                return 0;
        }
        if (info.si_pid == 0)
                return 0; /* not yet */
        e->child = sd_event_source_disable_unref(e->child);
        e->pidfd = safe_close(e->pidfd);
        n = read(e->message_fd, message, MESSAGE_MAX);
        message[n > 0 ? n : 0] = 0;
        e->message_fd = safe_close(e->message_fd);
        e->lease = safe_close(e->lease); /* recorded (or failed): the blobs are the store's again */
        if (info.si_code == CLD_EXITED && info.si_status == 0) {
                ensure_finish(e, 0, NULL, e->pulled.manifest_digest, e->pulled.config_digest);
                return 0;
        }
        if (info.si_code == CLD_EXITED)
                ensure_fail(e, -info.si_status, "%s", *message ? message : strerror(info.si_status));
        else
                ensure_fail(e, -EINTR, "%s: unpacking process killed by signal %d", e->reference, info.si_status);
        return 0;
}

/* The unpack and the record, in a child: slow work off the loop. Its error message
 * comes back through a pipe, its errno as the exit status. */
static int unpack_start(ImageEnsure *e) {
        ImageManager *m = e->manager;
        int pipefd[2], r;

        if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        e->pid = fork();
        if (e->pid < 0) {
                r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (e->pid == 0) {
                _cleanup_free_ char *error = NULL;

                close(pipefd[0]);
                r = image_store_import_pulled(m->store, e->pulled.manifest_digest, e->reference, &error);
                if (r < 0) {
                        const char *text = error ?: strerror(-r);
                        (void) !write(pipefd[1], text, MIN(strlen(text), (size_t) MESSAGE_MAX));
                }
                _exit(r < 0 ? MIN(-r, 255) : 0);
        }
        close(pipefd[1]);
        e->message_fd = pipefd[0];
        e->pidfd = (int) syscall(SYS_pidfd_open, e->pid, 0);
        if (e->pidfd < 0) {
                r = -errno;
                (void) kill(e->pid, SIGKILL);
                (void) waitpid(e->pid, NULL, 0);
                return r;
        }
        return sd_event_add_io(m->event, &e->child, e->pidfd, EPOLLIN, on_child_exit, e);
}

static bool already_recorded(ImageEnsure *e) {
        _cleanup_(image_info_freep) ImageInfo *image = NULL;

        /* by reference only: an ID prefix that happens to match is not the record */
        if (image_store_try_get(e->manager->store, e->reference, &image, NULL) < 0 || !image->references)
                return false;
        for (char **r = image->references; *r; r++)
                if (streq(*r, e->reference))
                        return streq(image->manifest_digest, e->pulled.manifest_digest);
        return false;
}

static void on_pulled(int error, const char *message, const RegistryPullResult *result, void *userdata) {
        ImageEnsure *e = userdata;
        int r;

        e->pull = NULL; /* the registry client frees it */
        if (error < 0) {
                ensure_fail(e, error, "%s", message);
                return;
        }
        r = pulled_copy(result, &e->pulled);
        if (r < 0) {
                ensure_fail(e, r, "%s: out of memory", e->reference);
                return;
        }
        e->have_pulled = true;
        /* the reference names that image already (a warm pull): nothing to unpack */
        if (already_recorded(e)) {
                e->lease = safe_close(e->lease);
                ensure_finish(e, 0, NULL, e->pulled.manifest_digest, e->pulled.config_digest);
                return;
        }
        e->step = STEP_UNPACK;
        r = unpack_start(e);
        if (r < 0)
                ensure_fail(e, r, "%s: start unpacking: %m", e->reference);
}

static void step_lookup(ImageEnsure *e) {
        _cleanup_(image_info_freep) ImageInfo *image = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = image_store_try_get(e->manager->store, e->reference, &image, &error);
        if (r == -EAGAIN) {
                r = schedule(e, BUSY_RETRY_USEC);
                if (r < 0)
                        ensure_fail(e, r, "%s: %m", e->reference);
                return;
        }
        if (r >= 0) {
                ensure_finish(e, 0, NULL, image->manifest_digest, image->config_digest);
                return;
        }
        if (r != -ENOENT) {
                ensure_fail(e, r, "%s", error ?: strerror(-r));
                return;
        }
        if (e->policy == IMAGE_PULL_NEVER) {
                ensure_fail(e, -ENOENT, "image %s: not present, and the pull policy is Never", e->reference);
                return;
        }
        e->step = STEP_LEASE;
        r = schedule(e, 0);
        if (r < 0)
                ensure_fail(e, r, "%s: %m", e->reference);
}

static void step_lease(ImageEnsure *e) {
        ImageManager *m = e->manager;
        _cleanup_free_ char *error = NULL;
        int r;

        r = image_store_pull_lease(m->store, &e->lease, &error);
        if (r == -EAGAIN) { /* a sweep is removing blobs */
                r = schedule(e, BUSY_RETRY_USEC);
                if (r < 0)
                        ensure_fail(e, r, "%s: %m", e->reference);
                return;
        }
        if (r < 0) {
                ensure_fail(e, r, "%s: %s", e->reference, error ?: strerror(-r));
                return;
        }
        e->step = STEP_PULL;
        r = registry_pull(m->client, e->reference, m->blobs_dir, e->credentials,
                          &(RegistryPullCallbacks) { .progress = on_pull_progress, .done = on_pulled }, e, &e->pull);
        if (r < 0)
                ensure_fail(e, r, "pull %s: %m", e->reference);
}

static int on_later(sd_event_source *s, void *userdata) {
        ImageEnsure *e = userdata;

        e->later = sd_event_source_disable_unref(e->later);
        if (e->invalid) {
                ensure_fail(e, -EINVAL, "%s %s: %s", e->policy == IMAGE_PULL_NEVER ? "image" : "pull", e->reference,
                            e->invalid);
                return 0;
        }
        switch (e->step) {
        case STEP_LOOKUP:
                step_lookup(e);
                break;
        case STEP_LEASE:
                step_lease(e);
                break;
        case STEP_PULL:
        case STEP_UNPACK:
                break; /* driven by their own callbacks */
        }
        return 0;
}

int image_manager_ensure(ImageManager *m, const char *reference, ImagePullPolicy policy, const AuthFile *credentials,
                         const ImageEnsureCallbacks *callbacks, void *userdata, ImageEnsure **ret) {
        _cleanup_free_ char *error = NULL;
        ImageEnsure *e = calloc(1, sizeof(ImageEnsure));
        int r;

        if (!e)
                return -ENOMEM;
        *e = (ImageEnsure) {
                .manager = m,
                .policy = policy,
                .credentials = credentials,
                .cb = *callbacks,
                .userdata = userdata,
                .step = policy == IMAGE_PULL_ALWAYS ? STEP_LEASE : STEP_LOOKUP,
                .lease = -EBADF,
                .pidfd = -EBADF,
                .message_fd = -EBADF,
        };
        LIST_PREPEND(m->ensures, e);
        /* a bad reference fails from the loop, as everything else does */
        r = image_ref_normalize(reference, &e->reference, &error);
        if (r < 0 && r != -ENOMEM) {
                e->reference = strdup(reference);
                e->invalid = error ? TAKE_PTR(error) : strdup(strerror(-r));
                r = e->reference && e->invalid ? 0 : -ENOMEM;
        }
        if (r >= 0)
                r = schedule(e, 0);
        if (r < 0) {
                ensure_free(e);
                return r;
        }
        if (ret)
                *ret = e;
        return 0;
}

/* --- the manager ---------------------------------------------------------------------- */

int image_manager_new(sd_event *event, ImageStore *store, const RegistryOptions *options, ImageManager **ret) {
        _cleanup_(image_manager_freep) ImageManager *m = calloc(1, sizeof(ImageManager));
        int r;

        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->store = store;
        m->blobs_dir = image_store_blobs_dir(store);
        if (!m->blobs_dir)
                return -ENOMEM;
        r = registry_client_new(event, options, &m->client);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

void image_manager_free(ImageManager *m) {
        if (!m)
                return;
        while (m->ensures)
                ensure_free(m->ensures);
        registry_client_free(m->client);
        free(m->blobs_dir);
        sd_event_unref(m->event);
        free(m);
}
