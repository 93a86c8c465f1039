/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vigil_abi.h: THE wire format between the BPF programs (bpf/) and the Swift agent.
 *
 * Included by clang -target bpf (after vmlinux.h) and by Swift's Clang importer through the
 * CVigilABI module. Nothing here may be written twice anywhere else: Swift reads these structs
 * with MemoryLayout and the offsets below are checked by static asserts on both compilers.
 *
 * Rules: fixed-width types only, explicit padding, enum values are wire format (append, never
 * renumber). Bump VIGIL_ABI_VERSION when an existing layout changes.
 */
#ifndef VIGIL_ABI_H
#define VIGIL_ABI_H

#ifndef __VMLINUX_H__ /* the BPF side already has __u32 & co from vmlinux.h */
#include <linux/types.h>
#endif

#define VIGIL_ABI_VERSION 2

/* Sizes of the variable-length tail of an exec record (see struct vigil_exec_event). */
#define VIGIL_COMM_LEN       16
#define VIGIL_NAME_MAX       256   /* one path component incl. NUL (NAME_MAX + 1) */
#define VIGIL_PATH_AREA      4096  /* bytes for the components of one path */
#define VIGIL_PATH_DEPTH     128   /* components walked before a path is flagged truncated */
#define VIGIL_ARGS_CAP       32768 /* hard upper bound of --args-max-bytes (power of two) */
#define VIGIL_ARGS_DEFAULT   4096  /* default argument bytes captured per exec */

enum vigil_event_kind {
	VIGIL_EVENT_EXEC  = 1, /* struct vigil_exec_event + tail */
	VIGIL_EVENT_CLONE = 2, /* struct vigil_clone_event */
	VIGIL_EVENT_EXIT  = 3, /* struct vigil_exit_event */
};

/* vigil_event_header.flags for exec records. */
enum vigil_exec_flags {
	VIGIL_EXEC_F_PATH_TRUNCATED = 1 << 0, /* binary path deeper/longer than the buffer */
	VIGIL_EXEC_F_CWD_TRUNCATED  = 1 << 1,
	VIGIL_EXEC_F_ARGS_TRUNCATED = 1 << 2, /* more argument bytes than --args-max-bytes */
	VIGIL_EXEC_F_PATH_ERROR     = 1 << 3, /* the binary's file could not be read */
	VIGIL_EXEC_F_CWD_ERROR      = 1 << 4,
	VIGIL_EXEC_F_ARGS_ERROR     = 1 << 5, /* argument memory could not be read */
	VIGIL_EXEC_F_DELETED        = 1 << 6, /* binary has no link left (deleted file, memfd) */
	VIGIL_EXEC_F_PATH_DETACHED  = 1 << 7, /* walk ended at a root that is not the task's root */
	VIGIL_EXEC_F_CWD_DETACHED   = 1 << 8,
};

/*
 * Every record starts with this header so the reader can dispatch and bounds-check before
 * decoding. ktime_ns is bpf_ktime_get_ns() (CLOCK_MONOTONIC) when the record was made; for exec
 * and clone it is also the process identity (with pid), as Tetragon's exec_id uses it.
 */
struct vigil_event_header {
	__u16 kind;      /* enum vigil_event_kind */
	__u16 flags;     /* kind-specific flags, e.g. enum vigil_exec_flags */
	__u32 size;      /* whole record, header and tail included */
	__u64 ktime_ns;
	__u64 cgroup_id; /* cgroup2 id (kernfs inode) of the task */
	__u32 pid;       /* tgid */
	__u32 tid;
};

/* Namespace inode numbers, the values matchNamespaces selects on. */
struct vigil_namespaces {
	__u32 uts;
	__u32 ipc;
	__u32 mnt;
	__u32 pid;
	__u32 pid_for_children;
	__u32 net;
	__u32 cgroup;
	__u32 user;
};

struct vigil_creds {
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 suid;
	__u32 sgid;
	__u32 fsuid;
	__u32 fsgid;
	__u64 cap_permitted;
	__u64 cap_effective;
	__u64 cap_inheritable;
};

/*
 * sched_process_exec. The fixed part is followed by three tail sections, in this order:
 *   path: path_len bytes, the binary's absolute path ("/usr/bin/true", no NUL)
 *   cwd:  cwd_len bytes, the absolute working directory
 *   args: args_len bytes, argv as the kernel holds it (NUL-separated, argv[0] first)
 */
