/* SPDX-License-Identifier: Apache-2.0 */
#pragma once
#include <spawn.h>

/* posix_spawn_file_actions_addchdir_np needs _GNU_SOURCE, which Swift's Glibc import lacks. */
int cspawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);
