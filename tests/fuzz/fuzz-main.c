/* SPDX-License-Identifier: Apache-2.0 */
/* Replays fuzz inputs given as files or directories of files. */
#include <dirent.h>
#include <sys/stat.h>

#include "fileio.h"
#include "fuzz.h"
#include "macro.h"

static int run_file(const char *path) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        r = read_full_file(path, 16 * 1024 * 1024, &data, &size);
        if (r < 0) {
                fprintf(stderr, "fuzz: read %s: %s\n", path, strerror(-r));
                return r;
        }
        LLVMFuzzerTestOneInput((const uint8_t *) data, size);
        return 0;
}

static int run_path(const char *path) {
        struct stat st;
        DIR *d;
        int r = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "fuzz: %s: %m\n", path);
                return -errno;
        }
        if (!S_ISDIR(st.st_mode))
                return run_file(path);

        d = opendir(path);
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *child = NULL;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&child, "%s/%s", path, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = run_path(child);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

int main(int argc, char **argv) {
        for (int i = 1; i < argc; i++)
                if (run_path(argv[i]) < 0)
                        return EXIT_FAILURE;
        return EXIT_SUCCESS;
}
