// SPDX-License-Identifier: Apache-2.0
/* The detection library's trigger: one benign act per command, each the behaviour of one
 * policy of policies/library/ (DetectionLibraryKernelTests; docs/detections.md). Built static,
 * so that it runs in the tests' busybox container and in the kernel matrix's guests:
 *   gcc -O1 -Wall -Werror -static -o library-trigger Tests/Tools/library_trigger.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *cmd = argv[1];
	if (!strcmp(cmd, "noop"))
		return 0;
	if (!strcmp(cmd, "open") && argc == 3) {
		int fd = open(argv[2], O_RDONLY);
		return fd < 0 ? errno : 0;
	}
	if (!strcmp(cmd, "open-trunc") && argc == 3)
		return openat(AT_FDCWD, argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600) < 0 ? errno : 0;
	if (!strcmp(cmd, "open-write") && argc == 3)
		return openat(AT_FDCWD, argv[2], O_WRONLY | O_CREAT | O_APPEND, 0600) < 0 ? errno : 0;
	if (!strcmp(cmd, "spawn") && argc >= 3) {
		pid_t pid = fork();
		if (pid == 0) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		int status;
		waitpid(pid, &status, 0);
		return 0;
	}
	/* argv[2..] run in a session of their own: without a controlling tty (setsid-exec), or with
	 * a new pseudo-terminal as it (pty-exec), as a terminal shell or sshd's child has one. */
	if ((!strcmp(cmd, "setsid-exec") || !strcmp(cmd, "pty-exec")) && argc >= 3) {
		int tty = !strcmp(cmd, "pty-exec"), master = -1;
		if (tty) {
			master = open("/dev/ptmx", O_RDWR | O_NOCTTY);
			if (master < 0)
				master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY);
			if (master < 0 || grantpt(master) || unlockpt(master) || !ptsname(master))
				return 3;
		}
		pid_t pid = fork();
		if (pid == 0) {
			if (setsid() < 0)
				_exit(126);
			if (tty) {
				int slave = open(ptsname(master), O_RDWR);
				if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
					_exit(125);
				close(master);
				dup2(slave, 0); /* stdin only: the output stays where the caller sent it */
			}
			execv(argv[2], argv + 2);
			_exit(127);
		}
		int status;
		waitpid(pid, &status, 0);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); /* as a shell says it */
	}
	/* argv[2..] run as /usr/sbin/sshd: a copy of this program on a tmpfs over /usr/sbin in a
	 * mount namespace of its own (private: nothing propagates to the host's mounts), so the
	 * process and its descendants have sshd's path among their ancestors' binaries. */
	if (!strcmp(cmd, "as-sshd") && argc >= 3) {
		if (unshare(CLONE_NEWNS) || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("vigil-trigger", "/usr/sbin", "tmpfs", 0, "mode=755"))
			return 4;
		int in = open("/proc/self/exe", O_RDONLY), out = open("/usr/sbin/sshd", O_WRONLY | O_CREAT, 0755);
		struct stat st;
		if (in < 0 || out < 0 || fstat(in, &st) || sendfile(out, in, NULL, st.st_size) != st.st_size)
			return 5;
		close(in);
		close(out);
		argv[1] = "/usr/sbin/sshd";
		execv(argv[1], argv + 1);
		return 6;
	}
	/* An overlay mount (lowerdir argv[3], upperdir argv[4], workdir argv[5] on argv[6]) in the
	 * mount namespace of process argv[2] (a container's init): the container's own mount, as a
	 * runtime makes its root, gone with the container. */
	if (!strcmp(cmd, "ns-mount-overlay") && argc == 7) {
		char path[64], options[1024];
		snprintf(path, sizeof(path), "/proc/%s/ns/mnt", argv[2]);
		int ns = open(path, O_RDONLY);
		if (ns < 0 || setns(ns, CLONE_NEWNS))
			return 7;
		snprintf(options, sizeof(options), "lowerdir=%s,upperdir=%s,workdir=%s", argv[3], argv[4], argv[5]);
		return mount("overlay", argv[6], "overlay", 0, options) ? errno : 0;
	}
	/* argv[3..] run in a child with uid and gid argv[2] (no supplementary groups). */
	if (!strcmp(cmd, "spawn-as") && argc >= 4) {
		uid_t id = (uid_t)strtoul(argv[2], NULL, 10);
		pid_t pid = fork();
		if (pid == 0) {
			if (setgroups(0, NULL) || setgid(id) || setuid(id))
				_exit(124);
			execv(argv[3], argv + 3);
			_exit(127);
		}
		int status;
		waitpid(pid, &status, 0);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); /* as a shell says it */
	}
	if (!strcmp(cmd, "symlink") && argc == 4)
		return symlink(argv[2], argv[3]) < 0 ? errno : 0;
	if (!strcmp(cmd, "link") && argc == 4) {
		link(argv[2], argv[3]); /* fails: the new name's directory is missing */
		return 0;
	}
	if (!strcmp(cmd, "ptrace-attach")) {
		pid_t child = fork();
		if (child == 0) {
			pause();
			_exit(0);
		}
		int status;
		long rc = ptrace(PTRACE_ATTACH, child, 0, 0);
		if (rc == 0)
			waitpid(child, &status, 0);
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
		return 0;
	}
	if (!strcmp(cmd, "traceme"))
		return ptrace(PTRACE_TRACEME, 0, 0, 0) < 0 ? errno : 0; /* and exit: no exec to stop at */
	if (!strcmp(cmd, "memfd-exec")) {
		int self = open("/proc/self/exe", O_RDONLY);
		int mem = memfd_create("vigil-library", 0);
		struct stat st;
		if (self < 0 || mem < 0 || fstat(self, &st) < 0)
			return 3;
		off_t off = 0;
		while (off < st.st_size)
			if (sendfile(mem, self, &off, st.st_size - off) <= 0)
				return 4;
		char *args[] = { "memfd", "noop", NULL };
		fexecve(mem, args, environ);
		return errno;
	}
	if (!strcmp(cmd, "connect") && argc == 4) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
		inet_pton(AF_INET, argv[2], &sin.sin_addr);
		int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(s, (struct sockaddr *)&sin, sizeof(sin)); /* fails: no route */
		return 0;
	}
	if (!strcmp(cmd, "packet-socket")) {
		socket(AF_PACKET, SOCK_RAW, 0);
		return 0;
	}
	if (!strcmp(cmd, "dup-socket")) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		return s < 0 || dup2(s, 2) < 0 ? 3 : 0;
	}
	if (!strcmp(cmd, "finit-module")) {
		syscall(SYS_finit_module, -1, "", 0); /* refused: bad fd, or no CAP_SYS_MODULE */
		return 0;
	}
	return 2;
}
