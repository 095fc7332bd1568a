/* SPDX-License-Identifier: Apache-2.0 */
/* Imports into the image store: OCI image layouts and `docker save` archives, each as a
 * directory or a tar (plain, gzip or zstd).
 *
 * A directory is read with openat2(RESOLVE_IN_ROOT): its symlinks cannot lead out of it.
 * A tar is streamed once: each regular file goes straight into blobs/ (hashed as it is
 * written; a file named blobs/sha256/<hex> must have that digest), its name remembered;
 * then the JSON files are read back from the store. So neither kind of source is
 * unpacked anywhere, and every blob is verified before anything uses it. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "error.h"
#include "image-manifest.h"
#include "image-ref.h"
#include "image-store-private.h"
#include "json-util.h"
#include "layer-unpack.h"
#include "log.h"
#include "macro.h"

#define LINK_HOPS_MAX 8

typedef struct ArchiveFile {
        char *name;
        char *link; /* a symlink or hardlink: the name it stands for */
        char digest[DIGEST_SHA256_STRLEN + 1];
        int64_t size;
} ArchiveFile;

typedef struct ImportSource {
        ImageStore *store;
        const char *path;
        int dir_fd; /* a directory, or -EBADF for an archive */
        ArchiveFile *files;
        size_t n_files;
} ImportSource;

static void source_done(ImportSource *src) {
        for (size_t i = 0; i < src->n_files; i++) {
                free(src->files[i].name);
                free(src->files[i].link);
        }
        free(src->files);
        if (src->dir_fd >= 0)
                close(src->dir_fd);
}

/* "./a//b/../c" -> "a/c", resolved lexically; -EPERM when it climbs out of the top. */
static int clean_name(const char *name, char **ret) {
        _cleanup_free_ char *out = malloc(strlen(name) + 1);
        char *o;

        if (!out)
                return -ENOMEM;
        if (name[0] == '/')
                return -EPERM;
        o = out;
        for (const char *p = name; *p;) {
                size_t n = strcspn(p, "/");

                if (n == 2 && strneq(p, "..", 2)) {
                        char *slash;
                        if (o == out)
                                return -EPERM;
                        *o = 0;
                        slash = strrchr(out, '/');
                        o = slash ? slash : out;
                } else if (n > 0 && !(n == 1 && p[0] == '.')) {
                        if (o != out)
                                *o++ = '/';
                        memcpy(o, p, n);
                        o += n;
                }
                p += n;
                p += strspn(p, "/");
        }
        *o = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

static const ArchiveFile *source_find(const ImportSource *src, const char *name) {
        const char *want = name;

        for (int hop = 0; hop < LINK_HOPS_MAX; hop++) {
                const ArchiveFile *f = NULL;

                for (size_t i = 0; i < src->n_files && !f; i++)
                        if (streq(src->files[i].name, want))
                                f = &src->files[i];
                if (!f || !f->link)
                        return f;
                want = f->link;
        }
        return NULL;
}

static int source_open(const ImportSource *src, const char *name) {
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        int fd = (int) syscall(SYS_openat2, src->dir_fd, name, &how, sizeof(how));
        struct stat st;

        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return -EBADF;
        }
        return fd;
}

/* A file of the source into the store (when not there yet), as a blob; with expected,
 * it must have that digest. */
static int source_blob(ImportSource *src, const char *name, const char *expected, char ret_digest[DIGEST_SHA256_STRLEN + 1],
                       int64_t *ret_size, char **ret_error) {
        _cleanup_free_ char *what = NULL;
        int64_t size = 0;
        int r;

        if (asprintf(&what, "%s '%s'", expected ? "blob" : "file", name) < 0)
                return -ENOMEM;
        if (expected && store_has_blob(src->store, expected)) {
                _cleanup_free_ char *p = store_blob_path(src->store, expected);
                struct stat st;
                if (!p)
                        return -ENOMEM;
                if (stat(p, &st) >= 0)
                        size = st.st_size;
                memcpy(ret_digest, expected, DIGEST_SHA256_STRLEN + 1);
        } else if (src->dir_fd >= 0) {
                _cleanup_close_ int fd = source_open(src, name);

                if (fd < 0)
                        return error_set(ret_error, fd, "%s: %m", what);
                r = store_blob_write_fd(src->store, fd, expected, what, ret_digest, &size, ret_error);
                if (r < 0)
                        return r;
        } else {
                const ArchiveFile *f = source_find(src, name);

                if (!f)
                        return error_set(ret_error, -ENOENT, "%s: not in the archive", what);
                if (expected && !streq(expected, f->digest))
                        return error_set(ret_error, -EBADMSG, "%s: digest mismatch: expected %s, the content is %s",
                                         what, expected, f->digest);
                memcpy(ret_digest, f->digest, DIGEST_SHA256_STRLEN + 1);
                size = f->size;
        }
        if (ret_size)
                *ret_size = size;
        return 0;
}

