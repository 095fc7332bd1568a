/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

/* The terminal of a `kubectl exec -t` session, as containerd's shim holds it: a console
 * socket (runc's --console-socket) that `stevedore-runc exec --tty` hands the pty's
 * master to, and the v4 resize stream's messages ({"Width":80,"Height":24}, one JSON
 * object a line) applied to that master with TIOCSWINSZ — the last size given before the
 * master came is applied when it comes. All on the event loop. */
typedef struct ExecTerminal ExecTerminal;

/* The master arrived (the terminal keeps it; the callee dups what it needs). */
typedef void (*ExecTerminalReady)(ExecTerminal *t, int master, void *userdata);

/* A console socket in a new directory below dir. */
int exec_terminal_new(sd_event *event, const char *dir, ExecTerminalReady ready, void *userdata, ExecTerminal **ret);
/* Where the runtime sends the master: its --console-socket. */
const char *exec_terminal_socket(ExecTerminal *t);
/* Takes the master now if it was sent (the runtime has exited: whatever it sent is
 * queued), without waiting. */
void exec_terminal_collect(ExecTerminal *t);
/* Data of the resize stream; -EBADMSG for a line that is not a terminal size. */
int exec_terminal_resize(ExecTerminal *t, const void *data, size_t n);
/* Closes the socket and the master, removes the directory. */
void exec_terminal_free(ExecTerminal *t);
