/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connect hooks: the connect facts (family, port, protocol, type, address) of a cgroup
 * connect/sendmsg program or of the BPF-LSM socket_connect program, run through every connect
 * hook of the policy (lsmhooks socket_connect, kprobes security_socket_connect and tcp_connect),
 * and the completion of the parked events at the syscall's exit.
 */
#ifndef VIGIL_CONNECT_H
#define VIGIL_CONNECT_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil_abi.h"
#include "maps.h"
#include "output.h"
#include "policy_maps.h"
#include "decide.h"

/* Global functions here are __weak __noinline: several entry files in progs/ include this
 * header and are linked into one object, where the linker keeps one copy; global (not static)
 * so the verifier checks each once, on its own, instead of once per path through its caller. */

/*
 * One connect-type hook (lsmhooks socket_connect, kprobes security_socket_connect and
 * tcp_connect) on the connect facts the cgroup (or LSM) program put at s->tail[0]. Global
 * wrappers below, so the verifier checks the selector work once, not once per program and list
 * position.
 */
static __always_inline int vg_connect_hook_run(struct vigil_generic_scratch *s, __u32 slot, const int can_deny)
{
	struct vigil_sockaddr *facts;
	struct vigil_hook *hook;
	__u32 i, tail_len = sizeof(struct vigil_sockaddr);

	if (!s)
		return 1;
	hook = bpf_map_lookup_elem(&vg_hooks, &slot);
	if (!hook)
		return 1;
	/* An LSM hook's verdict is its result; the cgroup hooks get the syscall's at its exit. */
	s->has_result = can_deny == VG_DENY_LSM;
	s->result = 0;
	facts = (struct vigil_sockaddr *)s->tail;
	/* The facts at tail[0] serve the first socket-like arg; later ones get copies, because each
	 * arg owns its bytes in the record. */
	for (i = 0; i < VIGIL_HOOK_ARGS; i++) {
		struct vigil_arg_value *v = &s->ev.args[i];
		__u8 kind = i < hook->nargs ? hook->args[i].kind : VIGIL_ARG_NONE;

		v->kind = kind;
		v->flags = 0;
		v->len = 0;
		v->value = 0;
		s->arg_off[i] = 0;
		if (kind == VIGIL_ARG_SOCKADDR || kind == VIGIL_ARG_SOCK) {
			if (tail_len > sizeof(struct vigil_sockaddr)) {
				if (tail_len + sizeof(*facts) > VIGIL_GENERIC_TAIL)
					break;
				__builtin_memcpy(s->tail + (tail_len & (VIGIL_GENERIC_TAIL - 1)), facts, sizeof(*facts));
				s->arg_off[i] = tail_len;
				tail_len += sizeof(*facts);
			} else {
				tail_len = sizeof(*facts) * 2; /* the next socket-like arg gets a copy */
			}
			v->len = sizeof(*facts);
			v->value = facts->family;
		} else if (kind == VIGIL_ARG_ADDRLEN) {
			v->kind = VIGIL_ARG_INT;
			v->value = facts->family == AF_INET6 ? 28 : 16;
		}
	}
	/* Only as many tail bytes as the args claimed travel with the event. */
	{
		__u32 used = 0;

		for (i = 0; i < VIGIL_HOOK_ARGS; i++)
			used += s->ev.args[i].len;
		if (used > VIGIL_GENERIC_TAIL)
			used = VIGIL_GENERIC_TAIL;
		/* The flag tells user space which mechanism served the hook: a BPF-LSM socket_connect
		 * hook also runs on the cgroup programs (sends, TCP fast open; see vg_connect). */
		if (vg_decide(hook, s, slot, used, can_deny, can_deny == VG_DENY_CGROUP ? VIGIL_GENERIC_F_CONNECT : 0))
			return can_deny == VG_DENY_LSM ? 0 : 1;
		return can_deny == VG_DENY_LSM ? (int)s->result : 0;
	}
}

/* 1: allow, 0: deny (cgroup programs). */
__weak __noinline int vg_connect_hook(struct vigil_generic_scratch *s, __u32 slot)
{
	return vg_connect_hook_run(s, slot, VG_DENY_CGROUP);
}

/* 0: allow, a negative errno: deny (the LSM socket_connect program). */
__weak __noinline int vg_lsm_connect_hook(struct vigil_generic_scratch *s, __u32 slot)
{
	return vg_connect_hook_run(s, slot, VG_DENY_LSM);
}

/* Runs the hooks listed at `key` of `map` on the facts at s->tail[0]; 1 when one of them
 * denies. It looks its list up itself, inside the global wrappers below: with both list pointers
 * in vg_connect, clang merged its "which lists run" branches into a pointer spilled as 0, which
 * the 6.18 verifier refused ("invalid mem access 'scalar'"). */
static __always_inline int vg_connect_list(struct vigil_generic_scratch *s, void *map, __u32 key)
{
	struct vigil_hook_list *list = bpf_map_lookup_elem(map, &key);
	volatile int denied = 0;
	__u32 i;

	if (!s || !list)
		return 0;
	for (i = 0; i < VIGIL_GENERIC_COPIES; i++) {
		if (i >= list->count)
			break;
		/* Every hook sees the connect and posts its own event; any one may deny it. */
		if (!vg_connect_hook(s, list->slots[i]))
			denied = 1;
	}
	return denied;
}

/* The cgroup connect hooks (vg_connect_hooks). */
__weak __noinline int vg_connect_cgroup_hooks(struct vigil_generic_scratch *s)
{
	return vg_connect_list(s, &vg_connect_hooks, 0);
}

