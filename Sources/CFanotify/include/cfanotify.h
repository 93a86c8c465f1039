/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fanotify(7) calls and constants that Swift's Glibc import lacks: <sys/fanotify.h> is not
 * part of the Glibc module map, and some names (FAN_DENY_ERRNO, FAN_EVENT_METADATA_LEN) are
 * function-like macros or newer than the installed uapi header.
 */
#pragma once
#include <fcntl.h>
#include <stdint.h>
#include <sys/fanotify.h>

/* Linux 6.14: a pre-content group may deny with an errno other than EPERM. */
#ifndef FAN_ERRNO_BITS
#define FAN_ERRNO_BITS 8
#define FAN_ERRNO_SHIFT (32 - FAN_ERRNO_BITS)
#define FAN_ERRNO_MASK ((1 << FAN_ERRNO_BITS) - 1)
#define FAN_DENY_ERRNO(err) (FAN_DENY | ((((uint32_t)(err)) & FAN_ERRNO_MASK) << FAN_ERRNO_SHIFT))
#endif

/* fanotify_init(2): the group fd, or -1 with errno set. */
int cfan_init(unsigned int flags, unsigned int event_f_flags);

/* fanotify_mark(2): 0, or -1 with errno set. `pathname` may be NULL (then `dirfd` is the object). */
int cfan_mark(int fanotify_fd, unsigned int flags, uint64_t mask, int dirfd, const char *pathname);

/* Writes one `struct fanotify_response`: 0, or -errno (EINTR is retried). */
int cfan_respond(int fanotify_fd, int event_fd, uint32_t response);

/* sizeof(struct fanotify_event_metadata) (FAN_EVENT_METADATA_LEN). */
static inline uint32_t cfan_metadata_len(void) { return (uint32_t)FAN_EVENT_METADATA_LEN; }

/* The response word that denies with `err` (pre-content groups only, Linux 6.14+). */
static inline uint32_t cfan_deny_errno(int err) { return (uint32_t)FAN_DENY_ERRNO(err); }

/* glibc's O_LARGEFILE (0 on 64-bit, where the kernel forces it for event fds anyway). */
int cfan_o_largefile(void);

/* O_PATH (needs _GNU_SOURCE, which Swift's Glibc import lacks). */
int cfan_o_path(void);

/* eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): a wake-up fd for the guard's threads. */
int cfan_eventfd(void);

/* pthread_setname_np on the calling thread (names longer than 15 bytes are cut). */
void cfan_set_thread_name(const char *name);
