/* SPDX-License-Identifier: Apache-2.0 */
#pragma once
#include <spawn.h>

/* posix_spawn_file_actions_addchdir_np needs _GNU_SOURCE, which Swift's Glibc import lacks. */
int cspawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);

#include <sys/types.h>

/* Makes thread `tid` of another process run execve(path, NULL, NULL) itself, through ptrace
 * (x86_64): the thread is interrupted while it waits in a syscall, its registers are pointed at
 * that syscall instruction with execve's number, single-stepped, and restored. This is how a
 * test proves that the agent process itself cannot exec, without any hook in the agent.
 * Returns 0 and the syscall's raw result in *result (0: the exec happened and the process is
 * now `path`; -EPERM: refused), or a negative errno when the injection could not be done. */
int cspawn_inject_execve(pid_t tid, const char *path, long *result);

/* Starts `path` with argv and envp as a child born in the cgroup2 directory open at `cgroup_fd`
 * (clone3 with CLONE_INTO_CGROUP, Linux 5.7+), so no instruction of it runs outside that cgroup:
 * how host tests put the processes they enforce on inside their own --enforcement-cgroup.
 * stdin is /dev/null, stdout `stdout_path` (NULL: /dev/null), the working directory `cwd`
 * (NULL: inherited). Returns the child's pid, or a negative errno. */
pid_t cspawn_in_cgroup(const char *path, char *const argv[], char *const envp[], int cgroup_fd,
		       const char *stdout_path, const char *cwd);

/* A TCP connect (or, with `udp`, a one-byte sendto) to 127.0.0.1 (::1 with `v6`) `port`, made by
 * a child born in the cgroup2 directory open at `cgroup_fd`. Returns 0 when it succeeded, the
 * errno it failed with, or a negative errno when the child could not be started. */
int cspawn_connect_in_cgroup(int cgroup_fd, int v6, int udp, unsigned short port);

/* A counting perf event on the tracepoint with id `tracepoint_id`, on `cpu`, for every task
 * (what perf or bpftrace opens): the kernel registers the tracepoint's perf probe when it is
 * created, before any probe registered later. The fd, or -errno. */
int cspawn_perf_tracepoint(unsigned long long tracepoint_id, int cpu);
