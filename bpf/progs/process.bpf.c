// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The process sensor: exec, fork and exit of every thread group on the node.
 *
 * Each hook exists twice: tp_btf (preferred) and raw_tp (fallback for kernels that refuse
 * tp_btf attachment). Both receive the same typed pointers and share one handler
 * (lib/process_events.h); the loader turns one family off before load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "process_events.h"

/* The license of the whole linked object (GPL-only helpers need it): once, here. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Lets the loader reject an object built from another vigil_abi.h. */
const volatile __u32 vg_abi_version = VIGIL_ABI_VERSION;

SEC("tp_btf/sched_process_exec")
int BPF_PROG(observe_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return handle_exec(old_pid);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(observe_fork, struct task_struct *parent, struct task_struct *child)
{
	return handle_fork(child);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(observe_exit, struct task_struct *p)
{
	return handle_exit(p);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(observe_exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return handle_exec(old_pid);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(observe_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return handle_fork(child);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(observe_exit_raw, struct task_struct *p)
{
	return handle_exit(p);
}
