/* SPDX-License-Identifier: Apache-2.0 */
#include <sched.h>
#include <sys/mount.h>

#include "macro.h"
#include "spec.h"
#include "tests.h"

#define BASE "\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"rootfs\",\"readonly\":true},"

static RuntimeSpec *parse(const char *text, int want, const char *want_error) {
        json_object *o = json_tokener_parse(text);
        _cleanup_free_ char *error = NULL;
        RuntimeSpec *s = NULL;

        check(o);
        check_int(spec_parse(o, &s, &error), ==, want);
        if (want_error && (!error || !strstr(error, want_error))) {
                fprintf(stderr, "error '%s' lacks '%s'\n", error ? error : "(null)", want_error);
                check(false);
        }
        json_object_put(o);
        return s;
}

TEST(process_mounts_namespaces) {
        RuntimeSpec *s = parse(
                "{" BASE "\"hostname\":\"h\",\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":1000,\"gid\":2,"
                "\"umask\":18},\"capabilities\":{\"bounding\":[\"CAP_KILL\",\"CAP_NET_ADMIN\"]},"
                "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,\"hard\":20}]},"
                "\"mounts\":[{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
                "\"options\":[\"nosuid\",\"mode=755\",\"size=1k\",\"rprivate\"]},"
                "{\"destination\":\"/data\",\"source\":\"/srv\",\"options\":[\"rbind\",\"ro\"]}],"
                "\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"uts\"},{\"type\":\"network\",\"path\":\"/run/netns/x\"}]}}",
                0, NULL);

        check(s->root_readonly);
        check_int(s->uid, ==, 1000);
        check_int(s->umask, ==, 022);
        check_int(s->caps[CAPS_BOUNDING], ==, (1ULL << 5) | (1ULL << 12));
        check_int(s->rlimits[0].hard, ==, 20);
        check_int(s->mounts[0].flags, ==, MS_NOSUID);
        check_streq(s->mounts[0].data, "mode=755,size=1k");
        check_int(s->mounts[0].propagation, ==, MS_PRIVATE | MS_REC);
        check_int(s->mounts[1].flags, ==, MS_BIND | MS_REC | MS_RDONLY);
        check(spec_has_namespace(s, CLONE_NEWNET));
        check_streq(s->namespaces[2].path, "/run/netns/x");
        check(s->env && !s->env[0]);
        spec_free(s);
}

TEST(errors_name_the_field) {
        check(!parse("{\"root\":{\"path\":\"r\"}}", -EINVAL, "ociVersion: missing"));
        check(!parse("{" BASE "\"process\":{\"args\":[],\"cwd\":\"/\"}}", -EINVAL, "process.args: missing or empty"));
        check(!parse("{" BASE "\"process\":{\"args\":[\"a\"],\"cwd\":\"/\",\"user\":{\"uid\":-1}}}", -EINVAL,
                     "process.user.uid: '-1' is not a number"));
        check(!parse("{" BASE "\"process\":{\"args\":[\"a\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_X\"}]}}",
                     -EINVAL, "process.rlimits[0].type: 'RLIMIT_X' is not a resource limit"));
        check(!parse("{" BASE "\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},\"mounts\":[{\"destination\":\"rel\"}]}",
                     -EINVAL, "mounts[0].destination: 'rel' is not an absolute path"));
        check(!parse("{" BASE "\"hostname\":\"h\",\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"}}", -EINVAL,
                     "hostname: 'h' set without a new uts namespace"));
        check(!parse("{" BASE "\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},\"linux\":{\"namespaces\":"
                     "[{\"type\":\"ipc\"},{\"type\":\"ipc\"}]}}",
                     -EINVAL, "linux.namespaces[1].type: 'ipc' appears twice"));
}

#define PROCESS "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},"

