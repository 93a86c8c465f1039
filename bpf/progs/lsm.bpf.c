// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF-LSM programs for lsmhooks file_open, bprm_check_security and socket_connect (their work:
 * lib/lsm.h).
 *
 * Where the kernel runs BPF-LSM (bpf in /sys/kernel/security/lsm and an LSM program loads),
 * the loader autoloads these and lsmhooks policies run here instead of on fanotify permission
 * events and the cgroup connect hooks: the decision is made in the hook itself, before the
 * operation happens, and the hook's return value is the error the caller gets (the policy's
 * argError, EPERM by default), any errno, with no round trip to user space. Sigkill/Signal are
 * sent from the hook with bpf_send_signal.
 *
 * Elsewhere (no BPF-LSM, or `bpf` missing from lsm=, where an LSM program attaches and never
 * runs) these programs are not even loaded, so a kernel that refuses them still loads the rest.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "vigil_abi.h"
#include "lsm.h"

/* The programs take their context as it comes (BPF_PROG would make them return int). ctx[i] is
 * the hook's argument i, then the verdict of the LSMs before this one: a denial stands, and
 * nothing is reported for an access that was refused already. */
SEC("lsm/file_open")
long vg_lsm_file_open(unsigned long long *ctx)
{
	__u64 file = 0;
	int ret = (int)ctx[1];

	if (ret)
		return vg_lsm_return(ret);
	/* The global functions take the file as a plain number (they read it with probe reads);
	 * the verifier refuses the typed pointer itself there ("R3 is not a scalar"), so it is
	 * read from the context as a number. */
	bpf_probe_read_kernel(&file, sizeof(file), &ctx[0]);
	return vg_lsm_return(vg_lsm_file(VIGIL_LSM_FILE_OPEN, file, VIGIL_ARG_FILE_FD));
}

/* bprm->file is the binary being executed (for a script, first the script, then again for its
 * interpreter); the caller is still the old image, so a Sigkill here stops it before the new one
 * runs an instruction. */
SEC("lsm/bprm_check_security")
long vg_lsm_bprm_check(unsigned long long *ctx)
{
	struct linux_binprm *bprm = (struct linux_binprm *)ctx[0];
	int ret = (int)ctx[1];

	if (ret)
		return vg_lsm_return(ret);
	return vg_lsm_return(vg_lsm_file(VIGIL_LSM_BPRM_CHECK, (__u64)BPF_CORE_READ(bprm, file), VIGIL_ARG_EXE));
}

/* connect(2) on a socket: ctx[0] the socket, ctx[1] the kernel's copy of the sockaddr. */
SEC("lsm/socket_connect")
long vg_lsm_socket_connect(unsigned long long *ctx)
{
	struct socket *sock = (struct socket *)ctx[0];
	struct sockaddr *address = (struct sockaddr *)ctx[1];
	int ret = (int)ctx[3]; /* after addrlen */

	if (ret)
		return vg_lsm_return(ret);
	return vg_lsm_return(vg_lsm_socket_connect_run(sock, address));
}
