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
 * With DNSName policies loaded it also learns, here in the kernel, the addresses of the names
 * they allow (vg_fqdn_learn below, lib/fqdn.h): an application's connect right after its
 * lookup must find them in vg_fqdn_allow, and only this program runs before it has the answer.
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
#include "policy_maps.h"
#include "fqdn.h"

#define VG_SKB_PASS 1

#define VG_ETH_P_IP   0x0800
#define VG_ETH_P_IPV6 0x86DD
#define VG_IPPROTO_UDP 17
#define VG_AF_INET  2
#define VG_AF_INET6 10
#define VG_DNS_PORT 53

/* FQDN learning (lib/fqdn.h). Per CPU: 1.4 KiB is too much for the stack. */
struct vg_fqdn_scratch {
	__u8  buf[VIGIL_DNS_PAYLOAD];          /* the message, read at offsets masked to its size */
	__u8  name[VIGIL_FQDN_NAME_MAX];       /* the question name, lowercase, dotted */
	struct vigil_str_lpm_key key;          /* ... reversed + NUL, as vg_str_postfix holds names */
	__u32 sets[VIGIL_FQDN_SETS];           /* DNSName sets the name is in */
	__u32 nsets;
	__u32 len;                             /* message bytes in buf */
	__u64 cgroup_id;                       /* the receiving socket's */
	__u64 now;
	__u32 pos;                             /* where the next answer record starts */
	__u32 ancount;
	__u32 qpos;                            /* the question name's walk: next byte, */
	__u32 nlen;                            /* name bytes so far, */
	__u32 label;                           /* bytes left in the current label, */
	__u32 qdone;                           /* 1: read whole, 2: not a name to learn */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_fqdn_scratch);
} vg_fqdn_scratch SEC(".maps") __weak;

static __always_inline struct vg_fqdn_scratch *vg_fqdn_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vg_fqdn_scratch, &zero);
}

#define VG_DNS_MASK (VIGIL_DNS_PAYLOAD - 1)

/* bpf_for_each_map_elem over vg_fqdn_sets: collects the sets whose names match the question
 * (one longest-prefix lookup answers both exact names and *.suffix patterns, see vigil_abi.h). */
static long vg_fqdn_set_match(struct bpf_map *map, struct vigil_fqdn_set_key *set, __u8 *value, void *ctx)
{
	struct vg_fqdn_scratch *sc = vg_fqdn_scratch_get();
	__u32 n;

	if (!sc)
		return 1;
	sc->key.set_id = set->set_id;
	if (!bpf_map_lookup_elem(&vg_str_postfix, &sc->key))
		return 0;
	n = sc->nsets;
	if (n >= VIGIL_FQDN_SETS)
		return 1;
	sc->sets[n] = set->set_id;
	sc->nsets = n + 1;
	return 0;
}

/*
 * One byte of the question name at sc->qpos (bpf_loop): its state lives in the scratch value,
 * not in registers, so the verifier checks one step once. As a plain loop it walked every
 * combination of label starts and letters byte by byte: 6.1's verifier gave up at its million
 * instructions ("BPF program is too large"), failing the agent's whole load. No compression
 * pointer belongs in the question of an answer: one ends the walk unlearnt. 1 stops the walk.
 */
static long vg_fqdn_name_byte(__u32 index, void *ctx)
{
	struct vg_fqdn_scratch *sc = vg_fqdn_scratch_get();
	__u32 pos, nlen;
	__u8 c;

	if (!sc)
		return 1;
	pos = sc->qpos;
	nlen = sc->nlen;
	if (pos >= sc->len || nlen >= VIGIL_FQDN_NAME_MAX) {
		sc->qdone = 2;
		return 1;
	}
	c = sc->buf[pos & VG_DNS_MASK];
	sc->qpos = pos + 1;
	if (sc->label == 0) {
		if (c == 0) {
			sc->qdone = 1;
			return 1;
		}
		if (c & 0xc0) {
			sc->qdone = 2;
			return 1;
		}
		sc->label = c;
		if (nlen) {
			sc->name[nlen & (VIGIL_FQDN_NAME_MAX - 1)] = '.';
			sc->nlen = nlen + 1;
		}
		return 0;
	}
	if (c >= 'A' && c <= 'Z')
		c += 'a' - 'A';
	sc->name[nlen & (VIGIL_FQDN_NAME_MAX - 1)] = c;
	sc->nlen = nlen + 1;
	sc->label--;
	return 0;
}

