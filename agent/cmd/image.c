/* SPDX-License-Identifier: Apache-2.0 */
/* `stevedore image`: the image store by hand (cri/images/image-store.h does the work). */
#include <getopt.h>
#include <inttypes.h>

#include "image-store.h"
#include "log.h"
#include "image-pull.h"
#include "verbs.h"

typedef struct ImageOptions {
        const char *root;
        const char *name;
        uint64_t max_entry_size;
        bool json;
        ImagePullArgs pull;
} ImageOptions;

static void usage(FILE *f) {
        fprintf(f, "Usage: stevedore image [--root DIR] COMMAND [ARGS…]\n"
                   "\nCommands:\n"
                   "  pull [--layout DIR] [--insecure-registry HOST]… [--ca-file FILE] [--auth-file FILE]\n"
                   "       [--mirror HOST=MIRROR]… [--platform OS/ARCH[/VARIANT]] [--max-parallel N]\n"
                   "       [--policy Always|IfNotPresent|Never] [--quiet] REFERENCE…\n"
                   "                        from registries, at once (blobs they share fetched once),\n"
                   "                        into the store, or with --layout into an OCI image layout;\n"
                   "                        --insecure-registry: plain HTTP to HOST; --ca-file: verify TLS\n"
                   "                        with FILE; --auth-file: docker config.json or pull secret\n"
                   "                        (default $REGISTRY_AUTH_FILE, ~/.docker/config.json);\n"
                   "                        --mirror: try MIRROR before HOST; --policy: as a container's\n"
                   "                        imagePullPolicy (default Always)\n"
                   "  import [--name REF] [--max-entry-size SIZE] PATH\n"
                   "                        an OCI image layout or docker archive (directory or tar)\n"
                   "  ls [--json]           the images\n"
                   "  inspect IMAGE         an image's manifest, layers and config, as JSON\n"
                   "  rm IMAGE…             remove references (all of an image's, given its ID)\n"
                   "  prune                 remove what no image or container uses\n"
                   "  mount IMAGE ID DIR    a container's overlay rootfs on DIR (for tests and debugging)\n"
                   "  unmount ID DIR        unmount it and remove its upper and work\n"
                   "\nIMAGE is a reference (busybox = docker.io/library/busybox:latest), a digest or an\n"
                   "ID prefix. --root is the store (default: the global --root's images/).\n");
}

static int report(int r, const char *error) {
        log_error("%s", error ?: strerror(-r));
        return 1;
}

/* "16G", "512M", "10k", "100" */
static int parse_size(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;
        unsigned shift = 0;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s)
                return -EINVAL;
        switch (*end) {
        case 0:
                break;
        case 'k':
        case 'K':
                shift = 10;
                break;
        case 'M':
                shift = 20;
                break;
        case 'G':
                shift = 30;
                break;
        default:
                return -EINVAL;
        }
        if (*end && end[1])
                return -EINVAL;
        if (v == 0 || v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = (uint64_t) v << shift;
        return 0;
}

