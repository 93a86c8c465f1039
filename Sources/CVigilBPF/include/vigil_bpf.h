/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A narrow C API over the generated libbpf skeleton (generated/vigil.skel.h), so Swift never
 * sees the skeleton's static inline code, LIBBPF_OPTS statement macros or va_lists.
 *
 * Return convention (libbpf >= 1.0): 0 or a positive value on success, a negative errno on
 * failure. Pointers are NULL on failure with errno set.
 */
#ifndef VIGIL_BPF_H
#define VIGIL_BPF_H

#include <linux/types.h>

#include "vigil_abi.h"

struct vigil_bpf;

/* Which family of programs carries the process hooks. */
enum vigil_attach_mode {
	VIGIL_ATTACH_TP_BTF = 0, /* BTF-typed tracepoints: preferred */
	VIGIL_ATTACH_RAW_TP = 1, /* raw tracepoints: fallback when tp_btf cannot load or attach */
};

struct vigil_bpf_options {
	__u32 args_max;      /* argument bytes per exec, 1 .. VIGIL_ARGS_CAP-1 */
	__u32 rb_size;       /* ring buffer bytes: a power of two, multiple of the page size */
	__u64 wakeup_bytes;  /* pending bytes that force a reader wake-up; 0 = every record */
	__u32 procs_max;     /* entries of vg_procs */
	__u32 attach_mode;   /* enum vigil_attach_mode */
	__u32 lsm;           /* load the BPF-LSM programs (only where BPF-LSM runs: see KernelProbe) */
	__s32 procs_fd;      /* a previous run's pinned vg_procs to take over; -1: a new map */
	__u64 fence_cgroup;  /* cgroup2 id kills and denies are fenced to (--enforcement-cgroup); 0: none */
	__u32 process_only;  /* kernels without bpf_loop() (before 5.17): the exec program with the bounded
			      * path walk, fork and exit, and nothing else (policy programs need bpf_loop) */
	__u32 flows;         /* load the TCP flow programs (--enable-flows; tp_btf mode only) */
	__u32 flows_max;     /* entries of vg_flows: open flows tracked at once */
	__u32 dns;           /* load the DNS answer program (--enable-dns-names) */
};

/* libbpf's diagnostics (verifier logs included) go here instead of stderr. */
typedef void (*vigil_bpf_log_fn)(int level, const char *message);
void vigil_bpf_set_log_sink(vigil_bpf_log_fn sink);

/* Opens the embedded object, applies options, loads it into the kernel. */
int vigil_bpf_open_load(const struct vigil_bpf_options *options, struct vigil_bpf **out);
/* 1 when vg_procs is the map options->procs_fd named (a previous run's, taken over), 0 when the
 * object has a map of its own (none given, or the given one is not of this build's shape). */
int vigil_bpf_procs_taken_over(const struct vigil_bpf *bpf);
/* Adds tgid's binary to vg_procs unless the kernel side already has an entry for it (BPF_NOEXIST):
 * processes that started before any sensor ran. Identity ktime 0 ("never seen starting").
 * Returns 0, -EEXIST when an entry is there, or another -errno. */
int vigil_bpf_seed_process(struct vigil_bpf *bpf, __u32 tgid, const char *binary, __u32 len);
/* Pins the exec/fork/exit links (process_exec, process_fork, process_exit) and vg_procs under
 * dir, so that the process identities pinned enforcement reads stay maintained while no agent
 * runs (--keep-sensors-on-exit). */
int vigil_bpf_pin_process(struct vigil_bpf *bpf, const char *dir);
/* Attaches the programs of the chosen family. */
int vigil_bpf_attach(struct vigil_bpf *bpf);
/* Attaches the TCP flow programs (bpf/progs/flows.bpf.c): the state-change tracepoint and the
 * accept exits. -EOPNOTSUPP when they were not loaded (options.flows 0, or raw_tp mode). */
int vigil_bpf_attach_flows(struct vigil_bpf *bpf);
/* Attaches the DNS answer program (bpf/progs/dns.bpf.c, cgroup_skb/ingress; it always passes the
 * packet) to the cgroup2 directory at path (the root), through a link that goes when the agent
 * does. -EOPNOTSUPP when it was not loaded (options.dns 0, or the process sensor only). */
