/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "log.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static int log_max_level = LOG_INFO;
static int journal_fd = -1; /* a datagram socket to journald, when it has our stderr */

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit",
        [LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_parse_level(const char *s) {
        if (isempty(s))
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (streq(s, level_names[i]))
                        return (int) i;
        return -EINVAL;
}

/* systemd's rule (systemd.exec(5)): $JOURNAL_STREAM is "DEV:INODE" of the stream it
 * connected stdout/stderr to; stderr redirected elsewhere since does not match. */
void log_open(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (journal_fd >= 0 || !e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0 ||
            (unsigned long long) st.st_dev != dev || (unsigned long long) st.st_ino != ino)
                return;
        journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

/* One field in the journal's native protocol, in its binary form (which allows any
 * byte in the value): NAME, '\n', the value's length as 64-bit little endian, the value,
 * '\n'. */
static void field(FILE *f, const char *name, const char *value) {
        uint64_t size = strlen(value);
        uint8_t le[8];

        for (size_t i = 0; i < 8; i++)
                le[i] = (uint8_t) (size >> (8 * i));
        fprintf(f, "%s\n", name);
        fwrite(le, 1, sizeof(le), f);
        fprintf(f, "%s\n", value);
}

static int log_journal(const LogContext *c, int level, int error, const char *file, int line, const char *func,
                       const char *message) {
        static const struct sockaddr_un to = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
        _cleanup_free_ char *datagram = NULL;
        char number[32];
        size_t size = 0;
        FILE *f = open_memstream(&datagram, &size);
        ssize_t n;

        if (!f)
                return -ENOMEM;
        field(f, "MESSAGE", message);
        snprintf(number, sizeof(number), "%d", level);
        field(f, "PRIORITY", number);
        field(f, "SYSLOG_IDENTIFIER", "stevedore");
        field(f, "CODE_FILE", file);
        snprintf(number, sizeof(number), "%d", line);
        field(f, "CODE_LINE", number);
        field(f, "CODE_FUNC", func);
        if (error > 0) {
                snprintf(number, sizeof(number), "%d", error);
                field(f, "ERRNO", number);
        }
        if (c && c->namespace)
                field(f, "NAMESPACE", c->namespace);
        if (c && c->pod)
                field(f, "POD", c->pod);
        if (c && c->container)
                field(f, "CONTAINER", c->container);
        if (fclose(f) != 0)
                return -ENOMEM;
        n = sendto(journal_fd, datagram, size, MSG_NOSIGNAL, (const struct sockaddr *) &to, sizeof(to));
        return n < 0 ? -errno : 0;
}

static int log_message(const LogContext *c, int level, int error, const char *file, int line, const char *func,
                       const char *format, va_list ap) _printf_(7, 0);
static int log_message(const LogContext *c, int level, int error, const char *file, int line, const char *func,
                       const char *format, va_list ap) {
        int saved_errno = errno;
        _cleanup_free_ char *message = NULL;

        if (error < 0)
                error = -error;

        /* "%m" in the format expands to the error passed in, not to whatever errno is. */
        errno = error;
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        if (!message || journal_fd < 0 || log_journal(c, level, error, file, line, func, message) < 0) {
                fprintf(stderr, "stevedore[%d]: ", (int) getpid());
                if (log_max_level >= LOG_DEBUG)
                        fprintf(stderr, "%s:%d %s(): ", file, line, func);
                fprintf(stderr, "%s\n", message ?: "(out of memory)");
        }
        errno = saved_errno;
        return -error;
}

int log_context_internal(const LogContext *context, int level, int error, const char *file, int line,
                         const char *func, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_message(context, level, error, file, line, func, format, ap);
        va_end(ap);
        return r;
}
