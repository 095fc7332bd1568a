/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "pod-paths.h"

static char *format(const char *fmt, ...) _printf_(1, 2);
static char *format(const char *fmt, ...) {
        char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

char *pod_log_dir(const char *log_dir, const char *namespace, const char *name, const char *uid) {
        return format("%s/pods/%s_%s_%s", log_dir, namespace, name, uid);
}

char *pod_container_log_dir(const char *pod_log_dir, const char *container) {
        return format("%s/%s", pod_log_dir, container);
}

char *pod_container_log(const char *pod_log_dir, const char *container, unsigned restart) {
        return format("%s/%s/%u.log", pod_log_dir, container, restart);
}

char *pod_container_logs_pattern(const char *pod_log_dir, const char *container) {
        return format("%s/%s/*.log", pod_log_dir, container);
}

char *pod_container_log_links_dir(const char *log_dir) {
        return format("%s/containers", log_dir);
}

char *pod_container_log_link(const char *log_dir, const char *namespace, const char *name, const char *container,
                             const char *id) {
        _cleanup_free_ char *dir = pod_container_log_links_dir(log_dir);

        return dir ? format("%s/%s_%s_%s-%s.log", dir, name, namespace, container, id) : NULL;
}

char *pod_dirs(const char *dir) {
        return format("%s/pods", dir);
}

char *pod_run_dir(const char *run_dir, const char *uid) {
        return format("%s/pods/%s", run_dir, uid);
}

char *pod_state_dir(const char *state_dir, const char *uid) {
        return format("%s/pods/%s", state_dir, uid);
}

char *pod_volumes_dir(const char *pod_state_dir) {
        return format("%s/volumes", pod_state_dir);
}

char *pod_volume_dir(const char *pod_state_dir, const char *volume) {
        return format("%s/volumes/%s", pod_state_dir, volume);
}

char *pod_sandbox_dir(const char *run_dir, const char *uid) {
        return format("%s/pods/%s/ns", run_dir, uid);
}

char *pod_sandbox_netns(const char *sandbox_dir) {
        return format("%s/net", sandbox_dir);
}

char *pod_file(const char *dir, const char *name) {
        return format("%s/%s", dir, name);
}

char *pod_netns_file(const char *run_dir, const char *uid) {
        _cleanup_free_ char *dir = pod_run_dir(run_dir, uid);

        return dir ? pod_file(dir, POD_NETNS_FILE) : NULL;
}

char *pod_container_runs(const char *pod_run_dir, const char *container) {
        return format("%s/containers/%s", pod_run_dir, container);
}

char *pod_container_run_dir(const char *pod_run_dir, const char *container, unsigned restart) {
        return format("%s/containers/%s/%u", pod_run_dir, container, restart);
}

char *pod_container_exit_file(const char *run_dir, const char *uid, const char *container, unsigned restart) {
        _cleanup_free_ char *dir = pod_run_dir(run_dir, uid);
        _cleanup_free_ char *run = dir ? pod_container_run_dir(dir, container, restart) : NULL;

        return run ? pod_file(run, POD_RUN_EXIT_FILE) : NULL;
}

char *pod_container_id(const char *uid, const char *container, unsigned restart) {
        return format("%s-%s-%u", uid, container, restart);
}

int pod_container_newest_run(const char *pod_run_dir, const char *container, unsigned *ret) {
        _cleanup_free_ char *runs = pod_container_runs(pod_run_dir, container);
        _cleanup_(closedirp) DIR *d = NULL;
        long newest = -1;

        if (!runs)
                return -ENOMEM;
        d = opendir(runs);
        if (!d)
                return -ENOENT;
        for (struct dirent *e; (e = readdir(d));) {
                char *end;
                long n = strtol(e->d_name, &end, 10);
                if (end != e->d_name && !*end && n > newest && n <= UINT_MAX)
                        newest = n;
        }
        if (newest < 0)
                return -ENOENT;
        *ret = (unsigned) newest;
        return 0;
}
