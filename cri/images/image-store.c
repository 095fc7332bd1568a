/* SPDX-License-Identifier: Apache-2.0 */
/* The image store: blobs, image records, references, lookup, removal and pruning (see
 * image-store.h; imports are in image-import.c, container rootfs in image-rootfs.c). */
#include <ctype.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "image-ref.h"
#include "image-store-private.h"
#include "json-util.h"
#include "layer-unpack.h"
#include "log.h"
#include "macro.h"

#define REFS_FILE "refs.json"
#define PULLS_LOCK "pulls.lock"
#define BLOCK_SIZE (256 * 1024)

static const char *const store_dirs[] = { "blobs", "blobs/sha256", "layers", "images", "containers", "tmp" };

char *store_path(const ImageStore *s, const char *rel) {
        char *p;

        return asprintf(&p, "%s/%s", s->root, rel) < 0 ? NULL : p;
}

char *store_blob_path(const ImageStore *s, const char *digest) {
        char *p;

        return asprintf(&p, "%s/blobs/sha256/%s", s->root, digest + 7) < 0 ? NULL : p;
}

char *store_layer_path(const ImageStore *s, const char *chain_id) {
        char *p;

        return asprintf(&p, "%s/layers/%s", s->root, chain_id + 7) < 0 ? NULL : p;
}

/* root/images/<hex>.json, the record of the image with this manifest digest. */
static char *record_path(const ImageStore *s, const char *manifest_digest) {
        char *p;

        return asprintf(&p, "%s/images/%s.json", s->root, manifest_digest + 7) < 0 ? NULL : p;
}

static int store_opendir(const ImageStore *s, const char *rel, DIR **ret, char **ret_error) {
        _cleanup_free_ char *dir = store_path(s, rel);

        if (!dir)
                return -ENOMEM;
        *ret = opendir(dir);
        if (!*ret)
                return error_set(ret_error, negative_errno(), "open %s: %m", dir);
        return 0;
}

const char *image_store_root(const ImageStore *s) {
        return s->root;
}

/* flock(2) on root/<name>: operation LOCK_SH or LOCK_EX, maybe | LOCK_NB (then -EAGAIN
 * when someone else holds it). */
static int lock_file(ImageStore *s, const char *name, int operation, int *ret_fd, char **ret_error) {
        _cleanup_free_ char *path = store_path(s, name);
        int fd;

        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "open %s: %m", path);
        while (flock(fd, operation) < 0) {
                int r = negative_errno();

                if (r == -EINTR)
                        continue;
                close(fd);
                if (r == -EWOULDBLOCK)
                        return -EAGAIN;
                return error_set(ret_error, r, "lock %s: %m", path);
        }
        *ret_fd = fd;
        return 0;
}

int store_lock(ImageStore *s, bool exclusive, int *ret_fd, char **ret_error) {
        return lock_file(s, "lock", exclusive ? LOCK_EX : LOCK_SH, ret_fd, ret_error);
}

int image_store_pull_lease(ImageStore *s, int *ret_fd, char **ret_error) {
        return lock_file(s, PULLS_LOCK, LOCK_SH | LOCK_NB, ret_fd, ret_error);
}

char *image_store_blobs_dir(const ImageStore *s) {
        return store_path(s, "blobs");
}

/* Removes the entries of dir whose names start with prefix ("" for all). */
static int remove_temporaries(const char *dir, const char *prefix) {
        _cleanup_(closedirp) DIR *d = opendir(dir);

        if (!d)
                return errno == ENOENT ? 0 : negative_errno();
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, "..") || !strneq(de->d_name, prefix, strlen(prefix)))
                        continue;
                int r = rm_rf_at(dirfd(d), de->d_name);
                if (r < 0)
                        log_warning_errno(r, "image store: remove %s/%s: %m", dir, de->d_name);
        }
        return 0;
}

