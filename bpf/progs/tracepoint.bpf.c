// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The generic policy hook on tracepoints: one program, attached once per compiled TracingPolicy
 * hook with the hook's slot as its bpf cookie. The kernel lets a program attach to a given
 * tracepoint only once, so the object carries VIGIL_TRACEPOINT_COPIES identical copies; the loader
 * attaches the first copy not yet on that tracepoint. That bounds hooks per tracepoint (old and
 * new versions of a policy count twice while it is replaced). Each copy reads the hook's
 * arguments from the tracepoint record (lib/args.h), evaluates the selectors in the kernel
 * (lib/selectors.h), performs the actions in place and posts an event only when a selector
 * matched (lib/decide.h). Events that match nothing never reach user space.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "dispatch.h"

/* The copies; each is verified on its own. */
#define VG_GENERIC_COPY(n)                                         \
	SEC("tracepoint") int generic_tracepoint_##n(void *ctx)    \
	{                                                          \
		return vg_generic_run(ctx);                         \
	}

VG_GENERIC_COPY(0)
VG_GENERIC_COPY(1)
VG_GENERIC_COPY(2)
VG_GENERIC_COPY(3)
VG_GENERIC_COPY(4)
VG_GENERIC_COPY(5)
VG_GENERIC_COPY(6)
VG_GENERIC_COPY(7)
VG_GENERIC_COPY(8)
VG_GENERIC_COPY(9)
VG_GENERIC_COPY(10)
VG_GENERIC_COPY(11)
VG_GENERIC_COPY(12)
VG_GENERIC_COPY(13)
VG_GENERIC_COPY(14)
VG_GENERIC_COPY(15)