static void format_size(int64_t bytes, char *buf, size_t size) {
        static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
        double v = (double) bytes;
        size_t u = 0;

        while (v >= 1000 && u + 1 < ELEMENTSOF(units)) {
                v /= 1000;
                u++;
        }
        snprintf(buf, size, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

static int cmd_import(ImageStore *s, const ImageOptions *o, int argc, char **argv) {
        _cleanup_free_ char *error = NULL;
        _cleanup_strv_free_ char **refs = NULL;
        int r;

        if (argc != 1) {
                log_error("usage: image import [--name REF] [--max-entry-size SIZE] PATH");
                return 2;
        }
        r = image_store_import(s, argv[0], o->name, &refs, &error);
        if (r < 0)
                return report(r, error);
        for (char **ref = refs; *ref; ref++)
                printf("%s\n", *ref);
        return 0;
}

static int cmd_ls(ImageStore *s, const ImageOptions *o) {
        _cleanup_free_ char *error = NULL;
        ImageInfo **images = NULL;
        size_t n = 0;
        int r;

        r = image_store_list(s, &images, &n, &error);
        if (r < 0)
                return report(r, error);
        if (o->json) {
                json_object *a = json_object_new_array();
                for (size_t i = 0; i < n; i++)
                        json_object_array_add(a, image_info_to_json(images[i]));
                printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(a);
        } else {
                printf("%-60s %-12s %10s\n", "REFERENCE", "IMAGE ID", "SIZE");
                for (size_t i = 0; i < n; i++) {
                        char size[32];
                        format_size(images[i]->size, size, sizeof(size));
                        if (!images[i]->references[0])
                                printf("%-60s %-12.12s %10s\n", "<none>", images[i]->config_digest + 7, size);
                        for (char **ref = images[i]->references; *ref; ref++)
                                printf("%-60s %-12.12s %10s\n", *ref, images[i]->config_digest + 7, size);
                }
        }
        image_info_list_free(images, n);
        return 0;
}

static int cmd_inspect(ImageStore *s, int argc, char **argv) {
        _cleanup_(image_info_freep) ImageInfo *image = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *o, *config = NULL;
        int r;

        if (argc != 1) {
                log_error("usage: image inspect IMAGE");
                return 2;
        }
        r = image_store_get(s, argv[0], &image, &error);
        if (r >= 0)
                r = image_store_get_config(s, image, &config, &error);
        if (r < 0)
                return report(r, error);
        o = image_info_to_json(image);
        json_object_object_add(o, "config", config);
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return 0;
}

static int cmd_rm(ImageStore *s, int argc, char **argv) {
        int status = 0;

        if (argc < 1) {
                log_error("usage: image rm IMAGE…");
                return 2;
        }
        for (int i = 0; i < argc; i++) {
                _cleanup_free_ char *error = NULL;
                int r = image_store_remove(s, argv[i], &error);

                if (r < 0)
                        status = report(r, error);
                else
                        printf("removed %s\n", argv[i]);
        }
        return status;
}

static int cmd_prune(ImageStore *s) {
        _cleanup_free_ char *error = NULL;
        ImagePruneStats stats = {};
        char size[32];
        int r;

        r = image_store_prune(s, &stats, &error);
        if (r < 0)
                return report(r, error);
        format_size((int64_t) stats.bytes, size, sizeof(size));
        printf("removed %u images, %u blobs (%s), %u layers\n", stats.images, stats.blobs, size, stats.layers);
        return 0;
}

int verb_image(int argc, char **argv, const GlobalOptions *opts) {
        static const struct option options[] = {
                { "root", required_argument, NULL, 'r' },
                { "name", required_argument, NULL, 'n' },
                { "max-entry-size", required_argument, NULL, 'm' },
                { "json", no_argument, NULL, 'j' },
                { "layout", required_argument, NULL, 'L' },
                { "insecure-registry", required_argument, NULL, 'i' },
                { "auth-file", required_argument, NULL, 'a' },
                { "ca-file", required_argument, NULL, 'c' },
                { "mirror", required_argument, NULL, 'M' },
                { "platform", required_argument, NULL, 'p' },
                { "max-parallel", required_argument, NULL, 'P' },
                { "quiet", no_argument, NULL, 'q' },
                { "policy", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(image_store_freep) ImageStore *s = NULL;
        _cleanup_free_ char *default_root = NULL, *error = NULL;
        _cleanup_free_ char **insecure = calloc((size_t) argc + 1, sizeof(char *)),
                            **mirrors = calloc((size_t) argc + 1, sizeof(char *));
        size_t n_insecure = 0, n_mirrors = 0;
        ImageOptions o = { .pull.insecure = insecure, .pull.mirrors = mirrors, .pull.policy = IMAGE_PULL_ALWAYS };
        const char *command;
        int c, r;

        if (!insecure || !mirrors)
                return report(-ENOMEM, NULL);
        /* Options go before or after the command: getopt permutes. */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'r':
                        o.root = optarg;
                        break;
                case 'n':
                        o.name = optarg;
                        break;
                case 'm':
                        if (parse_size(optarg, &o.max_entry_size) < 0) {
                                log_error("--max-entry-size '%s': want a number of bytes, or with k, M or G", optarg);
                                return 2;
                        }
                        break;
                case 'j':
                        o.json = true;
                        break;
                case 'L':
                        o.pull.layout = optarg;
                        break;
                case 'i':
                        insecure[n_insecure++] = optarg;
                        break;
                case 'a':
                        o.pull.auth_file = optarg;
                        break;
                case 'c':
                        o.pull.ca_file = optarg;
                        break;
                case 'M':
                        mirrors[n_mirrors++] = optarg;
                        break;
                case 'p':
                        o.pull.platform = optarg;
                        break;
                case 'P': {
                        char *end;
                        unsigned long n = strtoul(optarg, &end, 10);
                        if (*end || n == 0 || n > 64) {
                                log_error("--max-parallel '%s': want 1 to 64", optarg);
                                return 2;
                        }
                        o.pull.max_parallel = (unsigned) n;
                        break;
                }
                case 'q':
                        o.pull.quiet = true;
                        break;
                case 'o':
                        if (image_pull_policy_from_string(optarg, &o.pull.policy) < 0) {
                                log_error("--policy '%s': want Always, IfNotPresent or Never", optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        command = argv[optind];
        argc -= optind + 1;
        argv += optind + 1;

        if (!o.root) {
                if (asprintf(&default_root, "%s/images", opts->root_dir) < 0)
                        return report(-ENOMEM, NULL);
                o.root = default_root;
        }
        if (streq(command, "pull")) {
                o.pull.store = o.root;
                return image_pull_command(&o.pull, argv, argc);
        }
        r = image_store_open(o.root, &(ImageStoreOptions) { .max_entry_size = o.max_entry_size }, &s, &error);
        if (r < 0)
                return report(r, error);
        if (streq(command, "import"))
                return cmd_import(s, &o, argc, argv);
        if (streq(command, "ls") || streq(command, "list"))
                return cmd_ls(s, &o);
        if (streq(command, "inspect"))
                return cmd_inspect(s, argc, argv);
        if (streq(command, "rm") || streq(command, "remove"))
                return cmd_rm(s, argc, argv);
        if (streq(command, "prune"))
                return cmd_prune(s);
        if (streq(command, "mount")) {
                if (argc != 3) {
                        log_error("usage: image mount IMAGE CONTAINER-ID DIR");
                        return 2;
                }
                r = image_rootfs_create(s, argv[0], argv[1], argv[2], &error);
                return r < 0 ? report(r, error) : 0;
        }
        if (streq(command, "unmount") || streq(command, "umount")) {
                if (argc != 2) {
                        log_error("usage: image unmount CONTAINER-ID DIR");
                        return 2;
                }
                r = image_rootfs_remove(s, argv[0], argv[1], &error);
                return r < 0 ? report(r, error) : 0;
        }
        log_error("image: unknown command '%s'; see 'stevedore image --help'", command);
        return 2;
}
