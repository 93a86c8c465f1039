// SPDX-License-Identifier: Apache-2.0
// Open/close storm driver: open(2)+close(2) of PATH, COUNT times, then prints the elapsed wall
// time. With DISTINCT > 0 it cycles through PATH.0 .. PATH.<DISTINCT-1>, which must exist (the
// caller creates them, so that creating them is not part of the storm's time or CPU).
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s PATH COUNT DISTINCT\n", argv[0]);
		return 2;
	}
	long count = atol(argv[2]), distinct = atol(argv[3]);
	char name[4096];
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++) {
		const char *path = argv[1];
		if (distinct > 0) {
			snprintf(name, sizeof(name), "%s.%ld", argv[1], i % distinct);
			path = name;
		}
		int fd = open(path, O_RDONLY);
		if (fd < 0) {
			perror(path);
			return 1;
		}
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
