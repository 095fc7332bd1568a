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

int main(void) {
        RUN(process_mounts_namespaces);
        RUN(errors_name_the_field);
        return 0;
}