/* The BPF-LSM socket_connect hooks (vg_lsm_hooks), for what the LSM hook does not see. */
__weak __noinline int vg_connect_lsm_hooks(struct vigil_generic_scratch *s)
{
	return vg_connect_list(s, &vg_lsm_hooks, VIGIL_LSM_SOCKET_CONNECT);
}

/*
 * Whether this connect hook runs inside a TCP fast open send (sendto/sendmsg with MSG_FASTOPEN
 * on an unconnected socket): tcp_sendmsg_fastopen() holds its request in tp->fastopen_req
 * while it connects through __inet_stream_connect(), which runs the cgroup connect hook and not
 * security_socket_connect(). A plain connect(2), io_uring's connect and TCP_FASTOPEN_CONNECT's
 * connect(2) run the hook with no request yet: the LSM hook saw those.
 */
static __always_inline int vg_in_fastopen(struct bpf_sock_addr *ctx)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(ctx->sk);

	return tp && tp->fastopen_req;
}

/*
 * cgroup/connect* and sendmsg*: the destination of every connect and unconnected send. They run
 * the cgroup connect hooks (vg_connect_hooks), and where BPF-LSM serves lsmhooks socket_connect
 * its hooks too (vg_lsm_hooks) for what the LSM hook never sees: the kernel calls
 * security_socket_connect() from connect(2) and io_uring's connect only, so an unconnected UDP
 * send (sendmsg4/6) and a TCP fast open (connect4/6 inside sendmsg) would pass a BPF-LSM deny.
 * Connects the LSM hook did see are not run again (one decision and one event per connect).
 */
static __always_inline int vg_connect(struct bpf_sock_addr *ctx, int v6, int send)
{
	__u32 zero = 0, cpu = bpf_get_smp_processor_id(), which = VIGIL_LSM_SOCKET_CONNECT;
	struct vigil_generic_scratch *s;
	struct vigil_hook_list *list;
	struct vigil_sockaddr *facts;
	int run_cgroup = 0, run_lsm = 0;
	volatile int denied = 0;

	list = bpf_map_lookup_elem(&vg_connect_hooks, &zero);
	if (list && list->count)
		run_cgroup = 1;
	list = bpf_map_lookup_elem(&vg_lsm_hooks, &which);
	if (list && list->count && (send || vg_in_fastopen(ctx)))
		run_lsm = 1;
	if (!run_cgroup && !run_lsm)
		return 1;
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!s)
		return 1;
	facts = (struct vigil_sockaddr *)s->tail;
	__builtin_memset(facts, 0, sizeof(*facts));
	facts->family = ctx->user_family;
	facts->port = __builtin_bswap16((__u16)ctx->user_port);
	facts->protocol = ctx->protocol;
	facts->type = ctx->type;
	if (v6) {
		__u32 *addr = (__u32 *)facts->addr;

		addr[0] = ctx->user_ip6[0];
		addr[1] = ctx->user_ip6[1];
		addr[2] = ctx->user_ip6[2];
		addr[3] = ctx->user_ip6[3];
	} else {
		*(__u32 *)facts->addr = ctx->user_ip4;
	}
	if (run_cgroup && vg_connect_cgroup_hooks(s))
		denied = 1;
	if (run_lsm && vg_connect_lsm_hooks(s))
		denied = 1;
	/* Constant returns: the verifier wants to see 0 or 1, and clang folds flag arithmetic
	 * into registers it cannot bound. */
	if (denied)
		return 0;
	return 1;
}

/*
 * Completes the connect events the cgroup hooks left in vg_connect_pending: at the exit of the
 * syscall that ran the hook, the return value says whether the connect happened, and a Sigkill
 * the cgroup program could not send (no bpf_send_signal there) is sent before the process
 * returns to user space. One compare for every other syscall.
 */
#define VG_NR_CONNECT 42
#define VG_NR_SENDTO 44
#define VG_NR_SENDMSG 46
#define VG_NR_SENDMMSG 307
#define VG_NR_IO_URING_ENTER 426

/* connect_result's work: completes the parked connect event of this thread, if any. */
static __always_inline int vg_connect_complete(__u64 nr, long ret)
{
	struct vg_connect_record *rec;
	__u64 id;
	__u32 size;

	if (nr != VG_NR_CONNECT && nr != VG_NR_SENDTO && nr != VG_NR_SENDMSG && nr != VG_NR_SENDMMSG &&
	    nr != VG_NR_IO_URING_ENTER)
		return 0;
	id = bpf_get_current_pid_tgid();
	rec = bpf_map_lookup_elem(&vg_connect_pending, &id);
	if (!rec)
		return 0;
	if (rec->ev.signal && !(rec->ev.hdr.flags & (VIGIL_GENERIC_F_MONITOR | VIGIL_GENERIC_F_FENCED))) {
		bpf_send_signal(rec->ev.signal);
		vg_count(VIGIL_CTR_POLICY_SIGNALS);
	}
	rec->ev.result = ret;
	rec->ev.hdr.flags |= VIGIL_GENERIC_F_RESULT;
	size = rec->ev.hdr.size;
	if (!(rec->ev.hdr.flags & VG_F_NOPOST) && size <= sizeof(*rec))
		vg_output(rec, size, VIGIL_CTR_RB_DROPS_GENERIC);
	bpf_map_delete_elem(&vg_connect_pending, &id);
	return 0;
}

#endif
