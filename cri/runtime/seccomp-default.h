/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

#include "seccomp-filter.h"

/* What containerd gives a container it is told nothing about, for the agent's pod
 * containers (securityContext unset, seccompProfile RuntimeDefault): containerd's
 * default capability set (pkg/oci/spec.go, defaultUnixCaps) and its default seccomp
 * profile (contrib/seccomp/seccomp_default.go, DefaultProfile), as of containerd 2.1. */

/* CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW, CAP_SETGID,
 * CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,
 * CAP_AUDIT_WRITE; bit n: capability n, as RuntimeSpec.caps. */
uint64_t runtime_default_capabilities(void);

/* The RuntimeDefault filter for a container whose bounding set is `capabilities` (bit n:
 * capability n; containerd looks at process.capabilities.bounding): everything not
 * listed fails with EPERM; CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SYS_TIME … each allow the
 * calls they govern. -EINVAL with *ret_error set if libseccomp refuses a rule. */
int seccomp_filter_new_runtime_default(uint64_t capabilities, SeccompFilter **ret, char **ret_error);