int image_store_open(const char *root, const ImageStoreOptions *o, ImageStore **ret, char **ret_error) {
        _cleanup_(image_store_freep) ImageStore *s = NULL;
        _cleanup_close_ int lock = -EBADF;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s || !(s->root = strdup(root)))
                return -ENOMEM;
        s->max_entry_size = o && o->max_entry_size ? o->max_entry_size : LAYER_MAX_ENTRY_SIZE_DEFAULT;
        r = mkdir_p(root, 0700);
        if (r < 0)
                return error_set(ret_error, r, "image store: make %s: %m", root);
        for (size_t i = 0; i < ELEMENTSOF(store_dirs); i++) {
                _cleanup_free_ char *p = store_path(s, store_dirs[i]);
                if (!p)
                        return -ENOMEM;
                if (mkdir(p, 0700) < 0 && errno != EEXIST)
                        return error_set(ret_error, negative_errno(), "image store: make %s: %m", p);
        }
        /* Layers are lowerdirs of containers' overlays: others must be able to traverse. */
        {
                _cleanup_free_ char *p = store_path(s, "layers");
                if (!p)
                        return -ENOMEM;
                (void) chmod(root, 0711);
                (void) chmod(p, 0711);
        }

        /* What a crash left: half-written blobs, half-unpacked layers. Only when nobody
         * else uses the store, or they would be pulled from under them. */
        {
                _cleanup_free_ char *l = store_path(s, "lock"), *tmp = store_path(s, "tmp"),
                                    *layers = store_path(s, "layers");
                if (!l || !tmp || !layers)
                        return -ENOMEM;
                lock = open(l, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (lock < 0)
                        return error_set(ret_error, negative_errno(), "image store: open %s: %m", l);
                if (flock(lock, LOCK_EX | LOCK_NB) >= 0) {
                        (void) remove_temporaries(tmp, "");
                        (void) remove_temporaries(layers, ".tmp-");
                }
        }
        *ret = TAKE_PTR(s);
        return 0;
}

void image_store_free(ImageStore *s) {
        if (!s)
                return;
        free(s->root);
        free(s);
}

bool store_has_blob(const ImageStore *s, const char *digest) {
        _cleanup_free_ char *p = store_blob_path(s, digest);

        return p && access(p, F_OK) >= 0;
}

int store_blob_write(ImageStore *s, BlobReader reader, void *userdata, const char *expected, const char *what,
                     char ret_digest[DIGEST_SHA256_STRLEN + 1], int64_t *ret_size, char **ret_error) {
        _cleanup_free_ char *tmp = NULL, *dest = NULL, *buf = malloc(BLOCK_SIZE);
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        _cleanup_close_ int fd = -EBADF;
        char digest[DIGEST_SHA256_STRLEN + 1];
        int64_t size = 0;
        int r;

        if (!buf || asprintf(&tmp, "%s/tmp/blob-XXXXXX", s->root) < 0)
                return -ENOMEM;
        r = sha256_new(&h);
        if (r < 0)
                return r;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "%s: make %s: %m", what, tmp);
        for (;;) {
                ssize_t n = reader(userdata, buf, BLOCK_SIZE);
                if (n < 0) {
                        r = error_set(ret_error, (int) n, "%s: read: %m", what);
                        goto fail;
                }
                if (n == 0)
                        break;
                sha256_update(h, buf, (size_t) n);
                for (ssize_t done = 0; done < n;) {
                        ssize_t k = write(fd, buf + done, (size_t) (n - done));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0) {
                                r = error_set(ret_error, negative_errno(), "%s: write %s: %m", what, tmp);
                                goto fail;
                        }
                        done += k;
                }
                size += n;
        }
        sha256_final(h, digest);
        if (expected && !streq(expected, digest)) {
                r = error_set(ret_error, -EBADMSG, "%s: digest mismatch: expected %s, the content is %s", what,
                              expected, digest);
                goto fail;
        }
        dest = store_blob_path(s, digest);
        if (!dest) {
                r = -ENOMEM;
                goto fail;
        }
        if (fchmod(fd, 0644) < 0 || fdatasync(fd) < 0 || rename(tmp, dest) < 0) {
                r = error_set(ret_error, negative_errno(), "%s: store as %s: %m", what, dest);
                goto fail;
        }
        memcpy(ret_digest, digest, sizeof(digest));
        if (ret_size)
                *ret_size = size;
        return 0;
fail:
        (void) unlink(tmp);
        return r;
}

static ssize_t read_fd(void *userdata, void *buf, size_t size) {
        int fd = *(int *) userdata;

        for (;;) {
                ssize_t n = read(fd, buf, size);
                if (n < 0 && errno == EINTR)
                        continue;
                return n < 0 ? negative_errno() : n;
        }
}

