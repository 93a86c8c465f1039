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

/* ---------------------------------------------------------------------------------------------
 * Children born in a cgroup. The child of a multithreaded parent may only make raw system
 * calls until it execs or exits (no malloc, no locks): everything below the clone3 is that.
 * ------------------------------------------------------------------------------------------- */

#include <fcntl.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>

static pid_t clone_into_cgroup(int cgroup_fd)
{
	struct clone_args args;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_INTO_CGROUP;
	args.exit_signal = SIGCHLD;
	args.cgroup = (__u64)cgroup_fd;
	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

pid_t cspawn_in_cgroup(const char *path, char *const argv[], char *const envp[], int cgroup_fd,
		       const char *stdout_path, const char *cwd)
{
	int report[2], err = 0, status;
	pid_t pid;
	ssize_t n;

	/* Like posix_spawn, a failed exec is the caller's error, not an exit status: the child
	 * writes its errno into a close-on-exec pipe, which a successful exec closes unwritten. */
	if (pipe2(report, O_CLOEXEC) < 0)
		return -errno;
	pid = clone_into_cgroup(cgroup_fd);
	if (pid < 0) {
		err = errno;
		close(report[0]);
		close(report[1]);
		return -err;
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(stdout_path ? stdout_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);

		close(report[0]);
		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || (cwd && chdir(cwd) < 0)) {
			err = errno;
		} else {
			execve(path, argv, envp);
			err = errno;
		}
		(void)!write(report[1], &err, sizeof(err));
		_exit(127);
	}
	close(report[1]);
	do
		n = read(report[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(report[0]);
	if (n == (ssize_t)sizeof(err) && err) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return -err;
	}
	return pid;
}

int cspawn_connect_in_cgroup(int cgroup_fd, int v6, int udp, unsigned short port)
{
	int status = 0;
	pid_t pid = clone_into_cgroup(cgroup_fd);

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct sockaddr_in6 a6;
		struct sockaddr_in a4;
		struct sockaddr *sa;
		socklen_t len;
		int fd = socket(v6 ? AF_INET6 : AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
		long rc;

		if (fd < 0)
			_exit(errno & 0xff);
		memset(&a4, 0, sizeof(a4));
		memset(&a6, 0, sizeof(a6));
		if (v6) {
			a6.sin6_family = AF_INET6;
			a6.sin6_port = htons(port);
			a6.sin6_addr.s6_addr[15] = 1;
			sa = (struct sockaddr *)&a6;
			len = sizeof(a6);
		} else {
			a4.sin_family = AF_INET;
			a4.sin_port = htons(port);
			a4.sin_addr.s_addr = htonl(0x7f000001);
			sa = (struct sockaddr *)&a4;
			len = sizeof(a4);
		}
		rc = udp ? sendto(fd, "x", 1, 0, sa, len) : connect(fd, sa, len);
		_exit(rc < 0 ? (errno & 0xff) : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status))
		return -ECHILD;
	return WEXITSTATUS(status);
}

#include <linux/perf_event.h>
#include <sys/syscall.h>

int cspawn_perf_tracepoint(unsigned long long tracepoint_id, int cpu)
{
	struct perf_event_attr attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.size = sizeof(attr);
	attr.config = tracepoint_id;
	fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}
