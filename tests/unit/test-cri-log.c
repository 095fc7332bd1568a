/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "cri-log.h"
#include "fileio.h"
#include "macro.h"
#include "tests.h"

static char *make_dir(void) {
        char template[] = "/tmp/test-cri-log.XXXXXX";
        char *dir = mkdtemp(template);
        check(dir);
        return strdup(dir);
}

static void remove_dir(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.')
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        if (d)
                closedir(d);
        check(rmdir(dir) == 0);
}

/* The lines of the log without their timestamps: "stdout F hello". */
static char *lines_without_time(const char *path) {
        _cleanup_free_ char *content = NULL;
        char *out = NULL, *line, *save = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        check(read_full_file(path, 1 << 24, &content, NULL) >= 0);
        for (line = strtok_r(content, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *space = strchr(line, ' ');
                check(space && space - line == 30 && line[29] == 'Z' && line[10] == 'T');
                fprintf(f, "%s|", space + 1);
        }
        fclose(f);
        return out;
}

static void test_lines_and_streams(void) {
        _cleanup_free_ char *dir = make_dir(), *path = NULL, *text = NULL;
        CriLog *log = NULL;

        check(asprintf(&path, "%s/0.log", dir) >= 0);
        check(cri_log_open(path, 0, 0, &log) == 0);
        check(cri_log_write(log, CRI_STDOUT, "hello\nwor", 9) == 0);
        check(cri_log_write(log, CRI_STDERR, "oops\n", 5) == 0);
        check(cri_log_write(log, CRI_STDOUT, "ld\n\nlast", 8) == 0);
        cri_log_close(log);
        text = lines_without_time(path);
        check_streq(text, "stdout F hello|stderr F oops|stdout F world|stdout F |stdout P last|");
        remove_dir(dir);
}

static void test_long_line_in_parts(void) {
        _cleanup_free_ char *dir = make_dir(), *path = NULL, *content = NULL, *big = malloc(40000);
        CriLog *log = NULL;
        size_t p = 0, f = 0;

        memset(big, 'x', 40000);
        big[39999] = '\n';
        check(asprintf(&path, "%s/0.log", dir) >= 0);
        check(cri_log_open(path, 0, 0, &log) == 0);
        check(cri_log_write(log, CRI_STDOUT, big, 40000) == 0);
        cri_log_close(log);
        check(read_full_file(path, 1 << 20, &content, NULL) >= 0);
        for (char *c = content; (c = strstr(c, " stdout ")); c++)
                c[8] == 'P' ? p++ : f++;
        check_int(p, ==, 2); /* 16384 + 16384 */
        check_int(f, ==, 1); /* the last 7231 */
        remove_dir(dir);
}

static void test_rotation_keeps_max_files(void) {
        _cleanup_free_ char *dir = make_dir(), *path = NULL;
        CriLog *log = NULL;
        DIR *d;
        struct dirent *de;
        unsigned files = 0;
        char line[200];

        memset(line, 'y', sizeof(line) - 1);
        line[sizeof(line) - 1] = '\n';
        check(asprintf(&path, "%s/0.log", dir) >= 0);
        check(cri_log_open(path, 1000, 2, &log) == 0);
        for (int i = 0; i < 12; i++) {
                check(cri_log_write(log, CRI_STDOUT, line, sizeof(line)) == 0);
                if (i == 5)
                        sleep(1); /* a rotated name per second */
        }
        cri_log_close(log);
        d = opendir(dir);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.') {
                        files++;
                        check(strncmp(de->d_name, "0.log", 5) == 0);
                }
        closedir(d);
        check_int(files, ==, 2); /* the current one and the newest rotated one */
        remove_dir(dir);
}

/* What kubectl logs shows: messages only, P parts joined, timestamps when asked. */
static void test_to_text(void) {
        const char *cri = "2026-11-23T12:00:00.000000001Z stdout F hello\n"
                          "2026-11-23T12:00:01.000000001Z stderr P lo\n"
                          "2026-11-23T12:00:01.000000002Z stderr F ng\n"
                          "garbage\n"
                          "2026-11-23T12:00:02.000000001Z stdout F ";
        char *text = NULL, *stamped = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        cri_log_to_text(cri, false, f);
        fclose(f);
        check_streq(text, "hello\nlong\n\n"); /* the last: an empty line */
        f = open_memstream(&stamped, &size);
        cri_log_to_text("2026-11-23T12:00:00.000000001Z stdout F hi\n", true, f);
        fclose(f);
        check_streq(stamped, "2026-11-23T12:00:00.000000001Z hi\n");
        free(text);
        free(stamped);
}

static void test_since(void) {
        const char *cri = "2026-11-23T12:00:00.000000001Z stdout F a\n"
                          "2026-11-23T12:00:01.500000000Z stdout F b\n"
                          "2026-11-23T12:00:02.000000000Z stdout F c\n";

        check_streq(cri_log_since(cri, "2026-11-23T12:00:01.000000000Z"),
                    "2026-11-23T12:00:01.500000000Z stdout F b\n2026-11-23T12:00:02.000000000Z stdout F c\n");
        check_streq(cri_log_since(cri, "2026-11-23T11:00:00.000000000Z"), cri);
        check_streq(cri_log_since(cri, "2026-11-24T00:00:00.000000000Z"), "");
}

int main(void) {
        test_lines_and_streams();
        test_since();
        test_to_text();
        test_long_line_in_parts();
        test_rotation_keeps_max_files();
        return 0;
}
