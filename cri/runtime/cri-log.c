/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cri-log.h"
#include "macro.h"

struct CriLog {
        char *path;
        int fd;
        uint64_t size, max_size;
        unsigned max_files;
        char pending[_CRI_STREAM_MAX][CRI_LOG_LINE_MAX];
        size_t n_pending[_CRI_STREAM_MAX];
};

static const char *const stream_names[_CRI_STREAM_MAX] = { "stdout", "stderr" };

static int open_log(CriLog *log) {
        struct stat st;

        log->fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (log->fd < 0 || fstat(log->fd, &st) < 0)
                return -errno;
        log->size = (uint64_t) st.st_size;
        return 0;
}

int cri_log_open(const char *path, uint64_t max_size, unsigned max_files, CriLog **ret) {
        _cleanup_free_ CriLog *log = calloc(1, sizeof(CriLog));
        int r;

        if (!log)
                return -ENOMEM;
        log->path = strdup(path);
        if (!log->path)
                return -ENOMEM;
        log->max_size = max_size ?: CRI_LOG_MAX_SIZE_DEFAULT;
        log->max_files = max_files ?: CRI_LOG_MAX_FILES_DEFAULT;
        r = open_log(log);
        if (r < 0) {
                free(log->path);
                return r;
        }
        *ret = TAKE_PTR(log);
        return 0;
}

void cri_log_close(CriLog *log) {
        for (int s = 0; s < _CRI_STREAM_MAX; s++)
                (void) cri_log_flush(log, (CriStream) s);
        if (log->fd >= 0)
                close(log->fd);
        free(log->path);
        free(log);
}

static int rotated_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Keeps the newest max_files - 1 rotated files (their names sort by time). */
static void remove_old_rotations(const CriLog *log) {
        _cleanup_free_ char *dir = strdup(log->path);
        char *slash = dir ? strrchr(dir, '/') : NULL, **names = NULL;
        const char *base;
        size_t n = 0, len;
        DIR *d;
        struct dirent *de;

        if (!slash)
                return;
        *slash = '\0';
        base = slash + 1;
        len = strlen(base);
        d = opendir(*dir ? dir : "/");
        if (!d)
                return;
        while ((de = readdir(d))) {
                char **p;
                if (strncmp(de->d_name, base, len) != 0 || de->d_name[len] != '.')
                        continue;
                p = realloc(names, (n + 1) * sizeof(char *));
                if (!p)
                        break;
                names = p;
                names[n] = strdup(de->d_name);
                if (names[n])
                        n++;
        }
        qsort(names, n, sizeof(char *), rotated_cmp);
        for (size_t i = 0; i < n; i++) {
                if (i + log->max_files - 1 < n)
                        (void) unlinkat(dirfd(d), names[i], 0);
                free(names[i]);
        }
        free(names);
        closedir(d);
}

static int rotate(CriLog *log) {
        _cleanup_free_ char *rotated = NULL;
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;

        strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", gmtime_r(&now, &tm));
        if (asprintf(&rotated, "%s.%s", log->path, stamp) < 0)
                return -ENOMEM;
        /* Two rotations in one second: the later one replaces the earlier. */
        if (rename(log->path, rotated) < 0)
                return -errno;
        close(log->fd);
        log->fd = -EBADF;
        remove_old_rotations(log);
        return open_log(log);
}

/* One log line: "<time> <stream> <F|P> <content>\n", in one write. */
static int write_line(CriLog *log, CriStream stream, bool partial, const char *content, size_t size) {
        char prefix[64];
        struct timespec ts;
        struct tm tm;
        size_t n;
        struct iovec iov[3];
        ssize_t written;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(prefix, sizeof(prefix), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(prefix + n, sizeof(prefix) - n, ".%09ldZ %s %c ", ts.tv_nsec, stream_names[stream],
                 partial ? 'P' : 'F');
        n = strlen(prefix);
        if (log->size > 0 && log->size + n + size + 1 > log->max_size) {
                int r = rotate(log);
                if (r < 0)
                        return r;
        }
        iov[0] = (struct iovec) { prefix, n };
        iov[1] = (struct iovec) { (void *) content, size };
        iov[2] = (struct iovec) { (void *) "\n", 1 };
        written = writev(log->fd, iov, 3);
        if (written < 0)
                return -errno;
        log->size += (uint64_t) written;
        return 0;
}

int cri_log_write(CriLog *log, CriStream stream, const char *data, size_t size) {
        char *pending = log->pending[stream];
        size_t *n_pending = &log->n_pending[stream];
        int r;

        while (size > 0) {
                const char *newline = memchr(data, '\n', size);
                size_t take = newline ? (size_t) (newline - data) : size;
                size_t room = CRI_LOG_LINE_MAX - *n_pending;

                if (take >= room) {
                        /* A line longer than the buffer: out in parts. */
                        memcpy(pending + *n_pending, data, room);
                        r = write_line(log, stream, true, pending, CRI_LOG_LINE_MAX);
                        *n_pending = 0;
                        data += room;
                        size -= room;
                        if (r < 0)
                                return r;
                        continue;
                }
                memcpy(pending + *n_pending, data, take);
                *n_pending += take;
                if (!newline)
                        return 0;
                r = write_line(log, stream, false, pending, *n_pending);
                *n_pending = 0;
                data += take + 1;
                size -= take + 1;
                if (r < 0)
                        return r;
        }
        return 0;
}

int cri_log_flush(CriLog *log, CriStream stream) {
        int r;

        if (log->n_pending[stream] == 0)
                return 0;
        /* Partial, as containerd writes it: what the container wrote had no newline, and
         * kubectl logs (and a termination message from the log) shows none. */
        r = write_line(log, stream, true, log->pending[stream], log->n_pending[stream]);
        log->n_pending[stream] = 0;
        return r;
}

void cri_log_to_text(const char *content, bool timestamps, FILE *out) {
        bool continuing = false;

        for (const char *line = content; line && *line;) {
                const char *end = strchr(line, '\n') ?: line + strlen(line);
                const char *stream = memchr(line, ' ', (size_t) (end - line)), *tag, *message;

                tag = stream ? memchr(stream + 1, ' ', (size_t) (end - stream - 1)) : NULL;
                message = tag && tag + 2 < end ? tag + 3 : NULL;
                if (message) {
                        if (timestamps && !continuing)
                                fprintf(out, "%.*s ", (int) (stream - line), line);
                        fwrite(message, 1, (size_t) (end - message), out);
                        continuing = tag[1] == 'P';
                        if (!continuing)
                                fputc('\n', out);
                }
                line = *end ? end + 1 : NULL;
        }
}

const char *cri_log_since(const char *content, const char *cutoff) {
        size_t n = strlen(cutoff);
        const char *line = content;

        while (*line && strncmp(line, cutoff, n) < 0) {
                const char *end = strchr(line, '\n');
                line = end ? end + 1 : line + strlen(line);
        }
        return line;
}
