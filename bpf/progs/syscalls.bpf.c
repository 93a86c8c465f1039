// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The syscall dispatcher: syscall tracepoints (syscalls/sys_enter_* and sys_exit_*, which the
 * translated syscall kprobes use too) run through these two programs on the raw sys_enter /
 * sys_exit tracepoints instead of a copy on each perf tracepoint (why, and the cost measured:
 * lib/dispatch.h). tp_btf programs: the loader turns them off in raw_tp mode, where syscall
 * hooks use the tracepoint copies.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "dispatch.h"

SEC("tp_btf/sys_enter")
int BPF_PROG(generic_sys_enter, struct pt_regs *regs, long id)
{
	return vg_syscall_dispatch((__u64)id, 0, regs, 0);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(generic_sys_exit, struct pt_regs *regs, long ret)
{
	return vg_syscall_dispatch(regs->orig_ax, 1, regs, ret);
}

/* io_uring opens at their completion: file_open hooks of openat's exit (lib/dispatch.h). A raw
 * tracepoint, attached with the exit dispatcher where io_uring exists. */
SEC("raw_tp/io_uring_complete")
int generic_uring_open(struct bpf_raw_tracepoint_args *ctx)
{
	return vg_uring_open_dispatch((struct io_kiocb *)ctx->args[1]);
}

/* The exec dispatcher: the exec check hooks at sched_process_exec, after the process sensor's
 * exec program (lib/dispatch.h says why). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(generic_exec_dispatch, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return vg_exec_dispatch();
}
