/* SPDX-License-Identifier: Apache-2.0 */
/* Test only: installs the agent's seccomp filter in a forked child and reports what each
 * operation returned there (the test process itself stays unfiltered). */
#pragma once

struct sandbox_probe_result {
	int install_rc;     /* vigil_sandbox_install's result */
	int rules;
	int seccomp_status; /* /proc/self/status Seccomp: */
	/* 0 when the operation succeeded, else its errno */
	int execve_errno;
	int execveat_errno;
	int ptrace_errno;
	int mount_errno;
	int unshare_errno;
	int clone_newns_errno;
	int clone3_errno;
	int finit_module_errno;
	int setuid_errno;
	/* what must keep working */
	int thread_errno;
	int file_errno;
	int bpf_map_errno;
	int inotify_errno;
	int fanotify_errno;
	int socket_errno;
};

/* mode: 0 no filter, else enum vigil_sandbox_mode. Returns 0, or -1 if the child failed. */
int sandbox_probe(int mode, const char *scratch_dir, struct sandbox_probe_result *out);