int store_blob_write_fd(ImageStore *s, int fd, const char *expected, const char *what,
                        char ret_digest[DIGEST_SHA256_STRLEN + 1], int64_t *ret_size, char **ret_error) {
        return store_blob_write(s, read_fd, &fd, expected, what, ret_digest, ret_size, ret_error);
}

typedef struct BufferReader {
        const char *data;
        size_t left;
} BufferReader;

static ssize_t read_buffer(void *userdata, void *buf, size_t size) {
        BufferReader *b = userdata;
        size_t n = MIN(size, b->left);

        memcpy(buf, b->data, n);
        b->data += n;
        b->left -= n;
        return (ssize_t) n;
}

int store_blob_write_buffer(ImageStore *s, const void *data, size_t size, char ret_digest[DIGEST_SHA256_STRLEN + 1],
                            char **ret_error) {
        BufferReader b = { data, size };

        return store_blob_write(s, read_buffer, &b, NULL, "blob", ret_digest, NULL, ret_error);
}

int store_blob_read(ImageStore *s, const char *digest, char **ret, size_t *ret_size, char **ret_error) {
        _cleanup_free_ char *p = store_blob_path(s, digest);
        int r;

        if (!p)
                return -ENOMEM;
        r = read_full_file(p, 4 * 1024 * 1024, ret, ret_size);
        if (r < 0)
                return error_set(ret_error, r, "blob %s: read: %m", digest);
        return 0;
}

/* --- image records ------------------------------------------------------------------- */

void image_info_done(ImageInfo *i) {
        free(i->manifest_digest);
        free(i->config_digest);
        free(i->media_type);
        free(i->os);
        free(i->architecture);
        for (size_t k = 0; k < i->n_layers; k++) {
                free(i->layers[k].digest);
                free(i->layers[k].diff_id);
                free(i->layers[k].chain_id);
                free(i->layers[k].media_type);
        }
        free(i->layers);
        strv_free(i->references);
}

void image_info_free(ImageInfo *i) {
        if (!i)
                return;
        image_info_done(i);
        free(i);
}

void image_info_list_free(ImageInfo **images, size_t n) {
        for (size_t i = 0; i < n; i++)
                image_info_free(images[i]);
        free(images);
}

static void add_string(json_object *o, const char *key, const char *value) {
        if (value)
                json_object_object_add(o, key, json_object_new_string(value));
}

json_object *image_info_to_json(const ImageInfo *i) {
        json_object *o = json_object_new_object(), *layers = json_object_new_array(), *refs = json_object_new_array();

        add_string(o, "id", i->config_digest);
        add_string(o, "manifest", i->manifest_digest);
        add_string(o, "mediaType", i->media_type);
        add_string(o, "os", i->os);
        add_string(o, "architecture", i->architecture);
        json_object_object_add(o, "size", json_object_new_int64(i->size));
        for (size_t k = 0; k < i->n_layers; k++) {
                json_object *l = json_object_new_object();
                add_string(l, "digest", i->layers[k].digest);
                add_string(l, "mediaType", i->layers[k].media_type);
                json_object_object_add(l, "size", json_object_new_int64(i->layers[k].size));
                add_string(l, "diffID", i->layers[k].diff_id);
                add_string(l, "chainID", i->layers[k].chain_id);
                json_object_array_add(layers, l);
        }
        json_object_object_add(o, "layers", layers);
        for (char **r = i->references; r && *r; r++)
                json_object_array_add(refs, json_object_new_string(*r));
        json_object_object_add(o, "references", refs);
        return o;
}

static char *dup_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return strdup(json_object_get_string(v));
}

