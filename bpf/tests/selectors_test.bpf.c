// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF unit tests of the policy selectors (lib/selectors.h) and the argument readers they read
 * from (lib/args.h), run with BPF_PROG_TEST_RUN by selectors_test.c: nothing is attached.
 *
 * A raw_tp program, because its test run executes in the calling task (the harness), with
 * preemption off like a real hook: bpf_get_current_task() is the harness, so user pointers in
 * the context are readable and matchPIDs / matchNamespaces / matchBinaries see a known process.
 * (SEC("syscall") programs are sleepable and may not use the LPM tries the Prefix, Postfix and
 * DAddr operators look up; tracepoints and kprobes cannot be test-run at all.)
 *
 * The program does what a generic tracepoint copy does before it decides (lib/dispatch.h,
 * vg_generic_run): the record the hook names is copied into the scratch and read by
 * vg_read_args(); then vg_select(), the function vg_decide() takes its verdict from. Its maps are
 * this object's own, seeded by the harness exactly as the policy compiler fills the agent's.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil_abi.h"
#include "policy_maps.h"
#include "args.h"
#include "selectors.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The harness's view of the last run: the arguments as read, and the first tail bytes. */
#define TEST_TAIL 1024
struct vigil_arg_value test_args[VIGIL_HOOK_ARGS];
__u32 test_arg_off[VIGIL_HOOK_ARGS];
char test_tail[TEST_TAIL];

/* Returned when the test itself could not run (no hook at slot 0, no scratch). */
#define TEST_SETUP_FAILED 100

/* ctx: the hook's record as up to 12 u64s (the test run's context); the hook sits at slot 0. */
SEC("raw_tp")
int select_hook(void *ctx)
{
	__u32 slot = 0, cpu = bpf_get_smp_processor_id(), n;
	struct vigil_generic_scratch *s;
	struct vigil_selector *selector;
	struct vigil_hook *hook;
	int sel;

	hook = bpf_map_lookup_elem(&vg_hooks, &slot);
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!hook || !s)
		return TEST_SETUP_FAILED;
	n = hook->ctx_size;
	if (n > 12 * sizeof(__u64))
		n = 12 * sizeof(__u64);
	if (bpf_probe_read_kernel(s->raw, n, ctx) < 0)
		return TEST_SETUP_FAILED;
	s->raw_args = 0;
	vg_read_args(hook, s);
	sel = vg_select(hook, s, &selector);
	__builtin_memcpy(test_args, s->ev.args, sizeof(test_args));
	__builtin_memcpy(test_arg_off, s->arg_off, sizeof(test_arg_off));
	bpf_probe_read_kernel(test_tail, sizeof(test_tail), s->tail);
	return sel;
}