/* Stops bpf_for_each_map_elem at the first set: whether any DNSName policy is loaded. */
static long vg_fqdn_any(struct bpf_map *map, struct vigil_fqdn_set_key *set, __u8 *value, void *ctx)
{
	return 1;
}

/* One answer record at sc->pos (bpf_loop, at most ancount times): skips its owner name without
 * following compression pointers (a pointer ends a name; no pointer is ever followed, so no loop
 * of pointers can make this walk longer), reads type, class, TTL and data, and for an A or AAAA
 * record writes the address to vg_fqdn_allow under each matching set. 1 stops the walk. */
static long vg_fqdn_answer(__u32 index, void *ctx)
{
	struct vg_fqdn_scratch *sc = vg_fqdn_scratch_get();
	struct vigil_fqdn_addr_key key = {};
	__u32 pos, len, i, type, class, ttl, rdlen;
	__u64 expiry;

	if (!sc || index >= sc->ancount)
		return 1;
	pos = sc->pos;
	len = sc->len;
	for (i = 0; i < VIGIL_FQDN_NAME_MAX; i++) {
		__u8 c;

		if (pos >= len)
			return 1;
		c = sc->buf[pos & VG_DNS_MASK];
		if (c == 0) {
			pos += 1;
			break;
		}
		if ((c & 0xc0) == 0xc0) {
			pos += 2;
			break;
		}
		if (c & 0xc0)
			return 1; /* reserved label types: not a message to learn from */
		pos += c + 1;
	}
	if (i == VIGIL_FQDN_NAME_MAX || pos + 10 > len)
		return 1;
	type = (__u32)sc->buf[pos & VG_DNS_MASK] << 8 | sc->buf[(pos + 1) & VG_DNS_MASK];
	class = (__u32)sc->buf[(pos + 2) & VG_DNS_MASK] << 8 | sc->buf[(pos + 3) & VG_DNS_MASK];
	ttl = (__u32)sc->buf[(pos + 4) & VG_DNS_MASK] << 24 | (__u32)sc->buf[(pos + 5) & VG_DNS_MASK] << 16 |
	      (__u32)sc->buf[(pos + 6) & VG_DNS_MASK] << 8 | sc->buf[(pos + 7) & VG_DNS_MASK];
	rdlen = (__u32)sc->buf[(pos + 8) & VG_DNS_MASK] << 8 | sc->buf[(pos + 9) & VG_DNS_MASK];
	pos += 10;
	if (pos + rdlen > len)
		return 1; /* cut or lying about its length */
	sc->pos = pos + rdlen;
	if (class != 1 /* IN */)
		return 0;
	if (type == 1 /* A */ && rdlen == 4) {
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		for (i = 0; i < 4; i++)
			key.addr[12 + i] = sc->buf[(pos + i) & VG_DNS_MASK];
	} else if (type == 28 /* AAAA */ && rdlen == 16) {
		for (i = 0; i < 16; i++)
			key.addr[i] = sc->buf[(pos + i) & VG_DNS_MASK];
	} else {
		return 0; /* CNAME and the rest: the addresses of a chain's target follow as A/AAAA */
	}
	/* The TTL, clamped: 0 still lets the asker connect right after; no answer opens an address
	 * for longer than a day. */
	if (ttl < VIGIL_FQDN_TTL_MIN)
		ttl = VIGIL_FQDN_TTL_MIN;
	if (ttl > VIGIL_FQDN_TTL_MAX)
		ttl = VIGIL_FQDN_TTL_MAX;
	expiry = sc->now + (__u64)ttl * 1000000000ULL;
	key.cgroup_id = sc->cgroup_id;
	for (i = 0; i < VIGIL_FQDN_SETS; i++) {
		if (i >= sc->nsets)
			break;
		key.set_id = sc->sets[i];
		if (bpf_map_update_elem(&vg_fqdn_allow, &key, &expiry, BPF_ANY) == 0)
			vg_count(VIGIL_CTR_FQDN_LEARNT);
	}
	return 0;
}

