/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attach probes for the start-up probe (KernelFeatures KernelProbe): whether this kernel lets a
 * BTF-attached program load AND attach, which no feature file tells. Same return convention as
 * vigil_bpf.h: 0 on success, a negative errno on failure.
 */
#ifndef VIGIL_PROBE_H
#define VIGIL_PROBE_H

enum vigil_probe_attach_kind {
	VIGIL_PROBE_LSM = 0,    /* BPF_PROG_TYPE_LSM on bpf_lsm_<func> */
	VIGIL_PROBE_FENTRY = 1, /* BPF_PROG_TYPE_TRACING fentry on <func> */
	VIGIL_PROBE_TP_BTF = 2, /* BPF_PROG_TYPE_TRACING tp_btf on the raw tracepoint <func> */
};

/*
 * Loads a two-instruction program of the kind on func (an LSM hook name such as "file_open",
 * or a kernel function for fentry), attaches it and detaches it at once. The program returns 0,
 * which for an LSM hook means "allow": nothing is denied while it is attached. On failure,
 * *stage names the step that failed ("btf", "function", "load", "attach").
 */
int vigil_probe_attach(enum vigil_probe_attach_kind kind, const char *func, const char **stage);

#endif
