/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Absolute paths from a struct path, without bpf_d_path() (which tracepoint programs may not
 * call). We walk dentries upwards, crossing mounts through struct mount, and stop at the task's
 * root like d_path() does, so a containerised process sees its own paths. Components are written
 * leaf-first, each NUL-terminated; user space reverses them (see vigil_abi.h).
 */
#ifndef VIGIL_PATH_H
#define VIGIL_PATH_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "vigil_abi.h"

/* The kernel's container_of, for struct mount around its embedded vfsmount. */
#define vg_container_of(ptr, type, member) \
	((type *)((void *)(ptr) - __builtin_offsetof(type, member)))

/* Result bits of vg_path_walk(), mapped onto record flags by the caller. */
#define VG_PATH_TRUNCATED 1
#define VG_PATH_DETACHED  2
#define VG_PATH_ERROR     4

/* The destination of one walk. A struct, not a char *, so the verifier knows its size when
 * it checks calls to the global function below. */
struct vg_path_buf {
	char data[VIGIL_PATH_AREA + VIGIL_NAME_MAX];
};

/* State of one walk, shared by the bpf_loop() steps. */
struct vg_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	struct vg_path_buf *out;
	__u32 len;
	int result;
};

/* One step upwards: returns 1 to stop the loop, 0 to go on. */
static long vg_walk_step(__u64 index, void *ctx)
{
	struct vg_walk *w = ctx;
	/* Locals, not w->x inside BPF_CORE_READ: the macro would relocate w's own fields too. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root, *parent;
	const unsigned char *name;
	__u32 len = w->len;
	long n;

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		return 1;

	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry == mnt_root && mnt_parent != mnt) {
			/* Top of a mount: continue in the parent mount at the mount point. */
			w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			w->mnt = mnt_parent;
			w->vfsmnt = &mnt_parent->mnt;
			return 0;
		}
		/*
		 * A root that is not the task's root: the namespace root seen from a chroot, or a
		 * pseudo filesystem (memfd, pipe). Keep the name of a lone pseudo-fs dentry
		 * ("memfd:x") so the binary is still named, and say it is detached.
		 */
		w->result |= VG_PATH_DETACHED;
		if (len == 0 && dentry == parent) {
			name = BPF_CORE_READ(dentry, d_name.name);
			n = bpf_probe_read_kernel_str(w->out->data, VIGIL_NAME_MAX, name);
			if (n > 0 && n <= VIGIL_NAME_MAX)
				w->len = n;
		}
		return 1;
	}

	if (len > VIGIL_PATH_AREA - VIGIL_NAME_MAX) {
		w->result |= VG_PATH_TRUNCATED;
		return 1;
	}
	name = BPF_CORE_READ(dentry, d_name.name);
	/* Mask: keeps the write offset provably inside out->data for the verifier. */
	n = bpf_probe_read_kernel_str(w->out->data + (len & (VIGIL_PATH_AREA - 1)), VIGIL_NAME_MAX, name);
	if (n <= 0 || n > VIGIL_NAME_MAX) {
		w->result |= VG_PATH_ERROR;
		return 1;
	}
	w->len = len + n;
	w->dentry = parent;
	return 0;
}

/*
 * Writes the components of the path (dentry, vfsmnt) as seen from the root (root_dentry,
 * root_mnt) into out->data and returns (len | result bits << 16), len <= VIGIL_PATH_AREA.
 *
 * Written for the verifier: a global (not inlined) function is checked once, on its own, and
 * the walk runs in bpf_loop() (kernel >= 5.17), whose step is checked without unrolling.
 * A plain 128-step loop, inlined twice into the exec handler, multiplied its states past the
 * verifier's 1M-instruction limit. Kernel pointers travel as __u64: a global function takes
 * only scalars and pointers to memory the caller owns.
 */
__noinline int vg_path_walk(__u64 dentry, __u64 vfsmnt, __u64 root_dentry, __u64 root_mnt,
			    struct vg_path_buf *out)
{
	struct vg_walk w = {
		.dentry = (struct dentry *)dentry,
		.vfsmnt = (struct vfsmount *)vfsmnt,
		.mnt = vg_container_of((struct vfsmount *)vfsmnt, struct mount, mnt),
		.root_dentry = (struct dentry *)root_dentry,
		.root_mnt = (struct vfsmount *)root_mnt,
		.out = out,
	};
	long steps;

	if (!out || !dentry || !vfsmnt)
		return VG_PATH_ERROR << 16;
	steps = bpf_loop(VIGIL_PATH_DEPTH, vg_walk_step, &w, 0);
	/* All steps used and not stopped: deeper than VIGIL_PATH_DEPTH, flag it. */
	if (steps >= VIGIL_PATH_DEPTH)
		w.result |= VG_PATH_TRUNCATED;
	if (w.len > VIGIL_PATH_AREA)
		w.len = VIGIL_PATH_AREA;
	return (int)(w.len | ((__u32)w.result << 16));
}

/* Splits vg_path_walk()'s result and maps its bits onto record flags. */
static __always_inline __u32 vg_path_len(int walked)
{
	__u32 len = (__u32)walked & 0xffff;

	/* Restates the bound the global function guarantees; the caller cannot see inside it. */
	return len > VIGIL_PATH_AREA ? VIGIL_PATH_AREA : len;
}

static __always_inline __u16 vg_path_flags(int walked, __u16 f_truncated, __u16 f_detached, __u16 f_error)
{
	__u32 bits = (__u32)walked >> 16;
	__u16 flags = 0;

	if (bits & VG_PATH_TRUNCATED)
		flags |= f_truncated;
	if (bits & VG_PATH_DETACHED)
		flags |= f_detached;
	if (bits & VG_PATH_ERROR)
		flags |= f_error;
	return flags;
}

#endif
