// SPDX-License-Identifier: Apache-2.0
// The evasion tool of EvasionKernelTests: each subcommand reaches a file, a program or a port by
// one way around the plain syscall a policy names, and prints the outcome as one number (0: it
// worked, else the errno), so that the test compares numbers. A process killed on the way
// prints nothing. Built static (liburing.a included) so the kernel matrix's guests can run it too.
//
// Opens (read one byte of PATH):
//   open PATH            open(2), the control
//   openat2 PATH         openat2(2) with RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV
//   uring-openat PATH    io_uring IORING_OP_OPENAT
//   uring-openat2 PATH   io_uring IORING_OP_OPENAT2
//   by-handle PATH       name_to_handle_at(2), then open_by_handle_at(2)
//   opath-reopen PATH    open(O_PATH), then open("/proc/self/fd/N")
// Execs (PATH is an executable; it runs with no arguments):
//   exec PATH            execve(2), the control
//   execveat-fd PATH     open(PATH), then execveat(fd, "", AT_EMPTY_PATH)
//   memfd-exec PATH      PATH's bytes copied into a memfd, then execveat of the memfd
//   ld.so PATH           execve(2) of the dynamic loader with PATH as its argument (PATH must be
//                        dynamic): the loader maps PATH, which is never exec'd itself
// Connects (TCP unless named; 127.0.0.1:PORT, or ::ffff:127.0.0.1 for mapped6):
//   connect PORT         connect(2), the control
//   uring-connect PORT   io_uring IORING_OP_CONNECT
//   udp-sendto PORT      sendto(2) on an unconnected UDP socket
//   udp-sendmmsg PORT    sendmmsg(2) on an unconnected UDP socket
//   mapped6 PORT         connect(2) of an AF_INET6 socket to the IPv4-mapped address
//   thread-connect PORT  connect(2) from a second thread
//   vfork-connect PORT   connect(2) from a vforked child (reports the child's result)
//   fastopen PORT        sendto(2) with MSG_FASTOPEN (TCP fast open: connect and data at once)
// Helper (the kernel matrix's guests have no listener of their own):
//   listen FIRST-LAST    a TCP listener and a bound UDP socket on 127.0.0.1 for each port of the
//                        range; prints 0 once all are bound, then waits until killed (the kernel
//                        completes connects into the backlog, so nothing is accepted)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

static int read_one(int fd)
{
	char c;

	if (fd < 0)
		return errno;
	if (read(fd, &c, 1) < 0)
		return errno;
	close(fd);
	return 0;
}

/* One io_uring request; returns its result (a descriptor or -errno) or -errno of the ring. */
static int uring_one(void (*prep)(struct io_uring_sqe *, void *), void *arg)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	int rc = io_uring_queue_init(4, &ring, 0);

	if (rc < 0)
		return rc;
	prep(io_uring_get_sqe(&ring), arg);
	rc = io_uring_submit(&ring);
	if (rc >= 0)
		rc = io_uring_wait_cqe(&ring, &cqe);
	if (rc >= 0) {
		rc = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	return rc;
}

static void prep_openat(struct io_uring_sqe *sqe, void *path)
{
	io_uring_prep_openat(sqe, AT_FDCWD, path, O_RDONLY, 0);
}

static void prep_openat2(struct io_uring_sqe *sqe, void *path)
{
	static struct open_how how = { .flags = O_RDONLY, .resolve = RESOLVE_NO_MAGICLINKS };

	io_uring_prep_openat2(sqe, AT_FDCWD, path, &how);
}

struct connect_arg {
	int fd;
	struct sockaddr_in addr;
};

static void prep_connect(struct io_uring_sqe *sqe, void *arg)
{
	struct connect_arg *c = arg;

	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->addr, sizeof(c->addr));
}

static int uring_result(int rc)
{
	return rc < 0 ? -rc : read_one(rc);
}

static int by_handle(const char *path)
{
	struct file_handle *handle = calloc(1, sizeof(*handle) + MAX_HANDLE_SZ);
	int mount_id, mount_fd, fd;

	handle->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, path, handle, &mount_id, 0) < 0)
		return errno;
	/* Any descriptor on the same file system serves as the mount: the file's directory. */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	mount_fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
	if (mount_fd < 0)
		return errno;
	fd = open_by_handle_at(mount_fd, handle, O_RDONLY);
	return read_one(fd);
}

static int opath_reopen(const char *path)
{
	char proc[64];
	int fd = open(path, O_PATH);

	if (fd < 0)
		return errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return read_one(open(proc, O_RDONLY));
}

static int memfd_exec(const char *path)
{
	char buf[65536];
	ssize_t n;
	int in = open(path, O_RDONLY), mem = memfd_create("evade", MFD_CLOEXEC);
	char *argv[] = { "memfd", NULL }, *envp[] = { NULL };

	if (in < 0 || mem < 0)
		return errno;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(mem, buf, n) != n)
			return errno;
	close(in);
	syscall(SYS_execveat, mem, "", argv, envp, AT_EMPTY_PATH);
	return errno;
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return addr;
}

static int tcp_connect(int port)
{
	struct sockaddr_in addr = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return errno;
	close(fd);
	return 0;
}

