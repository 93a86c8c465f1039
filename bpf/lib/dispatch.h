/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * How a tracepoint-like hook gets its record: the generic tracepoint copies read the perf
 * tracepoint record their slot's hook names, and the syscall dispatcher on the raw sys_enter /
 * sys_exit tracepoints rebuilds the syscall tracepoints' record and runs the hooks listed for the
 * syscall. Both then read the arguments (args.h) and decide (decide.h).
 */
#ifndef VIGIL_DISPATCH_H
#define VIGIL_DISPATCH_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil_abi.h"
#include "policy_maps.h"
#include "args.h"
#include "decide.h"

/* Global functions here are __weak __noinline: several entry files in progs/ include this
 * header and are linked into one object, where the linker keeps one copy; global (not static)
 * so the verifier checks each once, on its own, instead of once per path through its caller. */

/* A generic tracepoint copy: the record the kernel passed, at the hook's ctx_size. */
static __always_inline int vg_generic_run(void *ctx)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx);
	__u32 cpu = bpf_get_smp_processor_id();
	struct vigil_generic_scratch *s;
	struct vigil_hook *hook;
	__u32 n;

	hook = bpf_map_lookup_elem(&vg_hooks, &slot);
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!hook || !s)
		return 0;

	n = hook->ctx_size;
	if (n > VIGIL_TP_RAW_MAX)
		n = VIGIL_TP_RAW_MAX;
	if (bpf_probe_read_kernel(s->raw, n, ctx) < 0)
		return 0;
	s->raw_args = 0;
	return vg_decide(hook, s, slot, vg_read_args(hook, s), 0, 0);
}

/*
 * Syscall tracepoints (syscalls/sys_enter_* and sys_exit_*, which the translated syscall
 * kprobes use too) run through one dispatcher on the raw sys_enter / sys_exit tracepoints
 * instead of a copy on each perf tracepoint. Measured on an open/close storm here: an empty
 * program on syscalls/sys_enter_openat costs about 11% (the perf tracepoint builds a record
 * for it), the same program on the raw tracepoint about 6%. The dispatcher runs on every
 * syscall: one array load finds the hooks of this syscall number (none for almost all), then
 * it rebuilds the record the syscall tracepoint would have passed (same field offsets, so the
 * compiled hooks read it unchanged) and runs each listed hook.
 */
__weak __noinline int vg_syscall_hook(struct vigil_generic_scratch *s, __u32 slot)
{
	struct vigil_hook *hook = bpf_map_lookup_elem(&vg_hooks, &slot);

	if (!hook || !s)
		return 0;
	return vg_decide(hook, s, slot, vg_read_args(hook, s), 0, 0);
}

#define VG_TS_COMPAT 0x0002 /* x86 thread_info.status: a 32-bit syscall is running */

static __always_inline int vg_syscall_dispatch(__u64 nr, __u32 is_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct vigil_generic_scratch *s;
	struct vigil_hook_list *list;
	__u32 key, cpu, i, count;
	__u64 *raw;

	if (nr >= VIGIL_SYSCALL_NR_MAX)
		return 0;
	key = (__u32)nr * 2 + is_exit;
	list = bpf_map_lookup_elem(&vg_syscall_hooks, &key);
	if (!list || !list->count)
		return 0;
	/* The syscall tracepoints leave 32-bit syscalls out on x86 (their numbers are another
	 * table); so does the dispatcher. */
	task = bpf_get_current_task_btf();
	if (task->thread_info.status & VG_TS_COMPAT)
		return 0;
	cpu = bpf_get_smp_processor_id();
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!s)
		return 0;
	/* struct syscall_trace_enter / _exit as tracefs describes them: 8 bytes of common fields
	 * (no hook reads them), int __syscall_nr at 8, then the six args or the return value. */
	raw = (__u64 *)s->raw;
	raw[0] = 0;
	raw[1] = nr;
	if (is_exit) {
		/* ret, then the syscall's args, which pt_regs still holds at exit (for a failed
		 * open, the name it was given). */
		raw[2] = (__u64)ret;
		raw[3] = regs->di;
		raw[4] = regs->si;
		raw[5] = regs->dx;
		raw[6] = regs->r10;
		raw[7] = regs->r8;
		raw[8] = regs->r9;
		s->raw_args = 1;
	} else {
		s->raw_args = 0;
		raw[2] = regs->di;
		raw[3] = regs->si;
		raw[4] = regs->dx;
		raw[5] = regs->r10;
		raw[6] = regs->r8;
		raw[7] = regs->r9;
	}
	count = list->count;
	for (i = 0; i < VIGIL_GENERIC_COPIES; i++) {
		if (i >= count)
			break;
		vg_syscall_hook(s, list->slots[i]);
	}
	return 0;
}

