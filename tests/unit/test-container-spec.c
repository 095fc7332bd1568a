/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/stat.h>

#include "container-spec.h"
#include "json-util.h"
#include "spec.h"
#include "tests.h"

static const char *const pod_json =
        "{\"metadata\": {\"name\": \"kubia-x\", \"namespace\": \"default\", \"uid\": \"u-1\", \"labels\": {\"app\": \"kubia\"}},"
        " \"spec\": {\"nodeName\": \"node1\", \"securityContext\": {\"supplementalGroups\": [5], \"fsGroup\": 7,"
        "   \"sysctls\": [{\"name\": \"net.ipv4.ip_unprivileged_port_start\", \"value\": \"0\"}]},"
        "  \"containers\": [{\"name\": \"kubia\", \"image\": \"kubia\"}]}}";

static json_object *parse(const char *s) {
        json_object *o = json_tokener_parse(s);
        check(o);
        return o;
}

/* Builds the container's config; the container is given as JSON, its ConfigMaps and
 * Secrets by objects ({"ConfigMap/name": …}, may be NULL). */
static json_object *build_with(json_object *pod, const char *container, const char *image, json_object *objects,
                               char **ret_error);

static json_object *build(json_object *pod, const char *container, const char *image, char **ret_error) {
        return build_with(pod, container, image, NULL, ret_error);
}

static json_object *lookup(void *userdata, const char *kind, const char *name) {
        char key[128];

        snprintf(key, sizeof(key), "%s/%s", kind, name);
        return json_object_object_get(userdata, key);
}

/* The "data" volume's directory (an emptyDir), made by main. */
static char volume_dir[] = "/tmp/test-container-spec.XXXXXX";

static json_object *build_with(json_object *pod, const char *container, const char *image, json_object *objects,
                               char **ret_error) {
        _cleanup_(json_object_putp) json_object *c = parse(container), *img = image ? parse(image) : NULL;
        ContainerSpecVolume volumes[] = { { "data", volume_dir, false } };
        char *extra[] = { "KUBERNETES_SERVICE_HOST=10.96.0.1", NULL };
        ContainerSpecContext ctx = {
                .pod = pod, .container = c, .image_config = img, .rootfs = "/run/rootfs", .sandbox_dir = "/run/sb",
                .pod_ip = "10.244.0.5", .host_ip = "192.168.1.2", .node_name = "node1", .hosts_file = "/run/hosts",
                .cgroups_path = "/kubepods/besteffort/podu-1/c1", .node_memory = UINT64_C(1) << 33,
                .volumes = volumes, .n_volumes = 1, .extra_env = extra,
                .lookup = objects ? lookup : NULL, .userdata = objects,
        };
        json_object *config = NULL;

        *ret_error = NULL;
        if (container_spec_build(&ctx, &config, ret_error) < 0)
                return NULL;
        return config;
}

