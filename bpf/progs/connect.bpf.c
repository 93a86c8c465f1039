// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Connect hooks on cgroups: cgroup/connect4/6 and sendmsg4/6 see the destination of every
 * connect and unconnected send of the cgroup they are attached to (the cgroup2 root), run the
 * policy's connect hooks (lib/connect.h), and, where BPF-LSM serves socket_connect, its hooks
 * for the sends and TCP fast opens the LSM hook does not see; they deny by returning 0.
 * connect_result completes their events at the syscall's exit with its return value, and sends
 * the Sigkill a cgroup program cannot send.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "connect.h"

SEC("cgroup/connect4")
int enforce_connect4(struct bpf_sock_addr *ctx)
{
	return vg_connect(ctx, 0, 0);
}

SEC("cgroup/connect6")
int enforce_connect6(struct bpf_sock_addr *ctx)
{
	return vg_connect(ctx, 1, 0);
}

SEC("cgroup/sendmsg4")
int enforce_sendmsg4(struct bpf_sock_addr *ctx)
{
	return vg_connect(ctx, 0, 1);
}

SEC("cgroup/sendmsg6")
int enforce_sendmsg6(struct bpf_sock_addr *ctx)
{
	return vg_connect(ctx, 1, 1);
}


SEC("tp_btf/sys_exit")
int BPF_PROG(connect_result, struct pt_regs *regs, long ret)
{
	return vg_connect_complete(regs->orig_ax, ret);
}