int vigil_bpf_attach_dns(struct vigil_bpf *bpf, const char *path);
/* Detaches everything and frees the object; NULL is fine. */
void vigil_bpf_destroy(struct vigil_bpf *bpf);

int vigil_bpf_events_fd(const struct vigil_bpf *bpf);
/* ABI version the loaded object was built with (vg_abi_version in .rodata). */
__u32 vigil_bpf_object_abi_version(const struct vigil_bpf *bpf);
/* Sum over CPUs of vg_counters[index]. */
int vigil_bpf_read_counter(const struct vigil_bpf *bpf, __u32 index, __u64 *sum);
/* Number of possible CPUs, as libbpf counts them. */
int vigil_bpf_possible_cpus(void);

/* enum vigil_policy_map (the policy maps user space writes) is in vigil_abi.h. */
int vigil_bpf_policy_map_fd(const struct vigil_bpf *bpf, enum vigil_policy_map map);

/* Attaches the generic policy program to tracepoint category:name with `cookie` (the hook's
 * vg_hooks slot). Returns the link, or NULL with errno set. */
struct bpf_link *vigil_bpf_attach_policy_tracepoint(struct vigil_bpf *bpf, const char *category,
						    const char *name, __u64 cookie);
void vigil_bpf_detach(struct bpf_link *link);
/* Pins a policy hook's link at path (bpffs), so it outlives the agent (--keep-sensors-on-exit);
 * 0 or -errno. unpin: removes the pin if any, so that destroying the link detaches it. */
int vigil_bpf_pin_link(struct bpf_link *link, const char *path);
void vigil_bpf_unpin_link(struct bpf_link *link);

/* Attaches the cgroup connect4/6 and sendmsg4/6 programs to the cgroup2 directory `path`
 * (the root, so they see every process). Idempotent; 0 or a negative errno. */
int vigil_bpf_attach_connect(struct vigil_bpf *bpf, const char *path);
/* Detaches them again (no connect hook left). */
void vigil_bpf_detach_connect(struct vigil_bpf *bpf);
/* Pins the connect links at dir/connect4, connect6, sendmsg4, sendmsg6 (and connect_result when
 * attached) on bpffs, so that they, their programs and the maps those read outlive the process.
 * Links pinned already are skipped; -ENOENT when the connect programs are not attached. */
int vigil_bpf_pin_connect(struct vigil_bpf *bpf, const char *dir);

/* Whether connect events carry the syscall's result and connect hooks can Sigkill (the
 * tp_btf sys_exit program that completes them loaded). */
int vigil_bpf_connect_results_available(const struct vigil_bpf *bpf);

/* The raw sys_enter (is_exit 0) or sys_exit (1) dispatcher of syscall hooks, which runs the
 * hooks vg_syscall_hooks lists (idempotent). -EOPNOTSUPP where it did not load (raw_tp mode). */
int vigil_bpf_syscall_dispatch_available(const struct vigil_bpf *bpf);
/* After the exit dispatcher attached: 1 when io_uring opens reach file_open hooks too (the
 * io_uring_complete program attached), -errno when that attach failed, 0 when not attached. */
int vigil_bpf_uring_opens(const struct vigil_bpf *bpf);
int vigil_bpf_attach_syscalls(struct vigil_bpf *bpf, int is_exit);
void vigil_bpf_detach_syscalls(struct vigil_bpf *bpf, int is_exit);
/* The exec dispatcher at sched_process_exec (tp_btf, where the syscall dispatchers load), which
 * runs the hooks listed from VIGIL_EXEC_HOOKS_KEY; attached after the process sensor, so it runs
 * after the exec tracking (idempotent; -EOPNOTSUPP in raw_tp mode). */
int vigil_bpf_attach_exec_dispatch(struct vigil_bpf *bpf);
void vigil_bpf_detach_exec_dispatch(struct vigil_bpf *bpf);
/* Pins it as dir/sched_process_exec (--keep-sensors-on-exit): 1 pinned now, 0 already, or
 * -errno. The detach above removes the pin. */
