/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fileio.h"
#include "ipam.h"
#include "log.h"
#include "macro.h"

/* Larger prefixes than a /16 per node make no sense and would make the table large. */
#define IPAM_MIN_PREFIXLEN 16
#define OWNER_MAX 253 /* a Kubernetes UID is 36; a name-like owner fits too */

struct Ipam {
        int dir_fd;
        char *dir;
        Ipv4Prefix prefix;
        uint32_t size;
        char **owners; /* owners[i]: who holds prefix + i, NULL when free */
};

static bool owner_valid(const char *owner) {
        size_t n = strlen(owner);

        return n > 0 && n <= OWNER_MAX && !strpbrk(owner, "/\n") && owner[0] != '.';
}

static int offset_of(const Ipam *ipam, struct in_addr a, uint32_t *ret) {
        uint32_t off;

        if (!ipv4_prefix_contains(&ipam->prefix, a))
                return -ERANGE;
        off = ntohl(a.s_addr) - ntohl(ipam->prefix.addr.s_addr);
        if (off < 2 || off >= ipam->size - 1)
                return -ERANGE;
        *ret = off;
        return 0;
}

static int read_owner(int dir_fd, const char *name, char **ret) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char buf[OWNER_MAX + 2];
        ssize_t n;

        if (fd < 0)
                return negative_errno();
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return negative_errno();
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        if (!owner_valid(buf))
                return -EBADMSG;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

static int load(Ipam *ipam) {
        _cleanup_close_ int fd = dup(ipam->dir_fd);
        DIR *d;

        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d)
                return negative_errno();
        TAKE_FD(fd);

        for (struct dirent *de; (de = readdir(d));) {
                struct in_addr a;
                uint32_t off;
                int r;

                if (de->d_name[0] == '.')
                        continue;
                if (inet_pton(AF_INET, de->d_name, &a) != 1 || offset_of(ipam, a, &off) < 0) {
                        log_warning("ipam %s: ignoring unexpected entry '%s'", ipam->dir, de->d_name);
                        continue;
                }
                r = read_owner(ipam->dir_fd, de->d_name, &ipam->owners[off]);
                if (r < 0)
                        log_warning_errno(r, "ipam %s: ignoring unreadable entry %s: %m", ipam->dir,
                                          de->d_name);
        }
        closedir(d);
        return 0;
}

int ipam_open(const char *state_dir, const Ipv4Prefix *prefix, Ipam **ret) {
        _cleanup_(ipam_freep) Ipam *ipam = NULL;
        char net[INET_ADDRSTRLEN];
        int r;

        if (prefix->prefixlen < IPAM_MIN_PREFIXLEN || prefix->prefixlen > 30)
                return -ERANGE;

        ipam = calloc(1, sizeof(*ipam));
        if (!ipam)
                return -ENOMEM;
        ipam->dir_fd = -EBADF;
        ipam->prefix = *prefix;
        ipam->size = (uint32_t) ipv4_prefix_size(prefix);
        ipam->owners = calloc(ipam->size, sizeof(char *));
        inet_ntop(AF_INET, &prefix->addr, net, sizeof(net));
        if (!ipam->owners || asprintf(&ipam->dir, "%s/%s_%u", state_dir, net, prefix->prefixlen) < 0)
                return -ENOMEM;

        r = mkdir_p(ipam->dir, 0700);
        if (r < 0)
                return log_error_errno(r, "ipam: create %s: %m", ipam->dir);
        ipam->dir_fd = open(ipam->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ipam->dir_fd < 0)
                return log_error_errno(errno, "ipam: open %s: %m", ipam->dir);
        r = load(ipam);
        if (r < 0)
                return log_error_errno(r, "ipam: read %s: %m", ipam->dir);

        *ret = TAKE_PTR(ipam);
        return 0;
}

