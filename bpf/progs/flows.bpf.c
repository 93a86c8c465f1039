// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TCP flows (--enable-flows): one record per flow at its close, with its owner (the process that
 * connected or accepted), its 5-tuple, when it started, how long it lived and the payload bytes
 * each way, from hooks every kernel we run on has without kprobes:
 *
 *   sock:inet_sock_set_state (tp_btf)   every TCP state change: SYN_SENT starts an outgoing flow
 *                                       (in the connecting task), SYN_RECV -> ESTABLISHED an
 *                                       incoming one (in softirq: no owner yet), -> CLOSE ends it
 *   syscalls:sys_exit_accept4, _accept  the owner of an incoming flow: the task whose accept
 *                                       returned the socket's fd
 *
 * Why accept and not the listener's owner: the listener can be shared (forked workers,
 * SO_REUSEPORT groups, an fd passed over a UNIX socket), and the handshake completes in softirq,
 * where `current` is whoever the packet interrupted (on loopback: the connecting client). The
 * task an accept returns the socket to is the one that will read and write it.
 *
 * tp_btf and not raw_tp: bpf_get_socket_cookie() (Tetragon's sock_arg.cookie) and
 * bpf_skc_to_tcp_sock() exist for BTF-typed programs only, and fields are read with plain loads.
 * Where tp_btf does not load (the sensor's raw_tp fallback), the agent refuses --enable-flows.
 *
 * Flows the agent never saw start (opened before it ran) are not reported; a passive flow closed
 * before any accept took it (a reset in the backlog) has no owner and is counted, not reported.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil_abi.h"
#include "maps.h"
#include "output.h"
#include "process.h"
#include "args.h"

/* What the kernel side keeps of an open flow until its close. */
struct vg_flow {
	__u64 start_ns;
	__u64 process_ktime_ns;
	__u64 cgroup_id;
	__u32 pid;   /* tgid of the owner; 0: an incoming flow no accept took yet */
	__u32 tid;
	__u8  direction; /* enum vigil_flow_direction */
	__u8  flags;     /* VG_FLOW_F_* */
	__u16 pad0;
	__u32 pad1;
};

/* The SYN was acknowledged (an outgoing flow reached ESTABLISHED): bytes_acked counts it. */
#define VG_FLOW_F_SYN_ACKED 1
/* A FIN was queued (the flow entered FIN_WAIT1 or LAST_ACK): once acknowledged, bytes_acked
 * counts it too. */
#define VG_FLOW_F_FIN_OUT   2

/* Open flows by socket address. A plain hash, not LRU: an LRU would drop a live flow without a
 * word; a full map refuses the new flow and counts it (VIGIL_CTR_FLOWS_MAP_FULL). Preallocated,
 * since entries are made in softirq. The loader sizes it (--flow-map-entries). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct vg_flow);
} vg_flows SEC(".maps");

/* struct sock before 6.18, where sk_flags moved into sock_common (as skc_flags). */
struct sock___pre_skc_flags {
	unsigned long sk_flags;
} __attribute__((preserve_access_index));

static __always_inline unsigned long vg_sk_flags(struct sock *sk)
{
	if (bpf_core_field_exists(sk->__sk_common.skc_flags))
		return BPF_CORE_READ(sk, __sk_common.skc_flags);
	return BPF_CORE_READ((struct sock___pre_skc_flags *)sk, sk_flags);
}

static __always_inline void vg_flow_own(struct vg_flow *flow)
{
	__u64 id = bpf_get_current_pid_tgid();

	flow->pid = id >> 32;
	flow->tid = (__u32)id;
	flow->cgroup_id = bpf_get_current_cgroup_id();
	flow->process_ktime_ns = vg_identity_of(id >> 32);
}

static __always_inline void vg_flow_start(__u64 key, struct vg_flow *flow, __u64 update_flags)
{
	/* EEXIST (an accept got there first) is no failure; anything else here is a full map. */
	long err = bpf_map_update_elem(&vg_flows, &key, flow, update_flags);

	if (err && err != -17 /* EEXIST */)
		vg_count(VIGIL_CTR_FLOWS_MAP_FULL);
}

/*
 * The flow's record, at the change to TCP_CLOSE (the socket still holds its addresses and
 * counters). The payload each way from what the socket counts: bytes_acked also counts an
 * outgoing flow's SYN and an acknowledged FIN, bytes_received a FIN received in order (tcp_fin()
 * sets SOCK_DONE when it takes one); both are taken off.
 */
static __always_inline void vg_flow_close(struct sock *sk, __u64 key, struct vg_flow *flow, int oldstate)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	struct vigil_flow_event rec;
	struct vigil_arg_value unused = {};
	__u64 acked = 0, received = 0;

	__builtin_memset(&rec, 0, sizeof(rec));
	rec.hdr.kind = VIGIL_EVENT_FLOW;
	rec.hdr.size = sizeof(rec);
	rec.hdr.ktime_ns = bpf_ktime_get_ns();
	rec.hdr.cgroup_id = flow->cgroup_id;
	rec.hdr.pid = flow->pid;
	rec.hdr.tid = flow->tid;
	rec.process_ktime_ns = flow->process_ktime_ns;
	rec.start_ns = flow->start_ns;
	rec.direction = flow->direction;
	rec.cookie = bpf_get_socket_cookie(sk);
	vg_kernel_sock(&unused, (char *)&rec.sock, sk);
	/* The change to TCP_CLOSE releases the local port first (inet_put_port() zeroes skc_num);
	 * inet_sport keeps it. */
	rec.sock.sport = __builtin_bswap16(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	rec.sock.state = oldstate;
	if (tp) {
		acked = tp->bytes_acked;
		received = tp->bytes_received;
		if ((flow->flags & VG_FLOW_F_SYN_ACKED) && acked)
			acked--;
		if ((flow->flags & VG_FLOW_F_FIN_OUT) && tp->snd_una == tp->write_seq && acked)
			acked--;
		if ((vg_sk_flags(sk) & (1UL << SOCK_DONE)) && received)
			received--;
	}
	rec.bytes_sent = acked;
	rec.bytes_received = received;
	vg_count(VIGIL_CTR_FLOWS_CLOSED);
	vg_output(&rec, sizeof(rec), VIGIL_CTR_RB_DROPS_FLOW);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(flow_state, struct sock *sk, int oldstate, int newstate)
{
	struct vg_flow *flow, fresh = {};
	__u64 key = (__u64)sk;
	__u16 family;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	switch (newstate) {
	case TCP_SYN_SENT:
		/* connect(2) (or a fast open send) in the connecting task: the owner is current. */
		fresh.start_ns = bpf_ktime_get_ns();
		fresh.direction = VIGIL_FLOW_OUT;
		vg_flow_own(&fresh);
		vg_flow_start(key, &fresh, BPF_ANY);
		return 0;
	case TCP_ESTABLISHED:
		if (oldstate == TCP_SYN_SENT) {
			flow = bpf_map_lookup_elem(&vg_flows, &key);
			if (flow)
				flow->flags |= VG_FLOW_F_SYN_ACKED;
		} else if (oldstate == TCP_SYN_RECV) {
			/* In softirq: the owner comes with the accept. NOEXIST: a fast open child may have
			 * been accepted (and owned) before its handshake completed. */
			fresh.start_ns = bpf_ktime_get_ns();
			fresh.direction = VIGIL_FLOW_IN;
			fresh.flags = 0;
			vg_flow_start(key, &fresh, BPF_NOEXIST);
		}
		return 0;
	case TCP_FIN_WAIT1:
	case TCP_LAST_ACK:
		flow = bpf_map_lookup_elem(&vg_flows, &key);
		if (flow)
			flow->flags |= VG_FLOW_F_FIN_OUT;
		return 0;
	case TCP_CLOSE:
		flow = bpf_map_lookup_elem(&vg_flows, &key);
		if (!flow)
			return 0;
		if (flow->pid)
			vg_flow_close(sk, key, flow, oldstate);
		else
			vg_count(VIGIL_CTR_FLOWS_UNOWNED);
		bpf_map_delete_elem(&vg_flows, &key);
		return 0;
	}
	return 0;
}

/* The socket an accept returned as fd gets its owner: the calling task. An incoming flow the
 * agent did not see complete its handshake (a fast open child, accepted in SYN_RECV) starts here. */
static __always_inline int vg_flow_accept(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vg_flow *flow, fresh = {};
	struct socket *sock;
	struct file *file;
	struct sock *sk;
	__u64 key;

	if (fd < 0)
		return 0;
	file = vg_fd_file(task, fd);
	if (!file)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	/* Another thread may have put something else at fd since the accept returned it: a socket's
	 * file and its struct socket point at each other. */
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	key = (__u64)sk;
	flow = bpf_map_lookup_elem(&vg_flows, &key);
	if (flow) {
		if (!flow->pid)
			vg_flow_own(flow);
		return 0;
	}
	if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_SYN_RECV)
		return 0; /* established before the agent started: not reported, like the connects */
	fresh.start_ns = bpf_ktime_get_ns();
	fresh.direction = VIGIL_FLOW_IN;
	vg_flow_own(&fresh);
	vg_flow_start(key, &fresh, BPF_NOEXIST);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int flow_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return vg_flow_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int flow_accept(struct trace_event_raw_sys_exit *ctx)
{
	return vg_flow_accept(ctx->ret);
}
