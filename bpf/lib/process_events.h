/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The process sensor's work: exec, fork and exit records, and the vg_procs identity each gives
 * the process. Shared by the tp_btf and raw_tp programs of progs/process.bpf.c, which receive
 * the same typed pointers.
 */
#ifndef VIGIL_PROCESS_EVENTS_H
#define VIGIL_PROCESS_EVENTS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "vigil_abi.h"
#include "maps.h"
#include "output.h"
#include "path.h"
#include "process.h"

/* Argument bytes captured per exec (--args-max-bytes), at most VIGIL_ARGS_CAP - 1. */
const volatile __u32 vg_args_max __weak = VIGIL_ARGS_DEFAULT;

/* The path walk handle_exec uses: vg_path_walk() (bpf_loop, a global function), or, in the
 * program file for older kernels (progs/process_bounded.bpf.c), the bounded loop. */
#ifdef VIGIL_BOUNDED_PATH_WALK
static __always_inline int vg_exec_path_walk(struct dentry *dentry, struct vfsmount *mnt, struct path *root,
					     struct vg_path_buf *out)
{
	vg_path_walk_bounded(dentry, mnt, root->dentry, root->mnt, out);
	return (int)vg_path_bounded_result(out);
}
#else
static __always_inline int vg_exec_path_walk(struct dentry *dentry, struct vfsmount *mnt, struct path *root,
					     struct vg_path_buf *out)
{
	return vg_path_walk((__u64)dentry, (__u64)mnt, (__u64)root->dentry, (__u64)root->mnt, out);
}
#endif

static __always_inline int handle_exec(__u32 old_tid)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_exec_scratch *scratch;
	struct vigil_exec_event *ev;
	struct vigil_proc_state *proc;
	__u16 path_flags = 0;
	int walked;
	struct file *exe;
	struct fs_struct *fs;
	struct path root;
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 ktime = bpf_ktime_get_ns();
	unsigned long arg_start, arg_end;
	__u32 tail_off, nargs;
	__u64 size;

	vg_count(VIGIL_CTR_EXEC_SEEN);
	scratch = bpf_map_lookup_elem(&vg_exec_scratch, &cpu);
	if (!scratch) {
		vg_count(VIGIL_CTR_SCRATCH_MISS);
		vg_count(VIGIL_CTR_RB_DROPS_EXEC);
		return 0;
	}
	ev = &scratch->ev;
	vg_fill_header(&ev->hdr, VIGIL_EVENT_EXEC, 0, ktime, task);
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->parent_ktime_ns = vg_identity_of(ev->ppid);
	ev->process_start_ns = BPF_CORE_READ(task, group_leader, start_time);
	ev->auid = vg_loginuid(task);
	ev->old_tid = old_tid;
	vg_fill_creds(&ev->creds, task);
	vg_fill_namespaces(&ev->ns, task);
	vg_task_upid(task, &ev->nspid, &ev->ns.pid);
	BPF_CORE_READ_STR_INTO(&ev->comm, task, comm);

	/* The executed file as the kernel holds it: mm->exe_file was set by begin_new_exec(), so
	 * this is the resolved binary, never argv[0] or the name given to execve(). */
	fs = BPF_CORE_READ(task, fs);
	root = BPF_CORE_READ(fs, root);
	exe = BPF_CORE_READ(task, mm, exe_file);
	proc = &scratch->proc;
	proc->ktime_ns = ktime;
	proc->binary_len = 0;
	__builtin_memset(proc->binary, 0, sizeof(proc->binary));
	if (exe) {
		struct inode *inode = BPF_CORE_READ(exe, f_inode);
		__u32 binary_len;

		walked = vg_exec_path_walk(BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt), &root,
					   &scratch->path);
		ev->path_len = vg_path_copy(scratch->tail, &scratch->path, walked);
		path_flags |= vg_path_flags(walked, VIGIL_EXEC_F_PATH_TRUNCATED, VIGIL_EXEC_F_PATH_DETACHED,
					    VIGIL_EXEC_F_PATH_ERROR);
		/* Kept for matchBinaries; longer paths than Tetragon's limit can never match. */
		proc->binary_len = ev->path_len;
		binary_len = ev->path_len;
		/* Without the barrier the compiler tests a spilled copy of the length and passes
		 * another, unmasked, to the helper; the 6.1 verifier cannot tie the two and refuses
		 * the read (found by the kernel matrix). */
		barrier_var(binary_len);
		if (binary_len < VIGIL_BINARY_MAX)
			bpf_probe_read_kernel(proc->binary, binary_len & (VIGIL_BINARY_MAX - 1), scratch->tail);
		ev->binary_ino = BPF_CORE_READ(inode, i_ino);
		ev->binary_dev = BPF_CORE_READ(inode, i_sb, s_dev);
		ev->binary_nlink = BPF_CORE_READ(inode, i_nlink);
		if (ev->binary_nlink == 0)
			path_flags |= VIGIL_EXEC_F_DELETED;
	} else {
		ev->path_len = 0;
		path_flags |= VIGIL_EXEC_F_PATH_ERROR;
	}

	/* path_len <= VIGIL_PATH_AREA, so the cwd lands inside tail[]. */
	tail_off = ev->path_len;
	if (tail_off > VIGIL_PATH_AREA)
		tail_off = VIGIL_PATH_AREA;
	walked = vg_exec_path_walk(BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), &root, &scratch->path);
	ev->cwd_len = vg_path_copy(scratch->tail + tail_off, &scratch->path, walked);
	path_flags |= vg_path_flags(walked, VIGIL_EXEC_F_CWD_TRUNCATED, VIGIL_EXEC_F_CWD_DETACHED,
				    VIGIL_EXEC_F_CWD_ERROR);
	tail_off += ev->cwd_len;
	if (tail_off > 2 * VIGIL_PATH_AREA)
		tail_off = 2 * VIGIL_PATH_AREA;

	/* argv lives in the new image's stack, already copied there by execve. */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	ev->args_size = arg_end > arg_start ? arg_end - arg_start : 0;
	nargs = ev->args_size;
	if (nargs > vg_args_max) {
		nargs = vg_args_max;
		ev->hdr.flags |= VIGIL_EXEC_F_ARGS_TRUNCATED;
	}
	/* Constant bound for the verifier (vg_args_max is user-set). */
	if (nargs > VIGIL_ARGS_CAP - 1)
		nargs = VIGIL_ARGS_CAP - 1;
	if (nargs && bpf_probe_read_user(scratch->tail + tail_off, nargs, (void *)arg_start) < 0) {
		ev->hdr.flags |= VIGIL_EXEC_F_ARGS_ERROR;
		nargs = 0;
	}
	ev->args_len = nargs;
	ev->hdr.flags |= path_flags;

	size = sizeof(*ev) + tail_off + nargs;
	ev->hdr.size = size;

	/* This exec is the process's identity from now on: its children and its exit name it. */
	bpf_map_update_elem(&vg_procs, &ev->hdr.pid, proc, BPF_ANY);
	if (size > sizeof(*scratch))
		return 0; /* unreachable; states the bound for bpf_ringbuf_output */
	vg_output(scratch, size, VIGIL_CTR_RB_DROPS_EXEC);
	return 0;
}

