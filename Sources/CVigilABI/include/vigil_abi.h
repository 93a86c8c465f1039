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

#define VIGIL_ABI_VERSION 3

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
	VIGIL_EVENT_GENERIC = 4, /* struct vigil_generic_event + arg tail */
	VIGIL_EVENT_FLOW  = 5, /* struct vigil_flow_event (--enable-flows) */
	VIGIL_EVENT_DNS   = 6, /* struct vigil_dns_event (--enable-dns-names) */
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

/* The policy maps user space writes, named across the loader (vigil_bpf_policy_map_fd) and Swift
 * (PolicyMapID): the numbers live here only. */
enum vigil_policy_map {
	VIGIL_MAP_HOOKS = 0,
	VIGIL_MAP_POLICY_MODE = 1,
	VIGIL_MAP_STR_EQ = 2,
	VIGIL_MAP_STR_PREFIX = 3,
	VIGIL_MAP_STR_POSTFIX = 4,
	VIGIL_MAP_INT_SET = 5,
	VIGIL_MAP_ADDR = 6,
	VIGIL_MAP_CONNECT_HOOKS = 7,
	VIGIL_MAP_SYSCALL_HOOKS = 8,
	VIGIL_MAP_POLICY_SCOPE = 9,
	VIGIL_MAP_SCOPE_CGROUPS = 10,
	VIGIL_MAP_LSM_HOOKS = 11,
	VIGIL_MAP_FILE_IDS = 12,
	VIGIL_MAP_FQDN_SETS = 13, /* vg_fqdn_sets: DNSName set ids the DNS answer program learns for */
	VIGIL_MAP_AGENT_STATE = 14, /* struct vigil_agent_state, at the end of this file */
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
	VIGIL_CTR_RB_DROPS_GENERIC = 7,
	VIGIL_CTR_POLICY_FILTERED  = 8, /* policy hook ran, no selector matched: nothing sent */
	VIGIL_CTR_POLICY_MATCHED   = 9,
	VIGIL_CTR_POLICY_RATE_LIMITED = 10,
	VIGIL_CTR_POLICY_NOPOST    = 11,
	VIGIL_CTR_POLICY_SIGNALS   = 12, /* signals sent by policy actions */
	VIGIL_CTR_POLICY_OUT_OF_SCOPE = 15, /* pod-scoped policy hook ran outside its pods: nothing done */
	VIGIL_CTR_POLICY_FENCED    = 13, /* a kill or deny not done: the task was outside --enforcement-cgroup */
	VIGIL_CTR_FLOWS_CLOSED     = 16, /* TCP flows closed with an owner: a flow record was made */
	VIGIL_CTR_RB_DROPS_FLOW    = 17, /* ... and could not be written to the ring buffer */
	VIGIL_CTR_FLOWS_MAP_FULL   = 18, /* a flow not tracked: vg_flows was full */
	VIGIL_CTR_FLOWS_UNOWNED    = 19, /* an accepted-side flow closed before any accept(2) took it */
	VIGIL_CTR_DNS_ANSWERS      = 20, /* UDP datagrams from port 53 a socket received (--enable-dns-names) */
	VIGIL_CTR_RB_DROPS_DNS     = 21, /* ... and could not be written to the ring buffer */
	VIGIL_CTR_FQDN_LEARNT      = 22, /* addresses written to vg_fqdn_allow from DNS answers (DNSName) */
	VIGIL_CTR_MAX              = 23,
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


/* ---------------------------------------------------------------------------------------------
 * Policy hooks: compiled TracingPolicy hooks live in vg_hooks, one slot per attachment; the
 * generic tracepoint program finds its slot through the attach cookie. A slot's content is
 * written completely before the attachment exists and never changed while attached, so a hook
 * never sees a half-written selector set. Replacing a policy attaches new slots, then detaches
 * the old ones.
 * ------------------------------------------------------------------------------------------- */

#define VIGIL_MAX_HOOKS       1024 /* attached policy hooks on the node */
#define VIGIL_GENERIC_COPIES  8    /* hooks per syscall, per BPF-LSM hook, connect hooks */
#define VIGIL_TRACEPOINT_COPIES 16 /* copies of the generic tracepoint program: hooks per
				    * tracepoint (sched_process_exec carries every exec policy where
				    * BPF-LSM is missing, and every one reading Vigil's exec types) */
#define VIGIL_MAX_POLICIES    1024
#define VIGIL_HOOK_ARGS       5    /* args per hook (Tetragon's EventConfigMaxArgs) */
#define VIGIL_SELECTORS       5    /* selectors per hook */
#define VIGIL_MATCH_ARGS      5    /* matchArgs entries per selector */
#define VIGIL_MATCH_VALUES    4    /* values of one integer matchArgs / matchPIDs / ns entry */
#define VIGIL_MATCH_NS        10   /* matchNamespaces entries per selector */
#define VIGIL_ACTIONS         3    /* actions per selector */
#define VIGIL_STRING_MAX      256  /* string arg bytes kept for export */
#define VIGIL_MATCH_STRING_MAX 252 /* string bytes a key holds: LPM trie keys are capped at 260
				    * bytes (4 prefixlen + 256 data), and the set id takes 4 */
#define VIGIL_BUF_MAX         4096 /* char_buf bytes captured */
#define VIGIL_TP_RAW_MAX      1024 /* bytes of a tracepoint record copied for reading */
#define VIGIL_GENERIC_TAIL    32768 /* arg bytes of one generic record (power of two) */

/* How one argument is read from the tracepoint record (enum values are wire format). */
enum vigil_arg_kind {
	VIGIL_ARG_NONE      = 0,
	VIGIL_ARG_INT       = 1, /* integer of `size` bytes, sign-extended when is_signed */
	VIGIL_ARG_STRING    = 2, /* user char * at `offset`, read up to VIGIL_STRING_MAX - 1 bytes */
	VIGIL_ARG_CHAR_BUF  = 3, /* user buffer at `offset`, length from the int field meta_offset */
	VIGIL_ARG_SOCKADDR  = 4, /* user struct sockaddr * at `offset` */
	VIGIL_ARG_CONST_BUF = 5, /* `size` bytes inside the record at `offset` */
	VIGIL_ARG_DATA_LOC  = 6, /* __data_loc string: u32 (len << 16 | offset) at `offset` */
	VIGIL_ARG_SOCK      = 7, /* connect hooks: the socket (family, type, protocol, destination) */
	VIGIL_ARG_ADDRLEN   = 8, /* connect hooks: the sockaddr length (16 or 28) */
	VIGIL_ARG_FILE_FD   = 9, /* a new fd (the int at `offset`, e.g. sys_exit_openat's ret)
				  * resolved to its file: absolute path in the tail, value =
				  * f_flags << 32 | i_mode */
	VIGIL_ARG_EXE       = 10, /* the current task's executable (mm->exe_file), same encoding as
				   * FILE_FD; at sched_process_exec it is the new image */
	/* Kernel-function args of generic kprobes: `offset` is 8 * the prototype index into the
	 * copied registers (PARM1..PARM5); the pointer there is kernel memory. */
	VIGIL_ARG_KSTRING   = 11, /* char *: kernel string (user memory when that read fails) */
	VIGIL_ARG_KFILE     = 12, /* meta_size: 0 struct file *, 1 struct path *, 2 struct
				   * linux_binprm *, 3 struct dentry *; same encoding as FILE_FD */
	VIGIL_ARG_KSOCK     = 13, /* meta_size: 0 struct sock *, 1 struct socket *; tail: struct
				   * vigil_sock_info */
	VIGIL_ARG_KSOCKADDR = 14, /* struct sockaddr * in kernel memory; tail: struct vigil_sockaddr */
	VIGIL_ARG_CRED      = 15, /* struct cred *; tail: struct vigil_creds, value: uid */
	VIGIL_ARG_ARGV      = 16, /* Vigil's vigil_argv: the current task's arguments after argv[0]
				   * (mm->arg_start..arg_end; at sched_process_exec the new image's),
				   * each NUL-terminated, the first VIGIL_ARGV_MAX bytes; value: the
				   * arguments' whole size, TRUNCATED when it is larger than len */
	VIGIL_ARG_TASK      = 17, /* Vigil's exec-time facts of the current task (vigil_tty, ...):
				   * meta_size is the enum vigil_task_fact; value only, no tail */
};

/* VIGIL_ARG_TASK: which fact of the current task (at sched_process_exec: the task the new
 * program runs in, with the credentials exec gave it). */
enum vigil_task_fact {
	VIGIL_TASK_TTY = 0, /* vigil_tty: the controlling tty (signal->tty) as a device number in
			     * the encoding stat(2) gives (Falco's proc.tty); 0 without one */
	VIGIL_TASK_UID = 1, /* vigil_uid: the real uid (cred->uid), as the host's user namespace
			     * sees it, like process_exec's uid */
	VIGIL_TASK_EUID = 2, /* vigil_euid: the effective uid (cred->euid): a setuid program's owner */
	VIGIL_TASK_AUID = 3, /* vigil_auid: the login uid (loginuid), 4294967295 when unset or
			      * the kernel has no audit, like process_exec's auid */
	VIGIL_TASK_EXE_UPPER = 4, /* vigil_exe_upper_layer: 1 when the executed file (mm->exe_file)
				   * is on overlayfs and has an upper-layer copy (created or changed
				   * since the mount: a container's writable layer), else 0 */
};

/* Bytes of a new program's arguments (after argv[0]) read and matched by vigil_argv; each
 * argument is compared on at most VIGIL_MATCH_STRING_MAX - 1 bytes (the key). */
#define VIGIL_ARGV_MAX        1024

struct vigil_arg_spec {
	__u8  kind;       /* enum vigil_arg_kind */
	__u8  size;       /* VIGIL_ARG_INT: 1, 2, 4, 8; CONST_BUF: bytes (<= 64) */
	__u8  is_signed;
	__u8  meta_size;  /* CHAR_BUF: size of the length field. FILE_FD: 1 + the index of the
	                   * dirfd syscall arg, 0 for AT_FDCWD (open, creat) */
	__u16 offset;     /* field offset in the tracepoint record */
	__u16 meta_offset; /* CHAR_BUF: offset of the length field. FILE_FD at a syscall exit: 1 +
	                    * the index of the file name syscall arg (0: none), read when the open
	                    * failed and there is no file */
};

/* matchArgs operators (enum values are wire format). */
enum vigil_op {
	VIGIL_OP_NONE       = 0,
	VIGIL_OP_EQUAL      = 1,
	VIGIL_OP_NOT_EQUAL  = 2,
	VIGIL_OP_PREFIX     = 3,
	VIGIL_OP_NOT_PREFIX = 4,
	VIGIL_OP_POSTFIX    = 5,
	VIGIL_OP_NOT_POSTFIX = 6,
	VIGIL_OP_MASK       = 7,
	VIGIL_OP_GT         = 8,
	VIGIL_OP_LT         = 9,
	VIGIL_OP_IN_MAP     = 10,
	VIGIL_OP_NOT_IN_MAP = 11,
	VIGIL_OP_FAMILY     = 12,
	VIGIL_OP_DADDR      = 13,
	VIGIL_OP_NOT_DADDR  = 14,
	VIGIL_OP_DPORT      = 15, /* values: (lo << 16) | hi port ranges */
	VIGIL_OP_NOT_DPORT  = 16,
	VIGIL_OP_IN         = 17, /* matchPIDs / matchNamespaces / matchBinaries */
	VIGIL_OP_NOT_IN     = 18,
	VIGIL_OP_PROTOCOL   = 19, /* sock args: IPPROTO_* */
	VIGIL_OP_SUBSTRING  = 20, /* vigil_argv: a value occurs in an argument; the values are in
				   * the prefix trie, values[0] is the longest one's length */
	VIGIL_OP_DNS_NAME     = 30, /* sockaddr: the address is in vg_fqdn_allow for set_id and the
				     * task's cgroup, unexpired (DNSName, lib/fqdn.h) */
	VIGIL_OP_NOT_DNS_NAME = 31,
};

/*
 * One matchArgs entry. Integer operators compare against values[0 .. nvalues). String, set and
 * address operators look up `set_id` in the vg_str_*, vg_int_set and vg_addr maps, whose keys
 * start with the set id; a compile allocates fresh set ids, so old and new policy versions
 * never share entries.
 */
/* vigil_arg_filter.arg naming the hooked call's return value instead of an argument
 * (matchReturnArgs): read where the hook has one (a syscall's exit, fexit). */
#define VIGIL_ARG_SLOT_RESULT 0xff

/* vigil_arg_filter.flags */
#define VIGIL_ARG_FILTER_F_INODE 1 /* Equal on a file arg also matches the files the values named
				    * at load, under any name: vg_file_ids (vigil-file-identity: inode) */

struct vigil_arg_filter {
	__u8  arg;        /* slot in the hook's args, or VIGIL_ARG_SLOT_RESULT */
	__u8  op;         /* enum vigil_op */
	__u8  nvalues;
	__u8  flags;      /* VIGIL_ARG_FILTER_F_* */
	__u32 set_id;
	__u64 values[VIGIL_MATCH_VALUES];
};

/* vg_file_ids: a file an Equal set's path named when the policy loaded, as the kernel names it
 * (super_block s_dev, MKDEV encoding: major << 20 | minor; inode number). */
struct vigil_file_id_key {
	__u32 set_id;
	__u32 dev;
	__u64 ino;
};

struct vigil_pid_filter {
	__u8  op;          /* VIGIL_OP_NONE, IN or NOT_IN */
	__u8  nvalues;
	__u8  follow_forks;
	__u8  ns_pid;      /* compare the pid in the task's own pid namespace */
	__u32 values[VIGIL_MATCH_VALUES];
};

/* Namespace kinds, the index used by matchNamespaces. */
enum vigil_ns_kind {
	VIGIL_NS_UTS = 0, VIGIL_NS_IPC = 1, VIGIL_NS_MNT = 2, VIGIL_NS_PID = 3,
	VIGIL_NS_PID_FOR_CHILDREN = 4, VIGIL_NS_NET = 5, VIGIL_NS_CGROUP = 6, VIGIL_NS_USER = 7,
	VIGIL_NS_KINDS = 8,
};

struct vigil_ns_filter {
	__u8  ns;          /* enum vigil_ns_kind */
	__u8  op;          /* IN or NOT_IN */
	__u8  nvalues;
	__u8  pad0;
	__u32 values[VIGIL_MATCH_VALUES]; /* inode numbers; host_ns is resolved by the compiler */
};

/* matchCapabilities: which of the task's capability sets (Tetragon's types). */
enum vigil_cap_set { VIGIL_CAPS_EFFECTIVE = 0, VIGIL_CAPS_PERMITTED = 1, VIGIL_CAPS_INHERITABLE = 2 };

/* matchCapabilities, one entry per selector (Tetragon's kernel side reads one too): IN matches a
 * task holding any of the capabilities in the set, NOT_IN one holding none of them. */
struct vigil_cap_filter {
	__u8  op;           /* VIGIL_OP_NONE (no filter), IN or NOT_IN */
	__u8  set;          /* enum vigil_cap_set */
	__u16 pad0;
	__u32 host_user_ns; /* isNamespaceCapability: the host's user namespace inode, whose tasks
	                     * never match; 0: any user namespace */
	__u64 mask;         /* 1 << CAP_* of the values */
};

/* vigil_bin_filter.flags */
#define VIGIL_BIN_F_FOLLOW_CHILDREN 1 /* followChildren: the process or one of its ancestors (IN) */
#define VIGIL_LINEAGE_DEPTH 16        /* generations followChildren (and matchPIDs followForks) look up */

struct vigil_bin_filter {
	__u8  op;          /* IN, NOT_IN, PREFIX, NOT_PREFIX, POSTFIX, NOT_POSTFIX, or NONE */
	__u8  flags;       /* VIGIL_BIN_F_* */
	__u8  pad0[2];
	__u32 set_id;
};

enum vigil_action_kind {
	VIGIL_ACTION_POST    = 1,
	VIGIL_ACTION_NOPOST  = 2,
	VIGIL_ACTION_SIGKILL = 3,
	VIGIL_ACTION_SIGNAL  = 4,
	VIGIL_ACTION_OVERRIDE = 5, /* deny: only hooks that can fail the operation (connect) */
};

enum vigil_rate_scope {
	VIGIL_RATE_THREAD = 0, VIGIL_RATE_PROCESS = 1, VIGIL_RATE_GLOBAL = 2,
};

struct vigil_action {
	__u8  kind;        /* enum vigil_action_kind */
	__u8  rate_scope;  /* enum vigil_rate_scope */
	__u16 signal;
	__s32 error;       /* Override: errno to return (positive); 0 or EPERM: plain deny */
	__u64 rate_ns;     /* Post rateLimit; 0 = none */
};

struct vigil_selector {
	__u8  nargs;
	__u8  nns;
	__u8  nactions;
	__u8  pad0;
	struct vigil_pid_filter pid;
	struct vigil_bin_filter bin;
	struct vigil_bin_filter parent_bin; /* matchParentBinaries: the parent process's binary */
	struct vigil_cap_filter caps;       /* matchCapabilities */
	struct vigil_arg_filter args[VIGIL_MATCH_ARGS];
	struct vigil_ns_filter ns[VIGIL_MATCH_NS];
	struct vigil_action actions[VIGIL_ACTIONS];
};

/* Value of vg_hooks: one attached hook. */
struct vigil_hook {
	__u32 policy_id;   /* index into vg_policy_mode */
	__u16 ctx_size;    /* bytes of the tracepoint record to copy (<= VIGIL_TP_RAW_MAX) */
	__u8  nargs;
	__u8  nselectors;  /* 0: every event posts */
	struct vigil_arg_spec args[VIGIL_HOOK_ARGS];
	struct vigil_selector selectors[VIGIL_SELECTORS];
	__u32 flags;       /* enum vigil_hook_flags */
	/* matchReturnArgs: the bytes of the return value that are the value (returnArg's type: 4
	 * for int, whose upper register half is not part of it; 0 reads all 8) and whether to
	 * sign-extend them. */
	__u8  result_size;
	__u8  result_signed;
	__u16 pad0;
};

enum vigil_hook_flags {
	/* A file_open hook on an open syscall's exit (the fd it returned is argument `ret`): io_uring
	 * opens run it too, at their completion, with the fd the request returned. Other hooks on the
	 * same tracepoint (a policy's own syscalls/sys_exit_openat) are syscall hooks only. */
	VIGIL_HOOK_F_OPEN_EXIT = 1 << 0,
	/* An open syscall that is given no name (open_by_handle_at): a failed open has nothing to
	 * report as its path. */
	VIGIL_HOOK_F_OPEN_NO_NAME = 1 << 1,
	/* A syscall kprobe with `return: true`, on the exit dispatcher: ret (the record's third
	 * 8 bytes) is the event's result, the syscall's arguments follow it. */
	VIGIL_HOOK_F_SYSCALL_RETURN = 1 << 2,
};

enum vigil_policy_mode { VIGIL_MODE_ENFORCE = 0, VIGIL_MODE_MONITOR = 1 };

/* Keys of the set maps. */
struct vigil_str_key {             /* vg_str_eq: exact strings (NUL-padded) */
	__u32 set_id;
	char  data[VIGIL_MATCH_STRING_MAX];
};
struct vigil_str_lpm_key {         /* vg_str_prefix, vg_str_postfix (reversed strings) */
	__u32 prefixlen;               /* bits: 32 (set_id) + 8 * string bytes */
	__u32 set_id;
	char  data[VIGIL_MATCH_STRING_MAX];
};
struct vigil_int_key {             /* vg_int_set: InMap / NotInMap */
	__u32 set_id;
	__u32 pad0;
	__u64 value;
};
struct vigil_addr_key {            /* vg_addr: DAddr / NotDAddr, IPv4 as ::ffff:a.b.c.d */
	__u32 prefixlen;               /* bits: 32 (set_id) + address bits */
	__u32 set_id;
	__u8  addr[16];
};

/* A decoded sockaddr (or, for connect hooks, socket) argument as it travels in a record. */
struct vigil_sockaddr {
	__u16 family;
	__u16 port;        /* host byte order */
	__u16 protocol;    /* connect hooks: IPPROTO_*; 0 for a user sockaddr */
	__u16 type;        /* connect hooks: SOCK_STREAM, SOCK_DGRAM, ...; 0 for a user sockaddr */
	__u8  addr[16];    /* IPv4 in the first 4 bytes */
};

/* A KSOCK argument: the destination first (so the sockaddr selectors read it as one), then
 * what a socket adds: source, state, mark. */
struct vigil_sock_info {
	struct vigil_sockaddr dst;  /* family, dport, protocol, type, daddr */
	__u16 sport;                /* host byte order */
	__u8  state;                /* TCP_ESTABLISHED = 1, ... (sk_state) */
	__u8  pad0;
	__u32 mark;
	__u8  saddr[16];
};

/* vg_connect_hooks value: the hook slots the cgroup connect/sendmsg programs evaluate. Each
 * slot is a complete hook; a torn read of the list only mixes whole hooks. vg_syscall_hooks
 * holds one per syscall number and direction (key nr * 2 + is_exit). */
#define VIGIL_SYSCALL_NR_MAX 1024
/* vg_syscall_hooks holds the exec dispatcher's lists too (hooks that run at sched_process_exec
 * and read no tracepoint record: bprm_check_security and its kprobe spelling): from key
 * VIGIL_EXEC_HOOKS_KEY, VIGIL_EXEC_HOOK_LISTS lists of VIGIL_GENERIC_COPIES slots each. */
#define VIGIL_EXEC_HOOK_LISTS 8
#define VIGIL_EXEC_HOOKS_KEY (VIGIL_SYSCALL_NR_MAX * 2)
struct vigil_hook_list {
	__u32 count;
	__u32 slots[VIGIL_GENERIC_COPIES];
};

/*
 * Pod scope of a policy (podSelector, containerSelector, TracingPolicyNamespaced): vg_policy_scope
 * holds one per policy id, vg_scope_cgroups the cgroups (pod or container level) in the scope.
 * A process is in scope when its cgroup or one of its ancestors is in the set; `levels` has bit
 * L set when the set holds a cgroup at depth L (the cgroup2 root is 0), so the hook asks only
 * for the ancestors at those depths. Index VIGIL_SCOPE_ANY_POD holds every pod's cgroups, for
 * hostSelector {} (host = in no known pod).
 */
#define VIGIL_SCOPE_ANY_POD VIGIL_MAX_POLICIES
#define VIGIL_SCOPE_LEVELS  16
enum vigil_scope_flags {
	VIGIL_SCOPE_F_SCOPED = 1 << 0, /* only processes in the set (an empty set: none) */
	VIGIL_SCOPE_F_HOST   = 1 << 1, /* hostSelector {}: also processes in no known pod */
};
struct vigil_scope {
	__u32 flags;       /* enum vigil_scope_flags */
	__u32 levels;      /* bit L: the set has a cgroup at depth L */
};
struct vigil_scope_key {
	__u32 policy_id;   /* or VIGIL_SCOPE_ANY_POD */
	__u32 pad0;
	__u64 cgroup_id;
};

/* Keys of vg_lsm_hooks: one hook list per BPF-LSM program (lsmhooks policies where the kernel
 * runs BPF-LSM; see bpf/progs/lsm.bpf.c). */
enum vigil_lsm_hook {
	VIGIL_LSM_FILE_OPEN = 0,
	VIGIL_LSM_BPRM_CHECK = 1,
	VIGIL_LSM_SOCKET_CONNECT = 2,
	VIGIL_LSM_HOOKS = 3,
};

/* FILE_FD and EXE args start their tail bytes with this, then the path. */
struct vigil_file_header {
	__u64 ino;
	__u32 dev;         /* the superblock's dev_t, kernel encoding: major << 20 | minor */
	__u32 reserved;
};
#define VIGIL_FILE_HEADER 16

/* Per-argument result in a generic record; buffers follow the fixed part in arg order. */
struct vigil_arg_value {
	__u16 kind;        /* enum vigil_arg_kind */
	__u16 flags;       /* VIGIL_ARG_F_* */
	__u32 len;         /* bytes of this arg in the tail */
	__u64 value;       /* INT: the value; CHAR_BUF: the size the caller passed */
};

enum vigil_arg_flags {
	VIGIL_ARG_F_ERROR     = 1 << 0, /* could not be read */
	VIGIL_ARG_F_TRUNCATED = 1 << 1,
	VIGIL_ARG_F_UNOPENED  = 1 << 2, /* FILE_FD of a failed open: the name passed, joined to its directory */
};

enum vigil_generic_flags {
	VIGIL_GENERIC_F_MONITOR = 1 << 0, /* policy in monitor mode: the action was not performed */
	VIGIL_GENERIC_F_DENIED  = 1 << 1, /* the operation was failed (Override) */
	VIGIL_GENERIC_F_CONNECT = 1 << 2, /* from a cgroup connect/sendmsg hook */
	VIGIL_GENERIC_F_RESULT  = 1 << 3, /* result holds the syscall's return value */
	VIGIL_GENERIC_F_FENCED  = 1 << 4, /* outside --enforcement-cgroup: the action was not performed */
	VIGIL_GENERIC_F_IO_URING = 1 << 5, /* an io_uring open, seen at its completion (io_uring_complete) */
};

/* A policy hook that matched (kind VIGIL_EVENT_GENERIC). */
struct vigil_generic_event {
	struct vigil_event_header hdr;     /* flags: enum vigil_generic_flags */
	__u64 process_ktime_ns;            /* identity of the current process, 0 if never seen */
	__u32 hook_slot;
	__u32 policy_id;
	__u8  selector;                    /* index of the matching selector, 0xff: no selectors */
	__u8  action;                      /* enum vigil_action_kind of the last action */
	__u16 signal;                      /* signal sent (or that monitor mode did not send) */
	__u32 nargs;
	__s64 result;                      /* with VIGIL_GENERIC_F_RESULT: what the syscall returned */
	struct vigil_arg_value args[VIGIL_HOOK_ARGS];
};

/* --enable-flows: one record per TCP flow, at its close (bpf/progs/flows.bpf.c). */
enum vigil_flow_direction {
	VIGIL_FLOW_OUT = 1, /* connect(2): the owner is the process that connected */
	VIGIL_FLOW_IN  = 2, /* accept(2): the owner is the process that accepted */
};

struct vigil_flow_event {
	struct vigil_event_header hdr;     /* ktime_ns: the close; cgroup_id, pid, tid: the owner's, at
					    * its connect or accept */
	__u64 process_ktime_ns;            /* identity of the owner, 0 if never seen */
	__u64 start_ns;                    /* connect (SYN_SENT) or handshake done (passive ESTABLISHED) */
	__u64 bytes_sent;                  /* payload bytes the peer acknowledged */
	__u64 bytes_received;              /* payload bytes received in order */
	__u64 cookie;                      /* the socket's cookie (bpf_get_socket_cookie) */
	struct vigil_sock_info sock;       /* dst = the peer, saddr/sport = this end; state: the state
					    * the socket left for TCP_CLOSE */
	__u8  direction;                   /* enum vigil_flow_direction */
	__u8  pad0[7];
};

_Static_assert(sizeof(struct vigil_flow_event) == 128, "wire format: flow");

/* --enable-dns-names: a UDP datagram from port 53 as the receiving socket gets it (bpf/progs/
 * dns.bpf.c): the DNS message, cut at VIGIL_DNS_PAYLOAD bytes, for user space to parse. 512 is
 * the largest answer a resolver sends over UDP without EDNS (RFC 1035 4.2.1); a longer one is
 * cut and says so (captured < payload_len), and the parser refuses what it cannot read whole. */
#define VIGIL_DNS_PAYLOAD 512

struct vigil_dns_event {
	struct vigil_event_header hdr;     /* cgroup_id: the receiving socket's cgroup; pid, tid: 0
					    * (the datagram arrives in softirq, not in its reader) */
	__u32 payload_len;                 /* UDP payload bytes in the datagram */
	__u32 captured;                    /* bytes of payload[] used: min(payload_len, VIGIL_DNS_PAYLOAD) */
	__u16 family;                      /* AF_INET or AF_INET6 */
	__u16 server_port;                 /* the source port: 53 */
	__u32 pad0;
	__u8  server[16];                  /* the source address (4 bytes used for AF_INET) */
	__u8  payload[VIGIL_DNS_PAYLOAD];
};

_Static_assert(sizeof(struct vigil_dns_event) == 576, "wire format: dns");
_Static_assert(sizeof(struct vigil_arg_spec) == 8, "map layout: arg spec");
_Static_assert(sizeof(struct vigil_arg_filter) == 40, "map layout: arg filter");
_Static_assert(sizeof(struct vigil_file_id_key) == 16, "map layout: file id key");
_Static_assert(sizeof(struct vigil_selector) == 504, "map layout: selector");
_Static_assert(sizeof(struct vigil_hook) == 2576, "map layout: hook");
_Static_assert(sizeof(struct vigil_generic_event) == 144, "wire format: generic");
_Static_assert(sizeof(struct vigil_file_header) == VIGIL_FILE_HEADER, "wire format: file header");
_Static_assert(sizeof(struct vigil_scope) == 8, "map layout: scope");
_Static_assert(sizeof(struct vigil_scope_key) == 16, "map layout: scope key");
_Static_assert(sizeof(struct vigil_sock_info) == 48, "wire format: sock info");

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

/*
 * DNSName / NotDNSName (Vigil's FQDN egress, bpf/lib/fqdn.h): the names a policy allows are
 * in vg_str_postfix under the filter's set id, reversed with a NUL for the start of the name
 * ("api.test" is stored "tset.ipa\0", a pattern "*.example.com" as "moc.elpmaxe."), so one
 * longest-prefix lookup of the reversed question name + NUL answers both. vg_fqdn_sets lists
 * those set ids for the DNS answer program, which writes each A/AAAA address of a matching
 * answer to vg_fqdn_allow under the set, the receiving socket's cgroup and the address.
 */
#define VIGIL_FQDN_NAME_MAX 128   /* question name bytes the kernel reads (longer: not learnt) */
#define VIGIL_FQDN_RECORDS  32    /* answer records looked at per answer (CNAMEs, A, AAAA) */
#define VIGIL_FQDN_SETS     16    /* name sets one answer can match */
#define VIGIL_FQDN_TTL_MIN  1     /* seconds: a TTL 0 answer still lets its asker connect */
#define VIGIL_FQDN_TTL_MAX  86400 /* seconds: an answer opens an address for at most a day */

struct vigil_fqdn_set_key {        /* vg_fqdn_sets: {set id} -> 1 */
	__u32 set_id;
};

struct vigil_fqdn_addr_key {       /* vg_fqdn_allow: -> __u64 expiry (bpf_ktime_get_ns) */
	__u32 set_id;
	__u32 pad0;
	__u64 cgroup_id;               /* the cgroup2 id of the socket that received the answer */
	__u8  addr[16];                /* IPv4 as ::ffff:a.b.c.d */
};

_Static_assert(sizeof(struct vigil_fqdn_addr_key) == 32, "map layout: fqdn addr key");

/*
 * Fail-closed pod scope while no agent runs (vigil-while-agent-down: fail-closed with
 * --keep-sensors-on-exit). vg_agent_state (one entry) says whether the agent is there and which
 * cgroups it has classified; a scope whose flags have VIGIL_SCOPE_F_FAIL_CLOSED also covers, while
 * the agent is away, every cgroup it has not classified.
 */
#define VIGIL_SCOPE_F_FAIL_CLOSED 4U /* 1 << 2, after enum vigil_scope_flags */
struct vigil_agent_state {
	__u64 alive_until_ns;        /* bpf_ktime_get_ns (CLOCK_MONOTONIC) until which the agent counts as up; 0: gone */
	__u64 classified_cgroup_max; /* highest cgroup id of the agent's last full scan: ids only grow */
};
_Static_assert(sizeof(struct vigil_agent_state) == 16, "map layout: agent state");

#endif /* VIGIL_ABI_H */
