/* SPDX-License-Identifier: Apache-2.0 */
/* The node's resolv.conf (outside input: whatever the host's resolver tools wrote)
 * through what each pod's resolv.conf is made from, by every dnsPolicy. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json-util.h"
#include "macro.h"
#include "pod-files.h"

static const char *const pods[] = {
        "{\"metadata\": {\"name\": \"p\", \"namespace\": \"ns\"}, \"spec\": {}}",
        ("{\"metadata\": {\"name\": \"p\"}, \"spec\": {\"dnsPolicy\": \"Default\", \"dnsConfig\": "
         "{\"nameservers\": [\"10.0.0.9\"], \"searches\": [\"x.example\"], \"options\": [{\"name\": \"ndots\"}]}}}"),
        "{\"metadata\": {\"name\": \"p\"}, \"spec\": {\"hostNetwork\": true, \"dnsPolicy\": \"ClusterFirstWithHostNet\"}}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size);
        char *cluster_dns[] = { (char *) "10.96.0.10", NULL };

        if (!text)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(pods); i++)
                for (int with_cluster = 0; with_cluster < 2; with_cluster++) {
                        _cleanup_(json_object_putp) json_object *pod = json_tokener_parse(pods[i]);
                        PodDnsConfig config = { .host_resolv_conf = text, .cluster_dns = with_cluster ? cluster_dns : NULL,
                                                .cluster_domain = "cluster.local" };
                        _cleanup_free_ char *out = pod_resolv_conf(pod, &config, NULL, NULL);
                        size_t lines = 0;

                        if (!out)
                                abort();
                        /* Never more than three nameserver lines (the words may stand inside
                         * another line, an option copied through). */
                        for (const char *l = out; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
                                if (strncmp(l, "nameserver ", 11) == 0)
                                        lines++;
                        if (lines > 3 && strcmp(out, text) != 0)
                                abort();
                }
        return 0;
}