static int64_t get_int(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* Reads a record; its digests are checked, since layer paths are made from them. */
static int record_load(ImageStore *s, const char *file, ImageInfo **ret, char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(image_info_freep) ImageInfo *i = NULL;
        json_object *layers;
        int r;

        if (asprintf(&path, "%s/images/%s", s->root, file) < 0)
                return -ENOMEM;
        r = read_full_file(path, 4 * 1024 * 1024, &text, NULL);
        if (r < 0)
                return error_set(ret_error, r, "image record %s: %m", path);
        o = json_tokener_parse(text);
        i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;
        if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "layers", &layers) ||
            !json_object_is_type(layers, json_type_array))
                return error_set(ret_error, -EBADMSG, "image record %s: damaged", path);
        i->manifest_digest = dup_string(o, "manifest");
        i->config_digest = dup_string(o, "id");
        i->media_type = dup_string(o, "mediaType");
        i->os = dup_string(o, "os");
        i->architecture = dup_string(o, "architecture");
        i->size = get_int(o, "size");
        i->n_layers = json_object_array_length(layers);
        i->layers = calloc(i->n_layers + 1, sizeof(ImageLayerInfo));
        if (!i->layers)
                return -ENOMEM;
        for (size_t k = 0; k < i->n_layers; k++) {
                json_object *l = json_object_array_get_idx(layers, k);
                if (!json_object_is_type(l, json_type_object))
                        return error_set(ret_error, -EBADMSG, "image record %s: damaged layer %zu", path, k);
                i->layers[k] = (ImageLayerInfo) {
                        .digest = dup_string(l, "digest"),
                        .diff_id = dup_string(l, "diffID"),
                        .chain_id = dup_string(l, "chainID"),
                        .media_type = dup_string(l, "mediaType"),
                        .size = get_int(l, "size"),
                };
                if (!digest_is_sha256(i->layers[k].digest) || !digest_is_sha256(i->layers[k].diff_id) ||
                    !digest_is_sha256(i->layers[k].chain_id))
                        return error_set(ret_error, -EBADMSG, "image record %s: damaged layer %zu", path, k);
        }
        if (!digest_is_sha256(i->manifest_digest) || !digest_is_sha256(i->config_digest))
                return error_set(ret_error, -EBADMSG, "image record %s: damaged", path);
        *ret = TAKE_PTR(i);
        return 0;
}

static int refs_load(ImageStore *s, json_object **ret, char **ret_error) {
        _cleanup_free_ char *path = store_path(s, REFS_FILE), *text = NULL;
        json_object *o;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 16 * 1024 * 1024, &text, NULL);
        if (r == -ENOENT) {
                *ret = json_object_new_object();
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0)
                return error_set(ret_error, r, "%s: %m", path);
        o = json_tokener_parse(text);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return error_set(ret_error, -EBADMSG, "%s: damaged", path);
        }
        *ret = o;
        return 0;
}

