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
