// SPDX-License-Identifier: Apache-2.0
// Exec storm driver: posix_spawn()s BINARY N times with at most C children in flight and
// prints the elapsed wall time. Cheap enough that the driver is not the bottleneck.
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s BINARY COUNT CONCURRENCY\n", argv[0]);
		return 2;
	}
	const char *binary = argv[1];
	long count = atol(argv[2]), concurrency = atol(argv[3]), started = 0, running = 0;
	struct timespec t0, t1;
	char *child_argv[] = { (char *)binary, NULL };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (started < count || running > 0) {
		while (started < count && running < concurrency) {
			pid_t pid;
			if (posix_spawn(&pid, binary, NULL, NULL, child_argv, environ) != 0) {
				perror("posix_spawn");
				return 1;
			}
			started++;
			running++;
		}
		if (wait(NULL) > 0)
			running--;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