static const char *at(json_object *o, const char *path) {
        /* "process.args" → its JSON text */
        char copy[256], *save = NULL;
        snprintf(copy, sizeof(copy), "%s", path);
        for (char *k = strtok_r(copy, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
                if (!json_object_object_get_ex(o, k, &o))
                        o = NULL;
        return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "(none)";
}

static void test_command_and_args_over_the_image(void) {
        _cleanup_(json_object_putp) json_object *pod = parse(pod_json);
        const char *image = "{\"Entrypoint\": [\"/bin/app\"], \"Cmd\": [\"--serve\"], \"Env\": [\"PATH=/bin\", \"MODE=img\"],"
                            " \"WorkingDir\": \"/app\"}";
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
        _cleanup_(json_object_putp) json_object *c1 = build(pod, "{\"name\": \"a\"}", image, &e1);
        _cleanup_(json_object_putp) json_object *c2 = build(pod, "{\"name\": \"a\", \"args\": [\"-v\"]}", image, &e2);
        _cleanup_(json_object_putp) json_object *c3 = build(pod, "{\"name\": \"a\", \"command\": [\"sh\"]}", image, &e3);
        _cleanup_(json_object_putp) json_object *c4 = build(pod, "{\"name\": \"a\"}", "{}", &e4);

        check_streq(at(c1, "process.args"), "[\"\\/bin\\/app\",\"--serve\"]");
        check_streq(at(c2, "process.args"), "[\"\\/bin\\/app\",\"-v\"]");
        check_streq(at(c3, "process.args"), "[\"sh\"]");
        check_streq(at(c1, "process.cwd"), "\"\\/app\"");
        check(!c4);
        check_streq(e4, "pod default/kubia-x: container a: no command: neither the container nor its image gives one");
}

static void test_env_field_refs_and_expansion(void) {
        _cleanup_(json_object_putp) json_object *pod = parse(pod_json);
        _cleanup_free_ char *error = NULL;
        _cleanup_(json_object_putp) json_object *c = build(
                pod,
                "{\"name\": \"a\", \"command\": [\"echo\", \"$(POD)\", \"$$(POD)\", \"$(NOPE)\"],"
                " \"env\": [{\"name\": \"MODE\", \"value\": \"pod\"},"
                "  {\"name\": \"POD\", \"valueFrom\": {\"fieldRef\": {\"fieldPath\": \"metadata.name\"}}},"
                "  {\"name\": \"IP\", \"valueFrom\": {\"fieldRef\": {\"fieldPath\": \"status.podIP\"}}},"
                "  {\"name\": \"APP\", \"valueFrom\": {\"fieldRef\": {\"fieldPath\": \"metadata.labels['app']\"}}},"
                "  {\"name\": \"BOTH\", \"value\": \"$(POD)@$(IP)\"}]}",
                "{\"Env\": [\"PATH=/bin\", \"MODE=img\"]}", &error);

        check(c);
        check_streq(at(c, "process.args"), "[\"echo\",\"kubia-x\",\"$(POD)\",\"$(NOPE)\"]");
        check_streq(at(c, "process.env"), "[\"PATH=\\/bin\",\"MODE=pod\",\"KUBERNETES_SERVICE_HOST=10.96.0.1\","
                                          "\"POD=kubia-x\",\"IP=10.244.0.5\",\"APP=kubia\",\"BOTH=kubia-x@10.244.0.5\"]");
}

/* kubelet's expansion sees the Service variables and the container's env, never the
 * image's Env; the container's env overrides a Service variable; an unknown reference
 * stays whole, even with a known one inside. */
static void test_env_over_service_variables(void) {
        _cleanup_(json_object_putp) json_object *pod = parse(pod_json);
        _cleanup_free_ char *error = NULL;
        _cleanup_(json_object_putp) json_object *c = build(
                pod,
                "{\"name\": \"a\", \"command\": [\"$(KUBERNETES_SERVICE_HOST)\", \"$(PATH)\", \"$(X$(MODE))\"],"
                " \"args\": [\"$(MODE)\"],"
                " \"env\": [{\"name\": \"MODE\", \"value\": \"$(MODE)-$(KUBERNETES_SERVICE_HOST)\"},"
                "  {\"name\": \"P\", \"value\": \"$(PATH):/x\"},"
                "  {\"name\": \"KUBERNETES_SERVICE_HOST\", \"value\": \"own\"}]}",
                "{\"Env\": [\"PATH=/bin\", \"MODE=img\", \"KUBERNETES_SERVICE_HOST=img\"]}", &error);

        check(c);
        check_streq(at(c, "process.args"), "[\"own\",\"$(PATH)\",\"$(X$(MODE))\",\"$(MODE)-10.96.0.1\"]");
        check_streq(at(c, "process.env"), "[\"PATH=\\/bin\",\"MODE=$(MODE)-10.96.0.1\",\"KUBERNETES_SERVICE_HOST=own\","
                                          "\"P=$(PATH):\\/x\"]");
}

/* envFrom's ConfigMaps and Secrets (prefixed) after the Service variables, env over them;
 * a missing optional object or key gives no variable, a missing required one an error
 * naming it. */
static void test_env_from_config_maps_and_secrets(void) {
        _cleanup_(json_object_putp) json_object *pod = parse(pod_json), *objects = parse(
                "{\"ConfigMap/cfg\": {\"data\": {\"A\": \"1\", \"B\": \"2\"}},"
                " \"Secret/sec\": {\"data\": {\"S\": \"czNjcmV0\"}}}");
        _cleanup_free_ char *error = NULL, *e2 = NULL, *e3 = NULL;
        _cleanup_(json_object_putp) json_object *c = build_with(
                pod,
                "{\"name\": \"a\", \"command\": [\"env\"],"
                " \"envFrom\": [{\"configMapRef\": {\"name\": \"cfg\"}}, {\"prefix\": \"p-\", \"secretRef\": {\"name\": \"sec\"}},"
                "  {\"configMapRef\": {\"name\": \"gone\", \"optional\": true}}],"
                " \"env\": [{\"name\": \"B\", \"value\": \"env\"},"
                "  {\"name\": \"K\", \"valueFrom\": {\"configMapKeyRef\": {\"name\": \"cfg\", \"key\": \"A\"}}},"
                "  {\"name\": \"T\", \"valueFrom\": {\"secretKeyRef\": {\"name\": \"sec\", \"key\": \"S\"}}},"
                "  {\"name\": \"O\", \"valueFrom\": {\"secretKeyRef\": {\"name\": \"sec\", \"key\": \"no\", \"optional\": true}}}]}",
                NULL, objects, &error);
        _cleanup_(json_object_putp) json_object *c2 = build_with(
                pod, "{\"name\": \"a\", \"command\": [\"env\"], \"envFrom\": [{\"secretRef\": {\"name\": \"gone\"}}]}",
                NULL, objects, &e2);
        _cleanup_(json_object_putp) json_object *c3 = build_with(
                pod, "{\"name\": \"a\", \"command\": [\"env\"], \"env\": [{\"name\": \"X\", \"valueFrom\":"
                     " {\"secretKeyRef\": {\"name\": \"sec\", \"key\": \"no\"}}}]}",
                NULL, objects, &e3);

        check(c);
        check_streq(at(c, "process.env"), "[\"KUBERNETES_SERVICE_HOST=10.96.0.1\",\"A=1\",\"B=env\",\"p-S=s3cret\","
                                          "\"K=1\",\"T=s3cret\"]");
        check(!c2);
        check_streq(e2, "pod default/kubia-x: container a: envFrom: Secret gone not found");
        check(!c3);
        check_streq(e3, "pod default/kubia-x: container a: env X: couldn't find key no in Secret sec");
}

static void test_security_context(void) {
        _cleanup_(json_object_putp) json_object *pod = parse(pod_json);
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL;
        _cleanup_(json_object_putp) json_object *c1 = build(
                pod,
                "{\"name\": \"a\", \"command\": [\"x\"], \"securityContext\": {\"runAsUser\": 1000,"
                " \"allowPrivilegeEscalation\": false, \"readOnlyRootFilesystem\": true,"
                " \"capabilities\": {\"add\": [\"NET_ADMIN\"], \"drop\": [\"ALL\"]},"
                " \"seccompProfile\": {\"type\": \"RuntimeDefault\"}}}",
                NULL, &e1);
        _cleanup_(json_object_putp) json_object *c2 = build(
                pod, "{\"name\": \"b\", \"command\": [\"x\"], \"securityContext\": {\"runAsNonRoot\": true}}", NULL, &e2);
        _cleanup_(json_object_putp) json_object *c3 = build(
                pod, "{\"name\": \"c\", \"command\": [\"x\"], \"securityContext\": {\"capabilities\": {\"add\": [\"FLY\"]}}}",
                NULL, &e3);
        /* ALL in add is every capability whatever comes with it; the named drops go after */
        _cleanup_(json_object_putp) json_object *c4 = build(
                pod, "{\"name\": \"d\", \"command\": [\"x\"], \"securityContext\": {\"capabilities\": "
                     "{\"add\": [\"CHOWN\", \"ALL\"], \"drop\": [\"CHOWN\"]}}}", NULL, &e4);
        _cleanup_(json_object_putp) json_object *c5 = build(
                pod, "{\"name\": \"e\", \"command\": [\"x\"], \"securityContext\": {\"capabilities\": "
                     "{\"add\": [\"ALL\"], \"drop\": [\"CHOWN\"]}}}", NULL, &e5);

        check(c1);
        check_streq(at(c1, "process.user"), "{\"uid\":1000,\"gid\":0,\"additionalGids\":[5,7]}");
        /* containerd's rule: drop ALL clears the set, then the named adds go in (kubeadm's
         * CoreDNS: drop ALL, add NET_BIND_SERVICE) */
        check_streq(at(c1, "process.capabilities.bounding"), "[\"CAP_NET_ADMIN\"]");
        check_streq(at(c1, "process.capabilities.effective"), "[\"CAP_NET_ADMIN\"]");
        check_streq(at(c4, "process.capabilities.permitted"), at(c5, "process.capabilities.permitted"));
        check(!strstr(at(c4, "process.capabilities.permitted"), "CAP_CHOWN"));
        check(strstr(at(c4, "process.capabilities.permitted"), "CAP_SYS_ADMIN"));
        check_streq(at(c1, "process.noNewPrivileges"), "true");
        check_streq(at(c1, "root.readonly"), "true");
        check_streq(at(c1, "annotations"), "{\"org.stevedore.seccomp\":\"runtime\\/default\"}");
        check(!c2);
        check_streq(e2, "pod default/kubia-x: container b: container has runAsNonRoot and image will run as root");
        check(!c3);
        check_streq(e3, "pod default/kubia-x: container c: securityContext.capabilities: 'FLY' is not a capability");
}

static void test_resources_namespaces_and_the_runtime_accepts_it(void) {
        _cleanup_(json_object_putp) json_object *pod = parse(
                "{\"metadata\": {\"name\": \"p\", \"namespace\": \"ns\"}, \"spec\": {\"containers\": [{\"name\": \"a\","
                " \"resources\": {\"limits\": {\"cpu\": \"500m\", \"memory\": \"128Mi\"}, \"requests\": {\"cpu\": \"250m\"}}}]}}");
        _cleanup_free_ char *error = NULL, *spec_error = NULL;
        _cleanup_(json_object_putp) json_object *c = build(
                pod,
                "{\"name\": \"a\", \"command\": [\"x\"], \"resources\": {\"limits\": {\"cpu\": \"500m\", \"memory\": \"128Mi\"},"
                " \"requests\": {\"cpu\": \"250m\"}}, \"volumeMounts\": [{\"name\": \"data\", \"mountPath\": \"/data\","
                " \"subPath\": \"x\"}]}",
                NULL, &error);
        _cleanup_(spec_freep) RuntimeSpec *spec = NULL;

        check(c);
        check_streq(at(c, "linux.resources"), "{\"cpu\":{\"shares\":256,\"period\":100000,\"quota\":50000},"
                                              "\"memory\":{\"limit\":134217728}}");
        check_streq(pod_qos_class(pod), "Burstable");
        check_streq(at(c, "process.oomScoreAdj"), "985");
        check_streq(at(c, "linux.namespaces"), "[{\"type\":\"pid\"},{\"type\":\"mount\"},"
                                               "{\"type\":\"network\",\"path\":\"\\/run\\/sb\\/net\"},"
                                               "{\"type\":\"uts\",\"path\":\"\\/run\\/sb\\/uts\"},"
                                               "{\"type\":\"ipc\",\"path\":\"\\/run\\/sb\\/ipc\"}]");
        check(strstr(at(c, "mounts"), "{\"destination\":\"\\/data\",\"type\":\"bind\",\"source\":"));
        check(strstr(at(c, "mounts"), "\\/x\",\"options\""));
        /* What the agent hands the runtime is what the runtime takes. */
        check_int(spec_parse(c, &spec, &spec_error), ==, 0);
        check_int(spec->resources.value[CGROUP_MEMORY_LIMIT], ==, 134217728);
}

/* subPathExpr from the container's env; a missing or empty value, an absolute path and a
 * ".." part are refused (CreateContainerConfigError); a missing subPath is made with the
 * volume's mode. */
static void test_sub_path_expr(void) {
        _cleanup_(json_object_putp) json_object *pod = parse(pod_json);
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *made = NULL;
        const char *env = "\"env\": [{\"name\": \"P\", \"valueFrom\": {\"fieldRef\": {\"fieldPath\": \"metadata.name\"}}},"
                          " {\"name\": \"E\", \"value\": \"\"}, {\"name\": \"ABS\", \"value\": \"/etc\"},"
                          " {\"name\": \"UP\", \"value\": \"..\"}]";
        char container[1024];
        struct stat st;

        check_int(chmod(volume_dir, 0777), ==, 0);
#define WITH_EXPR(expr) (snprintf(container, sizeof(container), \
                                  "{\"name\": \"a\", \"command\": [\"x\"], %s, \"volumeMounts\": [{\"name\": \"data\"," \
                                  " \"mountPath\": \"/m\", \"subPathExpr\": \"%s\"}]}", env, expr), container)
        _cleanup_(json_object_putp) json_object *c1 = build(pod, WITH_EXPR("logs/$(P)"), NULL, &e1);
        _cleanup_(json_object_putp) json_object *c2 = build(pod, WITH_EXPR("$(E)$(NOPE)"), NULL, &e2);
        _cleanup_(json_object_putp) json_object *c3 = build(pod, WITH_EXPR("$(ABS)"), NULL, &e3);
        _cleanup_(json_object_putp) json_object *c4 = build(pod, WITH_EXPR("a/$(UP)/b"), NULL, &e4);
#undef WITH_EXPR

        check(c1);
        check(strstr(at(c1, "mounts"), "\\/logs\\/kubia-x\""));
        check(asprintf(&made, "%s/logs/kubia-x", volume_dir) > 0);
        check_int(stat(made, &st), ==, 0);
        check(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0777);
        check(!c2);
        check_streq(e2, "pod default/kubia-x: container a: volumeMounts[0]: subPathExpr $(E)$(NOPE): missing value for E, NOPE");
        check(!c3);
        check_streq(e3, "pod default/kubia-x: container a: volumeMounts[0]: error SubPath `/etc` must not be an absolute path");
        check(!c4);
        check_streq(e4, "pod default/kubia-x: container a: volumeMounts[0]: unable to provision SubPath `a/../b`: must not "
                        "contain '..'");
}

int main(void) {
        check(mkdtemp(volume_dir));
        test_command_and_args_over_the_image();
        test_env_field_refs_and_expansion();
        test_env_over_service_variables();
        test_env_from_config_maps_and_secrets();
        test_security_context();
        test_resources_namespaces_and_the_runtime_accepts_it();
        test_sub_path_expr();
        char rm[128];
        snprintf(rm, sizeof(rm), "rm -rf %s", volume_dir);
        check_int(system(rm), ==, 0);
        return 0;
}
