/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Hooks on kernel functions: kprobes (and the kretprobe that completes a `return: true` hook)
 * and BPF trampolines (fentry, fexit, fmod_ret), and raw tracepoints, whose arguments are a
 * function's too. Each copies the first five arguments into s->raw as u64s, which the compiled
 * arg specs read at 8 * index.
 */
#ifndef VIGIL_KFUNC_H
#define VIGIL_KFUNC_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "output.h"
#include "policy_maps.h"
#include "args.h"
#include "decide.h"

/* The hook of `slot` and this CPU's scratch; NULL (nothing to run) when either is missing. */
static __always_inline struct vigil_generic_scratch *vg_hook_scratch(__u32 slot, struct vigil_hook **hook)
{
	__u32 cpu = bpf_get_smp_processor_id();

	*hook = bpf_map_lookup_elem(&vg_hooks, &slot);
	return *hook ? bpf_map_lookup_elem(&vg_generic_scratch, &cpu) : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Generic kprobes (spec.kprobes on kernel functions, where the kernel has kprobes). One program
 * attached per hook with the slot as its bpf cookie, like the tracepoint copies, but a kprobe
 * takes the same program any number of times. The argument registers are copied into s->raw as
 * five u64s (x86-64 calling convention: di, si, dx, cx, r8), which the compiled arg specs read
 * at 8 * index. The loader autoloads these only where kprobes are usable.
 * ------------------------------------------------------------------------------------------- */
static __always_inline int vg_kprobe_run(struct pt_regs *ctx, const int park)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx);
	struct vigil_generic_scratch *s;
	struct vigil_hook *hook;
	__u64 *raw;

	s = vg_hook_scratch(slot, &hook);
	if (!s)
		return 0;
	raw = (__u64 *)s->raw;
	raw[0] = ctx->di;
	raw[1] = ctx->si;
	raw[2] = ctx->dx;
	raw[3] = ctx->cx;
	raw[4] = ctx->r8;
	s->raw_args = 0;
	vg_decide(hook, s, slot, vg_read_args(hook, s), 0, park ? VG_F_PARK_RET : 0);
	return 0;
}

/* The return half of a `return: true` kprobe hook: the entry parked the event in
 * vg_kret_pending (vg_decide); add what the function returned and post it. */
static __always_inline int vg_kretprobe_run(struct pt_regs *ctx)
{
	struct vg_kret_key key = { .id = bpf_get_current_pid_tgid(), .slot = (__u32)bpf_get_attach_cookie(ctx) };
	struct vg_kret_record *rec = bpf_map_lookup_elem(&vg_kret_pending, &key);
	__u32 size;

	if (!rec)
		return 0;
	rec->ev.result = (__s64)ctx->ax;
	rec->ev.hdr.flags |= VIGIL_GENERIC_F_RESULT;
	size = rec->ev.hdr.size;
	if (size <= sizeof(*rec))
		vg_output(rec, size, VIGIL_CTR_RB_DROPS_GENERIC);
	bpf_map_delete_elem(&vg_kret_pending, &key);
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Raw tracepoints (`raw: true`): the tracepoint's TP_PROTO arguments are u64s in the context;
 * the first five are copied into s->raw like a kprobe's registers. They are read with
 * bpf_probe_read_kernel, not from the context directly: the kernel refuses to attach a program
 * whose context reads go past the tracepoint's argument count, and one program serves
 * tracepoints of any count. What lies past the last argument is never read as one: the compiler
 * refuses an index beyond the count the kernel's BTF declares.
 * ------------------------------------------------------------------------------------------- */
static __always_inline int vg_raw_tp_run(struct bpf_raw_tracepoint_args *ctx, __u32 slot)
{
	struct vigil_generic_scratch *s;
	struct vigil_hook *hook;
	__u64 *raw, v;
	__u32 i;

	s = vg_hook_scratch(slot, &hook);
	if (!s)
		return 0;
	raw = (__u64 *)s->raw;
	for (i = 0; i < 5; i++) {
		v = 0;
		bpf_probe_read_kernel(&v, sizeof(v), (void *)ctx + i * sizeof(__u64));
		raw[i] = v;
	}
	s->raw_args = 0;
	vg_decide(hook, s, slot, vg_read_args(hook, s), 0, 0);
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * BPF trampolines (fentry, fexit, fmod_ret) for spec.kprobes and spec.fentries on kernel
 * functions, where the kernel has them: a direct call from the function's ftrace site, no
 * breakpoint or pt_regs (its cost against a kprobe, measured under emulation, is in
 * docs/kernel-matrix.md); fexit sees the arguments and the return value in one
 * program, and fmod_ret can fail a security_* function with the policy's errno (Override) without
 * bpf_override_return, which Debian's kernels do not build.
 *
 * A trampoline program is bound to its function when it is loaded, so these never load with the
 * rest of the object: the loader opens a second instance of the same object per hook, loads only
 * the one program it needs with the function as its target, hands it every map of the running
 * object (one ring buffer, one set of hooks and counters), attaches it with the hook's slot as
 * its cookie and closes the instance (the link keeps the program).
 * ------------------------------------------------------------------------------------------- */
#define VG_TRAMP_ENTRY 0
#define VG_TRAMP_EXIT  1
#define VG_TRAMP_MODRET 2

static __always_inline int vg_trampoline_run(void *ctx, const int mode)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx), i, tail_len;
	struct vigil_generic_scratch *s;
	struct vigil_hook *hook;
	__u64 *raw, v;

	s = vg_hook_scratch(slot, &hook);
	if (!s)
		return 0;
	/* The arguments as five u64s, like the kprobe's registers; the helper returns an error
	 * past the function's last argument (the verifier would refuse a direct ctx read there). */
	raw = (__u64 *)s->raw;
	for (i = 0; i < 5; i++) {
		v = 0;
		bpf_get_func_arg(ctx, i, &v);
		raw[i] = v;
	}
	s->raw_args = 0;
	tail_len = vg_read_args(hook, s);
	if (mode == VG_TRAMP_EXIT) {
		v = 0;
		bpf_get_func_ret(ctx, &v);
		s->has_result = 1;
		s->result = (__s64)v;
	}
	if (vg_decide(hook, s, slot, tail_len, mode == VG_TRAMP_MODRET ? VG_DENY_RETURN : 0, 0))
		return 0;
	/* Denied (fmod_ret only): the function is skipped and returns the errno. */
	return (int)s->result;
}

#endif
