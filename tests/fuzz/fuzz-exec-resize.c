/* SPDX-License-Identifier: Apache-2.0 */
/* What a client sends on an exec session's resize stream: terminal sizes, a JSON object
 * a line, in data frames cut anywhere (here: the input cut at its first byte's value). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "exec-terminal.h"
#include "fuzz.h"

static void on_ready(ExecTerminal *t, int master, void *userdata) {
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char dir[] = "/tmp/fuzz-exec-resize-XXXXXX";
        sd_event *event = NULL;
        ExecTerminal *t = NULL;
        size_t cut = size > 0 ? data[0] % (size + 1) : 0;

        if (!mkdtemp(dir))
                return 0;
        if (sd_event_new(&event) >= 0 && exec_terminal_new(event, dir, on_ready, NULL, &t) >= 0 &&
            exec_terminal_resize(t, data, cut) >= 0)
                (void) exec_terminal_resize(t, data + cut, size - cut);
        exec_terminal_free(t);
        sd_event_unref(event);
        (void) rmdir(dir);
        return 0;
}
