/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE
#include <spawn.h>
#include "cspawn.h"

int cspawn_addchdir(posix_spawn_file_actions_t *actions, const char *path)
{
	return posix_spawn_file_actions_addchdir_np(actions, path);
}

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
static int stop_in_syscall(pid_t tid, struct user_regs_struct *regs)
{
	int status;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0)
		return -errno;
	if (waitpid(tid, &status, __WALL) < 0)
		return -errno;
	if (!WIFSTOPPED(status))
		return -ESRCH;
	if (ptrace(PTRACE_GETREGS, tid, 0, regs) != 0)
		return -errno;
	errno = 0;
	long word = ptrace(PTRACE_PEEKTEXT, tid, regs->rip - 2, 0);
	if (errno)
		return -errno;
	/* `syscall` is 0f 05: the thread sits right after one (blocked in it). */
	return (word & 0xffff) == 0x050f ? 0 : -EAGAIN;
}

int cspawn_inject_execve(pid_t tid, const char *path, long *result)
{
	struct user_regs_struct saved, regs;
	int rc = -EAGAIN, status;
	size_t len = strlen(path) + 1, words = (len + 7) / 8;
	long original[64], data[64];

	if (words > 64)
		return -ENAMETOOLONG;
	if (ptrace(PTRACE_SEIZE, tid, 0, 0) != 0)
		return -errno;
	for (int attempt = 0; attempt < 50 && rc == -EAGAIN; attempt++) {
		rc = stop_in_syscall(tid, &saved);
		if (rc == -EAGAIN) {
			ptrace(PTRACE_CONT, tid, 0, 0);
			usleep(20000);
		}
	}
	if (rc) {
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return rc;
	}
	/* The path goes on the thread's stack, well below what it uses (and the red zone). */
	unsigned long where = (saved.rsp - 16384) & ~15UL;
	memset(data, 0, sizeof(data));
	memcpy(data, path, len);
	for (size_t i = 0; i < words; i++) {
		errno = 0;
		original[i] = ptrace(PTRACE_PEEKDATA, tid, where + 8 * i, 0);
		if (errno || ptrace(PTRACE_POKEDATA, tid, where + 8 * i, data[i]) != 0) {
			rc = -errno;
			ptrace(PTRACE_DETACH, tid, 0, 0);
			return rc;
		}
	}
	regs = saved;
	regs.rip = saved.rip - 2;
	regs.rax = SYS_execve;
	regs.orig_rax = -1; /* no syscall restart of what the thread was waiting in */
	regs.rdi = where;
	regs.rsi = 0;
	regs.rdx = 0;
	if (ptrace(PTRACE_SETREGS, tid, 0, &regs) != 0 || ptrace(PTRACE_SINGLESTEP, tid, 0, 0) != 0) {
		rc = -errno;
		ptrace(PTRACE_SETREGS, tid, 0, &saved);
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return rc;
	}
	if (waitpid(tid, &status, __WALL) < 0)
		return -errno;
	if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0)
		return -errno;
	*result = (long)regs.rax;
	if (*result == 0) {
		/* The process is the new program now: nothing of the old one to restore. */
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return 0;
	}
	for (size_t i = 0; i < words; i++)
		ptrace(PTRACE_POKEDATA, tid, where + 8 * i, original[i]);
	ptrace(PTRACE_SETREGS, tid, 0, &saved);
	ptrace(PTRACE_DETACH, tid, 0, 0);
	return 0;
}
#else
int cspawn_inject_execve(pid_t tid, const char *path, long *result)
{
	(void)tid;
	(void)path;
	(void)result;
	return -ENOSYS;
}
#endif
