/* SPDX-License-Identifier: Apache-2.0 */
#pragma once
#include <stdint.h>

/* Opens the cgroup2 directory whose kernfs id is `id` (what bpf_get_current_cgroup_id()
 * reports), relative to an fd of the cgroup2 mount. open_by_handle_at(2) with a
 * FILEID_KERNFS (0xfe) handle whose 8 payload bytes are the id. Needs CAP_DAC_READ_SEARCH.
 * Returns the new fd, or -1 with errno (ESTALE: no such cgroup any more).
 * A shim because glibc declares open_by_handle_at only under _GNU_SOURCE. */
int ccgroup_open_by_id(int mount_fd, uint64_t id);