int vigil_bpf_pin_exec_dispatch(struct vigil_bpf *bpf, const char *dir);
/* Pins the attached dispatcher (and with exits the io_uring completion program) under dir:
 * 1 pinned now, 0 already, or -errno. unpin: before a detach that must really detach. */
int vigil_bpf_pin_syscalls(struct vigil_bpf *bpf, int is_exit, const char *dir);
void vigil_bpf_unpin_syscalls(struct vigil_bpf *bpf, int is_exit);

/* The BPF-LSM program for `which` (enum vigil_lsm_hook): whether they loaded, attach on first
 * use (idempotent; -EOPNOTSUPP where they were not loaded), detach once no hook needs it. */
int vigil_bpf_lsm_available(const struct vigil_bpf *bpf);
int vigil_bpf_attach_lsm(struct vigil_bpf *bpf, int which);
void vigil_bpf_detach_lsm(struct vigil_bpf *bpf, int which);
/* Pins that program's link at dir/lsm_<hook> (--keep-sensors-on-exit); a pinned link stays
 * attached after detach and exit, until the pin is removed. 1: pinned now, 0: pinned already,
 * -ENOENT when not attached. */
int vigil_bpf_pin_lsm(struct vigil_bpf *bpf, int which, const char *dir);
/* Generic kprobes: whether their programs loaded (the kernel has usable kprobes), and one
 * attachment of a hook slot (`cookie`) to a kernel function. A `return: true` hook attaches
 * twice: RETURN_ENTRY (selectors, actions; the record waits) and RETURN (adds the return value
 * and posts). NULL with errno set on failure. */
enum vigil_kprobe_kind {
	VIGIL_KPROBE_ENTRY = 0,
	VIGIL_KPROBE_RETURN_ENTRY = 1,
	VIGIL_KPROBE_RETURN = 2,
};
int vigil_bpf_kprobes_available(const struct vigil_bpf *bpf);
struct bpf_link *vigil_bpf_attach_policy_kprobe(struct vigil_bpf *bpf, const char *symbol, __u64 cookie,
						enum vigil_kprobe_kind kind);
/* Generic uprobes: whether their programs loaded (the kernel has the uprobe PMU and lets them
 * load), and one attachment of a hook slot (`cookie`) to a function of the file `binary`, in
 * every process that maps it: at `symbol` (resolved by libbpf, plus `offset`) or, with symbol
 * NULL, at the file offset `offset`. Kinds as for kprobes (RETURN: a uretprobe). NULL with errno
 * set on failure. */
int vigil_bpf_uprobes_available(const struct vigil_bpf *bpf);
struct bpf_link *vigil_bpf_attach_policy_uprobe(struct vigil_bpf *bpf, const char *binary, const char *symbol,
						__u64 offset, __u64 cookie, enum vigil_kprobe_kind kind);
/* BPF trampolines on a kernel function for hook slot `cookie`: fentry (entry), fexit (`return:
 * true`: arguments and return value in one program) or fmod_ret (Override on functions the
 * kernel lets fail: security_* and its error-injection list). Each loads a program of its own,
 * bound to `symbol`, sharing the running object's maps. NULL with errno set on failure; the
 * libbpf/verifier log goes to the log sink. */
enum vigil_trampoline_kind {
	VIGIL_TRAMPOLINE_FENTRY = 0,
	VIGIL_TRAMPOLINE_FEXIT = 1,
	VIGIL_TRAMPOLINE_FMOD_RET = 2,
};
/* Whether the trampoline programs load and attach here: tried once (an fentry on
 * security_file_open with no hook behind it, detached at once), then remembered. 0, or -errno. */
int vigil_bpf_trampolines_probe(struct vigil_bpf *bpf);
struct bpf_link *vigil_bpf_attach_policy_trampoline(struct vigil_bpf *bpf, const char *symbol, __u64 cookie,
						    enum vigil_trampoline_kind kind);
/* A raw tracepoint (`raw: true`) for hook slot `slot`: a program instance of its own with the
 * slot in its .rodata (raw tracepoint cookies are 6.10+), sharing the running object's other
 * maps, attached to the tracepoint `event` by name. NULL with errno set on failure. */
struct bpf_link *vigil_bpf_attach_policy_raw_tp(struct vigil_bpf *bpf, const char *event, __u32 slot);

#endif
