/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "macro.h"

int read_full_file(const char *path, size_t max_size, char **ret_content, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();

        for (;;) {
                if (allocated - size < 4096) {
                        size_t n = allocated ? allocated * 2 : 4096;
                        char *p;

                        if (n > max_size + 1)
                                n = max_size + 1;
                        if (n <= size)
                                return -EFBIG;
                        p = realloc(buf, n + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = n;
                }

                ssize_t k = read(fd, buf + size, allocated - size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max_size)
                        return -EFBIG;
        }

        buf[size] = 0;
        *ret_content = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_full_file_error(const char *path, size_t max_size, char **ret_content, size_t *ret_size, char **ret_error) {
        int r = read_full_file(path, max_size, ret_content, ret_size);

        return r < 0 ? error_set(ret_error, r, "%s: %m", path) : 0;
}

int read_file_tail(const char *path, size_t max_size, char **ret_content, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t size = 0;
        off_t start;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        start = st.st_size > (off_t) max_size ? st.st_size - (off_t) max_size : 0;
        buf = malloc(max_size + 1);
        if (!buf)
                return -ENOMEM;
        while (size < max_size) {
                ssize_t k = pread(fd, buf + size, max_size - size, start + (off_t) size);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        buf[size] = 0;
        *ret_content = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_one_line_file(const char *path, char **ret_line) {
        _cleanup_free_ char *content = NULL;
        int r;

        r = read_full_file(path, 64 * 1024, &content, NULL);
        if (r < 0)
                return r;
        content[strcspn(content, "\n")] = 0;
        *ret_line = TAKE_PTR(content);
        return 0;
}

static int write_all(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                size -= (size_t) k;
        }
        return 0;
}

static int write_file_renamed(const char *path, const void *data, size_t size, unsigned mode, bool sync) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&tmp, "%s.tmp-%d", path, (int) getpid()) < 0)
                return -ENOMEM;

        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return negative_errno();

        r = write_all(fd, data, size);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = negative_errno();
        if (r >= 0 && sync && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && rename(tmp, path) < 0)
                r = negative_errno();
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int write_file_atomic(const char *path, const void *data, size_t size, unsigned mode) {
        return write_file_renamed(path, data, size, mode, true);
}

int write_file_replace(const char *path, const void *data, size_t size, unsigned mode) {
        return write_file_renamed(path, data, size, mode, false);
}

int write_string_file(const char *path, const char *value) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        size_t n = strlen(value);
        ssize_t k;

        if (fd < 0)
                return negative_errno();
        k = write(fd, value, n);
        if (k < 0)
                return negative_errno();
        return (size_t) k == n ? 0 : -EIO;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *copy = strdup(path);

        if (!copy)
                return -ENOMEM;
        for (char *p = copy + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        if (mkdir(copy, mode) < 0 && errno != EEXIST)
                                return negative_errno();
                        *p = '/';
                }
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

/* Appends the unquoted, unescaped value starting at p (up to the end of the line). */
static char *env_value_unquote(const char *p) {
        size_t n = strcspn(p, "\n");
        char *out = malloc(n + 1), *o = out;
        char quote = 0;

        if (!out)
                return NULL;

        for (const char *end = p + n; p < end; p++) {
                if (!quote && (*p == '"' || *p == '\''))
                        quote = *p;
                else if (quote && *p == quote)
                        quote = 0;
                else if (*p == '\\' && quote != '\'' && p + 1 < end)
                        *o++ = *++p;
                else if (!quote && (*p == ' ' || *p == '\t' || *p == '#'))
                        break;
                else
                        *o++ = *p;
        }
        *o = 0;
        return out;
}

int env_file_get(const char *content, const char *key, char **ret_value) {
        size_t key_len = strlen(key);

        for (const char *line = content; line && *line;) {
                line += strspn(line, " \t");
                if (strneq(line, key, key_len) && line[key_len] == '=') {
                        char *v = env_value_unquote(line + key_len + 1);
                        if (!v)
                                return -ENOMEM;
                        *ret_value = v;
                        return 0;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return -ENOENT;
}

int rm_rf_at(int dir_fd, const char *name) {
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (S_ISDIR(st.st_mode)) {
                int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_(closedirp) DIR *d = NULL;

                if (fd < 0)
                        return negative_errno();
                d = fdopendir(fd);
                if (!d) {
                        close(fd);
                        return negative_errno();
                }
                for (struct dirent *de; (errno = 0, de = readdir(d));) {
                        int r;

                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        r = rm_rf_at(dirfd(d), de->d_name);
                        if (r < 0)
                                return r;
                }
                if (errno != 0)
                        return negative_errno();
                if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0)
                        return negative_errno();
                return 0;
        }
        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}