struct vigil_exec_event {
	struct vigil_event_header hdr;
	__u64 parent_ktime_ns;       /* identity of the parent, 0 if the kernel side never saw it */
	__u64 process_start_ns;      /* task start time (CLOCK_MONOTONIC), for /proc matching */
	struct vigil_creds creds;
	struct vigil_namespaces ns;
	__u32 ppid;                  /* real parent's tgid */
	__u32 auid;                  /* loginuid, 4294967295 when unset */
	__u32 nspid;                 /* tgid inside the task's own pid namespace */
	__u32 old_tid;               /* thread that called execve, if not the leader */
	__u64 binary_ino;
	__u32 binary_dev;
	__u32 binary_nlink;
	__u32 args_size;             /* arg bytes the process really has (args_len may be less) */
	__u16 path_len;
	__u16 cwd_len;
	__u32 args_len;
	__u32 pad0;
	char comm[VIGIL_COMM_LEN];
};

/* sched_process_fork of a new thread group (threads are not reported). */
struct vigil_clone_event {
	struct vigil_event_header hdr; /* pid/tid: the child; ktime_ns: the child's identity */
	__u64 parent_ktime_ns;
	__u32 ppid;
	__u32 nspid;
	__u64 process_start_ns;
};

/* sched_process_exit of the last thread of a thread group. */
struct vigil_exit_event {
	struct vigil_event_header hdr; /* ktime_ns: exit time */
	__u64 process_ktime_ns;        /* identity of the exiting process, 0 if never seen */
	__u32 exit_code;               /* task->exit_code: (status << 8) | signal | 0x80 core */
	__u32 pad0;
};

/* Indexes into the per-CPU vg_counters array. Wire format: append only. */
enum vigil_counter {
	VIGIL_CTR_RB_DROPS_EXEC  = 0, /* exec record could not be written to the ring buffer */
	VIGIL_CTR_RB_DROPS_CLONE = 1,
	VIGIL_CTR_RB_DROPS_EXIT  = 2,
	VIGIL_CTR_EXEC_SEEN      = 3,
	VIGIL_CTR_CLONE_SEEN     = 4,
	VIGIL_CTR_EXIT_SEEN      = 5,
	VIGIL_CTR_SCRATCH_MISS   = 6, /* per-CPU scratch lookup failed (should never happen) */
	VIGIL_CTR_MAX            = 8,
};

#define VIGIL_BINARY_MAX 256 /* binary paths kept for matchBinaries (Tetragon's limit) */

/* Value of vg_procs, keyed by tgid: what the kernel side knows of a process between events. */
struct vigil_proc_state {
	__u64 ktime_ns;     /* identity the kernel side gave it at its last fork or exec */
	__u32 binary_len;   /* length of the binary path; > VIGIL_BINARY_MAX - 1: not kept */
	__u32 pad0;
	char binary[VIGIL_BINARY_MAX]; /* NUL-padded, for matchBinaries in policy hooks */
};

/* Where one path walk builds its result (prepending, so the path ends the buffer). The
 * VIGIL_NAME_MAX bytes of slack let every masked write stay inside. */
struct vg_path_buf {
	char data[VIGIL_PATH_AREA + VIGIL_NAME_MAX];
};

#define VIGIL_EXEC_TAIL_MAX (2 * VIGIL_PATH_AREA + VIGIL_ARGS_CAP)

_Static_assert(sizeof(struct vigil_event_header) == 32, "wire format: header");
_Static_assert(sizeof(struct vigil_namespaces) == 32, "wire format: namespaces");
_Static_assert(sizeof(struct vigil_creds) == 56, "wire format: creds");
_Static_assert(__builtin_offsetof(struct vigil_exec_event, creds) == 48, "wire format: exec creds");
_Static_assert(__builtin_offsetof(struct vigil_exec_event, ppid) == 136, "wire format: exec ppid");
_Static_assert(__builtin_offsetof(struct vigil_exec_event, comm) == 184, "wire format: exec comm");
_Static_assert(sizeof(struct vigil_exec_event) == 200, "wire format: exec");
_Static_assert(sizeof(struct vigil_clone_event) == 56, "wire format: clone");
_Static_assert(sizeof(struct vigil_exit_event) == 48, "wire format: exit");
_Static_assert(sizeof(struct vigil_proc_state) == 272, "map layout: vg_procs value");

#endif /* VIGIL_ABI_H */
