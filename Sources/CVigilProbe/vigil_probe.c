// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "vigil_probe.h"

int vigil_probe_attach(enum vigil_probe_attach_kind kind, const char *func, const char **stage)
{
	/* r0 = 0; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	enum bpf_prog_type type = kind == VIGIL_PROBE_LSM ? BPF_PROG_TYPE_LSM : BPF_PROG_TYPE_TRACING;
	enum bpf_attach_type attach = kind == VIGIL_PROBE_LSM    ? BPF_LSM_MAC
				    : kind == VIGIL_PROBE_TP_BTF ? BPF_TRACE_RAW_TP
								 : BPF_TRACE_FENTRY;
	const char *prefix = kind == VIGIL_PROBE_LSM ? "bpf_lsm_" : kind == VIGIL_PROBE_TP_BTF ? "btf_trace_" : "";
	char target[128];
	struct btf *vmlinux;
	int id, prog, link, err;

	/*
	 * LSM programs attach to the kernel's bpf_lsm_<hook> stubs; tp_btf programs to the
	 * btf_trace_<tracepoint> typedef the kernel declares for each raw tracepoint.
	 */
	snprintf(target, sizeof(target), "%s%s", prefix, func);
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		*stage = "btf";
		return -errno;
	}
	id = btf__find_by_name_kind(vmlinux, target, kind == VIGIL_PROBE_TP_BTF ? BTF_KIND_TYPEDEF : BTF_KIND_FUNC);
	btf__free(vmlinux);
	if (id < 0) {
		*stage = "function";
		return id;
	}
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach, .attach_btf_id = id);
	prog = bpf_prog_load(type, "vigil_probe", "GPL", insns, sizeof(insns) / sizeof(insns[0]), &opts);
	if (prog < 0) {
		*stage = "load";
		return prog;
	}
	/* The raw tracepoint open attaches BTF programs on every kernel with them (5.5+). */
	link = bpf_raw_tracepoint_open(NULL, prog);
	err = link < 0 ? link : 0;
	if (link < 0)
		*stage = "attach";
	else
		close(link);
	close(prog);
	return err;
}
