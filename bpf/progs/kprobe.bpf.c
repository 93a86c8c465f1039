// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Generic kprobes (spec.kprobes on kernel functions, where the kernel has kprobes): one program
 * attached per hook with the slot as its bpf cookie; a kprobe takes the same program any number
 * of times. The loader autoloads these only where kprobes are usable. The work: lib/kfunc.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "kfunc.h"

SEC("kprobe")
int generic_kprobe(struct pt_regs *ctx)
{
	return vg_kprobe_run(ctx, 0);
}

/* The entry half of a `return: true` hook: selectors and actions run here, the event waits. */
SEC("kprobe")
int generic_kprobe_ret_entry(struct pt_regs *ctx)
{
	return vg_kprobe_run(ctx, 1);
}

SEC("kretprobe")
int generic_kretprobe(struct pt_regs *ctx)
{
	return vg_kretprobe_run(ctx);
}