/* A small JSON file of the source, whole. */
static int source_read(ImportSource *src, const char *name, char **ret, size_t *ret_size, char **ret_error) {
        char digest[DIGEST_SHA256_STRLEN + 1];
        int r;

        if (src->dir_fd >= 0) {
                _cleanup_close_ int fd = source_open(src, name);
                _cleanup_free_ char *buf = NULL;
                size_t size = 0;

                if (fd < 0)
                        return error_set(ret_error, fd, "'%s': %m", name);
                buf = malloc(MANIFEST_SIZE_MAX + 1);
                if (!buf)
                        return -ENOMEM;
                for (;;) {
                        ssize_t n = read(fd, buf + size, MANIFEST_SIZE_MAX + 1 - size);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return error_set(ret_error, negative_errno(), "'%s': %m", name);
                        if (n == 0)
                                break;
                        size += (size_t) n;
                        if (size > MANIFEST_SIZE_MAX)
                                return error_set(ret_error, -EFBIG, "'%s': larger than %d bytes", name,
                                                 MANIFEST_SIZE_MAX);
                }
                buf[size] = 0;
                *ret = TAKE_PTR(buf);
                *ret_size = size;
                return 0;
        }
        r = source_blob(src, name, NULL, digest, NULL, ret_error);
        if (r < 0)
                return r;
        return store_blob_read(src->store, digest, ret, ret_size, ret_error);
}

static bool source_has(ImportSource *src, const char *name) {
        if (src->dir_fd >= 0) {
                _cleanup_close_ int fd = source_open(src, name);
                return fd >= 0;
        }
        return source_find(src, name) != NULL;
}

static ssize_t read_entry(void *userdata, void *buf, size_t size) {
        la_ssize_t n = archive_read_data(userdata, buf, size);

        return n < 0 ? -EIO : n;
}

static int add_file(ImportSource *src, ArchiveFile *f) {
        ArchiveFile *bigger = reallocarray(src->files, src->n_files + 1, sizeof(ArchiveFile));

        if (!bigger)
                return -ENOMEM;
        src->files = bigger;
        src->files[src->n_files++] = *f;
        return 0;
}

