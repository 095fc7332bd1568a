/* SPDX-License-Identifier: Apache-2.0 */
/* A container's root filesystem from the image store: overlayfs with the image's layers
 * as lowerdirs (top first) and the container's own upper and work directories.
 *
 * The new mount API's "lowerdir+" (Linux 6.8) adds one layer per fsconfig() call, so the
 * number of layers is not bounded by mount(2)'s one page of options; older kernels get
 * mount(2) with layer paths relative to layers/ (chdir'ed to in a child, so this process's
 * working directory never changes). */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "error.h"
#include "fileio.h"
#include "image-store-private.h"
#include "layer-unpack.h"
#include "log.h"
#include "macro.h"

#define CONTAINER_ID_MAX 128

static bool container_id_valid(const char *id) {
        size_t n = strlen(id);

        if (n == 0 || n > CONTAINER_ID_MAX || id[0] == '.' || id[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
                      id[i] == '_' || id[i] == '-' || id[i] == '.'))
                        return false;
        return true;
}

/* The kernel's own words on a failed fsconfig (overlay says which option it disliked). */
static void fs_context_message(int fs_fd, char *buf, size_t size) {
        ssize_t n;

        buf[0] = 0;
        while ((n = read(fs_fd, buf, size - 1)) > 0) {
                buf[n] = 0;
                if (buf[n - 1] == '\n')
                        buf[n - 1] = 0;
        }
}

