/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * FQDN egress (matchArgs DNSName / NotDNSName on a connect's sockaddr, Vigil's extension): the
 * addresses DNS answers gave a cgroup for the names a policy allows, learnt in the kernel by the
 * DNS answer program (progs/dns.bpf.c) and read by the connect hooks (selectors.h).
 *
 * Why in the kernel: the cgroup_skb/ingress program runs when the answer is queued to its
 * socket, before recvmsg() can return it, so the address is in vg_fqdn_allow before the
 * application knows it; user space, which reads the ring buffer later, would race the connect.
 *
 * Why keyed by the receiving socket's cgroup: one container's lookups open egress for that
 * container only (a pod's other containers, or the node, learn their own). The connect side
 * looks up the connecting task's cgroup, the cgroup its sockets are made in.
 */
#ifndef VIGIL_FQDN_H
#define VIGIL_FQDN_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil_abi.h"

/* The DNSName set ids of the loaded policies: {set id} -> 1, written with each policy's set
 * entries (its names are in vg_str_postfix under the same id) and deleted with them. The DNS
 * answer program walks it (bpf_for_each_map_elem) for the sets a question name is in. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct vigil_fqdn_set_key);
	__type(value, __u8);
} vg_fqdn_sets SEC(".maps") __weak;

/* What answers taught: {set id, receiving cgroup, address} -> expiry (bpf_ktime_get_ns). LRU:
 * when full the least recently used address goes, and its next connect is denied until the name
 * is resolved again; 65,536 addresses is far more than one node's allowed names resolve to. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vigil_fqdn_addr_key);
	__type(value, __u64);
} vg_fqdn_allow SEC(".maps") __weak;

/* Whether the connect's destination (family; address bytes 0-7 in lo, 8-15 in hi, IPv4 in
 * lo's first 4) was in an answer to a name of set `set_id` that the current task's cgroup
 * received, and the answer's TTL has not run out. A global function of scalars (__weak
 * __noinline, see connect.h): the verifier checks it once, on its own, and vg_match_arg, the
 * largest function it walks in every policy program, only sees a call. */
__weak __noinline int vg_fqdn_allowed(__u32 set_id, __u32 family, __u64 lo, __u64 hi)
{
	struct vigil_fqdn_addr_key key = {};
	__u64 *expiry;

	key.set_id = set_id;
	key.cgroup_id = bpf_get_current_cgroup_id();
	if (family == 2 /* AF_INET */) {
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], &lo, 4);
	} else if (family == 10 /* AF_INET6 */) {
		__builtin_memcpy(key.addr, &lo, 8);
		__builtin_memcpy(&key.addr[8], &hi, 8);
	} else {
		return 0;
	}
	expiry = bpf_map_lookup_elem(&vg_fqdn_allow, &key);
	return expiry && *expiry > bpf_ktime_get_ns();
}

#endif
