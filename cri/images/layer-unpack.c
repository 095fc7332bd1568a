/* SPDX-License-Identifier: Apache-2.0 */
/* Safe layer unpacking (see layer-unpack.h for the policy).
 *
 * Two libarchive readers are stacked: the outer one (format "raw", filters gzip and
 * zstd, detected by magic) turns the blob into the uncompressed stream, hashing the blob
 * as it reads it; the inner one reads tar from that stream, hashing it for the diffID.
 * Every file is made relative to directory fds opened with O_NOFOLLOW, one component at
 * a time, below a temporary directory: nothing is ever opened by a path that a layer
 * controls the resolution of, and nothing existing is ever opened for writing. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "error.h"
#include "fileio.h"
#include "layer-unpack.h"
#include "log.h"
#include "macro.h"

#define BLOCK_SIZE (128 * 1024)
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"

typedef struct DirTimes {
        char *path;
        struct timespec times[2];
} DirTimes;

typedef struct Unpack {
        const LayerUnpackOptions *o;
        const char *layer; /* for messages */
        char **ret_error;
        uint64_t max_entry_size;

        int blob_fd;
        Sha256 *blob_hash, *tar_hash;
        struct archive *raw, *tar;
        char *raw_error; /* the outer reader's error, seen by the inner one as a read error */
        unsigned char blob_buf[BLOCK_SIZE];

        int root_fd;         /* the temporary directory */
        char *parent_path;   /* cache: the last parent directory opened … */
        int parent_fd;       /* … and its O_PATH fd */
        DirTimes *dirs;      /* directories' times, set once all entries are in */
        size_t n_dirs, allocated_dirs;
} Unpack;

/* The layer's digest in front of every message; an entry's error names the entry too,
 * as the layer has it. The first error is the one reported (error_set). */