/*
 * io_uring opens (IORING_OP_OPENAT, IORING_OP_OPENAT2) do not go through an open syscall, so the
 * exit hooks above never see them; security_file_open does, which is what a file_open policy
 * names. At the request's completion (raw tracepoint io_uring_complete, which runs in the
 * submitting process: its task or one of its io-wq worker threads, sharing its descriptor table)
 * the file_open hooks of openat's exit run with the fd the request returned, exactly as the
 * syscall exit would run them: same path resolution from the fd, same selectors and actions.
 * Only hooks flagged VIGIL_HOOK_F_OPEN_EXIT run: a policy's own sys_exit_openat tracepoint hook
 * is about the syscall. Opens into a fixed-file slot (file_index) return no fd and are not seen.
 * Both io_uring_complete signatures (6.1: ctx, req, user_data, res, ...; 6.4+: ctx, req, cqe)
 * have the request second; its result is in req->cqe.res on both.
 */
#define VG_NR_OPENAT 257 /* x86_64 */

/* One file_open hook at an io_uring open's completion; global, so verified once on its own. */
__weak __noinline int vg_uring_open_hook(struct vigil_generic_scratch *s, __u32 slot)
{
	struct vigil_hook *hook = bpf_map_lookup_elem(&vg_hooks, &slot);

	if (!hook || !s || !(hook->flags & VIGIL_HOOK_F_OPEN_EXIT))
		return 0;
	return vg_decide(hook, s, slot, vg_read_args(hook, s), 0, VIGIL_GENERIC_F_IO_URING);
}

static __always_inline int vg_uring_open_dispatch(struct io_kiocb *req)
{
	struct vigil_generic_scratch *s;
	struct vigil_hook_list *list;
	__u32 key = VG_NR_OPENAT * 2 + 1, cpu, i, count;
	__u8 opcode;
	__s32 res;
	__u64 *raw;

	list = bpf_map_lookup_elem(&vg_syscall_hooks, &key);
	if (!list || !list->count)
		return 0;
	/* Before 5.19 the result is elsewhere (req->result): those kernels are not served here. */
	if (!bpf_core_field_exists(req->cqe))
		return 0;
	opcode = BPF_CORE_READ(req, opcode);
	if (opcode != IORING_OP_OPENAT && opcode != IORING_OP_OPENAT2)
		return 0;
	res = BPF_CORE_READ(req, cqe.res);
	if (res < 0)
		return 0;
	if (bpf_core_type_exists(struct io_open) && bpf_core_field_exists(req->cmd)) {
		struct io_open *open = (struct io_open *)&req->cmd;

		if (BPF_CORE_READ(open, file_slot))
			return 0; /* a fixed-file slot, not an fd */
	}
	cpu = bpf_get_smp_processor_id();
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!s)
		return 0;
	raw = (__u64 *)s->raw;
	raw[0] = 0;
	raw[1] = VG_NR_OPENAT;
	raw[2] = (__u64)(__s64)res;
	s->raw_args = 0; /* no syscall arguments: a failed open is not reported here */
	count = list->count;
	for (i = 0; i < VIGIL_GENERIC_COPIES; i++) {
		if (i >= count)
			break;
		vg_uring_open_hook(s, list->slots[i]);
	}
	return 0;
}

/*
 * The exec dispatcher: hooks that run at sched_process_exec and read no tracepoint record (the
 * exec check hooks: bprm_check_security and its kprobe spelling, which read the new image from
 * the task) run through one tp_btf program attached after the process sensor's exec program.
 * Two reasons. Order: a tracepoint runs its probes in the order they were registered, and a
 * perf tracepoint's probe is registered once, by whoever enabled the first perf event on it;
 * a perf copy could then run before the exec tracking and see the old image (its binary, its
 * matchBinaries) where another tool traced sched_process_exec first. This program is attached
 * after the sensor's, so it runs after it. Count: up to VIGIL_EXEC_HOOK_LISTS lists of
 * VIGIL_GENERIC_COPIES hooks, where the perf copies allow VIGIL_GENERIC_COPIES in all.
 */
static __always_inline int vg_exec_dispatch(void)
{
	struct vigil_generic_scratch *s;
	struct vigil_hook_list *list;
	__u32 key, cpu, l, i, count;

	cpu = bpf_get_smp_processor_id();
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!s)
		return 0;
	for (l = 0; l < VIGIL_EXEC_HOOK_LISTS; l++) {
		key = VIGIL_EXEC_HOOKS_KEY + l;
		/* Every list is looked at: a hook keeps its place while others come and go (an
		 * empty place holds no slot), so a list may be empty with others after it. */
		list = bpf_map_lookup_elem(&vg_syscall_hooks, &key);
		if (!list || !list->count)
			continue;
		count = list->count;
		if (count > VIGIL_GENERIC_COPIES)
			count = VIGIL_GENERIC_COPIES;
		for (i = 0; i < VIGIL_GENERIC_COPIES; i++) {
			if (i >= count)
				break;
			s->raw_args = 0;
			vg_syscall_hook(s, list->slots[i]);
		}
	}
	return 0;
}

#endif