/* Streams a tar's regular files into the store (see the top of this file). */
static int archive_load(ImportSource *src, char **ret_error) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        int r = 0;

        if (!a)
                return -ENOMEM;
        if (archive_read_support_filter_gzip(a) != ARCHIVE_OK || archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
            archive_read_support_format_tar(a) != ARCHIVE_OK) {
                archive_read_free(a);
                return error_set(ret_error, -EOPNOTSUPP, "libarchive lacks tar, gzip or zstd");
        }
        if (archive_read_open_filename(a, src->path, 256 * 1024) != ARCHIVE_OK) {
                r = error_set(ret_error, -EBADMSG, "%s", archive_error_string(a) ?: "cannot read");
                archive_read_free(a);
                return r;
        }
        while ((r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
                const char *raw = archive_entry_pathname(e) ?: archive_entry_pathname_utf8(e);
                const char *hard = archive_entry_hardlink(e), *sym = archive_entry_symlink(e);
                ArchiveFile f = {};

                if (r < ARCHIVE_WARN) {
                        r = error_set(ret_error, -EBADMSG, "%s", archive_error_string(a) ?: "bad tar header");
                        break;
                }
                r = 0;
                if (!raw || clean_name(raw, &f.name) < 0) {
                        r = error_set(ret_error, -EPERM, "entry '%s': absolute or leaves the archive", raw ?: "");
                        break;
                }
                if (hard || (archive_entry_filetype(e) == AE_IFLNK && sym)) {
                        _cleanup_free_ char *joined = NULL;
                        char *slash = strrchr(f.name, '/');

                        /* hardlink names are from the top, symlink targets from the link's directory */
                        if (hard)
                                joined = strdup(hard);
                        else if (sym[0] == '/')
                                joined = NULL;
                        else if (asprintf(&joined, "%.*s%s%s", slash ? (int) (slash - f.name) : 0, f.name,
                                          slash ? "/" : "", sym) < 0)
                                joined = NULL;
                        if (!joined || clean_name(joined, &f.link) < 0) {
                                r = error_set(ret_error, -EPERM, "entry '%s': link to '%s' leads out of the archive",
                                              f.name, hard ?: sym);
                                free(f.name);
                                break;
                        }
                } else if (archive_entry_filetype(e) == AE_IFREG) {
                        _cleanup_free_ char *what = NULL, *expected = NULL;

                        if (strneq(f.name, "blobs/sha256/", 13) && asprintf(&expected, "sha256:%s", f.name + 13) < 0)
                                r = -ENOMEM;
                        if (r >= 0 && expected && !digest_is_sha256(expected))
                                r = error_set(ret_error, -EBADMSG, "entry '%s': not named by a sha256 digest", f.name);
                        if (r >= 0 && asprintf(&what, "%s '%s'", expected ? "blob" : "file", f.name) < 0)
                                r = -ENOMEM;
                        if (r >= 0)
                                r = store_blob_write(src->store, read_entry, a, expected, what, f.digest, &f.size,
                                                     ret_error);
                        if (r < 0 && ret_error && !*ret_error)
                                r = error_set(ret_error, r, "entry '%s': %s", f.name,
                                              archive_error_string(a) ?: strerror(-r));
                } else {
                        free(f.name);
                        continue;
                }
                if (r >= 0)
                        r = add_file(src, &f);
                if (r < 0) {
                        free(f.name);
                        free(f.link);
                        break;
                }
        }
        if (r == ARCHIVE_EOF)
                r = 0;
        archive_read_free(a);
        return r;
}

/* --- images ---------------------------------------------------------------------------- */

static char *oci_blob_name(const char *digest) {
        char *p;

        return asprintf(&p, "blobs/sha256/%s", digest + 7) < 0 ? NULL : p;
}

/* Unpacks one layer (from its blob in the store) unless its chain is there already. */
static int ensure_layer(ImportSource *src, const ImageLayerInfo *l, char **ret_error) {
        _cleanup_free_ char *dest = store_layer_path(src->store, l->chain_id), *blob = NULL;
        _cleanup_close_ int fd = -EBADF;
        LayerUnpackOptions o = {
                .digest = l->digest,
                .diff_id = l->diff_id,
                .max_entry_size = src->store->max_entry_size,
        };

        if (!dest || !(blob = store_blob_path(src->store, l->digest)))
                return -ENOMEM;
        if (access(dest, F_OK) >= 0)
                return 0;
        fd = open(blob, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "layer %s: open %s: %m", l->digest, blob);
        return layer_unpack(fd, dest, &o, NULL, ret_error);
}

/* An image manifest whose blob is in the store: its config and layers in, layers
 * unpacked, the record and the names written. */
