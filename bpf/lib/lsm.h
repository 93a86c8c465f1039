/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The work of the BPF-LSM programs (progs/lsm.bpf.c) for lsmhooks file_open, bprm_check_security
 * and socket_connect: each runs every hook listed for its program in vg_lsm_hooks, and the first
 * denial is the hook's return value.
 */
#ifndef VIGIL_LSM_H
#define VIGIL_LSM_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "vigil_abi.h"
#include "policy_maps.h"
#include "args.h"
#include "decide.h"
#include "connect.h"

/* Global functions here are __weak __noinline, as in args.h. */

/*
 * Argument i of an LSM file hook: the file at `file` (the opened file, or bprm->file), with
 * the same encoding as the FILE_FD/EXE args of vg_read_arg (header, then the absolute path),
 * so selectors and user space treat it exactly like the fallback's.
 */
__weak __noinline int vg_lsm_file_arg(struct vigil_generic_scratch *s, __u32 i, __u32 tail_off, __u64 file_ptr, __u32 kind)
{
	struct file *file = (struct file *)file_ptr;
	struct vigil_arg_value *out;

	if (!s || i >= VIGIL_HOOK_ARGS)
		return 0;
	out = &s->ev.args[i];
	out->kind = kind;
	out->flags = 0;
	out->len = 0;
	out->value = 0;
	tail_off &= VIGIL_GENERIC_TAIL - 1;
	s->arg_off[i] = tail_off;
	return vg_put_file(s, out, i << 16 | tail_off, file);
}

/* One file_open / bprm_check_security hook of slot `slot`. 0: allow; a negative errno: deny. */
__weak __noinline int vg_lsm_file_hook(struct vigil_generic_scratch *s, __u32 slot, __u64 file, __u32 kind)
{
	struct vigil_hook *hook = bpf_map_lookup_elem(&vg_hooks, &slot);
	__u32 i, tail_len = 0;

	if (!hook || !s)
		return 0;
	s->raw_args = 0;
	/* The hook's verdict is the event's result: 0, or the errno the caller gets. */
	s->has_result = 1;
	s->result = 0;
	for (i = 0; i < VIGIL_HOOK_ARGS; i++) {
		if (i >= hook->nargs) {
			s->ev.args[i].kind = VIGIL_ARG_NONE;
			continue;
		}
		/* Both hooks have one argument, the file; the compiler allows index 0 only. */
		tail_len += vg_lsm_file_arg(s, i, tail_len, file, kind);
		if (tail_len > VIGIL_GENERIC_TAIL - VIGIL_BUF_MAX)
			tail_len = VIGIL_GENERIC_TAIL - VIGIL_BUF_MAX;
	}
	if (vg_decide(hook, s, slot, tail_len, VG_DENY_LSM, 0))
		return 0;
	return (int)s->result;
}

/* Runs every hook listed for LSM program `which` on `file`; the first denial wins. */
static __always_inline int vg_lsm_file(__u32 which, __u64 file, __u32 kind)
{
	__u32 cpu = bpf_get_smp_processor_id(), i;
	struct vigil_generic_scratch *s;
	struct vigil_hook_list *list;
	int verdict = 0, r;

	list = bpf_map_lookup_elem(&vg_lsm_hooks, &which);
	if (!list || !list->count)
		return 0;
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!s)
		return 0;
	for (i = 0; i < VIGIL_GENERIC_COPIES; i++) {
		if (i >= list->count)
			break;
		/* Every hook sees the access and posts its own event; any one may deny it. */
		r = vg_lsm_file_hook(s, list->slots[i], file, kind);
		if (r < 0 && !verdict)
			verdict = r;
	}
	return verdict;
}

/*
 * What an LSM program returns: 0, or a negative errno. The verifier (6.12) wants R0 within
 * [-4095, 0] as a 64-bit value, and an int return leaves it zero-extended (0xffffffff for -1), so
 * the programs return long, built by a 64-bit subtraction the verifier can bound (it does not
 * bound a negation; the barrier keeps the compiler from turning 0 - e into one).
 */
static __always_inline long vg_lsm_return(long verdict)
{
	__u64 e = (__u32)(-verdict) & 4095;
	long zero = 0;

	if (verdict >= 0)
		return 0;
	barrier_var(zero);
	return zero - (long)e;
}

/*
 * connect(2) on a socket. `address` is the kernel's copy of the caller's sockaddr (a
 * sockaddr_storage), so reading past a short addrlen stays inside it. Only AF_INET and
 * AF_INET6, as the cgroup connect hooks see them, so a policy means the same on both mechanisms.
 */
static __always_inline int vg_lsm_socket_connect_run(struct socket *sock, struct sockaddr *address)
{
	__u32 cpu = bpf_get_smp_processor_id(), which = VIGIL_LSM_SOCKET_CONNECT, i;
	struct vigil_generic_scratch *s;
	struct vigil_hook_list *list;
	struct vigil_sockaddr *facts;
	__u16 family = 0, port = 0;
	int verdict = 0, r;

	list = bpf_map_lookup_elem(&vg_lsm_hooks, &which);
	if (!list || !list->count)
		return 0;
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!s)
		return 0;
	bpf_probe_read_kernel(&family, sizeof(family), address);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	facts = (struct vigil_sockaddr *)s->tail;
	__builtin_memset(facts, 0, sizeof(*facts));
	facts->family = family;
	bpf_probe_read_kernel(&port, sizeof(port), (void *)address + 2); /* sin_port, sin6_port */
	facts->port = __builtin_bswap16(port);
	facts->protocol = BPF_CORE_READ(sock, sk, sk_protocol);
	facts->type = BPF_CORE_READ(sock, type);
	if (family == AF_INET)
		bpf_probe_read_kernel(facts->addr, 4, (void *)address + 4); /* sin_addr */
	else
		bpf_probe_read_kernel(facts->addr, 16, (void *)address + 8); /* sin6_addr */
	for (i = 0; i < VIGIL_GENERIC_COPIES; i++) {
		if (i >= list->count)
			break;
		r = vg_lsm_connect_hook(s, list->slots[i]);
		if (r < 0 && !verdict)
			verdict = r;
	}
	return verdict;
}

#endif
