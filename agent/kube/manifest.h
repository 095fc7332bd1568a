/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

/* Manifest files as kubelet reads static pods and kubectl reads `apply -f`: YAML with
 * one or more documents ("---"), or JSON, turned into the JSON objects the API server
 * would hold. Plain scalars resolve as sigs.k8s.io/yaml (go-yaml v2, YAML 1.1) resolves
 * them: null/~/empty → null; true/false/yes/no/on/off/y/n in their case forms → booleans;
 * decimal, 0x, 0o, leading-0 octal and 0b integers (underscores allowed) → integers;
 * decimal floats → numbers; quoted or !!str scalars stay strings. Keys become strings;
 * "<<" merges a mapping (or a list of them) into its parent. Aliases are expanded, with
 * limits on size and depth so that a hostile file cannot exhaust memory. Empty documents
 * are skipped; a document that is not a mapping is an error. */

#define MANIFEST_MAX_SIZE (4u << 20)

/* *ret: a NULL-terminated array of objects (free with manifest_objects_free). On
 * failure -EINVAL (or -ENOMEM) and *ret_error: "origin:line:column: what". */
int manifest_objects_parse(const char *text, size_t size, const char *origin, json_object ***ret, char **ret_error);
/* Reads and parses a file (at most MANIFEST_MAX_SIZE). */
int manifest_objects_load(const char *path, json_object ***ret, char **ret_error);
void manifest_objects_free(json_object **objects);

static inline void manifest_objects_freep(json_object ***p) {
        if (*p)
                manifest_objects_free(*p);
}