static int import_manifest(ImportSource *src, const char *manifest_digest, const Manifest *m, char **names,
                           char **ret_error) {
        _cleanup_(image_config_freep) ImageConfig *config = NULL;
        _cleanup_free_ char *config_name = NULL, *text = NULL;
        char digest[DIGEST_SHA256_STRLEN + 1];
        ImageInfo record = {};
        size_t size;
        int r;

        if (!(config_name = oci_blob_name(m->config.digest)))
                return -ENOMEM;
        r = source_blob(src, config_name, m->config.digest, digest, NULL, ret_error);
        if (r < 0)
                return r;
        r = store_blob_read(src->store, m->config.digest, &text, &size, ret_error);
        if (r < 0)
                return r;
        r = image_config_parse(text, size, &config, ret_error);
        if (r < 0)
                return error_set(ret_error, r, "config %s: %m", m->config.digest);
        if (config->n_diff_ids != m->n_layers)
                return error_set(ret_error, -EBADMSG, "image %s: %zu layers but %zu diff_ids in its config",
                                 manifest_digest, m->n_layers, config->n_diff_ids);

        record = (ImageInfo) {
                .manifest_digest = strdup(manifest_digest),
                .config_digest = strdup(m->config.digest),
                .media_type = m->media_type ? strdup(m->media_type) : NULL,
                .os = config->os ? strdup(config->os) : NULL,
                .architecture = config->architecture ? strdup(config->architecture) : NULL,
                .layers = calloc(m->n_layers + 1, sizeof(ImageLayerInfo)),
                .n_layers = m->n_layers,
        };
        if (!record.manifest_digest || !record.config_digest || !record.layers) {
                image_info_done(&record);
                return -ENOMEM;
        }
        for (size_t i = 0; i < m->n_layers && r >= 0; i++) {
                _cleanup_free_ char *name = oci_blob_name(m->layers[i].digest);
                ImageLayerInfo *l = &record.layers[i];
                char chain[DIGEST_SHA256_STRLEN + 1];

                r = name ? 0 : -ENOMEM;
                if (r >= 0)
                        r = source_blob(src, name, m->layers[i].digest, digest, &l->size, ret_error);
                if (r >= 0)
                        r = layer_chain_id(i > 0 ? record.layers[i - 1].chain_id : NULL, config->diff_ids[i], chain);
                if (r < 0)
                        break;
                l->digest = strdup(m->layers[i].digest);
                l->diff_id = strdup(config->diff_ids[i]);
                l->chain_id = strdup(chain);
                l->media_type = m->layers[i].media_type ? strdup(m->layers[i].media_type) : NULL;
                if (!l->digest || !l->diff_id || !l->chain_id)
                        r = -ENOMEM;
                record.size += l->size;
        }
        for (size_t i = 0; i < m->n_layers && r >= 0; i++)
                r = ensure_layer(src, &record.layers[i], ret_error);
        if (r >= 0)
                r = store_add_image(src->store, &record, names, ret_error);
        image_info_done(&record);
        return r;
}

/* A descriptor of an OCI index: an image manifest, or an index to pick this platform from. */
static int import_descriptor(ImportSource *src, const Descriptor *d, char **names, int depth, char **ret_error) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *name = oci_blob_name(d->digest), *text = NULL;
        char digest[DIGEST_SHA256_STRLEN + 1];
        size_t size;
        int r;

        if (!name)
                return -ENOMEM;
        r = source_blob(src, name, d->digest, digest, NULL, ret_error);
        if (r < 0)
                return r;
        r = store_blob_read(src->store, d->digest, &text, &size, ret_error);
        if (r < 0)
                return r;
        r = manifest_parse(text, size, d->media_type, &m, ret_error);
        if (r < 0)
                return error_set(ret_error, r, "manifest %s: %m", d->digest);
        if (m->kind == MANIFEST_INDEX) {
                const Descriptor *child;
                Platform host;

                if (depth > 0)
                        return error_set(ret_error, -EBADMSG, "index %s: an index inside an index inside an index",
                                         d->digest);
                platform_host(&host);
                child = manifest_select_platform(m, &host);
                if (!child)
                        return error_set(ret_error, -ENOENT, "index %s: no manifest for %s/%s%s%s among its %zu",
                                         d->digest, host.os, host.architecture, *host.variant ? "/" : "",
                                         host.variant, m->n_manifests);
                return import_descriptor(src, child, names, depth + 1, ret_error);
        }
        return import_manifest(src, d->digest, m, names, ret_error);
}

