/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Absolute paths from a struct path, without bpf_d_path() (which tracepoint programs may not
 * call). We walk dentries upwards, crossing mounts through struct mount, and stop at the task's
 * root like d_path() does, so a containerised process sees its own paths. Each component is
 * prepended to what was built so far, so the result is an ordinary forward path.
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

/* The destination of one walk (struct vg_path_buf in vigil_abi.h). A struct, not a char *, so
 * the verifier knows its size when it checks calls to the global function below. */

/* State of one walk, shared by the bpf_loop() steps. pos only decreases: components are
 * prepended, so the finished path is out->data[pos .. VIGIL_PATH_AREA). */
struct vg_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	struct vg_path_buf *out;
	__u32 pos;
	int result;
};

/*
 * pos and result of a walk. With bpf_loop() they live in struct vg_walk. The bounded loop
 * (VIGIL_BOUNDED_PATH_WALK, below) keeps them in the last bytes of out->data's slack instead,
 * which the walk never writes (components end before VIGIL_PATH_AREA): the verifier does not
 * track map memory, so the states at the top of each iteration stay alike and prune, where a
 * stack copy of pos, with a different range after each prepend or mount crossing, made the
 * explored states grow exponentially with the depth.
 */
#ifdef VIGIL_BOUNDED_PATH_WALK
/* The result word: the bits while walking, then (len | bits << 16) as vg_path_walk() returns it,
 * which vg_path_walk_bounded() leaves there for its caller. */
#define vg_path_bounded_result(out) (*(__u32 *)&(out)->data[VIGIL_PATH_AREA + VIGIL_NAME_MAX - sizeof(__u32)])
#define vg_walk_pos(w)    (*(__u32 *)&(w)->out->data[VIGIL_PATH_AREA + VIGIL_NAME_MAX - 2 * sizeof(__u32)])
#define vg_walk_result(w) vg_path_bounded_result((w)->out)
#else
#define vg_walk_pos(w)    ((w)->pos)
#define vg_walk_result(w) ((w)->result)
#endif

/* Writes "/name" in front of what the walk built so far. Returns 0, or 1 when it did not fit. */
static __always_inline int vg_prepend(struct vg_walk *w, const unsigned char *name, __u32 len)
{
	__u32 pos = vg_walk_pos(w);

	len &= VIGIL_NAME_MAX - 1; /* a dentry name has at most 255 bytes; the bound is the verifier's */
	if (pos < len + 1)
		return 1;
	pos -= len;
	/* The mask keeps every write inside out->data, which has VIGIL_NAME_MAX bytes of slack. */
	if (bpf_probe_read_kernel(w->out->data + (pos & (VIGIL_PATH_AREA - 1)), len, name) < 0) {
		vg_walk_result(w) |= VG_PATH_ERROR;
		return 1;
	}
	pos -= 1;
	w->out->data[pos & (VIGIL_PATH_AREA - 1)] = '/';
	vg_walk_pos(w) = pos;
	return 0;
}

/* One step upwards: returns 1 to stop the loop, 0 to go on. */
static long vg_walk_step(__u64 index, void *ctx)
{
	struct vg_walk *w = ctx;
	/* Locals, not w->x inside BPF_CORE_READ: the macro would relocate w's own fields too. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root, *parent;

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
		 * ("/memfd:x", as d_path() shows it) and say the path is detached.
		 */
		vg_walk_result(w) |= VG_PATH_DETACHED;
		if (vg_walk_pos(w) == VIGIL_PATH_AREA && dentry == parent)
			vg_prepend(w, BPF_CORE_READ(dentry, d_name.name), BPF_CORE_READ(dentry, d_name.len));
		return 1;
	}

	if (vg_prepend(w, BPF_CORE_READ(dentry, d_name.name), BPF_CORE_READ(dentry, d_name.len))) {
		vg_walk_result(w) |= VG_PATH_TRUNCATED;
		return 1;
	}
	w->dentry = parent;
	return 0;
}

/* The end of both walks: the path starts at pos in out->data (nothing prepended: the root
 * itself, or nothing readable, is "/"); returns (len | bits << 16). */
static __always_inline __u32 vg_walk_finish(struct vg_path_buf *out, __u32 pos, __u32 result)
{
	if (pos == VIGIL_PATH_AREA) {
		pos = VIGIL_PATH_AREA - 1;
		out->data[VIGIL_PATH_AREA - 1] = '/';
	}
	if (pos > VIGIL_PATH_AREA)
		pos = VIGIL_PATH_AREA;
	return (VIGIL_PATH_AREA - pos) | (result << 16);
}

