// SPDX-License-Identifier: Apache-2.0
// Uprobe loop driver: calls vigil_bench_uprobe(i, TEXT) COUNT times, then prints the elapsed
// wall time. The function is exported and not inlined, so a uprobe on its symbol (vigil's
// spec.uprobes, bpftrace's uprobe:) traps once per call: the loop measures that trap and the
// program behind it, nearly nothing else.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) int vigil_bench_uprobe(int n, const char *text)
{
	__asm__ volatile("" : : "r"(text) : "memory");
	return n & 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s COUNT TEXT\n", argv[0]);
		return 2;
	}
	long count = atol(argv[1]), odd = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++)
		odd += vigil_bench_uprobe((int)i, argv[2]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (odd != count / 2)
		return 1;
	printf("%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
