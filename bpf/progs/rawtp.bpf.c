// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Raw tracepoints (spec.tracepoints with `raw: true`): the tracepoint's own arguments (its
 * TP_PROTO, e.g. sched_process_exec's task, old pid and linux_binprm) instead of the tracefs
 * record. Never loaded with the rest of the object: the loader loads one instance per hook
 * with the hook's slot in that instance's .rodata (raw tracepoint programs have bpf cookies only
 * from 6.10) and every map of the running object (vigil_bpf_attach_policy_raw_tp). The work:
 * lib/kfunc.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "kfunc.h"

/* The vg_hooks slot this instance runs; the loader sets it per instance. No slot by default:
 * the program returns at its first lookup. */
const volatile __u32 vg_raw_tp_slot = 0xffffffff;

SEC("raw_tp")
int generic_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return vg_raw_tp_run(ctx, vg_raw_tp_slot);
}