/*
 * Builds the absolute path of (dentry, vfsmnt) as seen from the root (root_dentry, root_mnt),
 * like d_path(), at the end of out->data, and returns (len | result bits << 16): the path is
 * out->data[VIGIL_PATH_AREA - len .. VIGIL_PATH_AREA), len <= VIGIL_PATH_AREA, never empty.
 *
 * __weak: several program files include this header and are linked into one object; the
 * linker keeps one copy.
 *
 * Written for the verifier: a global (not inlined) function is checked once, on its own, and
 * the walk runs in bpf_loop() (kernel >= 5.17), whose step is checked without unrolling.
 * A plain 128-step loop, inlined twice into the exec handler, multiplied its states past the
 * verifier's 1M-instruction limit. Kernel pointers travel as __u64: a global function takes
 * only scalars and pointers to memory the caller owns.
 */
/* vfsmnt for a dentry without its mount (Tetragon's `dentry` type): the walk stays within the
 * dentry's filesystem and ends at its root, flagged detached; never a real pointer. */
#define VG_WALK_NO_MOUNT 1ULL

__weak __noinline int vg_path_walk(__u64 dentry, __u64 vfsmnt, __u64 root_dentry, __u64 root_mnt,
				   struct vg_path_buf *out)
{
	struct vfsmount *mnt = vfsmnt == VG_WALK_NO_MOUNT ? NULL : (struct vfsmount *)vfsmnt;
	struct vg_walk w = {
		.dentry = (struct dentry *)dentry,
		.vfsmnt = mnt,
		.mnt = mnt ? vg_container_of(mnt, struct mount, mnt) : NULL,
		.root_dentry = (struct dentry *)root_dentry,
		.root_mnt = (struct vfsmount *)root_mnt,
		.out = out,
		.pos = VIGIL_PATH_AREA,
	};
	long steps;

	if (!out)
		return VG_PATH_ERROR << 16;
	if (!dentry || !vfsmnt) {
		w.result |= VG_PATH_ERROR;
	} else {
		steps = bpf_loop(VIGIL_PATH_DEPTH, vg_walk_step, &w, 0);
		/* All steps used and not stopped: deeper than VIGIL_PATH_DEPTH, flag it. */
		if (steps >= VIGIL_PATH_DEPTH)
			w.result |= VG_PATH_TRUNCATED;
	}
	return (int)vg_walk_finish(out, w.pos, w.result);
}

/*
 * The same walk for kernels without bpf_loop() (before 5.17) and without typed pointer
 * arguments to global functions (before 5.12): a bounded loop (5.3+) in a static subprogram,
 * which the verifier checks in its caller's context, once per iteration. Two choices keep that
 * affordable (the full VIGIL_PATH_DEPTH: ~100k instructions verified on 5.10, ~76k on 6.18):
 *  - pos and result live in map memory (vg_walk_pos, vg_walk_result above);
 *  - the result goes through memory (vg_path_bounded_result), not the return register: every
 *    way out of the loop then returns the same state to the caller, which the verifier checks
 *    once instead of once per iteration that can end the walk.
 */
#ifdef VIGIL_BOUNDED_PATH_WALK
static __noinline void vg_path_walk_bounded(struct dentry *dentry, struct vfsmount *vfsmnt, struct dentry *root_dentry,
					    struct vfsmount *root_mnt, struct vg_path_buf *out)
{
	struct vg_walk w = {
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.mnt = vg_container_of(vfsmnt, struct mount, mnt),
		.root_dentry = root_dentry,
		.root_mnt = root_mnt,
		.out = out,
	};
	__u32 i, pos, result;

	vg_walk_pos(&w) = VIGIL_PATH_AREA;
	vg_walk_result(&w) = 0;
	if (!dentry || !vfsmnt) {
		vg_walk_result(&w) |= VG_PATH_ERROR;
	} else {
#pragma clang loop unroll(disable)
		for (i = 0; i < VIGIL_PATH_DEPTH; i++) {
			if (vg_walk_step(i, &w))
				break;
		}
		if (i >= VIGIL_PATH_DEPTH)
			vg_walk_result(&w) |= VG_PATH_TRUNCATED;
	}
	pos = vg_walk_pos(&w);
	result = vg_walk_result(&w);
	vg_path_bounded_result(out) = vg_walk_finish(out, pos, result);
}
#endif

/*
 * min(v, max) in the register that is then used: the verifier of older kernels (6.1) loses a
 * clamp that clang computes in one register and passes in another, which C barriers do not
 * prevent. Found by the kernel matrix.
 */
#define vg_clamp(v, max)                                                              \
	({                                                                            \
		__u64 __v = (v);                                                      \
		asm volatile("if %[x] <= %[m] goto +1; %[x] = %[m]" : [x] "+r"(__v) : [m] "i"(max)); \
		__v;                                                                  \
	})

/* Copies a walked path from out->data into dst (which has room for VIGIL_PATH_AREA bytes). */
static __always_inline __u32 vg_path_copy(char *dst, struct vg_path_buf *out, int walked)
{
	__u64 len = vg_clamp((__u32)walked & 0xffff, VIGIL_PATH_AREA);

	/* Source offset VIGIL_PATH_AREA - len: masked for the verifier, same value at run time. */
	bpf_probe_read_kernel(dst, len, out->data + ((VIGIL_PATH_AREA - len) & (VIGIL_PATH_AREA - 1)));
	return len;
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
