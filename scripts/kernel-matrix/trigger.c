// SPDX-License-Identifier: Apache-2.0
// The matrix scenarios' trigger: one static binary (no libc needed in the guest besides its
// own) that performs exactly one operation and prints its outcome as a number, so the
// scenario script can compare it without parsing. Copied under unique names, it is also the
// binary that policies select with matchBinaries and the binary whose exec is denied.
//
//   trigger noop                 exit 0 (exec/exit events, the target of a denied exec)
//   trigger open PATH            open(PATH, O_RDONLY): prints 0 or the errno
//   trigger exec PATH ARG...     execv(PATH): prints the errno if execv returns
//   trigger connect PORT         listens on 127.0.0.1:PORT, connects to it: prints 0 or the errno
//   trigger uprobe N STRING      calls vigil_matrix_uprobe(N, STRING) (a uprobe's target): prints N
//   trigger flow PORT N M        one TCP flow on 127.0.0.1:PORT: a forked child accepts, reads N
//                                bytes, writes M, waits for EOF and closes; the parent connects,
//                                writes N, reads M and closes: prints 0 or the errno
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int connect_loopback(int port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, listener, client;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0)
		return -errno;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 4) < 0)
		return -errno; /* negative: the listener failed, not the connect under test */
	client = socket(AF_INET, SOCK_STREAM, 0);
	if (client < 0)
		return -errno;
	if (connect(client, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return errno;
	close(client);
	close(listener);
	return 0;
}

/* Exported and not inlined: a uprobe on its symbol sees N and STRING in its first two registers. */
__attribute__((noinline)) int vigil_matrix_uprobe(int n, const char *s)
{
	__asm__ volatile("" : : "r"(s) : "memory");
	return n;
}

/* n bytes through fd, written (wr) or read; 0 or the errno (EPIPE for an early EOF). */
static int transfer(int fd, long n, int wr)
{
	static char buf[65536];

	while (n > 0) {
		long k = wr ? write(fd, buf, n > (long)sizeof(buf) ? sizeof(buf) : (size_t)n)
			    : read(fd, buf, n > (long)sizeof(buf) ? sizeof(buf) : (size_t)n);
		if (k <= 0)
			return k < 0 ? errno : EPIPE;
		n -= k;
	}
	return 0;
}

static int flow_loopback(int port, long n, long m)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, listener, client, status = 0, err;
	char c;
	pid_t child;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0)
		return errno;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 4) < 0)
		return errno;
	child = fork();
	if (child < 0)
		return errno;
	if (child == 0) {
		int fd = accept(listener, NULL, NULL);

		if (fd < 0 || transfer(fd, n, 0) || transfer(fd, m, 1))
			_exit(1);
		while (read(fd, &c, 1) > 0)
			;
		close(fd);
		_exit(0);
	}
	client = socket(AF_INET, SOCK_STREAM, 0);
	err = client < 0 || connect(client, (struct sockaddr *)&addr, sizeof(addr)) < 0 ? errno : 0;
	if (!err)
		err = transfer(client, n, 1);
	if (!err)
		err = transfer(client, m, 0);
	close(client);
	close(listener);
	waitpid(child, &status, 0);
	return err ? err : (status ? ECHILD : 0);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "noop") == 0)
		return 0;
	/* Lives a while: long enough for the agent to read its /proc entry (cgroup-v1). */
	if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
		sleep((unsigned)atoi(argv[2]));
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "open") == 0) {
		int fd = open(argv[2], O_RDONLY);
		printf("%d\n", fd < 0 ? errno : 0);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "read") == 0) {
		char c;
		int fd = open(argv[2], O_RDONLY);

		printf("%d\n", fd < 0 || read(fd, &c, 1) < 0 ? errno : 0);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
		execv(argv[2], argv + 2);
		printf("%d\n", errno);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "connect") == 0) {
		printf("%d\n", connect_loopback(atoi(argv[2])));
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "uprobe") == 0) {
		printf("%d\n", vigil_matrix_uprobe(atoi(argv[2]), argv[3]));
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "flow") == 0) {
		printf("%d\n", flow_loopback(atoi(argv[2]), atol(argv[3]), atol(argv[4])));
		return 0;
	}
	fprintf(stderr, "usage: %s noop | sleep SECONDS | open PATH | read PATH | exec PATH ARG... | connect PORT | uprobe N STRING | flow PORT N M\n", argv[0]);
	return 2;
}
