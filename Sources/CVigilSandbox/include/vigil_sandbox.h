/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's own seccomp filter (libseccomp), installed once start-up is done. */
#pragma once
#include <stddef.h>

enum vigil_sandbox_mode {
	VIGIL_SANDBOX_LOG = 1,     /* denied syscalls are allowed and logged by the kernel */
	VIGIL_SANDBOX_ENFORCE = 2, /* denied syscalls fail with EPERM (clone3: ENOSYS) */
};

/* Name i of the syscalls the filter denies (some may not exist on this arch); NULL past the end. */
const char *vigil_sandbox_denied_name(int i);

/* Installs the filter on every thread of the process (TSYNC). Returns 0, or a negative errno
 * with a message in err naming the step that failed. *rules receives the number of syscalls
 * the filter names on this architecture. */
/* handle_mount_fd: the one fd open_by_handle_at may name as its mount (the cgroup2 root the
 * agent resolves cgroup ids on), or -1 to deny that call outright. */
int vigil_sandbox_install(enum vigil_sandbox_mode mode, int handle_mount_fd, int *rules, char *err, size_t errlen);