static __always_inline int handle_fork(struct task_struct *child)
{
	struct vigil_clone_event ev = {};
	struct vigil_proc_state *parent;
	__u32 zero = 0;
	__u64 ktime;

	/* Threads share their process's identity; only new thread groups are processes. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	vg_count(VIGIL_CTR_CLONE_SEEN);
	ktime = bpf_ktime_get_ns();
	ev.hdr.kind = VIGIL_EVENT_CLONE;
	ev.hdr.size = sizeof(ev);
	ev.hdr.ktime_ns = ktime;
	/* The fork tracepoint runs in the parent: the child is in the parent's cgroup here. */
	ev.hdr.cgroup_id = bpf_get_current_cgroup_id();
	ev.hdr.pid = BPF_CORE_READ(child, tgid);
	ev.hdr.tid = BPF_CORE_READ(child, pid);
	/* real_parent, not the forking task: CLONE_PARENT makes them differ. */
	ev.ppid = BPF_CORE_READ(child, real_parent, tgid);
	parent = bpf_map_lookup_elem(&vg_procs, &ev.ppid);
	ev.parent_ktime_ns = parent ? parent->ktime_ns : 0;
	ev.process_start_ns = BPF_CORE_READ(child, start_time);
	{
		__u32 pid_ns;

		vg_task_upid(child, &ev.nspid, &pid_ns);
	}
	{
		/* The child runs its parent's binary until it execs: copy the parent's entry. */
		struct vigil_proc_state *state = bpf_map_lookup_elem(&vg_fork_scratch, &zero);

		if (state) {
			if (parent)
				__builtin_memcpy(state, parent, sizeof(*state));
			else
				__builtin_memset(state, 0, sizeof(*state));
			state->ktime_ns = ktime;
			bpf_map_update_elem(&vg_procs, &ev.hdr.pid, state, BPF_ANY);
		}
	}
	vg_output(&ev, sizeof(ev), VIGIL_CTR_RB_DROPS_CLONE);
	return 0;
}

static __always_inline int handle_exit(struct task_struct *task)
{
	struct vigil_exit_event ev = {};
	__u32 tgid;

	/* do_exit() decrements signal->live before this tracepoint: 0 means the last thread of the
	 * group is leaving, which is when the process ends (Tetragon's acct_process semantics). */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	vg_count(VIGIL_CTR_EXIT_SEEN);
	tgid = BPF_CORE_READ(task, tgid);
	vg_fill_header(&ev.hdr, VIGIL_EVENT_EXIT, sizeof(ev), bpf_ktime_get_ns(), task);
	ev.process_ktime_ns = vg_identity_of(tgid);
	ev.exit_code = BPF_CORE_READ(task, exit_code);
	bpf_map_delete_elem(&vg_procs, &tgid);
	vg_output(&ev, sizeof(ev), VIGIL_CTR_RB_DROPS_EXIT);
	return 0;
}

#endif
