/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "macro.h"

/* Errors carried up as crun carries them: a function returns a negative errno and, through
 * its `char **ret_error` (which may be NULL), a message naming what failed, for example
 * "pod default/kubia-x: volume config: configMap app-config: not found".
 *
 * One rule decides which message wins: the deepest. The step that failed sets the
 * message with error_set(); each caller on the way up puts what it was doing in front
 * of it with error_wrap(); a message once set is never replaced, so a caller cannot
 * hide the cause behind a vaguer word of its own.
 *
 * In both, "%m" expands to strerror(-r), as in log_*_errno(). r may be given negative or
 * positive (an errno); 0 counts as -EINVAL. Both return r negative, so a failure is
 * reported and propagated in one line: `return error_set(ret_error, r, "mount %s: %m", p);` */
int error_set(char **ret_error, int r, const char *format, ...) _printf_(3, 4);

/* "<context>: <message below>", or "<context>: strerror(-r)" when nothing below set one. */
int error_wrap(char **ret_error, int r, const char *format, ...) _printf_(3, 4);
