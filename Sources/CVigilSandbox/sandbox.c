// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "vigil_sandbox.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <seccomp.h>

/* What the agent never does once it runs, and what an attacker who took over the process
 * would want first. Default-allow with a deny list: an allow list would have to follow every
 * syscall of the Swift runtime, NIO, Foundation and libbpf, and one missed would take the
 * agent down in production. Everything the agent does at run time stays allowed: bpf(),
 * perf_event_open (attachments), fanotify_init/fanotify_mark and the answers, inotify, file
 * I/O and rotation, sockets (control API, metrics). tracefs is mounted before the filter. */
static const char *const vigil_sandbox_denied[] = {
	/* running another program */
	"execve", "execveat",
	/* reading or steering other processes */
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp",
	/* mounts and the root directory */
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
	"fsmount", "fspick", "mount_setattr",
	/* namespaces (clone with CLONE_NEW* is refused below) */
	"unshare", "setns",
	/* kernel code, the running kernel, devices */
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
	"swapon", "swapoff", "acct", "iopl", "ioperm", "uselib", "quotactl", "quotactl_fd",
	"lookup_dcookie", "nfsservctl", "vhangup", "syslog",
	/* keyrings */
	"keyctl", "add_key", "request_key",
	/* identity */
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
	"setgroups",
	/* the clock and the host's names */
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
	/* (open_by_handle_at, which opens any file by handle skipping every directory permission
	 * on the way, is allowed on the cgroup2 mount only: see vigil_sandbox_install) */
	/* page-fault handling from user space, a favourite of kernel exploits */
	"userfaultfd",
	NULL,
};

const char *vigil_sandbox_denied_name(int i)
{
	int n = (int)(sizeof(vigil_sandbox_denied) / sizeof(vigil_sandbox_denied[0])) - 1;
	return i >= 0 && i < n ? vigil_sandbox_denied[i] : NULL;
}

static const unsigned long new_namespace_flags[] = {
	CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

int vigil_sandbox_install(enum vigil_sandbox_mode mode, int handle_mount_fd, int *rules, char *err, size_t errlen)
{
	uint32_t deny = mode == VIGIL_SANDBOX_ENFORCE ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_LOG;
	scmp_filter_ctx ctx;
	int rc, count = 0;

	*rules = 0;
	if (mode == VIGIL_SANDBOX_LOG && seccomp_api_get() < 3) {
		snprintf(err, errlen, "the kernel or libseccomp has no SCMP_ACT_LOG (seccomp API level %u, 3 needed)",
			 seccomp_api_get());
		return -EOPNOTSUPP;
	}
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		snprintf(err, errlen, "seccomp_init failed");
		return -ENOMEM;
	}
	/* Every thread (NIO, the ring-buffer reader, the Swift pool) gets the filter at once. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc) {
		snprintf(err, errlen, "seccomp thread sync (SECCOMP_FILTER_FLAG_TSYNC) unavailable: %s", strerror(-rc));
		goto out;
	}
	/* A syscall of another ABI (int 0x80 on x86_64) is never the agent's. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, mode == VIGIL_SANDBOX_ENFORCE ? SCMP_ACT_ERRNO(ENOSYS) : SCMP_ACT_LOG);
	if (rc) {
		snprintf(err, errlen, "seccomp bad-arch action: %s", strerror(-rc));
		goto out;
	}
	/* Denied attempts reach the audit log where the kernel supports it; optional. */
	if (mode == VIGIL_SANDBOX_ENFORCE && seccomp_api_get() >= 3)
		(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);

	for (const char *const *name = vigil_sandbox_denied; *name; name++) {
		int nr = seccomp_syscall_resolve_name(*name);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not a syscall on this architecture */
		rc = seccomp_rule_add_array(ctx, deny, nr, 0, NULL);
		if (rc) {
			snprintf(err, errlen, "seccomp rule for %s: %s", *name, strerror(-rc));
			goto out;
		}
		count++;
	}
	/* open_by_handle_at: only on the cgroup2 mount fd the agent resolves cgroup ids with
	 * (a handle there names a cgroup directory); any other mount fd is refused. */
	{
		struct scmp_arg_cmp other = SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)handle_mount_fd);

		rc = handle_mount_fd >= 0 ? seccomp_rule_add_array(ctx, deny, SCMP_SYS(open_by_handle_at), 1, &other)
					  : seccomp_rule_add_array(ctx, deny, SCMP_SYS(open_by_handle_at), 0, NULL);
		if (rc) {
			snprintf(err, errlen, "seccomp rule for open_by_handle_at: %s", strerror(-rc));
			goto out;
		}
		count++;
	}
	/* clone() creating namespaces; clone3 passes its flags in memory a filter cannot read, so
	 * it reports ENOSYS and glibc falls back to clone() (as container runtimes do it). In log
	 * mode clone3 stays as it is: logging every thread start would bury what matters. */
	for (size_t i = 0; i < sizeof(new_namespace_flags) / sizeof(new_namespace_flags[0]); i++) {
		struct scmp_arg_cmp flag = SCMP_A0(SCMP_CMP_MASKED_EQ, new_namespace_flags[i], new_namespace_flags[i]);
		rc = seccomp_rule_add_array(ctx, deny, SCMP_SYS(clone), 1, &flag);
		if (rc) {
			snprintf(err, errlen, "seccomp rule for clone: %s", strerror(-rc));
			goto out;
		}
	}
	count++;
	if (mode == VIGIL_SANDBOX_ENFORCE && seccomp_syscall_resolve_name("clone3") != __NR_SCMP_ERROR) {
		rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
		if (rc) {
			snprintf(err, errlen, "seccomp rule for clone3: %s", strerror(-rc));
			goto out;
		}
		count++;
	}
	rc = seccomp_load(ctx);
	if (rc) {
		snprintf(err, errlen, "loading the seccomp filter failed: %s (needs CONFIG_SECCOMP_FILTER, and CAP_SYS_ADMIN or no_new_privs)",
			 strerror(-rc));
		goto out;
	}
	*rules = count;
out:
	seccomp_release(ctx);
	return rc;
}
