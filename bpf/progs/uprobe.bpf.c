// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Generic uprobes (spec.uprobes on functions of user-space binaries, where the kernel has the
 * uprobe PMU): one program attached per hook and function with the slot as its bpf cookie. A
 * uprobe hands its program the same pt_regs a kprobe does, so the work is the kprobe's
 * (lib/kfunc.h): the argument registers (x86-64 calling convention: di, si, dx, cx, r8) into
 * s->raw, the selectors and actions, the event; a string argument is read from user memory
 * (VIGIL_ARG_STRING), where the traced process keeps it. The loader autoloads these only where
 * uprobes are usable, which is not tied to kprobes: this host's kernel has the uprobe PMU and no
 * kprobe one.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "kfunc.h"

SEC("uprobe")
int generic_uprobe(struct pt_regs *ctx)
{
	return vg_kprobe_run(ctx, 0);
}

/* The entry half of a `return: true` hook: selectors and actions run here, the event waits for
 * the uretprobe (vg_kret_pending, keyed by thread and slot as for kretprobes). */
SEC("uprobe")
int generic_uprobe_ret_entry(struct pt_regs *ctx)
{
	return vg_kprobe_run(ctx, 1);
}

SEC("uretprobe")
int generic_uretprobe(struct pt_regs *ctx)
{
	return vg_kretprobe_run(ctx);
}