#define unpack_error(u, r, format, ...) error_set((u)->ret_error, r, "layer %s: " format, (u)->layer, ##__VA_ARGS__)
#define entry_error(u, r, name, format, ...) \
        error_set((u)->ret_error, r, "layer %s: entry '%s': " format, (u)->layer, name, ##__VA_ARGS__)

/* The tar reader pulls uncompressed data from the raw reader. */
static la_ssize_t read_uncompressed(struct archive *a, void *userdata, const void **buf) {
        Unpack *u = userdata;
        const void *block;
        size_t size;
        la_int64_t offset;
        int r;

        r = archive_read_data_block(u->raw, &block, &size, &offset);
        if (r == ARCHIVE_EOF)
                return 0;
        if (r < ARCHIVE_WARN) {
                free(u->raw_error);
                u->raw_error = strdup(archive_error_string(u->raw) ?: "read error");
                archive_set_error(a, EIO, "%s", u->raw_error ?: "read error");
                return -1;
        }
        sha256_update(u->tar_hash, block, size);
        *buf = block;
        return (la_ssize_t) size;
}

/* The raw reader reads the blob. */
static la_ssize_t read_blob(struct archive *a, void *userdata, const void **buf) {
        Unpack *u = userdata;

        for (;;) {
                ssize_t n = read(u->blob_fd, u->blob_buf, sizeof(u->blob_buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        archive_set_error(a, errno, "reading the blob: %m");
                        return -1;
                }
                sha256_update(u->blob_hash, u->blob_buf, (size_t) n);
                *buf = u->blob_buf;
                return n;
        }
}

/* A tar name made relative and clean: "./a//b/" -> "a/b". Refuses absolute names and
 * ".." components; "" is the layer's root. */
static int normalize_name(const char *name, char **ret, const char **ret_reason) {
        _cleanup_free_ char *out = NULL;
        char *o;

        if (name[0] == '/') {
                *ret_reason = "absolute name";
                return -EPERM;
        }
        out = malloc(strlen(name) + 1);
        if (!out)
                return -ENOMEM;
        o = out;
        for (const char *p = name; *p;) {
                size_t n = strcspn(p, "/");

                if (n == 2 && strneq(p, "..", 2)) {
                        *ret_reason = "name leaves the layer ('..')";
                        return -EPERM;
                }
                if (n > 0 && !(n == 1 && p[0] == '.')) {
                        if (o != out)
                                *o++ = '/';
                        memcpy(o, p, n);
                        o += n;
                }
                p += n;
                p += strspn(p, "/");
        }
        *o = 0;
        if (strlen(out) >= PATH_MAX) {
                *ret_reason = "name too long";
                return -ENAMETOOLONG;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static void drop_parent_cache(Unpack *u) {
        free(u->parent_path);
        u->parent_path = NULL;
        if (u->parent_fd >= 0)
                close(u->parent_fd);
        u->parent_fd = -EBADF;
}

/* Opens directory path (relative, normalised; "" is the root) below the root one
 * component at a time, never following a symlink; with create, makes missing ones
 * (mode 0755, as tar does for parents it was not given). Returns an O_PATH fd. */
static int open_dir_beneath(Unpack *u, const char *path, bool create, const char **ret_reason) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(u->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");
                char component[NAME_MAX + 1];
                int next;

                if (n > NAME_MAX) {
                        *ret_reason = "a path component is too long";
                        return -ENAMETOOLONG;
                }
                memcpy(component, p, n);
                component[n] = 0;

                next = openat(fd, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0 && errno == ENOENT && create) {
                        if (mkdirat(fd, component, 0755) < 0 && errno != EEXIST)
                                return negative_errno();
                        next = openat(fd, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (next < 0) {
                        struct stat st;
                        int r = negative_errno();

                        if (fstatat(fd, component, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode)) {
                                *ret_reason = "its path goes through a symlink";
                                return -ELOOP;
                        }
                        if (r == -ENOTDIR)
                                *ret_reason = "its path goes through a non-directory";
                        return r;
                }
                close(fd);
                fd = next;
                p += n;
                p += *p == '/';
        }
        return TAKE_FD(fd);
}

/* The parent's O_PATH fd for an entry, from the cache when it is the last one's. */
static int open_parent(Unpack *u, const char *parent, const char **ret_reason) {
        int fd;

        if (u->parent_path && streq(u->parent_path, parent))
                return u->parent_fd;
        drop_parent_cache(u);
        fd = open_dir_beneath(u, parent, true, ret_reason);
        if (fd < 0)
                return fd;
        u->parent_path = strdup(parent);
        if (!u->parent_path) {
                close(fd);
                return -ENOMEM;
        }
        u->parent_fd = fd;
        return fd;
}

/* Makes room for a new entry: whatever is there goes, except a directory that a
 * directory replaces (tar semantics: the later entry wins). */
static int make_room(Unpack *u, int dir_fd, const char *base, bool keep_dir) {
        struct stat st;

        if (fstatat(dir_fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (keep_dir && S_ISDIR(st.st_mode))
                return 1;
        /* The cached parent is dir_fd itself, never beneath what goes. */
        return rm_rf_at(dir_fd, base);
}

static int apply_xattrs(Unpack *u, struct archive_entry *e, const char *name, int fd, int dir_fd, const char *base) {
        const char *key;
        const void *value;
        size_t size;

        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
                int k;

                if (strneq(key, "trusted.overlay.", 16)) {
                        log_debug("layer %s: entry '%s': xattr %s dropped", u->layer, name, key);
                        continue;
                }
                if (fd >= 0)
                        k = fsetxattr(fd, key, value, size, 0);
                else {
                        char path[64 + NAME_MAX];
                        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dir_fd, base);
                        k = lsetxattr(path, key, value, size, 0);
                }
                if (k < 0)
                        return entry_error(u, negative_errno(), name, "set xattr %s: %m", key);
        }
        return 0;
}

static int add_dir_times(Unpack *u, const char *path, struct archive_entry *e) {
        if (u->n_dirs == u->allocated_dirs) {
                size_t n = u->allocated_dirs ? u->allocated_dirs * 2 : 64;
                DirTimes *d = reallocarray(u->dirs, n, sizeof(DirTimes));
                if (!d)
                        return -ENOMEM;
                u->dirs = d;
                u->allocated_dirs = n;
        }
        u->dirs[u->n_dirs] = (DirTimes) {
                .path = strdup(path),
                .times = {
                        { .tv_nsec = UTIME_OMIT },
                        { archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
                },
        };
        if (!u->dirs[u->n_dirs].path)
                return -ENOMEM;
        u->n_dirs++;
        return 0;
}

/* Owner, mode, xattrs, times, in that order: chown clears set-id bits and
 * security.capability, so those come after it. */
static int apply_metadata(Unpack *u, struct archive_entry *e, const char *name, int fd, int dir_fd, const char *base,
                          bool symlink) {
        uid_t uid = (uid_t) archive_entry_uid(e);
        gid_t gid = (gid_t) archive_entry_gid(e);
        mode_t mode = archive_entry_perm(e) & 07777;
        struct timespec times[2] = {
                { .tv_nsec = UTIME_OMIT },
                { archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
        };
        int r;

        if (archive_entry_uid(e) < 0 || archive_entry_uid(e) > UINT32_MAX - 1 || archive_entry_gid(e) < 0 ||
            archive_entry_gid(e) > UINT32_MAX - 1)
                return entry_error(u, -EINVAL, name, "owner %lld:%lld out of range", (long long) archive_entry_uid(e),
                                   (long long) archive_entry_gid(e));
        if (fd >= 0 ? fchown(fd, uid, gid) : fchownat(dir_fd, base, uid, gid, AT_SYMLINK_NOFOLLOW))
                return entry_error(u, negative_errno(), name, "chown: %m");
        if (!symlink && (fd >= 0 ? fchmod(fd, mode) : fchmodat(dir_fd, base, mode, 0)))
                return entry_error(u, negative_errno(), name, "chmod: %m");
        r = apply_xattrs(u, e, name, fd, dir_fd, base);
        if (r < 0)
                return r;
        if (!archive_entry_mtime_is_set(e))
                return 0;
        if (fd >= 0 ? futimens(fd, times) : utimensat(dir_fd, base, times, AT_SYMLINK_NOFOLLOW))
                return entry_error(u, negative_errno(), name, "set times: %m");
        return 0;
}

static int write_file_data(Unpack *u, const char *name, int fd, la_int64_t size) {
        uint64_t end = 0;

        for (;;) {
                const void *block;
                size_t n;
                la_int64_t offset;
                int r = archive_read_data_block(u->tar, &block, &n, &offset);

                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return entry_error(u, -EIO, name, "%s", u->raw_error ?: archive_error_string(u->tar));
                if (offset < 0 || (uint64_t) offset + n > u->max_entry_size)
                        return entry_error(u, -EFBIG, name, "larger than the limit of %" PRIu64 " bytes",
                                           u->max_entry_size);
                for (size_t done = 0; done < n;) {
                        ssize_t k = pwrite(fd, (const char *) block + done, n - done, offset + (off_t) done);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0)
                                return entry_error(u, negative_errno(), name, "write: %m");
                        done += (size_t) k;
                }
                end = MAX(end, (uint64_t) offset + n);
        }
        /* Sparse files end in a hole. */
        if ((uint64_t) size > end && ftruncate(fd, size) < 0)
                return entry_error(u, negative_errno(), name, "truncate: %m");
        return 0;
}

static int unpack_whiteout(Unpack *u, const char *name, int dir_fd, const char *base) {
        const char *target = base + strlen(WHITEOUT_PREFIX);
        int r;

        if (streq(base, WHITEOUT_OPAQUE)) {
                _cleanup_close_ int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                if (fd < 0 || fsetxattr(fd, OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0)
                        return entry_error(u, negative_errno(), name, "mark the directory opaque: %m");
                return 0;
        }
        if (strneq(base, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX))) {
                /* aufs' own bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing for overlay. */
                log_debug("layer %s: entry '%s': aufs metadata skipped", u->layer, name);
                return 0;
        }
        if (!*target || streq(target, ".") || streq(target, ".."))
                return entry_error(u, -EPERM, name, "whiteout of nothing");
        r = make_room(u, dir_fd, target, false);
        if (r < 0)
                return entry_error(u, r, name, "remove what the whiteout hides: %m");
        if (mknodat(dir_fd, target, S_IFCHR | 0, makedev(0, 0)) < 0)
                return entry_error(u, negative_errno(), name, "make the whiteout: %m");
        return 0;
}

static int unpack_hardlink(Unpack *u, const char *name, const char *link_name, int dir_fd, const char *base) {
        _cleanup_free_ char *target = NULL;
        _cleanup_close_ int target_dir = -EBADF;
        const char *reason = NULL, *target_base;
        char *slash;
        struct stat st;
        int r;

        r = normalize_name(link_name, &target, &reason);
        if (r < 0)
                return entry_error(u, r, name, "hardlink to '%s': %s", link_name, reason ?: strerror(-r));
        if (!*target)
                return entry_error(u, -EPERM, name, "hardlink to the layer's root");
        slash = strrchr(target, '/');
        if (slash) {
                *slash = 0;
                target_base = slash + 1;
        } else
                target_base = target;
        target_dir = open_dir_beneath(u, slash ? target : "", false, &reason);
        if (target_dir < 0)
                return entry_error(u, target_dir, name, "hardlink to '%s': %s", link_name,
                                   reason ?: "no such entry earlier in the layer");
        if (fstatat(target_dir, target_base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return entry_error(u, -ENOENT, name, "hardlink to '%s': no such entry earlier in the layer", link_name);
        if (S_ISDIR(st.st_mode))
                return entry_error(u, -EPERM, name, "hardlink to directory '%s'", link_name);
        {
                /* A link to itself: nothing to do. */
                struct stat own;
                if (fstatat(dir_fd, base, &own, AT_SYMLINK_NOFOLLOW) >= 0 && own.st_ino == st.st_ino &&
                    own.st_dev == st.st_dev)
                        return 0;
        }
        r = make_room(u, dir_fd, base, false);
        if (r < 0)
                return entry_error(u, r, name, "replace: %m");
        if (linkat(target_dir, target_base, dir_fd, base, 0) < 0)
                return entry_error(u, negative_errno(), name, "hardlink to '%s': %m", link_name);
        return 0;
}

static const char *entry_link(struct archive_entry *e, bool hard) {
        const char *s = hard ? archive_entry_hardlink(e) : archive_entry_symlink(e);
        return s ?: (hard ? archive_entry_hardlink_utf8(e) : archive_entry_symlink_utf8(e));
}

static int unpack_entry(Unpack *u, struct archive_entry *e) {
        _cleanup_free_ char *name = NULL;
        const char *raw_name = archive_entry_pathname(e) ?: archive_entry_pathname_utf8(e), *reason = NULL, *base,
                   *hardlink = entry_link(e, true);
        mode_t type = archive_entry_filetype(e);
        char *slash;
        int dir_fd, r;

        if (!raw_name)
                return unpack_error(u, -EBADMSG, "an entry without a name (a corrupt layer?)");
        r = normalize_name(raw_name, &name, &reason);
        if (r < 0)
                return entry_error(u, r, raw_name, "%s", reason ?: strerror(-r));
        if (!*name)
                return 0; /* "./": the layer's root is ours */

        slash = strrchr(name, '/');
        base = slash ? slash + 1 : name;
        if (slash)
                *slash = 0;
        dir_fd = open_parent(u, slash ? name : "", &reason);
        if (slash)
                *slash = '/';
        if (dir_fd < 0)
                return entry_error(u, dir_fd, name, "%s", reason ?: strerror(-dir_fd));

        if (strneq(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)))
                return unpack_whiteout(u, name, dir_fd, base);
        if (hardlink)
                return unpack_hardlink(u, name, hardlink, dir_fd, base);

        switch (type) {
        case AE_IFREG: {
                _cleanup_close_ int fd = -EBADF;
                la_int64_t size = archive_entry_size(e);

                if (size < 0 || (uint64_t) size > u->max_entry_size)
                        return entry_error(u, -EFBIG, name, "%lld bytes, larger than the limit of %" PRIu64 " bytes",
                                           (long long) size, u->max_entry_size);
                r = make_room(u, dir_fd, base, false);
                if (r < 0)
                        return entry_error(u, r, name, "replace: %m");
                fd = openat(dir_fd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return entry_error(u, negative_errno(), name, "create: %m");
                r = write_file_data(u, name, fd, size);
                if (r < 0)
                        return r;
                return apply_metadata(u, e, name, fd, dir_fd, base, false);
        }
        case AE_IFDIR: {
                _cleanup_close_ int fd = -EBADF;

                r = make_room(u, dir_fd, base, true);
                if (r < 0)
                        return entry_error(u, r, name, "replace: %m");
                if (r == 0 && mkdirat(dir_fd, base, 0700) < 0)
                        return entry_error(u, negative_errno(), name, "mkdir: %m");
                fd = openat(dir_fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return entry_error(u, negative_errno(), name, "open: %m");
                r = apply_metadata(u, e, name, fd, dir_fd, base, false);
                if (r < 0)
                        return r;
                return archive_entry_mtime_is_set(e) ? add_dir_times(u, name, e) : 0;
        }
        case AE_IFLNK: {
                const char *target = entry_link(e, false);

                if (!target)
                        return entry_error(u, -EINVAL, name, "symlink without a target");
                r = make_room(u, dir_fd, base, false);
                if (r < 0)
                        return entry_error(u, r, name, "replace: %m");
                /* Any target is fine: a symlink is resolved in the container's root, and
                 * this code never writes through one. */
                if (symlinkat(target, dir_fd, base) < 0)
                        return entry_error(u, negative_errno(), name, "symlink: %m");
                return apply_metadata(u, e, name, -EBADF, dir_fd, base, true);
        }
        case AE_IFIFO:
                r = make_room(u, dir_fd, base, false);
                if (r < 0)
                        return entry_error(u, r, name, "replace: %m");
                if (mknodat(dir_fd, base, S_IFIFO | 0600, 0) < 0)
                        return entry_error(u, negative_errno(), name, "mkfifo: %m");
                return apply_metadata(u, e, name, -EBADF, dir_fd, base, false);
        case AE_IFCHR:
        case AE_IFBLK:
                if (type == AE_IFCHR && archive_entry_rdevmajor(e) == 0 && archive_entry_rdevminor(e) == 0) {
                        /* Already in overlay form: a whiteout. */
                        r = make_room(u, dir_fd, base, false);
                        if (r < 0)
                                return entry_error(u, r, name, "replace: %m");
                        if (mknodat(dir_fd, base, S_IFCHR, makedev(0, 0)) < 0)
                                return entry_error(u, negative_errno(), name, "make the whiteout: %m");
                        return 0;
                }
                return entry_error(u, -EPERM, name, "%s device %u:%u refused (images carry no devices)",
                                   type == AE_IFCHR ? "character" : "block", (unsigned) archive_entry_rdevmajor(e),
                                   (unsigned) archive_entry_rdevminor(e));
        case AE_IFSOCK:
                log_debug("layer %s: entry '%s': socket skipped", u->layer, name);
                return 0;
        default:
                return entry_error(u, -EPERM, name, "unknown file type 0%o", (unsigned) type);
        }
}

static int set_dir_times(Unpack *u) {
        for (size_t i = u->n_dirs; i > 0; i--) {
                DirTimes *d = &u->dirs[i - 1];
                const char *reason = NULL;
                _cleanup_close_ int fd = open_dir_beneath(u, d->path, false, &reason);

                /* Gone (replaced later in the layer) is fine. */
                if (fd < 0)
                        continue;
                if (utimensat(fd, "", d->times, AT_EMPTY_PATH) < 0)
                        return entry_error(u, negative_errno(), d->path, "set times: %m");
        }
        return 0;
}

static int drain(Unpack *u) {
        /* The tar's end leaves padding in the stream and the compressed stream may have
         * more after it: both digests cover everything. */
        for (;;) {
                const void *buf;
                la_ssize_t n = read_uncompressed(u->tar, u, &buf);
                if (n < 0)
                        return unpack_error(u, -EIO, "%s", u->raw_error ?: "read error");
                if (n == 0)
                        break;
        }
        for (;;) {
                const void *buf;
                la_ssize_t n = read_blob(u->raw, u, &buf);
                if (n < 0)
                        return unpack_error(u, -EIO, "reading the blob: %s", strerror(errno));
                if (n == 0)
                        return 0;
        }
}

static int unpack_stream(Unpack *u, char diff_id[static DIGEST_SHA256_STRLEN + 1]) {
        char blob_digest[DIGEST_SHA256_STRLEN + 1];
        struct archive_entry *e;
        int r;

        u->raw = archive_read_new();
        u->tar = archive_read_new();
        if (!u->raw || !u->tar)
                return -ENOMEM;
        if (archive_read_support_filter_gzip(u->raw) != ARCHIVE_OK ||
            archive_read_support_filter_zstd(u->raw) != ARCHIVE_OK ||
            archive_read_support_format_raw(u->raw) != ARCHIVE_OK ||
            archive_read_support_format_tar(u->tar) != ARCHIVE_OK)
                return unpack_error(u, -EOPNOTSUPP, "libarchive lacks gzip, zstd or tar: %s",
                                    archive_error_string(u->raw) ?: archive_error_string(u->tar) ?: "?");
        if (archive_read_open(u->raw, u, NULL, read_blob, NULL) != ARCHIVE_OK ||
            archive_read_next_header(u->raw, &e) != ARCHIVE_OK)
                return unpack_error(u, -EBADMSG, "not a layer: %s", archive_error_string(u->raw) ?: "empty");
        if (archive_read_open(u->tar, u, NULL, read_uncompressed, NULL) != ARCHIVE_OK)
                return unpack_error(u, -EBADMSG, "not a tar: %s",
                                    u->raw_error ?: archive_error_string(u->tar) ?: "?");

        for (;;) {
                r = archive_read_next_header(u->tar, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return unpack_error(u, -EBADMSG, "after %s: %s", u->parent_path ? "some entries" : "the start",
                                            u->raw_error ?: archive_error_string(u->tar) ?: "bad tar header");
                r = unpack_entry(u, e);
                if (r < 0)
                        return r;
        }
        r = drain(u);
        if (r < 0)
                return r;
        r = set_dir_times(u);
        if (r < 0)
                return r;

        sha256_final(u->blob_hash, blob_digest);
        sha256_final(u->tar_hash, diff_id);
        if (u->o->digest && !streq(u->o->digest, blob_digest))
                return unpack_error(u, -EBADMSG, "digest mismatch: the blob is %s", blob_digest);
        if (u->o->diff_id && !streq(u->o->diff_id, diff_id))
                return unpack_error(u, -EBADMSG, "diffID mismatch: the uncompressed layer is %s, the image config says %s",
                                    diff_id, u->o->diff_id);
        return 0;
}

static void unpack_done(Unpack *u) {
        drop_parent_cache(u);
        if (u->raw)
                archive_read_free(u->raw);
        if (u->tar)
                archive_read_free(u->tar);
        sha256_free(u->blob_hash);
        sha256_free(u->tar_hash);
        free(u->raw_error);
        for (size_t i = 0; i < u->n_dirs; i++)
                free(u->dirs[i].path);
        free(u->dirs);
        if (u->root_fd >= 0)
                close(u->root_fd);
}

int layer_unpack(int fd, const char *dest, const LayerUnpackOptions *o,
                 char ret_diff_id[DIGEST_SHA256_STRLEN + 1], char **ret_error) {
        static const LayerUnpackOptions defaults = {};
        _cleanup_free_ char *tmp = NULL, *copy = NULL;
        _cleanup_close_ int parent_fd = -EBADF;
        char diff_id[DIGEST_SHA256_STRLEN + 1];
        const char *tmp_base;
        Unpack u = {
                .o = o ?: &defaults,
                .ret_error = ret_error,
                .blob_fd = fd,
                .root_fd = -EBADF,
                .parent_fd = -EBADF,
        };
        int r;

        u.layer = u.o->digest ?: "(unnamed)";
        u.max_entry_size = u.o->max_entry_size ?: LAYER_MAX_ENTRY_SIZE_DEFAULT;
        if (ret_error)
                *ret_error = NULL;

        /* The temporary beside dest: ".tmp-<dest's name>-XXXXXX". */
        copy = strdup(dest);
        if (!copy)
                return -ENOMEM;
        {
                char *slash = strrchr(copy, '/');
                const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
                const char *name = slash ? slash + 1 : copy;

                if (slash)
                        *slash = 0;
                if (asprintf(&tmp, "%s/.tmp-%.32s-XXXXXX", dir, name) < 0)
                        return -ENOMEM;
                parent_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (parent_fd < 0)
                        return unpack_error(&u, negative_errno(), "open %s: %m", dir);
        }
        if (!mkdtemp(tmp))
                return unpack_error(&u, negative_errno(), "make a temporary directory beside %s: %m", dest);
        tmp_base = strrchr(tmp, '/') + 1;

        r = sha256_new(&u.blob_hash);
        if (r >= 0)
                r = sha256_new(&u.tar_hash);
        if (r >= 0) {
                u.root_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (u.root_fd < 0 || fchmod(u.root_fd, 0755) < 0)
                        r = unpack_error(&u, negative_errno(), "open %s: %m", tmp);
        }
        if (r >= 0)
                r = unpack_stream(&u, diff_id);
        /* Durable before it gets its name: a crash leaves a temporary or the whole. */
        if (r >= 0 && syncfs(u.root_fd) < 0)
                r = unpack_error(&u, negative_errno(), "sync: %m");
        if (r >= 0 && renameat(parent_fd, tmp_base, parent_fd, strrchr(dest, '/') ? strrchr(dest, '/') + 1 : dest) < 0) {
                if (errno == EEXIST || errno == ENOTEMPTY)
                        log_debug("layer %s: %s appeared meanwhile", u.layer, dest);
                else
                        r = unpack_error(&u, negative_errno(), "rename %s to %s: %m", tmp, dest);
                (void) rm_rf_at(parent_fd, tmp_base);
        } else if (r < 0) {
                int k = rm_rf_at(parent_fd, tmp_base);
                if (k < 0)
                        log_warning_errno(k, "layer %s: removing %s: %m", u.layer, tmp);
        }
        unpack_done(&u);
        if (r >= 0 && ret_diff_id)
                memcpy(ret_diff_id, diff_id, sizeof(diff_id));
        return r < 0 ? unpack_error(&u, r, "%m") : r;
}
