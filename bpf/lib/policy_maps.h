/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps of the policy engine. The compiler (Sources/PolicyCompiler) writes them; the generic
 * hook programs only read them. */
#ifndef VIGIL_POLICY_MAPS_H
#define VIGIL_POLICY_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil_abi.h"

/* Compiled hooks, indexed by the slot that is also the attachment's bpf cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_MAX_HOOKS);
	__type(key, __u32);
	__type(value, struct vigil_hook);
} vg_hooks SEC(".maps") __weak;

/* enum vigil_policy_mode per policy id: one 4-byte write switches enforce and monitor. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_MAX_POLICIES);
	__type(key, __u32);
	__type(value, __u32);
} vg_policy_mode SEC(".maps") __weak;

/* Pod scope per policy id (and the all-pods entry at VIGIL_SCOPE_ANY_POD); see vigil_abi.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_MAX_POLICIES + 1);
	__type(key, __u32);
	__type(value, struct vigil_scope);
} vg_policy_scope SEC(".maps") __weak;

/* Cgroups in pod scopes: {policy id, cgroup id} -> 1. Written by the agent as pods come and go. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vigil_scope_key);
	__type(value, __u8);
} vg_scope_cgroups SEC(".maps") __weak;

/* Whether the agent is up and which cgroups it has classified (struct vigil_agent_state), for
 * fail-closed pod scopes; written by the agent only (a heartbeat each second). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_agent_state);
} vg_agent_state SEC(".maps") __weak;

/* Equal / NotEqual strings and matchBinaries In / NotIn paths. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vigil_str_key);
	__type(value, __u8);
} vg_str_eq SEC(".maps") __weak;

/* Files by identity for Equal file args with VIGIL_ARG_FILTER_F_INODE (vigil-file-identity:
 * inode): a hard link, bind mount or rename of a protected file is the same (dev, ino). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_file_id_key);
	__type(value, __u8);
} vg_file_ids SEC(".maps") __weak;

/* Prefix strings: the longest-prefix-match trie finds any stored prefix of the lookup key. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_str_lpm_key);
	__type(value, __u8);
} vg_str_prefix SEC(".maps") __weak;

/* Postfix strings, stored reversed, so a postfix is a prefix of the reversed argument. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_str_lpm_key);
	__type(value, __u8);
} vg_str_postfix SEC(".maps") __weak;

/* InMap / NotInMap integer sets (syscall lists, large value sets). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vigil_int_key);
	__type(value, __u8);
} vg_int_set SEC(".maps") __weak;

/* DAddr / NotDAddr CIDRs, IPv4 stored as IPv4-mapped IPv6. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_addr_key);
	__type(value, __u8);
} vg_addr SEC(".maps") __weak;

/* Hook slots of connect-type policy hooks, read by the cgroup connect/sendmsg programs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_hook_list);
} vg_connect_hooks SEC(".maps") __weak;

/* A connect event waiting for its syscall's result: the cgroup hook runs inside connect(2)
 * (or sendto/sendmsg for UDP), before the kernel knows whether it succeeds; the sys_exit
 * program adds the return value, sends a Sigkill the hook could not send, and posts it. Same
 * layout as the start of struct vigil_generic_scratch, so the hook stores its record as is. */
struct vg_connect_record {
	struct vigil_generic_event ev;
	char tail[VIGIL_HOOK_ARGS * sizeof(struct vigil_sockaddr)];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64); /* pid_tgid of the connecting thread */
	__type(value, struct vg_connect_record);
} vg_connect_pending SEC(".maps") __weak;

/* Hook slots per syscall for the raw sys_enter / sys_exit dispatcher, at nr * 2 + is_exit, and
 * the exec dispatcher's lists from VIGIL_EXEC_HOOKS_KEY. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_SYSCALL_NR_MAX * 2 + VIGIL_EXEC_HOOK_LISTS);
	__type(key, __u32);
	__type(value, struct vigil_hook_list);
} vg_syscall_hooks SEC(".maps") __weak;

/* Hook slots per BPF-LSM program, at enum vigil_lsm_hook (lsmhooks where the kernel runs
 * BPF-LSM; see progs/lsm.bpf.c). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_LSM_HOOKS);
	__type(key, __u32);
	__type(value, struct vigil_hook_list);
} vg_lsm_hooks SEC(".maps") __weak;

/* An entry of a `return: true` kprobe hook waiting for the function's return, per thread and
 * hook. Large args (paths) make the record too big to park: it is then posted at entry,
 * without the return value. Sized by the loader (1 entry where kprobes are unusable). */
#define VG_KRET_TAIL 4352
struct vg_kret_record {
	struct vigil_generic_event ev;
	char tail[VG_KRET_TAIL];
};
struct vg_kret_key {
	__u64 id; /* pid_tgid */
	__u32 slot;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct vg_kret_key);
	__type(value, struct vg_kret_record);
} vg_kret_pending SEC(".maps") __weak;

/* Post rateLimit: last time an event was posted per (slot, selector, scope, argument hash). */
struct vg_rate_key {
	__u32 slot;
	__u32 selector;
	__u64 scope;
	__u64 args_hash;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct vg_rate_key);
	__type(value, __u64);
} vg_rate SEC(".maps") __weak;

/* Everything one generic hook run builds, per CPU (see vg_exec_scratch for why an array). */
struct vigil_generic_scratch {
	struct vigil_generic_event ev;
	char tail[VIGIL_GENERIC_TAIL + VIGIL_BUF_MAX]; /* args; slack for masked writes */
	char raw[VIGIL_TP_RAW_MAX + 64];                /* copy of the tracepoint record */
	__u32 arg_off[VIGIL_HOOK_ARGS];                 /* where each arg starts in tail */
	__u32 raw_args;                                 /* the syscall's six args follow ret in raw (exit dispatcher) */
	__u32 has_result;                               /* result is the hooked call's return value */
	__s64 result;
	struct vigil_str_lpm_key key;                   /* string lookups */
	struct vigil_str_lpm_key rkey;                  /* the same string reversed */
	struct vigil_addr_key addr;
	struct vg_path_buf path;                        /* where file paths are walked */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_generic_scratch);
} vg_generic_scratch SEC(".maps") __weak;

#endif
