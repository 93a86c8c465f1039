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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
	fprintf(stderr, "usage: %s noop | sleep SECONDS | open PATH | read PATH | exec PATH ARG... | connect PORT | uprobe N STRING\n", argv[0]);
	return 2;
}
