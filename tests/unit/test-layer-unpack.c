/* SPDX-License-Identifier: Apache-2.0 */
/* Layers built here with libarchive's writer, unpacked, and looked at; hostile ones
 * refused with nothing left behind. Needs root (mknod, chown, trusted.* xattrs). */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "image-digest.h"
#include "fileio.h"
#include "layer-unpack.h"
#include "macro.h"
#include "tests.h"

/* The tables below name only the fields each entry needs. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef struct Entry {
        const char *name;
        mode_t type; /* AE_IFREG, …; 0 with hardlink set */
        const char *data;
        const char *link; /* symlink target, or with type 0 the hardlink target */
        mode_t mode;
        unsigned major, minor;
        const char *xattr; /* "name=value" */
        int64_t size;      /* when not strlen(data) */
} Entry;

typedef enum Compression { PLAIN, GZIP, ZSTD } Compression;

static char *dir;

/* The tar of entries, compressed as asked, as a memfd; *ret_diff_id its tar's digest. */
static int make_layer(const Entry *entries, Compression c, char ret_digest[static DIGEST_SHA256_STRLEN + 1],
                      char ret_diff_id[static DIGEST_SHA256_STRLEN + 1]) {
        size_t cap = 16 << 20, used = 0, tar_used = 0;
        char *buf = malloc(cap), *tar = malloc(cap);
        struct archive *a;
        int fd;

        check(buf && tar);
        for (int pass = 0; pass < 2; pass++) {
                a = archive_write_new();
                check(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
                if (pass == 1 && c == GZIP)
                        check(archive_write_add_filter_gzip(a) == ARCHIVE_OK);
                if (pass == 1 && c == ZSTD)
                        check(archive_write_add_filter_zstd(a) == ARCHIVE_OK);
                check(archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK);
                check(archive_write_open_memory(a, pass ? buf : tar, cap, pass ? &used : &tar_used) == ARCHIVE_OK);
                for (const Entry *e = entries; e->name; e++) {
                        struct archive_entry *ae = archive_entry_new();
                        size_t len = e->data ? strlen(e->data) : 0;

                        archive_entry_set_pathname(ae, e->name);
                        archive_entry_set_mtime(ae, 1000000000, 0);
                        archive_entry_set_uid(ae, 1000);
                        archive_entry_set_gid(ae, 1001);
                        archive_entry_set_perm(ae, e->mode ?: 0644);
                        if (e->type == 0 && e->link) {
                                archive_entry_set_filetype(ae, AE_IFREG);
                                archive_entry_set_hardlink(ae, e->link);
                        } else {
                                archive_entry_set_filetype(ae, e->type ?: AE_IFREG);
                                if (e->type == AE_IFLNK)
                                        archive_entry_set_symlink(ae, e->link);
                                if (e->type == AE_IFREG || e->type == 0)
                                        archive_entry_set_size(ae, e->size ?: (int64_t) len);
                                if (e->type == AE_IFCHR || e->type == AE_IFBLK)
                                        archive_entry_set_rdev(ae, makedev(e->major, e->minor));
                        }
                        if (e->xattr) {
                                const char *eq = strchr(e->xattr, '=');
                                char key[128];
                                snprintf(key, sizeof(key), "%.*s", (int) (eq - e->xattr), e->xattr);
                                archive_entry_xattr_add_entry(ae, key, eq + 1, strlen(eq + 1));
                        }
                        check(archive_write_header(a, ae) == ARCHIVE_OK);
                        if (len && (e->type == AE_IFREG || e->type == 0) && !e->link)
                                check(archive_write_data(a, e->data, len) == (la_ssize_t) len);
                        archive_entry_free(ae);
                }
                check(archive_write_close(a) == ARCHIVE_OK);
                archive_write_free(a);
        }
        check(sha256_digest(tar, tar_used, ret_diff_id) == 0);
        check(sha256_digest(buf, used, ret_digest) == 0);
        fd = memfd_create("layer", MFD_CLOEXEC);
        check(fd >= 0);
        check(write(fd, buf, used) == (ssize_t) used);
        check(lseek(fd, 0, SEEK_SET) == 0);
        free(buf);
        free(tar);
        return fd;
}

static char *path(const char *rel) {
        char *p;
        check(asprintf(&p, "%s/%s", dir, rel) >= 0);
        return p;
}

static void check_no_temporaries(void) {
        DIR *d = opendir(dir);
        check(d);
        for (struct dirent *de; (de = readdir(d));)
                if (strneq(de->d_name, ".tmp-", 5)) {
                        fprintf(stderr, "left behind: %s\n", de->d_name);
                        check(false);
                }
        closedir(d);
}

static void check_mode(const char *rel, mode_t type, mode_t perm, uid_t uid) {
        _cleanup_free_ char *p = path(rel);
        struct stat st;

        if (lstat(p, &st) < 0) {
                fprintf(stderr, "%s: %m\n", p);
                check(false);
        }
        check_int(st.st_mode & S_IFMT, ==, type);
        if (type != S_IFLNK)
                check_int(st.st_mode & 07777, ==, perm);
        check_int(st.st_uid, ==, uid);
}

static const Entry good_layer[] = {
        { "./", AE_IFDIR, .mode = 0755 },
        { "./etc/", AE_IFDIR, .mode = 0755 },
        { "./etc/passwd", AE_IFREG, "root:x:0:0::/:/bin/sh\n" },
        { "bin/", AE_IFDIR, .mode = 0755 },
        { "bin/tool", AE_IFREG, "#!/bin/sh\n", .mode = 04755, .xattr = "user.note=yes" },
        { "bin/sh", AE_IFLNK, .link = "/bin/busybox" },
        { "bin/tool2", 0, .link = "bin/tool" },
        { "deep/er/file", AE_IFREG, "x" },
        { "run/fifo", AE_IFIFO, .mode = 0600 },
        { ".wh.gone", AE_IFREG, "" },
        { "opaque/", AE_IFDIR, .mode = 0750 },
        { "opaque/.wh..wh..opq", AE_IFREG, "" },
        { "opaque/kept", AE_IFREG, "k" },
        { "overlay-form", AE_IFCHR, .major = 0, .minor = 0 },
        { "sneaky", AE_IFREG, "s", .xattr = "trusted.overlay.redirect=/etc" },
        { "replaced", AE_IFREG, "first" },
        { "replaced", AE_IFLNK, .link = "elsewhere" },
        {},
};

static void unpack_good(Compression c) {
        char digest[DIGEST_SHA256_STRLEN + 1], diff_id[DIGEST_SHA256_STRLEN + 1], got[DIGEST_SHA256_STRLEN + 1];
        _cleanup_close_ int fd = make_layer(good_layer, c, digest, diff_id);
        _cleanup_free_ char *dest = path("layer"), *error = NULL, *p = NULL;
        LayerUnpackOptions o = { .digest = digest, .diff_id = diff_id };
        struct stat st;
        char value[16];
        char link[64];

        if (layer_unpack(fd, dest, &o, got, &error) < 0) {
                fprintf(stderr, "unpack: %s\n", error);
                check(false);
        }
        check_streq(got, diff_id);
        check_no_temporaries();

        check_mode("layer", S_IFDIR, 0755, 0);
        check_mode("layer/etc/passwd", S_IFREG, 0644, 1000);
        check_mode("layer/bin/tool", S_IFREG, 04755, 1000);
        check_mode("layer/bin/sh", S_IFLNK, 0, 1000);
        check_mode("layer/deep/er", S_IFDIR, 0755, 0);
        check_mode("layer/run/fifo", S_IFIFO, 0600, 1000);
        check_mode("layer/gone", S_IFCHR, 0, 0);
        check_mode("layer/overlay-form", S_IFCHR, 0, 0);
        check_mode("layer/opaque", S_IFDIR, 0750, 1000);
        check_mode("layer/replaced", S_IFLNK, 0, 1000);

        p = path("layer/bin/tool");
        check(lstat(p, &st) == 0);
        check_int(st.st_nlink, ==, 2);
        check_int(st.st_mtime, ==, 1000000000);
        check_int(getxattr(p, "user.note", value, sizeof(value)), ==, 3);
        free(p);
        p = path("layer/bin");
        check(lstat(p, &st) == 0);
        check_int(st.st_mtime, ==, 1000000000); /* set after its children were made */
        free(p);
        p = path("layer/bin/sh");
        check_int(readlink(p, link, sizeof(link)), ==, 12);
        free(p);
        p = path("layer/opaque");
        check_int(getxattr(p, "trusted.overlay.opaque", value, sizeof(value)), ==, 1);
        check(value[0] == 'y');
        free(p);
        p = path("layer/opaque/.wh..wh..opq");
        check(access(p, F_OK) < 0);
        free(p);
        p = path("layer/sneaky");
        check(getxattr(p, "trusted.overlay.redirect", value, sizeof(value)) < 0);
        free(p);
        p = path("layer/.wh.gone");
        check(access(p, F_OK) < 0);

        check(rm_rf_at(AT_FDCWD, dest) == 0);
        check(access(dest, F_OK) < 0);
}

TEST(good_plain) {
        unpack_good(PLAIN);
}

TEST(good_gzip) {
        unpack_good(GZIP);
}

TEST(good_zstd) {
        unpack_good(ZSTD);
}

TEST(existing_dest_kept) {
        char digest[DIGEST_SHA256_STRLEN + 1], diff_id[DIGEST_SHA256_STRLEN + 1];
        _cleanup_close_ int fd = make_layer(good_layer, GZIP, digest, diff_id);
        _cleanup_free_ char *dest = path("there"), *error = NULL;

        check(mkdir(dest, 0755) == 0);
        check(layer_unpack(fd, dest, NULL, NULL, &error) == 0);
        check_no_temporaries();
        check(rm_rf_at(AT_FDCWD, dest) == 0);
}

static void refused(const char *what, const Entry *entries, Compression c, uint64_t limit, const char *want_entry,
                    const char *want_reason) {
        char digest[DIGEST_SHA256_STRLEN + 1], diff_id[DIGEST_SHA256_STRLEN + 1];
        _cleanup_close_ int fd = make_layer(entries, c, digest, diff_id);
        _cleanup_free_ char *dest = path("hostile"), *error = NULL, *outside = path("outside"), *want = NULL;
        LayerUnpackOptions o = { .digest = digest, .diff_id = diff_id, .max_entry_size = limit };
        DIR *d;
        int n = 0;

        fprintf(stderr, "--- %s\n", what);
        if (streq(want_reason, "digest mismatch"))
                o.digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        if (streq(want_reason, "diffID mismatch"))
                o.diff_id = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        if (streq(want_reason, "corrupt")) {
                /* flip a byte in the middle of the compressed stream */
                struct stat st;
                char b;
                check(fstat(fd, &st) == 0);
                check(pread(fd, &b, 1, st.st_size / 2) == 1);
                b ^= 0x55;
                check(pwrite(fd, &b, 1, st.st_size / 2) == 1);
                o.digest = NULL;
        }
        check(layer_unpack(fd, dest, &o, NULL, &error) < 0);
        check(error);
        fprintf(stderr, "    %s\n", error);
        check(asprintf(&want, "layer %s: ", o.digest ?: "(unnamed)") >= 0);
        check(strneq(error, want, strlen(want)));
        if (want_entry) {
                _cleanup_free_ char *quoted = NULL;
                check(asprintf(&quoted, "entry '%s'", want_entry) >= 0);
                check(strstr(error, quoted));
        }
        if (!streq(want_reason, "corrupt"))
                check(strstr(error, want_reason));
        check(access(dest, F_OK) < 0);
        check_no_temporaries();
        /* the directory the symlinks point at stays empty */
        d = opendir(outside);
        check(d);
        for (struct dirent *de; (de = readdir(d));)
                n += de->d_name[0] != '.';
        closedir(d);
        check_int(n, ==, 0);
}

TEST(hostile) {
        _cleanup_free_ char *outside = path("outside"), *to_outside = NULL;

        check(mkdir(outside, 0755) == 0);
        check(asprintf(&to_outside, "%s", outside) >= 0);

        refused("dot-dot", (const Entry[]) { { "a", AE_IFREG, "a" }, { "../evil", AE_IFREG, "x" }, {} }, GZIP, 0,
                "../evil", "'..'");
        refused("dot-dot inside", (const Entry[]) { { "a/../../evil", AE_IFREG, "x" }, {} }, PLAIN, 0, "a/../../evil",
                "'..'");
        refused("absolute", (const Entry[]) { { "/etc/evil", AE_IFREG, "x" }, {} }, GZIP, 0, "/etc/evil", "absolute");
        refused("symlink then through it",
                (const Entry[]) { { "ln", AE_IFLNK, .link = to_outside }, { "ln/evil", AE_IFREG, "x" }, {} }, GZIP, 0,
                "ln/evil", "symlink");
        refused("relative symlink out then through it",
                (const Entry[]) { { "d/ln", AE_IFLNK, .link = "../../outside" }, { "d/ln/evil", AE_IFREG, "x" }, {} },
                ZSTD, 0, "d/ln/evil", "symlink");
        refused("hardlink to /etc/passwd", (const Entry[]) { { "pw", 0, .link = "/etc/passwd" }, {} }, GZIP, 0, "pw",
                "absolute");
        refused("hardlink out", (const Entry[]) { { "pw", 0, .link = "../outside/x" }, {} }, GZIP, 0, "pw", "'..'");
        refused("hardlink through a symlink",
                (const Entry[]) { { "ln", AE_IFLNK, .link = "/etc" }, { "pw", 0, .link = "ln/passwd" }, {} }, GZIP, 0,
                "pw", "symlink");
        refused("hardlink to nothing", (const Entry[]) { { "pw", 0, .link = "nothing" }, {} }, GZIP, 0, "pw",
                "no such entry");
        refused("char device", (const Entry[]) { { "dev/mem", AE_IFCHR, .major = 1, .minor = 1 }, {} }, GZIP, 0,
                "dev/mem", "character device 1:1");
        refused("block device", (const Entry[]) { { "sda", AE_IFBLK, .major = 8, .minor = 0 }, {} }, GZIP, 0, "sda",
                "block device 8:0");
        refused("oversize", (const Entry[]) { { "small", AE_IFREG, "0123" }, { "big", AE_IFREG, "0123456789A" }, {} },
                GZIP, 10, "big", "larger than the limit of 10 bytes");
        refused("corrupted gzip", good_layer, GZIP, 0, NULL, "corrupt");
        refused("digest mismatch", good_layer, GZIP, 0, NULL, "digest mismatch");
        refused("diffID mismatch", good_layer, ZSTD, 0, NULL, "diffID mismatch");
}

TEST(garbage) {
        _cleanup_free_ char *dest = path("garbage"), *error = NULL;
        int fd = memfd_create("garbage", MFD_CLOEXEC);

        check(fd >= 0);
        check(write(fd, "this is no tar at all, not even close, no", 41) == 41);
        check(lseek(fd, 0, SEEK_SET) == 0);
        check(layer_unpack(fd, dest, NULL, NULL, &error) < 0);
        fprintf(stderr, "    %s\n", error);
        check(strstr(error, "layer (unnamed): "));
        check(access(dest, F_OK) < 0);
        check_no_temporaries();
        close(fd);
}

int main(void) {
        if (geteuid() != 0) {
                fprintf(stderr, "needs root (mknod, chown, trusted.* xattrs)\n");
                return EXIT_TEST_SKIP;
        }
        dir = test_mkdtemp();
        RUN(good_plain);
        RUN(good_gzip);
        RUN(good_zstd);
        RUN(existing_dest_kept);
        RUN(hostile);
        RUN(garbage);
        test_rm_rf(dir);
        free(dir);
        return 0;
}
