/* SPDX-License-Identifier: Apache-2.0 */
/* In-process side of bench/proxy: the proxy library without the API server, so the
 * figure is the cost of programming alone.
 *   bench-proxy NETNS SERVICES ENDPOINTS CHANGES
 * Feeds SERVICES Services of ENDPOINTS endpoints each, syncs in full, then changes one
 * Service's endpoints CHANGES times, syncing each; prints "full <seconds>" and one
 * "change <seconds>" per change, then "rss_kib <n>". */
#include <fcntl.h>
#include <sched.h>
#include <time.h>

#include "fileio.h"
#include "log.h"
#include "proxy.h"

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int feed(Proxy *p, int service, int endpoints, int generation) {
        char text[4096];
        int len, r;
        json_object *o;

        snprintf(text, sizeof(text),
                 "{\"metadata\":{\"name\":\"svc-%d\",\"namespace\":\"bench\"},\"spec\":{\"clusterIP\":\"10.%d.%d.%d\","
                 "\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}]}}",
                 service, 96 + service / 65536, service / 256 % 256, service % 256);
        o = json_tokener_parse(text);
        r = proxy_service_update(p, o);
        json_object_put(o);
        if (r < 0)
                return r;
        len = snprintf(text, sizeof(text),
                       "{\"metadata\":{\"name\":\"svc-%d-x\",\"namespace\":\"bench\","
                       "\"labels\":{\"kubernetes.io/service-name\":\"svc-%d\"}},"
                       "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":[",
                       service, service);
        for (int e = 0; e < endpoints; e++)
                len += snprintf(text + len, sizeof(text) - (size_t) len, "%s{\"addresses\":[\"10.244.%d.%d\"]}",
                                e ? "," : "", (e + generation) / 250, (e + generation) % 250 + 2);
        snprintf(text + len, sizeof(text) - (size_t) len, "]}");
        o = json_tokener_parse(text);
        r = proxy_slice_update(p, o);
        json_object_put(o);
        return r;
}

int main(int argc, char **argv) {
        _cleanup_(proxy_freep) Proxy *p = NULL;
        _cleanup_free_ char *status = NULL;
        ProxyConfig config = {};
        int fd, services, endpoints, changes, r;
        double t;

        if (argc != 5) {
                fprintf(stderr, "usage: bench-proxy NETNS SERVICES ENDPOINTS CHANGES\n");
                return 2;
        }
        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
                return log_error_errno(errno, "enter %s: %m", argv[1]), 1;
        close(fd);
        services = atoi(argv[2]);
        endpoints = atoi(argv[3]);
        changes = atoi(argv[4]);
        (void) ipv4_prefix_parse("10.244.0.0/16", &config.cluster_cidr);
        config.have_cluster_cidr = true;
        if (proxy_new(&config, &p) < 0)
                return 1;
        for (int s = 0; s < services; s++)
                if (feed(p, s, endpoints, 0) < 0)
                        return 1;
        t = now();
        r = proxy_sync(p, PROXY_SYNC_FULL, NULL);
        if (r < 0)
                return log_error_errno(r, "full sync: %m"), 1;
        printf("full %.6f\n", now() - t);
        for (int c = 1; c <= changes; c++) {
                if (feed(p, services / 2, endpoints, c) < 0)
                        return 1;
                t = now();
                r = proxy_sync(p, PROXY_SYNC_CHANGES, NULL);
                if (r < 0)
                        return log_error_errno(r, "sync: %m"), 1;
                printf("change %.6f\n", now() - t);
        }
        if (read_full_file("/proc/self/status", 1 << 16, &status, NULL) >= 0 && strstr(status, "VmRSS:"))
                printf("rss_kib %ld\n", strtol(strstr(status, "VmRSS:") + 6, NULL, 10));
        return 0;
}
