/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reads of task_struct into the shared records. All through BPF_CORE_READ, so each relocated
 * access is visible here, and the same code serves tp_btf and raw_tp programs. */
#ifndef VIGIL_PROCESS_H
#define VIGIL_PROCESS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "vigil_abi.h"
#include "maps.h"

static __always_inline void vg_fill_header(struct vigil_event_header *hdr, __u16 kind, __u32 size,
					   __u64 ktime, struct task_struct *task)
{
	hdr->kind = kind;
	hdr->flags = 0;
	hdr->size = size;
	hdr->ktime_ns = ktime;
	hdr->cgroup_id = bpf_get_current_cgroup_id();
	hdr->pid = BPF_CORE_READ(task, tgid);
	hdr->tid = BPF_CORE_READ(task, pid);
}

/* Identity the kernel side gave tgid, or 0 when it never saw that process start. */
static __always_inline __u64 vg_identity_of(__u32 tgid)
{
	struct vigil_proc_state *state = bpf_map_lookup_elem(&vg_procs, &tgid);

	return state ? state->ktime_ns : 0;
}

/* kernel_cap_t is { u64 val } since 6.3 and { u32 cap[2] } before: both are 8 little-endian
 * bytes, so one 8-byte read serves every kernel. The address is CO-RE relocated (vmlinux.h
 * applies preserve_access_index to every struct). */
static __always_inline __u64 vg_read_caps(const kernel_cap_t *caps)
{
	__u64 value = 0;

	bpf_probe_read_kernel(&value, sizeof(value), caps);
	return value;
}

/* The credentials in `cred`, for exec records (the task's) and for CRED arguments of kernel
 * functions (a struct cred * the function got): one copy, so both encode them alike. */
static __always_inline void vg_copy_creds(struct vigil_creds *out, const struct cred *cred)
{
	out->uid = BPF_CORE_READ(cred, uid.val);
	out->gid = BPF_CORE_READ(cred, gid.val);
	out->euid = BPF_CORE_READ(cred, euid.val);
	out->egid = BPF_CORE_READ(cred, egid.val);
	out->suid = BPF_CORE_READ(cred, suid.val);
	out->sgid = BPF_CORE_READ(cred, sgid.val);
	out->fsuid = BPF_CORE_READ(cred, fsuid.val);
	out->fsgid = BPF_CORE_READ(cred, fsgid.val);
	out->cap_permitted = vg_read_caps(&cred->cap_permitted);
	out->cap_effective = vg_read_caps(&cred->cap_effective);
	out->cap_inheritable = vg_read_caps(&cred->cap_inheritable);
}

static __always_inline void vg_fill_creds(struct vigil_creds *out, struct task_struct *task)
{
	vg_copy_creds(out, BPF_CORE_READ(task, cred));
}

/* The task's pid namespace entry: thread_pid->numbers[thread_pid->level]. */
static __always_inline void vg_task_upid(struct task_struct *task, __u32 *nspid, __u32 *pid_ns_inum)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	/* level is at most MAX_PID_NS_LEVEL (32); the mask keeps the read in bounds if it is not. */
	bpf_probe_read_kernel(&upid, sizeof(upid), &pid->numbers[level & 31]);
	*nspid = upid.nr;
	*pid_ns_inum = BPF_CORE_READ(upid.ns, ns.inum);
}

static __always_inline void vg_fill_namespaces(struct vigil_namespaces *ns, struct task_struct *task)
{
	struct nsproxy *nsproxy = BPF_CORE_READ(task, nsproxy);

	if (nsproxy) {
		ns->uts = BPF_CORE_READ(nsproxy, uts_ns, ns.inum);
		ns->ipc = BPF_CORE_READ(nsproxy, ipc_ns, ns.inum);
		ns->mnt = BPF_CORE_READ(nsproxy, mnt_ns, ns.inum);
		ns->pid_for_children = BPF_CORE_READ(nsproxy, pid_ns_for_children, ns.inum);
		ns->net = BPF_CORE_READ(nsproxy, net_ns, ns.inum);
		ns->cgroup = BPF_CORE_READ(nsproxy, cgroup_ns, ns.inum);
	}
	ns->user = BPF_CORE_READ(task, cred, user_ns, ns.inum);
}

static __always_inline __u32 vg_loginuid(struct task_struct *task)
{
	/* loginuid exists only with CONFIG_AUDIT; "unset" is (uid_t)-1 like the kernel's. */
	if (bpf_core_field_exists(task->loginuid))
		return BPF_CORE_READ(task, loginuid.val);
	return 0xffffffff;
}

#endif
