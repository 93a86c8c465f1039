// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF trampolines (fentry, fexit, fmod_ret) for spec.kprobes and spec.fentries on kernel
 * functions, where the kernel has them. Never loaded with the rest of the object: the loader
 * loads one per hook, bound to its function (why and how: lib/kfunc.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "kfunc.h"

SEC("fentry")
int generic_fentry(void *ctx)
{
	vg_trampoline_run(ctx, VG_TRAMP_ENTRY);
	return 0;
}

/* `return: true`: selectors, actions and the event at the return, with the arguments and what
 * the function returned. */
SEC("fexit")
int generic_fexit(void *ctx)
{
	vg_trampoline_run(ctx, VG_TRAMP_EXIT);
	return 0;
}

/* Hooks with Override: runs before the function; a denial skips it. */
SEC("fmod_ret")
int generic_fmod_ret(void *ctx)
{
	return vg_trampoline_run(ctx, VG_TRAMP_MODRET);
}