static void *thread_main(void *arg)
{
	*(int *)arg = tcp_connect(*(int *)arg);
	return NULL;
}

static int udp_send(int port, int many)
{
	struct sockaddr_in addr = loopback(port);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	char byte = 'x';

	if (fd < 0)
		return errno;
	if (!many)
		return sendto(fd, &byte, 1, 0, (struct sockaddr *)&addr, sizeof(addr)) < 0 ? errno : 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct mmsghdr msg = { .msg_hdr = { .msg_name = &addr, .msg_namelen = sizeof(addr), .msg_iov = &iov, .msg_iovlen = 1 } };
	return sendmmsg(fd, &msg, 1, 0) < 0 ? errno : 0;
}

static int listen_range(const char *range)
{
	int first, last, one = 1;

	if (sscanf(range, "%d-%d", &first, &last) != 2 || first <= 0 || last < first || last > 65535)
		return EINVAL;
	for (int port = first; port <= last; port++) {
		struct sockaddr_in addr = loopback(port);
		int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);

		if (tcp < 0 || udp < 0)
			return errno;
		setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(tcp, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(tcp, 16) < 0 ||
		    bind(udp, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			return errno;
	}
	printf("0\n");
	fflush(stdout);
	for (;;)
		pause();
}

static int run(const char *op, const char *arg)
{
	int port = atoi(arg);

	if (!strcmp(op, "open"))
		return read_one(open(arg, O_RDONLY));
	if (!strcmp(op, "openat2")) {
		struct open_how how = { .flags = O_RDONLY, .resolve = RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV };

		return read_one(syscall(SYS_openat2, AT_FDCWD, arg, &how, sizeof(how)));
	}
	if (!strcmp(op, "uring-openat"))
		return uring_result(uring_one(prep_openat, (void *)arg));
	if (!strcmp(op, "uring-openat2"))
		return uring_result(uring_one(prep_openat2, (void *)arg));
	if (!strcmp(op, "by-handle"))
		return by_handle(arg);
	if (!strcmp(op, "opath-reopen"))
		return opath_reopen(arg);
	if (!strcmp(op, "exec")) {
		char *argv[] = { (char *)arg, NULL }, *envp[] = { NULL };

		execve(arg, argv, envp);
		return errno;
	}
	if (!strcmp(op, "execveat-fd")) {
		char *argv[] = { "fd", NULL }, *envp[] = { NULL };
		int fd = open(arg, O_RDONLY);

		if (fd < 0)
			return errno;
		syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
		return errno;
	}
	if (!strcmp(op, "memfd-exec"))
		return memfd_exec(arg);
	if (!strcmp(op, "ld.so")) {
		char *argv[] = { "/lib64/ld-linux-x86-64.so.2", (char *)arg, NULL }, *envp[] = { NULL };

		execve(argv[0], argv, envp);
		return errno;
	}
	if (!strcmp(op, "connect"))
		return tcp_connect(port);
	if (!strcmp(op, "uring-connect")) {
		struct connect_arg c = { .fd = socket(AF_INET, SOCK_STREAM, 0), .addr = loopback(port) };
		int rc;

		if (c.fd < 0)
			return errno;
		rc = uring_one(prep_connect, &c);
		return rc < 0 ? -rc : 0;
	}
	if (!strcmp(op, "udp-sendto"))
		return udp_send(port, 0);
	if (!strcmp(op, "udp-sendmmsg"))
		return udp_send(port, 1);
	if (!strcmp(op, "mapped6")) {
		struct sockaddr_in6 addr = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
		int fd = socket(AF_INET6, SOCK_STREAM, 0);

		inet_pton(AF_INET6, "::ffff:127.0.0.1", &addr.sin6_addr);
		if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			return errno;
		return 0;
	}
	if (!strcmp(op, "thread-connect")) {
		pthread_t thread;
		int value = port;

		if (pthread_create(&thread, NULL, thread_main, &value))
			return EAGAIN;
		pthread_join(thread, NULL);
		return value;
	}
	if (!strcmp(op, "vfork-connect")) {
		/* The child shares our memory until it exits: it leaves its result here. */
		static volatile int result = -1;
		int status;
		pid_t child = vfork();

		if (child == 0) {
			result = tcp_connect(port);
			_exit(0);
		}
		if (child < 0 || waitpid(child, &status, 0) < 0)
			return errno;
		if (WIFSIGNALED(status)) {
			/* The child was killed: say so as the parent, then go the same way. */
			kill(getpid(), WTERMSIG(status));
			return EINTR;
		}
		return result;
	}
	if (!strcmp(op, "listen"))
		return listen_range(arg);
	if (!strcmp(op, "fastopen")) {
		struct sockaddr_in addr = loopback(port);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			return errno;
		return 0;
	}
	fprintf(stderr, "evade: unknown operation %s\n", op);
	return -1;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: evade OPERATION ARGUMENT (see evade.c)\n");
		return 2;
	}
	rc = run(argv[1], argv[2]);
	if (rc < 0)
		return 2;
	printf("%d\n", rc);
	return 0;
}