static int refs_save(ImageStore *s, json_object *refs, char **ret_error) {
        _cleanup_free_ char *path = store_path(s, REFS_FILE);
        const char *text = json_object_to_json_string_ext(refs, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        int r;

        if (!path || !text)
                return -ENOMEM;
        r = write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return error_set(ret_error, r, "write %s: %m", path);
        return 0;
}

int store_add_image(ImageStore *s, const ImageInfo *image, char **names, char **ret_error) {
        _cleanup_(json_object_putp) json_object *record = image_info_to_json(image), *refs = NULL;
        _cleanup_free_ char *path = NULL;
        const char *text;
        int r;

        if (!record)
                return -ENOMEM;
        json_object_object_del(record, "references");
        text = json_object_to_json_string_ext(record, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text || !(path = record_path(s, image->manifest_digest)))
                return -ENOMEM;
        r = write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return error_set(ret_error, r, "write %s: %m", path);

        r = refs_load(s, &refs, ret_error);
        if (r < 0)
                return r;
        for (char **n = names; n && *n; n++)
                json_object_object_add(refs, *n, json_object_new_string(image->manifest_digest));
        return refs_save(s, refs, ret_error);
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The references pointing at manifest, sorted. */
static int references_of(json_object *refs, const char *manifest, char ***ret) {
        size_t n = 0;
        char **l = calloc(json_object_object_length(refs) + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        json_object_object_foreach(refs, key, value) {
                if (json_object_is_type(value, json_type_string) && streq(json_object_get_string(value), manifest))
                        if (!(l[n++] = strdup(key))) {
                                strv_free(l);
                                return -ENOMEM;
                        }
        }
        qsort(l, n, sizeof(char *), compare_strings);
        *ret = l;
        return 0;
}

/* Every record, with its references. */
static int records_load(ImageStore *s, json_object *refs, ImageInfo ***ret, size_t *ret_n, char **ret_error) {
        _cleanup_(closedirp) DIR *d = NULL;
        ImageInfo **l = NULL;
        size_t n = 0;
        int r;

        r = store_opendir(s, "images", &d, ret_error);
        if (r < 0)
                return r;
        for (struct dirent *de; (de = readdir(d));) {
                size_t len = strlen(de->d_name);
                ImageInfo *i = NULL, **bigger;

                if (len != 64 + 5 || !streq(de->d_name + 64, ".json"))
                        continue;
                r = record_load(s, de->d_name, &i, ret_error);
                if (r < 0)
                        break;
                r = references_of(refs, i->manifest_digest, &i->references);
                bigger = r >= 0 ? reallocarray(l, n + 2, sizeof(ImageInfo *)) : NULL;
                if (!bigger) {
                        image_info_free(i);
                        r = -ENOMEM;
                        break;
                }
                l = bigger;
                l[n++] = i;
                l[n] = NULL;
        }
        if (r < 0) {
                image_info_list_free(l, n);
                return r;
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

/* refs.json and every record with its references; the references are returned too when
 * ret_refs is set. */
static int images_load(ImageStore *s, json_object **ret_refs, ImageInfo ***ret, size_t *ret_n, char **ret_error) {
        _cleanup_(json_object_putp) json_object *refs = NULL;
        int r;

        r = refs_load(s, &refs, ret_error);
        if (r < 0)
                return r;
        r = records_load(s, refs, ret, ret_n, ret_error);
        if (r < 0)
                return r;
        if (ret_refs)
                *ret_refs = TAKE_PTR(refs);
        return 0;
}

static int compare_images(const void *a, const void *b) {
        const ImageInfo *x = *(ImageInfo *const *) a, *y = *(ImageInfo *const *) b;
        const char *kx = x->references && x->references[0] ? x->references[0] : "~",
                   *ky = y->references && y->references[0] ? y->references[0] : "~";
        int c = strcmp(kx, ky);

        return c ? c : strcmp(x->config_digest, y->config_digest);
}

int image_store_list(ImageStore *s, ImageInfo ***ret, size_t *ret_n, char **ret_error) {
        _cleanup_close_ int lock = -EBADF;
        int r;

        r = store_lock(s, false, &lock, ret_error);
        if (r < 0)
                return r;
        r = images_load(s, NULL, ret, ret_n, ret_error);
        if (r < 0)
                return r;
        if (*ret_n > 0)
                qsort(*ret, *ret_n, sizeof(ImageInfo *), compare_images);
        return 0;
}

static bool is_hex_prefix(const char *s) {
        size_t n = strlen(s);

        if (n < 4 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]) || isupper((unsigned char) s[i]))
                        return false;
        return true;
}

static int find_image(ImageStore *s, const char *ref_or_id, ImageInfo **ret, char **ret_error) {
        _cleanup_(json_object_putp) json_object *refs = NULL;
        _cleanup_free_ char *normalized = NULL;
        ImageInfo **all = NULL, *found = NULL;
        const char *id = ref_or_id;
        size_t n = 0, matches = 0;
        int r;

        r = images_load(s, &refs, &all, &n, ret_error);
        if (r < 0)
                return r;

        /* A reference first, as docker does; then an ID. */
        if (image_ref_normalize(ref_or_id, &normalized, NULL) >= 0) {
                json_object *v;
                if (json_object_object_get_ex(refs, normalized, &v))
                        for (size_t i = 0; i < n; i++)
                                if (streq(all[i]->manifest_digest, json_object_get_string(v)))
                                        found = all[i], matches = 1;
        }
        if (!found) {
                if (strneq(id, "sha256:", 7))
                        id += 7;
                if (is_hex_prefix(id))
                        for (size_t i = 0; i < n; i++)
                                if (strneq(all[i]->config_digest + 7, id, strlen(id)) ||
                                    strneq(all[i]->manifest_digest + 7, id, strlen(id))) {
                                        found = all[i];
                                        matches++;
                                }
        }
        if (matches == 1) {
                for (size_t i = 0; i < n; i++)
                        if (all[i] == found)
                                all[i] = NULL;
                *ret = found;
        }
        image_info_list_free(all, n);
        if (matches > 1)
                return error_set(ret_error, -ENOTUNIQ, "image '%s': the ID prefix matches %zu images", ref_or_id,
                                 matches);
        if (matches == 0)
                return error_set(ret_error, -ENOENT, "image '%s': no such image%s%s", ref_or_id,
                                 normalized && !streq(normalized, ref_or_id) ? " " : "",
                                 normalized && !streq(normalized, ref_or_id) ? normalized : "");
        return 0;
}

int store_lock_find(ImageStore *s, int lock_operation, const char *ref_or_id, int *ret_lock, ImageInfo **ret,
                    char **ret_error) {
        _cleanup_close_ int lock = -EBADF;
        int r;

        r = lock_file(s, "lock", lock_operation, &lock, ret_error);
        if (r < 0)
                return r;
        r = find_image(s, ref_or_id, ret, ret_error);
        if (r < 0)
                return r;
        *ret_lock = TAKE_FD(lock);
        return 0;
}

int image_store_get(ImageStore *s, const char *ref_or_id, ImageInfo **ret, char **ret_error) {
        _cleanup_close_ int lock = -EBADF;

        return store_lock_find(s, LOCK_SH, ref_or_id, &lock, ret, ret_error);
}

int image_store_try_get(ImageStore *s, const char *ref_or_id, ImageInfo **ret, char **ret_error) {
        _cleanup_close_ int lock = -EBADF;

        return store_lock_find(s, LOCK_SH | LOCK_NB, ref_or_id, &lock, ret, ret_error);
}

int image_store_get_config(ImageStore *s, const ImageInfo *image, json_object **ret, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *config;
        int r;

        r = store_blob_read(s, image->config_digest, &text, NULL, ret_error);
        if (r < 0)
                return r;
        o = json_tokener_parse(text);
        if (!o || !json_object_object_get_ex(o, "config", &config) || !json_object_is_type(config, json_type_object))
                *ret = json_object_new_object();
        else
                *ret = json_object_get(config);
        return *ret ? 0 : -ENOMEM;
}

int image_store_remove(ImageStore *s, const char *ref_or_id, char **ret_error) {
        _cleanup_(json_object_putp) json_object *refs = NULL;
        _cleanup_(image_info_freep) ImageInfo *image = NULL;
        _cleanup_free_ char *normalized = NULL, *record = NULL;
        _cleanup_close_ int lock = -EBADF;
        json_object *v;
        bool by_reference, still_used = false;
        int r;

        r = store_lock_find(s, LOCK_EX, ref_or_id, &lock, &image, ret_error);
        if (r < 0)
                return r;
        r = refs_load(s, &refs, ret_error);
        if (r < 0)
                return r;
        by_reference = image_ref_normalize(ref_or_id, &normalized, NULL) >= 0 &&
                       json_object_object_get_ex(refs, normalized, &v);
        if (by_reference)
                json_object_object_del(refs, normalized);
        else
                for (char **ref = image->references; ref && *ref; ref++)
                        json_object_object_del(refs, *ref);
        json_object_object_foreach(refs, key, value) {
                (void) key;
                still_used = still_used || streq(json_object_get_string(value), image->manifest_digest);
        }
        r = refs_save(s, refs, ret_error);
        if (r < 0)
                return r;
        if (still_used)
                return 0;
        record = record_path(s, image->manifest_digest);
        if (!record)
                return -ENOMEM;
        if (unlink(record) < 0 && errno != ENOENT)
                return error_set(ret_error, negative_errno(), "remove %s: %m", record);
        return store_sweep(s, NULL, ret_error);
}

/* --- garbage collection --------------------------------------------------------------- */

static void mark(json_object *set, const char *digest) {
        if (digest)
                json_object_object_add(set, digest + 7, NULL);
}

static bool marked(json_object *set, const char *hex) {
        return json_object_object_get_ex(set, hex, NULL);
}

/* Chain IDs the containers' rootfs hold: containers/<id>/layers, one per line. */
static int mark_containers(ImageStore *s, json_object *layers, char **ret_error) {
        _cleanup_(closedirp) DIR *d = NULL;
        int r;

        r = store_opendir(s, "containers", &d, ret_error);
        if (r < 0)
                return r;
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *path = NULL, *text = NULL;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&path, "%s/containers/%s/layers", s->root, de->d_name) < 0)
                        return -ENOMEM;
                r = read_full_file(path, 1024 * 1024, &text, NULL);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return error_set(ret_error, r, "read %s: %m", path);
                for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
                        if (digest_is_sha256(line))
                                mark(layers, line);
        }
        return 0;
}