/* Names for an image: `name` when given, else what the source says. */
static int names_for(const char *name, const char *from_source, char ***ret, char **ret_error) {
        _cleanup_strv_free_ char **l = calloc(2, sizeof(char *));
        int r;

        if (!l)
                return -ENOMEM;
        if (name || from_source) {
                r = image_ref_normalize(name ?: from_source, &l[0], ret_error);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int strv_extend(char ***l, char **more) {
        size_t n = 0, m = 0;
        char **bigger;

        while (*l && (*l)[n])
                n++;
        while (more && more[m])
                m++;
        bigger = reallocarray(*l, n + m + 1, sizeof(char *));
        if (!bigger)
                return -ENOMEM;
        for (size_t i = 0; i < m; i++)
                if (!(bigger[n + i] = strdup(more[i]))) {
                        bigger[n + i] = NULL;
                        *l = bigger;
                        return -ENOMEM;
                }
        bigger[n + m] = NULL;
        *l = bigger;
        return 0;
}

static int import_oci(ImportSource *src, const char *name, char ***refs, char **ret_error) {
        _cleanup_(manifest_freep) Manifest *index = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_(image_ref_freep) ImageRef *want = NULL;
        size_t size, imported = 0;
        int r;

        r = source_read(src, "index.json", &text, &size, ret_error);
        if (r < 0)
                return r;
        r = manifest_parse(text, size, NULL, &index, ret_error);
        if (r < 0)
                return error_set(ret_error, r, "index.json: %m");
        if (index->kind != MANIFEST_INDEX)
                return error_set(ret_error, -EBADMSG, "index.json: not an image index");
        if (name && (r = image_ref_parse(name, &want, ret_error)) < 0)
                return r;

        for (size_t i = 0; i < index->n_manifests; i++) {
                const Descriptor *d = &index->manifests[i];
                const char *from_source = d->image_name;
                _cleanup_strv_free_ char **names = NULL;

                /* A ref.name with '/' or ':' is a reference; without, a tag. */
                if (!from_source && d->ref_name && strpbrk(d->ref_name, "/:"))
                        from_source = d->ref_name;
                if (want && index->n_manifests > 1) {
                        _cleanup_free_ char *normalized = NULL, *wanted = image_ref_to_string(want);
                        bool match = (d->ref_name && want->tag && streq(d->ref_name, want->tag)) ||
                                     (from_source && image_ref_normalize(from_source, &normalized, NULL) >= 0 &&
                                      wanted && streq(normalized, wanted));
                        if (!match)
                                continue;
                }
                if (!name && !from_source)
                        return error_set(ret_error, -EINVAL,
                                         "index.json: manifest %s has no name (ref.name '%s' is only a tag): give one",
                                         d->digest, d->ref_name ?: "");
                r = names_for(name, from_source, &names, ret_error);
                if (r < 0)
                        return r;
                r = import_descriptor(src, d, names, 0, ret_error);
                if (r < 0)
                        return r;
                r = strv_extend(refs, names);
                if (r < 0)
                        return r;
                imported++;
        }
        if (imported == 0)
                return error_set(ret_error, -ENOENT, "index.json: %s",
                                 name ? "no image with that tag among several" : "no images");
        return 0;
}

static const char *layer_media_type(ImageStore *s, const char *digest) {
        _cleanup_free_ char *path = store_blob_path(s, digest);
        _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -EBADF;
        unsigned char magic[4] = {};

        if (fd >= 0 && read(fd, magic, sizeof(magic)) == sizeof(magic)) {
                if (magic[0] == 0x1f && magic[1] == 0x8b)
                        return MT_DOCKER_LAYER_GZIP;
                if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
                        return "application/vnd.oci.image.layer.v1.tar+zstd";
        }
        return MT_DOCKER_LAYER;
}

/* One image of a docker archive: its files in as blobs, a Docker schema2 manifest made
 * for them (as containerd's import does), then as any manifest. */
static int import_docker_image(ImportSource *src, const DockerArchiveImage *img, char **names, char **ret_error) {
        _cleanup_(json_object_putp) json_object *manifest = json_object_new_object();
        json_object *layers = json_object_new_array(), *config = json_object_new_object();
        Manifest m = { .kind = MANIFEST_IMAGE, .media_type = (char *) MT_DOCKER_MANIFEST };
        char digest[DIGEST_SHA256_STRLEN + 1], manifest_digest[DIGEST_SHA256_STRLEN + 1];
        Descriptor *descs = NULL;
        const char *text;
        int64_t size;
        int r;

        if (!manifest || !layers || !config) {
                json_object_put(layers);
                json_object_put(config);
                return -ENOMEM;
        }
        json_object_object_add(manifest, "schemaVersion", json_object_new_int(2));
        json_object_object_add(manifest, "mediaType", json_object_new_string(MT_DOCKER_MANIFEST));
        json_object_object_add(manifest, "config", config);
        json_object_object_add(manifest, "layers", layers);

        r = source_blob(src, img->config, NULL, digest, &size, ret_error);
        if (r < 0)
                return r;
        json_object_object_add(config, "mediaType", json_object_new_string(MT_DOCKER_CONFIG));
        json_object_object_add(config, "size", json_object_new_int64(size));
        json_object_object_add(config, "digest", json_object_new_string(digest));
        m.config = (Descriptor) { .digest = strdup(digest), .size = size };
        descs = calloc(img->n_layers + 1, sizeof(Descriptor));
        if (!m.config.digest || !descs) {
                free(m.config.digest);
                free(descs);
                return -ENOMEM;
        }
        m.layers = descs;
        m.n_layers = img->n_layers;
        for (size_t i = 0; i < img->n_layers && r >= 0; i++) {
                json_object *l = json_object_new_object();

                r = source_blob(src, img->layers[i], NULL, digest, &size, ret_error);
                if (r < 0 || !l) {
                        json_object_put(l);
                        r = r < 0 ? r : -ENOMEM;
                        break;
                }
                descs[i] = (Descriptor) { .digest = strdup(digest), .size = size,
                                          .media_type = strdup(layer_media_type(src->store, digest)) };
                json_object_object_add(l, "mediaType", json_object_new_string(descs[i].media_type ?: MT_DOCKER_LAYER));
                json_object_object_add(l, "size", json_object_new_int64(size));
                json_object_object_add(l, "digest", json_object_new_string(digest));
                json_object_array_add(layers, l);
                if (!descs[i].digest || !descs[i].media_type)
                        r = -ENOMEM;
        }
        if (r >= 0) {
                text = json_object_to_json_string_ext(manifest, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
                r = text ? store_blob_write_buffer(src->store, text, strlen(text), manifest_digest, ret_error) : -ENOMEM;
        }
        m.media_type = NULL; /* not ours to free */
        if (r >= 0) {
                m.media_type = strdup(MT_DOCKER_MANIFEST);
                r = m.media_type ? import_manifest(src, manifest_digest, &m, names, ret_error) : -ENOMEM;
        }
        free(m.media_type);
        free(m.config.digest);
        for (size_t i = 0; i < img->n_layers; i++) {
                free(descs[i].digest);
                free(descs[i].media_type);
        }
        free(descs);
        return r;
}

static int import_docker(ImportSource *src, const char *name, char ***refs, char **ret_error) {
        _cleanup_free_ char *text = NULL, *wanted = NULL;
        DockerArchiveImage *images = NULL;
        size_t size, n = 0, imported = 0;
        int r;

        r = source_read(src, "manifest.json", &text, &size, ret_error);
        if (r < 0)
                return r;
        r = docker_archive_manifest_parse(text, size, &images, &n, ret_error);
        if (r < 0)
                return r;
        if (name && (r = image_ref_normalize(name, &wanted, ret_error)) < 0)
                goto finish;

        for (size_t i = 0; i < n; i++) {
                _cleanup_strv_free_ char **names = calloc(1, sizeof(char *));
                bool match = !name || n == 1;

                if (!names) {
                        r = -ENOMEM;
                        break;
                }
                for (char **t = images[i].repo_tags; *t; t++) {
                        _cleanup_free_ char *normalized = NULL;
                        char *one[] = { NULL, NULL };

                        r = image_ref_normalize(*t, &normalized, ret_error);
                        if (r < 0)
                                goto finish;
                        match = match || streq(normalized, wanted);
                        one[0] = normalized;
                        if (!name && (r = strv_extend(&names, one)) < 0)
                                goto finish;
                }
                if (!match)
                        continue;
                if (name) {
                        char *one[] = { wanted, NULL };
                        if ((r = strv_extend(&names, one)) < 0)
                                break;
                }
                if (!names[0]) {
                        r = error_set(ret_error, -EINVAL, "manifest.json: image %s has no RepoTags: give a name",
                                      images[i].config);
                        break;
                }
                r = import_docker_image(src, &images[i], names, ret_error);
                if (r < 0)
                        break;
                r = strv_extend(refs, names);
                if (r < 0)
                        break;
                imported++;
        }
        if (r >= 0 && imported == 0)
                r = error_set(ret_error, -ENOENT, "manifest.json: %s", name ? "no image of that name" : "no images");
finish:
        docker_archive_images_free(images, n);
        return r;
}

static int import_from_blobs(ImageStore *s, const char *manifest_digest, char **names, char **ret_error) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *text = NULL;
        ImportSource src = { .store = s, .path = "(store)", .dir_fd = -EBADF };
        size_t size;
        int r;

        r = store_blob_read(s, manifest_digest, &text, &size, ret_error);
        if (r < 0)
                return r;
        r = manifest_parse(text, size, NULL, &m, ret_error);
        if (r < 0)
                return error_set(ret_error, r, "manifest %s: %m", manifest_digest);
        if (m->kind != MANIFEST_IMAGE)
                return error_set(ret_error, -EBADMSG, "manifest %s: an index, not an image", manifest_digest);
        /* Every blob is in the store: source_blob() finds them there. */
        return import_manifest(&src, manifest_digest, m, names, ret_error);
}

int image_store_import_pulled(ImageStore *s, const char *manifest_digest, const char *reference, char **ret_error) {
        _cleanup_strv_free_ char **names = calloc(2, sizeof(char *));
        _cleanup_close_ int lock = -EBADF;
        int r;

        if (!names)
                return -ENOMEM;
        r = image_ref_normalize(reference, &names[0], ret_error);
        if (r >= 0 && !digest_is_sha256(manifest_digest))
                r = error_set(ret_error, -EINVAL, "manifest digest '%s' is not sha256:<64 hex>", manifest_digest);
        if (r >= 0)
                r = store_lock(s, true, &lock, ret_error);
        if (r >= 0)
                r = import_from_blobs(s, manifest_digest, names, ret_error);
        return r < 0 ? error_wrap(ret_error, r, "%s", reference) : r;
}

/* The images of src->path, a directory or an archive. */
static int import_source(ImportSource *src, const char *name, char ***refs, char **ret_error) {
        struct stat st;
        int r;

        if (stat(src->path, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode)) {
                src->dir_fd = open(src->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (src->dir_fd < 0)
                        return negative_errno();
        } else {
                r = archive_load(src, ret_error);
                if (r < 0)
                        return r;
        }
        if (source_has(src, "index.json"))
                return import_oci(src, name, refs, ret_error);
        if (source_has(src, "manifest.json"))
                return import_docker(src, name, refs, ret_error);
        return error_set(ret_error, -EBADMSG,
                         "neither an OCI image layout (index.json) nor a docker archive (manifest.json)");
}

int image_store_import(ImageStore *s, const char *path, const char *name, char ***ret_refs, char **ret_error) {
        _cleanup_strv_free_ char **refs = calloc(1, sizeof(char *));
        _cleanup_close_ int lock = -EBADF;
        ImportSource src = { .store = s, .path = path, .dir_fd = -EBADF };
        int r;

        if (!refs)
                return -ENOMEM;
        r = store_lock(s, true, &lock, ret_error);
        if (r >= 0)
                r = import_source(&src, name, &refs, ret_error);
        source_done(&src);

        /* Whatever did not make it into an image (a failed import's blobs, an archive's
         * other files) goes again. */
        if (lock >= 0) {
                _cleanup_free_ char *sweep_error = NULL;
                int k = store_sweep(s, NULL, &sweep_error);
                if (k < 0)
                        log_warning_errno(k, "image store: clean up after import: %s", sweep_error ?: strerror(-k));
        }
        if (r < 0)
                return error_wrap(ret_error, r, "import %s", path);
        if (ret_refs)
                *ret_refs = TAKE_PTR(refs);
        return 0;
}