void ipam_free(Ipam *ipam) {
        if (!ipam)
                return;
        for (uint32_t i = 0; ipam->owners && i < ipam->size; i++)
                free(ipam->owners[i]);
        free(ipam->owners);
        free(ipam->dir);
        if (ipam->dir_fd >= 0)
                close(ipam->dir_fd);
        free(ipam);
}

static void address_name(const Ipam *ipam, uint32_t off, char buf[static INET_ADDRSTRLEN]) {
        struct in_addr a = ipv4_prefix_nth(&ipam->prefix, off);

        inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* Claims one address file for owner: -EEXIST if another process got there first. The
 * file is written in full as an unnamed O_TMPFILE and then linked into place, so a crash
 * at any point leaves either nothing or the whole claim. */
static int claim(Ipam *ipam, uint32_t off, const char *owner) {
        char name[INET_ADDRSTRLEN], proc_path[64];
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(owner);

        address_name(ipam, off, name);
        fd = openat(ipam->dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        if (write(fd, owner, len) != (ssize_t) len || write(fd, "\n", 1) != 1)
                return -EIO;
        snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc_path, ipam->dir_fd, name, AT_SYMLINK_FOLLOW) < 0)
                return negative_errno();
        return 0;
}

int ipam_find(Ipam *ipam, const char *owner, struct in_addr *ret) {
        for (uint32_t i = 2; i < ipam->size - 1; i++)
                if (ipam->owners[i] && streq(ipam->owners[i], owner)) {
                        *ret = ipv4_prefix_nth(&ipam->prefix, i);
                        return 0;
                }
        return -ENOENT;
}

int ipam_allocate(Ipam *ipam, const char *owner, struct in_addr *ret) {
        int r;

        if (!owner_valid(owner))
                return -EINVAL;
        if (ipam_find(ipam, owner, ret) >= 0)
                return 0;

        for (uint32_t i = 2; i < ipam->size - 1; i++) {
                char name[INET_ADDRSTRLEN];

                if (ipam->owners[i])
                        continue;
                r = claim(ipam, i, owner);
                if (r == -EEXIST) {
                        /* Taken behind our back by another process: learn by whom. */
                        address_name(ipam, i, name);
                        (void) read_owner(ipam->dir_fd, name, &ipam->owners[i]);
                        if (ipam->owners[i] && streq(ipam->owners[i], owner))
                                break;
                        continue;
                }
                if (r < 0)
                        return r;
                ipam->owners[i] = strdup(owner);
                if (!ipam->owners[i])
                        return -ENOMEM;
                break;
        }
        return ipam_find(ipam, owner, ret) < 0 ? -ENOSPC : 0;
}

int ipam_release(Ipam *ipam, const char *owner) {
        int released = 0;

        for (uint32_t i = 2; i < ipam->size - 1; i++) {
                char name[INET_ADDRSTRLEN];

                if (!ipam->owners[i] || !streq(ipam->owners[i], owner))
                        continue;
                address_name(ipam, i, name);
                if (unlinkat(ipam->dir_fd, name, 0) < 0 && errno != ENOENT)
                        return negative_errno();
                free(ipam->owners[i]);
                ipam->owners[i] = NULL;
                released = 1;
        }
        return released;
}

int ipam_list_owners(Ipam *ipam, char ***ret) {
        _cleanup_strv_free_ char **list = NULL;
        size_t n = 0;

        list = calloc(ipam->size + 1, sizeof(char *));
        if (!list)
                return -ENOMEM;
        for (uint32_t i = 0; i < ipam->size; i++)
                if (ipam->owners[i]) {
                        list[n] = strdup(ipam->owners[i]);
                        if (!list[n++])
                                return -ENOMEM;
                }
        *ret = TAKE_PTR(list);
        return 0;
}

struct in_addr ipam_gateway(const Ipam *ipam) {
        return ipv4_prefix_nth(&ipam->prefix, 1);
}

const Ipv4Prefix *ipam_prefix(const Ipam *ipam) {
        return &ipam->prefix;
}
