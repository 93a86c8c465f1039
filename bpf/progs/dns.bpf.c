// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNS answers (--enable-dns-names): every UDP datagram from source port 53 that a socket in the
 * attached cgroup's subtree (the cgroup2 root) receives is copied, with the receiving socket's
 * cgroup, to user space, which parses it and learns name -> address per cgroup (Sources/
 * DNSNames). cgroup_skb/ingress runs when the datagram is queued to its socket (sk_filter), after
 * IP reassembly and before any recvmsg() returns it: the answer is in the ring buffer before the
 * application can read it, so a connect to the address it names comes after it.
 *
 * The program observes only. A cgroup_skb program's return value is the packet's verdict (1
 * pass, 0 drop), and this one is attached to the root cgroup: a 0 would cut the whole node off
 * the network. Every path returns VG_SKB_PASS; bpf/tests/dns_test.c runs it on well-formed,
 * cut and garbage packets and checks that each one passes.
 *
 * Not seen: DNS over TCP (port 53 segments carry a length-prefixed stream, not datagrams), DNS
 * over TLS or HTTPS (encrypted), IPv6 datagrams behind extension headers.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "vigil_abi.h"
#include "maps.h"
#include "output.h"

#define VG_SKB_PASS 1

#define VG_ETH_P_IP   0x0800
#define VG_ETH_P_IPV6 0x86DD
#define VG_IPPROTO_UDP 17
#define VG_AF_INET  2
#define VG_AF_INET6 10
#define VG_DNS_PORT 53

/* Copies the datagram at `off` (its UDP header) if it comes from port 53. */
static __always_inline void vg_dns_capture(struct __sk_buff *skb, __u32 off, __u16 family, const void *server)
{
	struct vigil_dns_event *rec;
	struct udphdr udp;
	__u32 len, captured, n;

	if (bpf_skb_load_bytes(skb, off, &udp, sizeof(udp)))
		return;
	if (udp.source != bpf_htons(VG_DNS_PORT))
		return;
	vg_count(VIGIL_CTR_DNS_ANSWERS);
	off += sizeof(udp);
	len = bpf_ntohs(udp.len);
	/* The UDP length counts its header; a datagram shorter than a DNS header has nothing to learn. */
	if (len < sizeof(udp) + 12 || off >= skb->len)
		return;
	len -= sizeof(udp);
	captured = len;
	if (captured > skb->len - off)
		captured = skb->len - off;
	if (captured > VIGIL_DNS_PAYLOAD)
		captured = VIGIL_DNS_PAYLOAD;
	rec = bpf_ringbuf_reserve(&vg_events, sizeof(*rec), 0);
	if (!rec) {
		vg_count(VIGIL_CTR_RB_DROPS_DNS);
		return;
	}
	/* The length the verifier sees must be 1 .. VIGIL_DNS_PAYLOAD in the register the call
	 * takes: clang folds the bounds above into other registers (6.1's verifier then loses
	 * them), so the mask runs on a value clang cannot reason about. captured is 1 .. 512 here
	 * (len >= 12 and off < skb->len), so the mask changes nothing. */
	n = captured - 1;
	barrier_var(n);
	n &= VIGIL_DNS_PAYLOAD - 1;
	if (bpf_skb_load_bytes(skb, off, rec->payload, n + 1)) {
		bpf_ringbuf_discard(rec, 0);
		return;
	}
	rec->hdr.kind = VIGIL_EVENT_DNS;
	rec->hdr.flags = 0;
	rec->hdr.size = sizeof(*rec);
	rec->hdr.ktime_ns = bpf_ktime_get_ns();
	rec->hdr.cgroup_id = bpf_skb_cgroup_id(skb);
	rec->hdr.pid = 0;
	rec->hdr.tid = 0;
	rec->payload_len = len;
	rec->captured = captured;
	rec->family = family;
	rec->server_port = VG_DNS_PORT;
	rec->pad0 = 0;
	__builtin_memset(rec->server, 0, sizeof(rec->server));
	__builtin_memcpy(rec->server, server, family == VG_AF_INET ? 4 : 16);
	bpf_ringbuf_submit(rec, vg_rb_flags());
}

SEC("cgroup_skb/ingress")
int dns_answers(struct __sk_buff *skb)
{
	/* At cgroup ingress the packet starts at its network header. */
	if (skb->protocol == bpf_htons(VG_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) == 0 && ip.protocol == VG_IPPROTO_UDP && ip.ihl >= 5)
			vg_dns_capture(skb, ip.ihl * 4, VG_AF_INET, &ip.saddr);
	} else if (skb->protocol == bpf_htons(VG_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) == 0 && ip6.nexthdr == VG_IPPROTO_UDP)
			vg_dns_capture(skb, sizeof(ip6), VG_AF_INET6, &ip6.saddr);
	}
	return VG_SKB_PASS; /* never a drop: see the top of this file */
}