static int mount_new_api(const ImageInfo *image, const char *layers, const char *upper, const char *work,
                         const char *target, char **ret_error) {
        _cleanup_close_ int fs_fd = -EBADF, mnt_fd = -EBADF;
        char message[512] = "";

        fs_fd = fsopen("overlay", FSOPEN_CLOEXEC);
        if (fs_fd < 0)
                return error_set(ret_error, negative_errno(), "fsopen overlay: %m");
        for (size_t i = image->n_layers; i > 0; i--) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s/%s", layers, image->layers[i - 1].chain_id + 7) < 0)
                        return -ENOMEM;
                if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "lowerdir+", path, 0) < 0) {
                        int r = negative_errno();
                        fs_context_message(fs_fd, message, sizeof(message));
                        if (r == -EINVAL && i == image->n_layers)
                                return -EOPNOTSUPP; /* a kernel before 6.8: no lowerdir+ */
                        return error_set(ret_error, r, "overlay lowerdir %s: %m%s%s", path, *message ? ": " : "",
                                         message);
                }
        }
        if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
            fsconfig(fs_fd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
            fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
                int r = negative_errno();
                fs_context_message(fs_fd, message, sizeof(message));
                return error_set(ret_error, r, "overlay: %m%s%s", *message ? ": " : "", message);
        }
        mnt_fd = fsmount(fs_fd, FSMOUNT_CLOEXEC, 0);
        if (mnt_fd < 0)
                return error_set(ret_error, negative_errno(), "fsmount overlay: %m");
        if (move_mount(mnt_fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return error_set(ret_error, negative_errno(), "mount overlay on %s: %m", target);
        return 0;
}

static int mount_legacy(const ImageInfo *image, const char *layers, const char *upper, const char *work,
                        const char *target, char **ret_error) {
        _cleanup_free_ char *options = NULL;
        size_t len = 0;
        pid_t pid;
        int status;
        FILE *f = open_memstream(&options, &len);

        if (!f)
                return -ENOMEM;
        fputs("lowerdir=", f);
        for (size_t i = image->n_layers; i > 0; i--)
                fprintf(f, "%s%s", i == image->n_layers ? "" : ":", image->layers[i - 1].chain_id + 7);
        fprintf(f, ",upperdir=%s,workdir=%s", upper, work);
        if (fclose(f) != 0)
                return -ENOMEM;
        if (len >= 4096)
                return error_set(ret_error, -E2BIG, "overlay: %zu layers make options longer than a page", image->n_layers);

        /* Relative lowerdirs are resolved against the working directory: a child's. */
        pid = fork();
        if (pid < 0)
                return error_set(ret_error, negative_errno(), "fork: %m");
        if (pid == 0)
                _exit(chdir(layers) < 0 || mount("overlay", target, "overlay", 0, options) < 0 ? errno : 0);
        if (waitpid(pid, &status, 0) < 0)
                return error_set(ret_error, negative_errno(), "waitpid: %m");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return error_set(ret_error, WIFEXITED(status) ? -WEXITSTATUS(status) : -EIO,
                                 "mount overlay on %s: %m", target);
        return 0;
}

int image_rootfs_create(ImageStore *s, const char *ref_or_id, const char *container_id, const char *target,
                        char **ret_error) {
        _cleanup_(image_info_freep) ImageInfo *image = NULL;
        _cleanup_free_ char *dir = NULL, *upper = NULL, *work = NULL, *layers_file = NULL, *layers = NULL,
                            *list = NULL;
        _cleanup_close_ int lock = -EBADF;
        size_t list_len = 0;
        FILE *f;
        int r;

        if (!container_id_valid(container_id))
                return error_set(ret_error, -EINVAL,
                                 "container id '%s': want [A-Za-z0-9_.-]{1,%d}, not starting with '.' or '-'",
                                 container_id, CONTAINER_ID_MAX);
        r = store_lock_find(s, LOCK_EX, ref_or_id, &lock, &image, ret_error);
        if (r < 0)
                return r;
        if (image->n_layers == 0)
                return error_set(ret_error, -EINVAL, "image '%s' has no layers", ref_or_id);

        if (asprintf(&dir, "%s/containers/%s", s->root, container_id) < 0 || asprintf(&upper, "%s/upper", dir) < 0 ||
            asprintf(&work, "%s/work", dir) < 0 || asprintf(&layers_file, "%s/layers", dir) < 0 ||
            !(layers = store_path(s, "layers")))
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0)
                return error_set(ret_error, negative_errno(), "container %s: make %s: %m%s", container_id, dir,
                                 errno == EEXIST ? " (it has a rootfs already)" : "");

        /* Its layers are held from here on: prune keeps what containers/<id>/layers names. */
        f = open_memstream(&list, &list_len);
        if (!f) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < image->n_layers; i++)
                fprintf(f, "%s\n", image->layers[i].chain_id);
        if (fclose(f) != 0) {
                r = -ENOMEM;
                goto fail;
        }
        r = write_file_atomic(layers_file, list, list_len, 0600);
        if (r < 0) {
                r = error_set(ret_error, r, "container %s: write %s: %m", container_id, layers_file);
                goto fail;
        }
        if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0) {
                r = error_set(ret_error, negative_errno(), "container %s: make upper and work in %s: %m", container_id,
                              dir);
                goto fail;
        }
        for (size_t i = 0; i < image->n_layers; i++) {
                _cleanup_free_ char *p = store_layer_path(s, image->layers[i].chain_id);
                if (!p || access(p, F_OK) < 0) {
                        r = error_set(ret_error, p ? -ENOENT : -ENOMEM, "container %s: layer %s is not unpacked",
                                      container_id, image->layers[i].chain_id);
                        goto fail;
                }
        }

        r = mount_new_api(image, layers, upper, work, target, ret_error);
        if (r == -EOPNOTSUPP)
                r = mount_legacy(image, layers, upper, work, target, ret_error);
        if (r < 0) {
                r = error_wrap(ret_error, r, "container %s", container_id);
                goto fail;
        }
        log_debug("container %s: rootfs on %s from %s (%zu layers)", container_id, target, image->manifest_digest,
                  image->n_layers);
        return 0;
fail:
        (void) rm_rf_at(AT_FDCWD, dir);
        return r;
}

int image_rootfs_remove(ImageStore *s, const char *container_id, const char *target, char **ret_error) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int lock = -EBADF;
        int r;

        if (!container_id_valid(container_id))
                return error_set(ret_error, -EINVAL, "container id '%s' is not valid", container_id);
        if (target && umount2(target, UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
                return error_set(ret_error, negative_errno(), "container %s: unmount %s: %m", container_id, target);
        r = store_lock(s, true, &lock, ret_error);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/containers/%s", s->root, container_id) < 0)
                return -ENOMEM;
        r = rm_rf_at(AT_FDCWD, dir);
        if (r < 0)
                return error_set(ret_error, r, "container %s: remove %s: %m", container_id, dir);
        return 0;
}
