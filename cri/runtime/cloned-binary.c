/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloned-binary.h"
#include "fileio.h"
#include "macro.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static bool is_sealed_copy(int fd) {
        int seals = fcntl(fd, F_GET_SEALS);

        return seals >= 0 && (seals & SEALS) == SEALS;
}

/* /proc/self/cmdline as an argv. */
static int read_cmdline(char **ret_buffer, char ***ret_argv) {
        _cleanup_free_ char *buffer = NULL;
        _cleanup_free_ char **argv = NULL;
        size_t size = 0, n = 0;
        int r;

        r = read_full_file("/proc/self/cmdline", 1 << 20, &buffer, &size);
        if (r < 0)
                return r;
        argv = calloc(size + 1, sizeof(char *));
        if (!argv)
                return -ENOMEM;
        for (size_t i = 0; i < size; i += strlen(buffer + i) + 1)
                argv[n++] = buffer + i;
        *ret_buffer = TAKE_PTR(buffer);
        *ret_argv = TAKE_PTR(argv);
        return 0;
}

int cloned_binary_ensure(void) {
        _cleanup_close_ int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), copy = -EBADF;
        _cleanup_free_ char *cmdline = NULL;
        _cleanup_free_ char **argv = NULL;
        struct stat st;
        off_t offset = 0;
        int r;

        if (self < 0 || fstat(self, &st) < 0)
                return -errno;
        if (is_sealed_copy(self))
                return 0;
        copy = memfd_create("stevedore-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (copy < 0)
                return -errno;
        while (offset < st.st_size) {
                ssize_t n = sendfile(copy, self, &offset, (size_t) (st.st_size - offset));
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
        }
        if (fcntl(copy, F_ADD_SEALS, SEALS) < 0)
                return -errno;
        r = read_cmdline(&cmdline, &argv);
        if (r < 0)
                return r;
        fexecve(copy, argv, environ);
        return -errno;
}
