/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bounded path walk (path_walk_test.bpf.c) against the paths the kernel's own d_path() and
 * realpath(3) give: a child of this harness execs a copy of /bin/true from a directory of its
 * own and the program walks the new image's file and the working directory. Cases: a deep
 * directory (one walk step per component), a working directory on another mount (the walk
 * crosses mounts), a directory deeper than VIGIL_PATH_DEPTH (flagged truncated, the deepest
 * components kept), and an image on a memfd (a pseudo file system's lone dentry, "/memfd:NAME",
 * flagged detached). Everything it creates is under one mkdtemp directory, removed at the end.
 *
 * Needs root (a tp_btf program); says so and passes without.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "vigil_abi.h"
#include "path_walk_test.skel.h"

/* vg_path_walk_bounded()'s result bits (lib/path.h). */
#define TRUNCATED 1
#define DETACHED  2
#define ERROR     4

static struct path_walk_test *skel;
static int failures, passed;
static char base[PATH_MAX];

static void die(const char *what)
{
	fprintf(stderr, "path_walk_test: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Runs `exe` (a path, or with memfd >= 0 that file) in a child whose cwd is `cwd`, and waits for
 * the program's walk of that exec. */
static void run(const char *exe, int memfd, const char *cwd)
{
	int sync[2];
	char go;
	pid_t child;
	__u32 before = skel->bss->runs;

	if (pipe(sync))
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		char *argv[] = {"true", NULL}, *envp[] = {NULL};

		close(sync[1]);
		if (read(sync[0], &go, 1) != 1 || chdir(cwd))
			_exit(126);
		if (memfd >= 0)
			fexecve(memfd, argv, envp);
		else
			execve(exe, argv, envp);
		_exit(127);
	}
	close(sync[0]);
	skel->bss->target_tgid = (__u32)child;
	if (write(sync[1], "x", 1) != 1)
		die("write");
	close(sync[1]);
	waitpid(child, NULL, 0);
	skel->bss->target_tgid = 0;
	if (skel->bss->runs == before) {
		fprintf(stderr, "path_walk_test: no walk for the exec of %s\n", exe);
		exit(1);
	}
}

/* The walked path (the last len bytes copied to the front of the buffer) and its flag bits. */
static void check(const char *name, const char *walked, __u32 result, const char *want, __u32 want_bits)
{
	__u32 len = result & 0xffff, bits = result >> 16;

	if (len == strlen(want) && memcmp(walked, want, len) == 0 && bits == want_bits) {
		passed++;
		return;
	}
	failures++;
	fprintf(stderr, "FAIL %s: got \"%.*s\" (len %u, bits %u), want \"%s\" (bits %u)\n", name, (int)len, walked,
		len, bits, want, want_bits);
}

/* Makes depth nested directories "d" under dir; returns the deepest (static buffer). */
static const char *nest(const char *dir, int depth)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", dir);
	for (int i = 0; i < depth; i++) {
		strncat(path, "/d", sizeof(path) - strlen(path) - 1);
		if (mkdir(path, 0700) && errno != EEXIST)
			die("mkdir");
	}
	return path;
}

static void copy_true(const char *to)
{
	char cmd[PATH_MAX + 64];

	snprintf(cmd, sizeof(cmd), "cp /bin/true '%s'", to);
	if (system(cmd) != 0)
		die("cp /bin/true");
}

int main(void)
{
	char dir[PATH_MAX], exe[PATH_MAX], want[PATH_MAX + 16];
	const char *suffix;
	int err, components;

	if (geteuid() != 0) {
		printf("path_walk_test: skipped: loading a tp_btf program needs root (CAP_BPF and CAP_PERFMON)\n");
		return 0;
	}
	skel = path_walk_test__open_and_load();
	if (!skel)
		die("load");
	err = path_walk_test__attach(skel);
	if (err) {
		errno = -err;
		die("attach");
	}
	snprintf(dir, sizeof(dir), "/tmp/vigil-walk-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
	if (!realpath(dir, base))
		die("realpath");

	/* 1: a deep directory, the binary and the cwd in it. */
	snprintf(exe, sizeof(exe), "%s/true", nest(base, 60));
	copy_true(exe);
	run(exe, -1, nest(base, 60));
	check("deep exe", skel->bss->exe_path, skel->bss->exe_result, exe, 0);
	check("deep cwd", skel->bss->cwd_path, skel->bss->cwd_result, nest(base, 60), 0);

	/* 2: a cwd on another mount (procfs under /): the walk crosses from its root to /proc. */
	run(exe, -1, "/proc/sys/kernel");
	check("cwd across a mount", skel->bss->cwd_path, skel->bss->cwd_result, "/proc/sys/kernel", 0);

	/* 3: deeper than VIGIL_PATH_DEPTH components: truncated, the deepest ones kept. */
	snprintf(exe, sizeof(exe), "%s/true", nest(base, VIGIL_PATH_DEPTH + 10));
	copy_true(exe);
	run(exe, -1, "/");
	components = 0;
	suffix = exe + strlen(exe);
	while (suffix > exe && components < VIGIL_PATH_DEPTH) {
		suffix--;
		if (*suffix == '/')
			components++;
	}
	check("deeper than the walk", skel->bss->exe_path, skel->bss->exe_result, suffix, TRUNCATED);
	check("the root as cwd", skel->bss->cwd_path, skel->bss->cwd_result, "/", 0);

	/* 4: an image on a memfd: the pseudo file system's lone dentry, detached. */
	{
		int memfd = memfd_create("walktest", MFD_CLOEXEC), src = open("/bin/true", O_RDONLY);
		char buf[65536];
		ssize_t n;

		if (memfd < 0 || src < 0)
			die("memfd_create");
		while ((n = read(src, buf, sizeof(buf))) > 0)
			if (write(memfd, buf, (size_t)n) != n)
				die("write memfd");
		close(src);
		/* A MFD_CLOEXEC memfd cannot be fexecve'd (the fd is gone when the kernel opens it). */
		fcntl(memfd, F_SETFD, 0);
		run("memfd", memfd, "/");
		close(memfd);
		check("memfd image", skel->bss->exe_path, skel->bss->exe_result, "/memfd:walktest", DETACHED);
	}

	snprintf(want, sizeof(want), "rm -rf '%s'", base);
	if (system(want) != 0)
		fprintf(stderr, "path_walk_test: could not remove %s\n", base);
	path_walk_test__destroy(skel);
	printf("path_walk_test: %d passed, %d failed (bounded path walk, depth %d)\n", passed, failures, VIGIL_PATH_DEPTH);
	return failures ? 1 : 0;
}