/*
 * The DNS message at `off` (after the UDP header, `len` bytes): a standard query's answer
 * (QR set, opcode 0, no error, one question) whose question name is in a DNSName set has its
 * A/AAAA records learnt for that set and the receiving socket's cgroup. Anything else, cut,
 * malformed or longer than VIGIL_DNS_PAYLOAD, teaches nothing; the datagram passes either way.
 */
static __always_inline void vg_fqdn_learn(struct __sk_buff *skb, __u32 off, __u32 len)
{
	struct vg_fqdn_scratch *sc;
	__u32 i, pos, nlen, n;
	__u8 hdr[12];

	if (len < 12 || len > VIGIL_DNS_PAYLOAD || off >= skb->len || len > skb->len - off)
		return;
	/* Without DNSName policies nothing is learnt: one call, before any byte is read. */
	if (bpf_for_each_map_elem(&vg_fqdn_sets, vg_fqdn_any, NULL, 0) == 0)
		return;
	if (bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)))
		return;
	/* QR = 1, opcode 0 (query), RCODE 0, QDCOUNT 1, ANCOUNT > 0. */
	if ((hdr[2] & 0xf8) != 0x80 || (hdr[3] & 0x0f) != 0 || hdr[4] != 0 || hdr[5] != 1 || (hdr[6] == 0 && hdr[7] == 0))
		return;
	sc = vg_fqdn_scratch_get();
	if (!sc)
		return;
	n = len - 1;
	barrier_var(n);
	n &= VG_DNS_MASK; /* len is 12 .. 512: the mask changes nothing, the verifier sees the bound */
	if (bpf_skb_load_bytes(skb, off, sc->buf, n + 1))
		return;
	sc->len = len;
	/* The question name, lowercase ("API.Test" and "api.test" are one name), one byte per
	 * bpf_loop() step (see vg_fqdn_name_byte). */
	sc->qpos = 12;
	sc->nlen = 0;
	sc->label = 0;
	sc->qdone = 0;
	bpf_loop(VIGIL_FQDN_NAME_MAX + 2, vg_fqdn_name_byte, NULL, 0);
	sc = vg_fqdn_scratch_get();
	if (!sc || sc->qdone != 1)
		return;
	pos = sc->qpos;
	nlen = sc->nlen;
	if (nlen == 0 || nlen >= VIGIL_FQDN_NAME_MAX)
		return;
	/* Reversed, then the NUL that marks the start of the name (vigil_abi.h). */
	for (i = 0; i < VIGIL_FQDN_NAME_MAX; i++) {
		if (i >= nlen)
			break;
		sc->key.data[i & (VIGIL_FQDN_NAME_MAX - 1)] = sc->name[(nlen - 1 - i) & (VIGIL_FQDN_NAME_MAX - 1)];
	}
	sc->key.data[nlen & (VIGIL_FQDN_NAME_MAX - 1)] = 0;
	sc->key.prefixlen = 32 + 8 * (nlen + 1);
	sc->nsets = 0;
	bpf_for_each_map_elem(&vg_fqdn_sets, vg_fqdn_set_match, NULL, 0);
	sc = vg_fqdn_scratch_get();
	if (!sc || sc->nsets == 0)
		return;
	sc->pos = pos + 4; /* QTYPE, QCLASS */
	sc->ancount = (__u32)hdr[6] << 8 | hdr[7];
	if (sc->ancount > VIGIL_FQDN_RECORDS)
		sc->ancount = VIGIL_FQDN_RECORDS; /* records past it teach nothing */
	sc->cgroup_id = bpf_skb_cgroup_id(skb);
	sc->now = bpf_ktime_get_ns();
	bpf_loop(VIGIL_FQDN_RECORDS, vg_fqdn_answer, NULL, 0);
}

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
	vg_fqdn_learn(skb, off, len);
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
