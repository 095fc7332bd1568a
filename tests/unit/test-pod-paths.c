/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"
#include "pod-paths.h"
#include "tests.h"

#define UID "0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"

static void check_owned(char *got, const char *want) {
        check(got);
        check_streq(got, want);
        free(got);
}

static void test_layout(void) {
        check_owned(pod_log_dir("/var/log", "web", "kubia-x", UID), "/var/log/pods/web_kubia-x_" UID);
        check_owned(pod_container_log("/var/log/pods/web_kubia-x_" UID, "kubia", 3),
                    "/var/log/pods/web_kubia-x_" UID "/kubia/3.log");
        check_owned(pod_run_dir("/run/stevedore", UID), "/run/stevedore/pods/" UID);
        check_owned(pod_state_dir("/var/lib/stevedore", UID), "/var/lib/stevedore/pods/" UID);
        check_owned(pod_sandbox_dir("/run/stevedore", UID), "/run/stevedore/pods/" UID "/ns");
        check_owned(pod_sandbox_netns("/run/stevedore/pods/" UID "/ns"), "/run/stevedore/pods/" UID "/ns/net");
        check_owned(pod_netns_file("/run/stevedore", UID), "/run/stevedore/pods/" UID "/netns");
        check_owned(pod_container_runs("/run/stevedore/pods/" UID, "kubia"), "/run/stevedore/pods/" UID "/containers/kubia");
        check_owned(pod_container_run_dir("/run/stevedore/pods/" UID, "kubia", 2), "/run/stevedore/pods/" UID "/containers/kubia/2");
        check_owned(pod_file("/run/stevedore/pods/" UID, POD_HOSTS_FILE), "/run/stevedore/pods/" UID "/hosts");
        check_owned(pod_container_log_link("/var/log", "default", "kubia", "app", "id-1"), "/var/log/containers/kubia_default_app-id-1.log");
        check_owned(pod_container_logs_pattern("/var/log/pods/x", "app"), "/var/log/pods/x/app/*.log");
        check_owned(pod_volume_dir("/var/lib/stevedore/pods/" UID, "data"), "/var/lib/stevedore/pods/" UID "/volumes/data");
        check_owned(pod_volumes_dir("/var/lib/stevedore/pods/" UID), "/var/lib/stevedore/pods/" UID "/volumes");
        check_owned(pod_container_log_dir("/var/log/pods/x", "app"), "/var/log/pods/x/app");
        check_owned(pod_container_exit_file("/run/stevedore", UID, "kubia", 2),
                    "/run/stevedore/pods/" UID "/containers/kubia/2/exit.json");
        check_owned(pod_container_id(UID, "kubia", 2), UID "-kubia-2");
}

static void test_newest_run(void) {
        _cleanup_free_ char *root = test_mkdtemp(), *runs = NULL, *dir = NULL;
        unsigned restart = 99;

        check_int(pod_container_newest_run(root, "c", &restart), ==, -ENOENT);
        runs = pod_container_runs(root, "c");
        check_int(mkdir_p(runs, 0700), ==, 0);
        check_int(pod_container_newest_run(root, "c", &restart), ==, -ENOENT);
        for (const char *const *n = (const char *const[]) { "0", "2", "10", "x", "3a", NULL }; *n; n++) {
                free(dir);
                check(asprintf(&dir, "%s/%s", runs, *n) > 0);
                check_int(mkdir(dir, 0700), ==, 0);
        }
        check_int(pod_container_newest_run(root, "c", &restart), ==, 0);
        check_int(restart, ==, 10); /* by number: 10 after 2 */
        test_rm_rf(root);
}

int main(void) {
        test_layout();
        test_newest_run();
        return 0;
}
