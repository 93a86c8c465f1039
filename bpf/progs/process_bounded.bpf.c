// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The exec hook for kernels older than 5.17: no bpf_loop(), and (before 5.12) no typed pointer
 * arguments to global functions, so the path walk is a bounded loop in a static subprogram
 * (lib/path.h, vg_path_walk_bounded), to the same depth. Fork and
 * exit need no walk: progs/process.bpf.c's programs serve every kernel. The loader picks these
 * programs where the bpf_loop() probe fails and says so.
 */
#define VIGIL_BOUNDED_PATH_WALK 1
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "process_events.h"

SEC("tp_btf/sched_process_exec")
int BPF_PROG(observe_exec_bounded, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return handle_exec(old_pid);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(observe_exec_bounded_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return handle_exec(old_pid);
}
