/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map of the process sensor, each with its purpose. Names carry the vg_ prefix so that
 * `bpftool map` output greps cleanly (the kernel keeps 15 characters). Definitions are __weak
 * because several program files include this header and are linked into one object: the
 * linker keeps one copy of each. */
#ifndef VIGIL_MAPS_H
#define VIGIL_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil_abi.h"

/* All records to user space. Size is set by the loader from --rb-size (power of two). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} vg_events SEC(".maps") __weak;

/* Per-CPU counters indexed by enum vigil_counter; user space sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vg_counters SEC(".maps") __weak;

/* tgid -> identity (ktime) the kernel side gave the process at its last fork or exec, so that
 * children and exits name the exact process, and its binary for matchBinaries. LRU: a lost
 * entry only degrades to pid matching in user space, it never blocks a new process. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct vigil_proc_state);
} vg_procs SEC(".maps") __weak;

/* Exec records are built here, then copied to the ring buffer with their real size, because
 * bpf_ringbuf_reserve() needs a constant size and an exec record is 200 bytes to ~41 KiB.
 * One slot per CPU, indexed by bpf_get_smp_processor_id(): tracepoint programs run with
 * preemption disabled, so a slot is never shared by two running programs. A plain array and
 * not a per-CPU one because per-CPU values are capped at 32 KiB. The loader sets max_entries
 * to the number of possible CPUs. */
struct vigil_exec_scratch {
	struct vigil_exec_event ev;
	char tail[VIGIL_EXEC_TAIL_MAX];
	struct vg_path_buf path;      /* where the path walks build their result */
	struct vigil_proc_state proc; /* the vg_procs value being built */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_exec_scratch);
} vg_exec_scratch SEC(".maps") __weak;

/* Where the fork hook builds the child's vg_procs value: 272 bytes are too many for the stack
 * next to the clone record. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_proc_state);
} vg_fork_scratch SEC(".maps") __weak;

#endif