TEST(resources) {
        RuntimeSpec *s = parse(
                "{" BASE PROCESS "\"linux\":{\"devices\":[{\"path\":\"/dev/null\",\"type\":\"c\",\"major\":1,\"minor\":3}],"
                "\"resources\":{\"memory\":{\"limit\":67108864,\"reservation\":0,\"swap\":-1,\"swappiness\":0,"
                "\"disableOOMKiller\":false},"
                "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"realtimeRuntime\":950,\"cpus\":\"0-1\",\"mems\":\"\"},"
                "\"pids\":{\"limit\":-1},"
                "\"blockIO\":{\"weight\":300,\"weightDevice\":[{\"major\":8,\"minor\":0,\"weight\":500}],"
                "\"throttleReadBpsDevice\":[{\"major\":254,\"minor\":0,\"rate\":1048576}],"
                "\"throttleWriteIOPSDevice\":[{\"major\":254,\"minor\":0,\"rate\":100}]},"
                "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":4194304}],"
                "\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":10,"
                "\"access\":\"rw\"}]}}}",
                0, NULL);
        const CgroupResources *r = &s->resources;

        check(cgroup_has(r, CGROUP_MEMORY_LIMIT) && r->value[CGROUP_MEMORY_LIMIT] == 64 << 20);
        check(!cgroup_has(r, CGROUP_MEMORY_RESERVATION)); /* 0: not set, as runc reads it */
        check(cgroup_has(r, CGROUP_MEMORY_SWAP) && r->value[CGROUP_MEMORY_SWAP] == -1);
        check(cgroup_has(r, CGROUP_MEMORY_SWAPPINESS) && r->value[CGROUP_MEMORY_SWAPPINESS] == 0);
        check(!cgroup_has(r, CGROUP_MEMORY_DISABLE_OOM_KILLER));
        check_int(r->value[CGROUP_CPU_SHARES], ==, 512);
        check_int(r->value[CGROUP_CPU_QUOTA], ==, 50000);
        check_int(r->value[CGROUP_CPU_REALTIME_RUNTIME], ==, 950);
        check_streq(r->cpuset_cpus, "0-1");
        check(!r->cpuset_mems);
        check(cgroup_has(r, CGROUP_PIDS_LIMIT) && r->value[CGROUP_PIDS_LIMIT] == -1);
        check_int(r->value[CGROUP_BLKIO_WEIGHT], ==, 300);
        check_int(r->n_weight_devices, ==, 1);
        check_int(r->weight_devices[0].weight, ==, 500);
        check_int(r->weight_devices[0].leaf_weight, ==, -1);
        check_int(r->n_throttle[CGROUP_THROTTLE_READ_BPS], ==, 1);
        check_int(r->throttle[CGROUP_THROTTLE_READ_BPS][0].major, ==, 254);
        check_int(r->throttle[CGROUP_THROTTLE_READ_BPS][0].rate, ==, 1 << 20);
        check_int(r->throttle[CGROUP_THROTTLE_WRITE_IOPS][0].rate, ==, 100);
        check_int(r->n_throttle[CGROUP_THROTTLE_WRITE_BPS], ==, 0);
        check_int(r->n_hugepages, ==, 1);
        check_streq(r->hugepages[0].page_size, "2MB");
        check(r->has_devices);
        check_int(r->n_devices, ==, 2);
        check(!r->devices[0].allow && r->devices[0].type == 'a' && r->devices[0].access == CGROUP_DEVICE_RWM);
        check(r->devices[1].allow && r->devices[1].type == 'c' && r->devices[1].major == 10 && r->devices[1].minor == -1);
        check_int(r->devices[1].access, ==, CGROUP_DEVICE_READ | CGROUP_DEVICE_WRITE);
        /* linux.devices makes /dev/null: runc's default rule for it is left out */
        check_int(r->skip_default_devices, ==, 1u << cgroup_default_device_index("/dev/null"));
        spec_free(s);

        s = parse("{" BASE PROCESS "\"linux\":{}}", 0, NULL);
        check(!s->resources.set && !s->resources.has_devices && !s->resources.n_devices);
        spec_free(s);
}

TEST(resources_errors_name_the_field) {
        static const struct {
                const char *resources, *error;
        } cases[] = {
                { "{\"memory\":{\"limit\":\"64m\"}}", "linux.resources.memory.limit: '\"64m\"' is not a number of at least -1" },
                { "{\"memory\":{\"limit\":-5}}", "linux.resources.memory.limit: '-5' is not a number of at least -1" },
                { "{\"memory\":{\"swappiness\":200}}", "linux.resources.memory.swappiness: '200' is not a number from 0 to 100" },
                { "{\"memory\":{\"disableOOMKiller\":1}}", "linux.resources.memory.disableOOMKiller: '1' is not true or false" },
                { "{\"memory\":[]}", "linux.resources.memory: not an object" },
                { "{\"cpu\":{\"cpus\":\"0-a\"}}", "linux.resources.cpu.cpus: '\"0-a\"' is not a list" },
                { "{\"cpu\":{\"idle\":2}}", "linux.resources.cpu.idle: '2' is not a number from 0 to 1" },
                { "{\"blockIO\":{\"weight\":5}}", "linux.resources.blockIO.weight: '5' is not a number from 10 to 1000" },
                { "{\"blockIO\":{\"weightDevice\":[{\"major\":8,\"minor\":0,\"weight\":2000}]}}",
                  "linux.resources.blockIO.weightDevice[0].weight: '2000' is not a number from 10 to 1000" },
                { "{\"blockIO\":{\"throttleReadBpsDevice\":[{\"major\":8,\"rate\":1}]}}",
                  "linux.resources.blockIO.throttleReadBpsDevice[0].minor: missing" },
                { "{\"blockIO\":{\"throttleWriteBpsDevice\":[{\"major\":8,\"minor\":0}]}}",
                  "linux.resources.blockIO.throttleWriteBpsDevice[0].rate: missing" },
                { "{\"hugepageLimits\":[{\"pageSize\":\"2XB\",\"limit\":1}]}",
                  "linux.resources.hugepageLimits[0].pageSize: '\"2XB\"' is not a page size" },
                { "{\"devices\":[{\"access\":\"rwm\"}]}", "linux.resources.devices[0].allow: missing" },
                { "{\"devices\":[{\"allow\":true,\"type\":\"x\",\"access\":\"r\"}]}",
                  "linux.resources.devices[0].type: '\"x\"' is not a, b or c" },
                { "{\"devices\":[{\"allow\":true,\"type\":\"c\",\"access\":\"rwx\"}]}",
                  "linux.resources.devices[0].access: '\"rwx\"' is not made of r, w and m" },
                { "{\"devices\":[{\"allow\":true,\"type\":\"c\",\"major\":-3,\"access\":\"r\"}]}",
                  "linux.resources.devices[0].major: '-3' is not a number from 0 to 4294967295" },
                { "{\"devices\":{}}", "linux.resources.devices: not an array" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = NULL;
                check(asprintf(&text, "{" BASE PROCESS "\"linux\":{\"resources\":%s}}", cases[i].resources) > 0);
                check(!parse(text, -EINVAL, cases[i].error));
        }
}

int main(void) {
        RUN(process_mounts_namespaces);
        RUN(errors_name_the_field);
        RUN(resources);
        RUN(resources_errors_name_the_field);
        return 0;
}
