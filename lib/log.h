/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <syslog.h>

#include "macro.h"

/* Logging in systemd's shape: log_*_errno() logs with "%m" expanding to the given error
 * and returns it negative, so `return log_error_errno(r, "pod %s: mount: %m", name);`
 * reports and propagates in one line. */

/* The maximum level is the process's one piece of logging configuration, set once by
 * main() from --log-level or $STEVEDORE_LOG_LEVEL before anything else runs. */
void log_set_max_level(int level);
int log_get_max_level(void);
int log_parse_level(const char *s);

/* Where messages go, also set once by main(): to the journal, with structured fields,
 * when stderr is the journal stream systemd gave the service ($JOURNAL_STREAM names its
 * device and inode); to stderr otherwise. */
void log_open(void);

/* The Kubernetes object a message concerns: the journal gets it as the fields
 * NAMESPACE, POD and CONTAINER (each may be NULL), so `journalctl POD=web` finds a
 * pod's messages. On stderr the message is printed as it is (it names them itself). */
typedef struct LogContext {
        const char *namespace, *pod, *container;
} LogContext;

int log_context_internal(const LogContext *context, int level, int error, const char *file, int line,
                         const char *func, const char *format, ...) _printf_(7, 8);

#define log_full_errno(level, error, ...) log_context_full_errno(NULL, level, error, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

#define log_debug(...) log_debug_errno(0, __VA_ARGS__)
#define log_info(...) log_info_errno(0, __VA_ARGS__)
#define log_notice(...) log_notice_errno(0, __VA_ARGS__)
#define log_warning(...) log_warning_errno(0, __VA_ARGS__)
#define log_error(...) log_error_errno(0, __VA_ARGS__)

#define log_context_full_errno(context, level, error, ...)                                          \
        ({                                                                                         \
                int _level_ = (level), _e_ = (error);                                              \
                _level_ <= log_get_max_level()                                                     \
                        ? log_context_internal(context, _level_, _e_, __FILE__, __LINE__, __func__,  \
                                               __VA_ARGS__)                                        \
                        : -(_e_ < 0 ? -_e_ : _e_);                                                 \
        })

#define log_context_info(c, ...) log_context_full_errno(c, LOG_INFO, 0, __VA_ARGS__)
#define log_context_warning(c, ...) log_context_full_errno(c, LOG_WARNING, 0, __VA_ARGS__)
#define log_context_error(c, ...) log_context_full_errno(c, LOG_ERR, 0, __VA_ARGS__)
#define log_context_error_errno(c, e, ...) log_context_full_errno(c, LOG_ERR, e, __VA_ARGS__)

/* For "out of memory" paths: logs once and returns -ENOMEM. */
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

