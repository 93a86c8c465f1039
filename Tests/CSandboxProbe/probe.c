// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "sandbox_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vigil_sandbox.h"

static int outcome(long rc) { return rc < 0 ? errno : 0; }

static void *thread_main(void *arg) { return arg; }

static int seccomp_status(void)
{
	char line[256];
	int value = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &value) == 1)
			break;
	fclose(f);
	return value;
}

static void run_child(int mode, const char *scratch, struct sandbox_probe_result *r)
{
	char path[4096];
	if (mode)
		r->install_rc = vigil_sandbox_install(mode, -1, &r->rules, path, sizeof(path));
	r->seccomp_status = seccomp_status();

	char *const argv[] = {"/bin/true", NULL};
	char *const envp[] = {NULL};
	/* In log mode or without a filter these succeed: they run in a grandchild. */
	pid_t pid = fork();
	if (pid == 0) {
		execve("/bin/true", argv, envp);
		_exit(100 + errno);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	r->execve_errno = WIFEXITED(status) && WEXITSTATUS(status) >= 100 ? WEXITSTATUS(status) - 100 : 0;
	pid = fork();
	if (pid == 0) {
		syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, envp, 0);
		_exit(100 + errno);
	}
	waitpid(pid, &status, 0);
	r->execveat_errno = WIFEXITED(status) && WEXITSTATUS(status) >= 100 ? WEXITSTATUS(status) - 100 : 0;

	pid_t sleeper = fork();
	if (sleeper == 0) {
		pause();
		_exit(0);
	}
	r->ptrace_errno = outcome(ptrace(PTRACE_SEIZE, sleeper, 0, 0));
	kill(sleeper, SIGKILL);
	waitpid(sleeper, &status, 0);
	/* In a fresh mount namespace of a grandchild, so nothing changes on the host either way. */
	pid = fork();
	if (pid == 0) {
		int e = outcome(unshare(CLONE_NEWNS));
		if (e == 0) {
			snprintf(path, sizeof(path), "%s/mnt", scratch);
			mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
			e = outcome(mount("none", path, "tmpfs", 0, NULL));
			_exit(e ? 100 + e : 0);
		}
		_exit(200 + e);
	}
	waitpid(pid, &status, 0);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
	r->unshare_errno = code >= 200 ? code - 200 : 0;
	r->mount_errno = code >= 200 ? -1 : code >= 100 ? code - 100 : 0;
	if (r->mount_errno == -1) {
		/* unshare refused: try mount directly on a path of our own (harmless if it works). */
		snprintf(path, sizeof(path), "%s/mnt", scratch);
		r->mount_errno = outcome(mount("none", path, "tmpfs", MS_RDONLY, NULL));
		if (r->mount_errno == 0)
			umount2(path, MNT_DETACH);
	}

	long child = syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
	if (child == 0)
		_exit(0);
	r->clone_newns_errno = child < 0 ? errno : 0;
	if (child > 0)
		waitpid(child, &status, 0);
#ifdef SYS_clone3
	r->clone3_errno = outcome(syscall(SYS_clone3, NULL, 0)); /* EFAULT/EINVAL when allowed */
#endif
	r->finit_module_errno = outcome(syscall(SYS_finit_module, -1, "", 0)); /* EBADF when allowed */
	r->setuid_errno = outcome(setuid(getuid()));

	pthread_t thread;
	r->thread_errno = pthread_create(&thread, NULL, thread_main, NULL);
	if (r->thread_errno == 0)
		pthread_join(thread, NULL);
	snprintf(path, sizeof(path), "%s/file", scratch);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	r->file_errno = fd < 0 ? errno : (write(fd, "x\n", 2) == 2 ? 0 : errno);
	if (fd >= 0) {
		close(fd);
		char moved[4200];
		snprintf(moved, sizeof(moved), "%s.1", path);
		if (rename(path, moved) != 0)
			r->file_errno = errno;
	}
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 8;
	attr.max_entries = 1;
	fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	r->bpf_map_errno = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	fd = inotify_init1(IN_CLOEXEC);
	r->inotify_errno = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY);
	r->fanotify_errno = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r->socket_errno = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
}

int sandbox_probe(int mode, const char *scratch_dir, struct sandbox_probe_result *out)
{
	int fds[2];
	memset(out, 0, sizeof(*out));
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct sandbox_probe_result r;
		memset(&r, 0, sizeof(r));
		close(fds[0]);
		run_child(mode, scratch_dir, &r);
		ssize_t n = write(fds[1], &r, sizeof(r));
		_exit(n == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(fds[1]);
	ssize_t got = 0;
	while (got < (ssize_t)sizeof(*out)) {
		ssize_t n = read(fds[0], (char *)out + got, sizeof(*out) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	return got == (ssize_t)sizeof(*out) && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
