/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include "ccgrouphandle.h"

#define FILEID_KERNFS 0xfe

int ccgroup_open_by_id(int mount_fd, uint64_t id)
{
	union {
		struct file_handle handle;
		char bytes[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h;
	h.handle.handle_bytes = sizeof(uint64_t);
	h.handle.handle_type = FILEID_KERNFS;
	memcpy(h.handle.f_handle, &id, sizeof(id));
	return open_by_handle_at(mount_fd, &h.handle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}
