// SPDX-License-Identifier: Apache-2.0
// Long-lived process driver: starts COUNT children that exec BINARY ARGS... (e.g. a copy of
// sleep), prints "ready" once all are started, then waits for stdin to close. It then kills
// exactly its own children, by the pids fork returned, and reaps them. PR_SET_PDEATHSIG makes
// the children die with the driver if it is killed first.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s COUNT BINARY [ARGS...]\n", argv[0]);
		return 2;
	}
	long count = atol(argv[1]), started = 0;
	pid_t *pids = calloc(count, sizeof(pid_t));
	pid_t parent = getpid();
	char buf[64];

	for (; started < count; started++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			break;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(1);
			execv(argv[2], argv + 2);
			_exit(127);
		}
		pids[started] = pid;
	}
	printf("ready %ld\n", started);
	fflush(stdout);
	while (fread(buf, 1, sizeof(buf), stdin) > 0)
		;
	for (long i = 0; i < started; i++)
		kill(pids[i], SIGKILL);
	for (long i = 0; i < started; i++)
		waitpid(pids[i], NULL, 0);
	return started == count ? 0 : 1;
}
