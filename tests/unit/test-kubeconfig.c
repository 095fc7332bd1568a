/* SPDX-License-Identifier: Apache-2.0 */
#include "fileio.h"
#include "kubeconfig.h"
#include "macro.h"
#include "tests.h"

/* "-----BEGIN CERTIFICATE-----\n" base64-encoded: the decoder's output is checked. */
#define CERT_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
#define CERT_PEM "-----BEGIN CERTIFICATE-----\n"

static const char *const two_contexts =
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- name: local\n"
        "  cluster:\n"
        "    server: https://127.0.0.1:6443\n"
        "    certificate-authority-data: " CERT_B64 "\n"
        "users:\n"
        "- name: node\n"
        "  user:\n"
        "    client-certificate-data: " CERT_B64 "\n"
        "    client-key-data: " CERT_B64 "\n"
        "- name: robot\n"
        "  user:\n"
        "    token: s3cr3t\n"
        "contexts:\n"
        "- name: as-node\n"
        "  context: {cluster: local, user: node}\n"
        "- name: as-robot\n"
        "  context:\n"
        "    cluster: local\n"
        "    user: robot\n"
        "    namespace: kube-system\n"
        "current-context: as-node\n";

static int parse(const char *text, const char *context, KubeConfig **ret, char **error) {
        return kubeconfig_parse(text, strlen(text), "/etc/stevedore/test.kubeconfig", context, ret, error);
}

TEST(current_context_with_inline_certificates) {
        _cleanup_(kubeconfig_freep) KubeConfig *c = NULL;
        _cleanup_free_ char *error = NULL;

        check_int(parse(two_contexts, NULL, &c, &error), ==, 0);
        check_streq(c->context, "as-node");
        check_streq(c->server, "https://127.0.0.1:6443");
        check_streq(c->ca, CERT_PEM);
        check_int(c->ca_size, ==, strlen(CERT_PEM));
        check_streq(c->client_cert, CERT_PEM);
        check_streq(c->client_key, CERT_PEM);
        check(!c->token && !c->namespace);
}

TEST(context_override_with_token) {
        _cleanup_(kubeconfig_freep) KubeConfig *c = NULL;
        _cleanup_free_ char *error = NULL;

        check_int(parse(two_contexts, "as-robot", &c, &error), ==, 0);
        check_streq(c->token, "s3cr3t");
        check_streq(c->namespace, "kube-system");
        check(!c->client_cert);
}

TEST(files_relative_to_the_kubeconfig) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *text = NULL, *error = NULL;
        _cleanup_(kubeconfig_freep) KubeConfig *c = NULL;
        const char *files[] = { "ca.crt", "node.crt", "node.key", "token" };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *f = NULL;
                check(asprintf(&f, "%s/%s", dir, files[i]) >= 0);
                check_int(write_file_atomic(f, files[i], strlen(files[i]), 0600), ==, 0);
        }
        check(asprintf(&text,
                       "clusters: [{name: c, cluster: {server: 'https://h:1', certificate-authority: ca.crt}}]\n"
                       "users: [{name: u, user: {client-certificate: %s/node.crt, client-key: node.key,\n"
                       "                         tokenFile: token}}]\n"
                       "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                       "current-context: x\n",
                       dir) >= 0);
        check(asprintf(&path, "%s/config", dir) >= 0);
        check_int(write_file_atomic(path, text, strlen(text), 0600), ==, 0);

        check_int(kubeconfig_load(path, NULL, &c, &error), ==, 0);
        check_streq(c->ca, "ca.crt");
        check_streq(c->client_cert, "node.crt");
        check_streq(c->client_key, "node.key");
        check_streq(c->token, "token");
        test_rm_rf(dir);
}

static void check_refused(const char *text, const char *context, int want, const char *want_error) {
        _cleanup_(kubeconfig_freep) KubeConfig *c = NULL;
        _cleanup_free_ char *error = NULL;

        check_int(parse(text, context, &c, &error), ==, want);
        check(!c);
        if (!error || !strstr(error, want_error)) {
                fprintf(stderr, "error '%s' lacks '%s'\n", error ? error : "(null)", want_error);
                check(false);
        }
}

TEST(broken_kubeconfigs_name_the_problem) {
        check_refused(two_contexts, "nope", -EINVAL, "test.kubeconfig: no entry named 'nope' in contexts");
        check_refused("clusters: [\n", NULL, -EINVAL, "test.kubeconfig:2: ");
        check_refused("- a\n- b\n", NULL, -EINVAL, "test.kubeconfig:1: not a kubeconfig");
        check_refused("", NULL, -EINVAL, "not a kubeconfig");
        check_refused("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n", NULL, -EINVAL,
                      "test.kubeconfig:2: contexts[0].context: needs both cluster and user");
        check_refused("current-context: x\n"
                      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "clusters: [{name: c, cluster: {server: 'http://h:1'}}]\n",
                      NULL, -EINVAL, "test.kubeconfig:3: clusters[0].cluster.server: 'http://h:1' is not an https:// URL");
        check_refused("current-context: x\n"
                      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "clusters:\n"
                      "- name: c\n"
                      "  cluster:\n"
                      "    server: https://h:1\n"
                      "    insecure-skip-tls-verify: true\n",
                      NULL, -EINVAL, "test.kubeconfig:7: clusters[0].cluster.insecure-skip-tls-verify: refused");
        check_refused("current-context: x\n"
                      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                      "users:\n"
                      "- name: u\n"
                      "  user:\n"
                      "    client-key-data: '!!notbase64'\n",
                      NULL, -EINVAL, "test.kubeconfig:7: users[0].user.client-key-data: invalid base64");
        check_refused("current-context: x\n"
                      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                      "users: [{name: u, user: {client-certificate: missing.crt, client-key: k}}]\n",
                      NULL, -ENOENT, "test.kubeconfig:4: users[0].user.client-certificate: read /etc/stevedore/missing.crt");
        check_refused("current-context: x\n"
                      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                      "users: [{name: u, user: {exec: {command: aws}}}]\n",
                      NULL, -EINVAL, "users[0].user: exec and auth-provider credentials are not supported");
        check_refused("current-context: x\n"
                      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "clusters: [{name: c, cluster: {server: [1, 2]}}]\n",
                      NULL, -EINVAL, "test.kubeconfig:3: clusters[0].cluster.server: not a string");
}

int main(void) {
        RUN(current_context_with_inline_certificates);
        RUN(context_override_with_token);
        RUN(files_relative_to_the_kubeconfig);
        RUN(broken_kubeconfigs_name_the_problem);
        return 0;
}
