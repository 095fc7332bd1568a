/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Each fuzz-*.c defines this; linked against libFuzzer with -Dllvm-fuzz=true, or against
 * fuzz-main.c, which replays corpus files so `meson test` keeps the corpus passing. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