/* Blobs no image holds. Pulls fetch into blobs/ without the store's lock, holding a lease
 * (pulls.lock, shared) until their image is recorded: while one does, no blob goes.
 * Without one, .tmp-* files (a pull's temporaries where O_TMPFILE is missing) are a
 * crash's leftovers. */
static int sweep_blobs(ImageStore *s, json_object *blobs, ImagePruneStats *stats, char **ret_error) {
        _cleanup_close_ int pulls = -EBADF;
        _cleanup_(closedirp) DIR *d = NULL;
        int r;

        r = lock_file(s, PULLS_LOCK, LOCK_EX | LOCK_NB, &pulls, ret_error);
        if (r == -EAGAIN) {
                log_debug("image store: pulls in progress, blobs are kept until the next sweep");
                return 0;
        }
        if (r < 0)
                return r;
        r = store_opendir(s, "blobs/sha256", &d, ret_error);
        if (r < 0)
                return r;
        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, "..") || marked(blobs, de->d_name) ||
                    (de->d_name[0] == '.' && !strneq(de->d_name, ".tmp-", 5)))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || unlinkat(dirfd(d), de->d_name, 0) < 0)
                        continue;
                if (stats && de->d_name[0] != '.') {
                        stats->blobs++;
                        stats->bytes += (uint64_t) st.st_size;
                }
        }
        return 0;
}

