/* SPDX-License-Identifier: Apache-2.0 */
#include <systemd/sd-event.h>

#include "fileio.h"
#include "json-util.h"
#include "macro.h"
#include "pod-paths.h"
#include "pod-set.h"
#include "tests.h"

static unsigned freed;

static void count_free(void *data) {
        freed++;
        free(data);
}

static const PodSource source = { .free_data = count_free };

static PodEntry *add(PodSet *set, const char *text) {
        _cleanup_(json_object_putp) json_object *pod = json_tokener_parse(text);
        PodEntry *e = NULL;

        check(pod);
        check_int(pod_set_add(set, &source, pod, malloc(1), &e), ==, 0);
        return e;
}

static void test_find(void) {
        _cleanup_free_ char *root = test_mkdtemp(), *netns = NULL, *run_dir = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(pod_set_freep) PodSet *set = NULL;
        PodEntry *old, *web, *host;
        PodInfo info;

        check_int(sd_event_new(&event), >=, 0);
        check(asprintf(&run_dir, "%s/run", root) > 0);
        PodRuntime rt = { .event = event, .run_dir = run_dir, .log_dir = "/var/log" };
        check_int(pod_set_new(NULL, NULL, &set), ==, 0);
        check_int(pod_set_attach(set, &rt), ==, 0);
        check_int(pod_set_attach(set, &rt), ==, -EBUSY);

        old = add(set, "{\"metadata\": {\"name\": \"web\", \"uid\": \"u0\"}, \"spec\": {\"containers\": [{\"name\": \"c\"}]}}");
        web = add(set, "{\"metadata\": {\"name\": \"web\", \"uid\": \"u1\"}, \"spec\": {\"initContainers\": [{\"name\": \"i\"}],"
                       " \"containers\": [{\"name\": \"c\"}, {\"name\": \"d\"}]}}");
        host = add(set, "{\"metadata\": {\"name\": \"h\", \"namespace\": \"kube-system\", \"uid\": \"u2\"},"
                        " \"spec\": {\"hostNetwork\": true, \"containers\": [{\"name\": \"c\"}]}}");
        {
                _cleanup_(json_object_putp) json_object *nameless = json_object_new_object();
                PodEntry *none = NULL;
                check_int(pod_set_add(set, &source, nameless, NULL, &none), ==, -EINVAL);
                check(!none);
        }
        check(pod_set_get(set, "u1") == web && pod_set_get(set, "nope") == NULL);
        check(pod_set_first(set) == host && pod_entry_next(host) == web && pod_entry_next(web) == old);

        /* The newest of the same name, unless its worker ended. */
        check_int(pod_set_find(set, "default", "web", NULL, &info), ==, 0);
        check_streq(info.uid, "u1");
        check_streq(info.log_dir, "/var/log/pods/default_web_u1");
        check_streq(info.containers[0], "i");
        check_streq(info.containers[1], "c");
        check_streq(info.containers[2], "d");
        check(!info.containers[3] && !info.netns_path);
        web->ended = true;
        check_int(pod_set_find(set, "default", "web", NULL, &info), ==, 0);
        check_streq(info.uid, "u0");
        check_int(pod_set_find(set, "default", "web", "u1", &info), ==, 0);
        check_streq(info.uid, "u1");
        check_int(pod_set_find(set, "default", "web", "u9", &info), ==, -ENOENT);
        check_int(pod_set_find(set, "other", "web", NULL, &info), ==, -ENOENT);

        /* The netns file, as the worker writes it: a path, or empty for the node's. */
        netns = pod_netns_file(run_dir, "u2");
        check_int(mkdir_p(run_dir, 0700), ==, 0);
        check_int(pod_set_find(set, "kube-system", "h", NULL, &info), ==, 0);
        check(!info.netns_path);
        {
                _cleanup_free_ char *dir = pod_run_dir(run_dir, "u2");
                check_int(mkdir_p(dir, 0700), ==, 0);
        }
        check_int(write_file_replace(netns, "", 0, 0600), ==, 0);
        check_int(pod_set_find(set, "kube-system", "h", NULL, &info), ==, 0);
        check_streq(info.netns_path, "");
        check_int(write_file_replace(netns, "/run/netns/x\n", 13, 0600), ==, 0);
        check_int(pod_set_find(set, "kube-system", "h", NULL, &info), ==, 0);
        check_streq(info.netns_path, "/run/netns/x");

        /* Removed: gone at once from lookups, freed from the loop. */
        pod_set_remove(old);
        check(pod_set_get(set, "u0") == NULL);
        check_int(pod_set_find(set, "default", "web", "u0", &info), ==, -ENOENT);
        check_int(freed, ==, 0);
        check_int(sd_event_run(event, 0), >=, 0);
        check_int(freed, ==, 1);
        pod_set_free(TAKE_PTR(set));
        check_int(freed, ==, 3);
        test_rm_rf(root);
}

/* Two sources side by side: each entry is its own source's, and is freed with that
 * source's free_data even once the source itself is gone (the set outlives them). */
static void test_sources(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(pod_set_freep) PodSet *set = NULL;
        _cleanup_(json_object_putp) json_object *api = json_tokener_parse("{\"metadata\": {\"name\": \"a\", \"uid\": \"u-api\"}}");
        _cleanup_(json_object_putp) json_object *file = json_tokener_parse(
                "{\"metadata\": {\"name\": \"s-node\", \"uid\": \"0123456789abcdef0123456789abcdef\"}}");
        PodSource *other = calloc(1, sizeof(PodSource));
        PodEntry *a = NULL, *b = NULL;

        check(other && api && file);
        *other = (PodSource) { .free_data = count_free, .userdata = other };
        check_int(sd_event_new(&event), >=, 0);
        PodRuntime rt = { .event = event, .run_dir = "/nonexistent", .log_dir = "/var/log" };
        check_int(pod_set_new(NULL, NULL, &set), ==, 0);
        check_int(pod_set_attach(set, &rt), ==, 0);
        check_int(pod_set_add(set, &source, api, malloc(1), &a), ==, 0);
        check_int(pod_set_add(set, other, file, malloc(1), &b), ==, 0);
        check(a->source == &source && b->source == other);
        check(pod_set_get(set, "u-api") == a && pod_set_get(set, "0123456789abcdef0123456789abcdef") == b);
        free(other);
        freed = 0;
        pod_set_free(TAKE_PTR(set));
        check_int(freed, ==, 2);
}

int main(void) {
        test_find();
        test_sources();
        return 0;
}
