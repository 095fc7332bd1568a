/* SPDX-License-Identifier: Apache-2.0 */
/* A layer blob (gzip, zstd or plain tar) unpacked into a scratch directory, which must
 * hold nothing afterwards when the unpack failed, and nothing may appear beside it. */
#include <fcntl.h>
#include <sys/mman.h>

#include "fuzz.h"
#include "fileio.h"
#include "layer-unpack.h"
#include "macro.h"

static char scratch[] = "/tmp/fuzz-layer-unpack-XXXXXX";

static void remove_scratch(void) {
        (void) rmdir(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *dest = NULL, *error = NULL;
        _cleanup_close_ int fd = -EBADF;
        LayerUnpackOptions o = { .max_entry_size = 1 << 20 };
        static bool made;
        DIR *d;
        int r, n = 0;

        if (!made) {
                if (!mkdtemp(scratch))
                        __builtin_trap();
                atexit(remove_scratch);
                made = true;
        }
        if (geteuid() != 0) /* mknod, chown: nothing to learn without root */
                return 0;
        if (asprintf(&dest, "%s/layer", scratch) < 0)
                return 0;
        fd = memfd_create("layer", MFD_CLOEXEC);
        if (fd < 0 || write(fd, data, size) != (ssize_t) size || lseek(fd, 0, SEEK_SET) != 0)
                return 0;
        r = layer_unpack(fd, dest, &o, NULL, &error);
        if (r < 0 && !error)
                __builtin_trap(); /* every failure says why */
        (void) rm_rf_at(AT_FDCWD, dest);
        d = opendir(scratch);
        if (!d)
                __builtin_trap();
        for (struct dirent *de; (de = readdir(d));)
                n += !streq(de->d_name, ".") && !streq(de->d_name, "..");
        closedir(d);
        if (n != 0)
                __builtin_trap(); /* a temporary left behind, or something written beside */
        return 0;
}