/* Layers no image or container holds; temporaries of an unpack in progress are held by the
 * lock the caller holds. */
static int sweep_layers(ImageStore *s, json_object *layers, ImagePruneStats *stats, char **ret_error) {
        _cleanup_(closedirp) DIR *d = NULL;
        int r;

        r = store_opendir(s, "layers", &d, ret_error);
        if (r < 0)
                return r;
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, "..") || marked(layers, de->d_name))
                        continue;
                r = rm_rf_at(dirfd(d), de->d_name);
                if (r < 0)
                        log_warning_errno(r, "image store: remove layer %s: %m", de->d_name);
                else if (stats && !strneq(de->d_name, ".tmp-", 5))
                        stats->layers++;
        }
        return 0;
}

int store_sweep(ImageStore *s, ImagePruneStats *stats, char **ret_error) {
        _cleanup_(json_object_putp) json_object *blobs = json_object_new_object(), *layers = json_object_new_object();
        _cleanup_free_ char *tmp_dir = store_path(s, "tmp");
        ImageInfo **all = NULL;
        size_t n = 0;
        int r;

        if (!blobs || !layers || !tmp_dir)
                return -ENOMEM;
        r = images_load(s, NULL, &all, &n, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                mark(blobs, all[i]->manifest_digest);
                mark(blobs, all[i]->config_digest);
                for (size_t k = 0; k < all[i]->n_layers; k++) {
                        mark(blobs, all[i]->layers[k].digest);
                        mark(layers, all[i]->layers[k].chain_id);
                }
        }
        image_info_list_free(all, n);
        r = mark_containers(s, layers, ret_error);
        if (r < 0)
                return r;
        r = sweep_blobs(s, blobs, stats, ret_error);
        if (r < 0)
                return r;
        r = sweep_layers(s, layers, stats, ret_error);
        if (r < 0)
                return r;
        return remove_temporaries(tmp_dir, "");
}

int image_store_prune(ImageStore *s, ImagePruneStats *ret, char **ret_error) {
        _cleanup_close_ int lock = -EBADF;
        ImagePruneStats stats = {};
        ImageInfo **all = NULL;
        size_t n = 0;
        int r;

        r = store_lock(s, true, &lock, ret_error);
        if (r < 0)
                return r;
        r = images_load(s, NULL, &all, &n, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *record = NULL;

                if (all[i]->references && all[i]->references[0])
                        continue;
                record = record_path(s, all[i]->manifest_digest);
                if (!record) {
                        r = -ENOMEM;
                        break;
                }
                if (unlink(record) >= 0)
                        stats.images++;
        }
        image_info_list_free(all, n);
        if (r < 0)
                return r;
        r = store_sweep(s, &stats, ret_error);
        if (r >= 0 && ret)
                *ret = stats;
        return r;
}
