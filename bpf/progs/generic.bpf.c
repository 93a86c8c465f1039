// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The generic policy hook: one program, attached once per compiled TracingPolicy hook with the
 * hook's slot as its bpf cookie. The kernel lets a program attach to a given tracepoint only
 * once, so the object carries VIGIL_GENERIC_COPIES identical copies; the loader attaches the
 * first copy not yet on that tracepoint. That bounds hooks per tracepoint (old and new versions
 * of a policy count twice while it is replaced). It reads the hook's arguments from the tracepoint record,
 * evaluates the selectors in the kernel, performs the actions (signals) in place and posts an
 * event only when a selector matched. Events that match nothing never reach user space.
 *
 * The work is split into global functions on purpose: the verifier checks each once, on its
 * own, instead of once per path through its caller.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "vigil_abi.h"
#include "maps.h"
#include "output.h"
#include "process.h"
#include "policy_maps.h"
#include "path.h"

#define AF_INET  2
#define AF_INET6 10

/* Set by the loader where the tp_btf sys_exit program that completes connect events loads:
 * connect events then wait for their result (and a Sigkill is sent there); elsewhere they post
 * at once, without result, and Sigkill on connect hooks is refused at load. */
const volatile __u32 vg_connect_results = 0;

/*
 * The enforcement fence (--enforcement-cgroup): the cgroup2 id of the one subtree whose tasks
 * kills and denies may reach; 0 for none (the whole node). Read-only data set before load and
 * frozen: pinned links keep their programs and with them this value, so the fence holds while
 * the agent is down, and nothing in user space can widen it after start.
 */
const volatile __u64 vg_fence_cgroup = 0;

/* Kernel side only, in a parked connect record: send its signal, post nothing. */
#define VG_F_NOPOST (1 << 15)
/* Kernel side only, passed to vg_decide(): park the record for the kretprobe of the hook. */
#define VG_F_PARK_RET (1 << 14)

/* An entry of a `return: true` kprobe hook waiting for the function's return, per thread and
 * hook. Large args (paths) make the record too big to park: it is then posted at entry,
 * without the return value. Sized by the loader (1 entry where kprobes are unusable). */
#define VG_KRET_TAIL 4352
struct vg_kret_record {
	struct vigil_generic_event ev;
	char tail[VG_KRET_TAIL];
};
struct vg_kret_key {
	__u64 id; /* pid_tgid */
	__u32 slot;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct vg_kret_key);
	__type(value, struct vg_kret_record);
} vg_kret_pending SEC(".maps");

/* vg_decide's can_deny: how the calling hook fails an operation (Override). */
#define VG_DENY_CGROUP 1 /* cgroup connect/sendmsg: return 0 (EPERM), bpf_set_retval for another errno */
#define VG_DENY_LSM    2 /* BPF-LSM: return the errno; signals sent in place (lsm_hooks.h) */
#define VG_DENY_RETURN 3 /* fmod_ret: the program returns the errno, the function does not run */

/* An integer field of `size` bytes at raw[off], sign-extended when is_signed. */
static __always_inline __u64 vg_raw_int(struct vigil_generic_scratch *s, __u32 off, __u32 size, __u32 is_signed)
{
	char *p = s->raw + (off & (VIGIL_TP_RAW_MAX - 1));
	__u64 v = 0;

	/* Plain loads: p is inside the scratch map value (raw has 64 bytes of slack), and x86
	 * takes unaligned loads; a helper call per argument cost more than the rest of the read. */
	switch (size) {
	case 1:
		v = is_signed ? (__u64)(__s64) * (__s8 *)p : *(__u8 *)p;
		break;
	case 2:
		v = is_signed ? (__u64)(__s64) * (__s16 *)p : *(__u16 *)p;
		break;
	case 4:
		v = is_signed ? (__u64)(__s64) * (__s32 *)p : *(__u32 *)p;
		break;
	default:
		v = *(__u64 *)p;
		break;
	}
	return v;
}

#define VG_AT_FDCWD -100

/*
 * A failed open has no file: its path is the name the caller passed, joined to the directory
 * it is relative to (dirfd, or the cwd) when it does not start with '/'. Not normalized ("..",
 * symlinks): nothing was opened to resolve it. Writes at s->tail + off (which has
 * VIGIL_BUF_MAX bytes of room); returns the length, 0 when the name is unreadable.
 */
__noinline int vg_read_failed_open(struct vigil_generic_scratch *s, __u32 off, __u64 name, __s64 dirfd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 n = 0;
	char first = 0;
	long m;

	if (!s)
		return 0;
	off &= VIGIL_GENERIC_TAIL - 1;
	if (bpf_probe_read_user(&first, 1, (void *)name) < 0)
		return 0;
	if (first != '/') {
		struct path root = BPF_CORE_READ(task, fs, root);
		struct dentry *dentry = NULL;
		struct vfsmount *mnt = NULL;
		int walked;

		if (dirfd == VG_AT_FDCWD) {
			dentry = BPF_CORE_READ(task, fs, pwd.dentry);
			mnt = BPF_CORE_READ(task, fs, pwd.mnt);
		} else {
			struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
			struct file **fds = BPF_CORE_READ(fdt, fd);
			unsigned int max = BPF_CORE_READ(fdt, max_fds);
			struct file *file = NULL;

			if (dirfd < 0 || dirfd >= max || bpf_probe_read_kernel(&file, sizeof(file), &fds[dirfd]) < 0 || !file)
				return 0;
			dentry = BPF_CORE_READ(file, f_path.dentry);
			mnt = BPF_CORE_READ(file, f_path.mnt);
		}
		walked = vg_path_walk((__u64)dentry, (__u64)mnt, (__u64)root.dentry, (__u64)root.mnt, &s->path);
		n = vg_path_copy(s->tail + off, &s->path, walked);
		/* Room for the separator and a name of VIGIL_STRING_MAX after the directory. */
		if (n > VIGIL_BUF_MAX - VIGIL_STRING_MAX - 1)
			n = VIGIL_BUF_MAX - VIGIL_STRING_MAX - 1;
		if (n > 1) {
			__u32 at = off + n; /* below VIGIL_GENERIC_TAIL + VIGIL_BUF_MAX - VIGIL_STRING_MAX */

			if (at < sizeof(s->tail))
				s->tail[at] = '/';
			n++;
		}
	}
	if (n > VIGIL_BUF_MAX - VIGIL_STRING_MAX)
		n = VIGIL_BUF_MAX - VIGIL_STRING_MAX;
	m = bpf_probe_read_user_str(s->tail + off + n, VIGIL_STRING_MAX, (void *)name);
	if (m <= 1)
		return 0;
	return n + m - 1;
}

/* ---------------------------------------------------------------------------------------------
 * Generic kprobes: arguments of kernel functions. The kprobe programs (end of this file) copy
 * the argument registers into s->raw as five u64s, so `offset` is 8 * the prototype index and
 * the values there are kernel pointers.
 * ------------------------------------------------------------------------------------------- */

/* A path (dentry, vfsmount) and its inode as file arg i (at: i << 16 | tail offset; five
 * arguments at most, so two share one): struct vigil_file_header {ino, dev}, then the path from
 * the task's root, its last bytes when longer than the room. value: i_mode (callers with a file
 * add f_flags << 32). Returns the bytes used; 0 and the ERROR flag without a path. The FILE_FD
 * and EXE args of syscalls, the file/path args of kprobes and the LSM file hooks all write file
 * args here, so selectors and user space see one encoding whichever mechanism served. */
__noinline int vg_put_path(struct vigil_generic_scratch *s, __u32 at, __u64 dentry, __u64 mnt, __u64 inode_ptr)
{
	__u32 i = at >> 16, tail_off = at & 0xffff;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct inode *inode = (struct inode *)inode_ptr;
	struct vigil_arg_value *out;
	struct path root;
	char *dst;
	int walked;
	__u32 n;

	if (!s || i >= VIGIL_HOOK_ARGS)
		return 0;
	out = &s->ev.args[i];
	tail_off &= VIGIL_GENERIC_TAIL - 1;
	dst = s->tail + tail_off;
	if (!dentry || !mnt) {
		out->flags |= VIGIL_ARG_F_ERROR;
		return 0;
	}
	root = BPF_CORE_READ(task, fs, root);
	walked = vg_path_walk(dentry, mnt, (__u64)root.dentry, (__u64)root.mnt, &s->path);
	if ((walked >> 16) & VG_PATH_TRUNCATED)
		out->flags |= VIGIL_ARG_F_TRUNCATED;
	/* dst has VIGIL_BUF_MAX (= VIGIL_PATH_AREA) bytes of room (callers keep tail_off below
	 * VIGIL_GENERIC_TAIL - VIGIL_BUF_MAX), so the path keeps at most
	 * VIGIL_PATH_AREA - VIGIL_FILE_HEADER of its last bytes. */
	*(__u64 *)dst = inode ? BPF_CORE_READ(inode, i_ino) : 0;
	*(__u32 *)(dst + 8) = inode ? BPF_CORE_READ(inode, i_sb, s_dev) : 0;
	*(__u32 *)(dst + 12) = 0;
	n = (__u32)walked & 0xffff;
	if (n > VIGIL_PATH_AREA - VIGIL_FILE_HEADER)
		out->flags |= VIGIL_ARG_F_TRUNCATED;
	n = vg_clamp(n, VIGIL_PATH_AREA - VIGIL_FILE_HEADER);
	bpf_probe_read_kernel(dst + VIGIL_FILE_HEADER, n, s->path.data + ((VIGIL_PATH_AREA - n) & (VIGIL_PATH_AREA - 1)));
	out->value = inode ? BPF_CORE_READ(inode, i_mode) : 0;
	out->len = VIGIL_FILE_HEADER + n;
	return VIGIL_FILE_HEADER + n;
}

/* struct sock * as struct vigil_sock_info. */
static __always_inline int vg_kernel_sock(struct vigil_arg_value *out, char *dst, struct sock *sk)
{
	struct vigil_sock_info *info = (struct vigil_sock_info *)dst;
	__u16 family;

	__builtin_memset(info, 0, sizeof(*info));
	if (!sk) {
		out->flags |= VIGIL_ARG_F_ERROR;
		return 0;
	}
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	info->dst.family = family;
	info->dst.port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	info->dst.protocol = BPF_CORE_READ(sk, sk_protocol);
	info->dst.type = BPF_CORE_READ(sk, sk_type);
	info->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	info->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	info->mark = BPF_CORE_READ(sk, sk_mark);
	if (family == AF_INET) {
		*(__u32 *)info->dst.addr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		*(__u32 *)info->saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&info->dst.addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&info->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	}
	out->value = family;
	out->len = sizeof(*info);
	return sizeof(*info);
}

/* The kernel-function kinds of vg_read_arg(); out is already reset. */
__noinline int vg_read_kernel_arg(struct vigil_generic_scratch *s, __u32 i, __u32 spec, __u32 tail_off)
{
	__u32 kind = spec & 0xff, variant = (spec >> 8) & 0xff, offset = spec >> 16;
	struct vigil_arg_value *out;
	char *dst;
	__u64 ptr;
	long n;

	if (!s || i >= VIGIL_HOOK_ARGS)
		return 0;
	out = &s->ev.args[i];
	tail_off &= VIGIL_GENERIC_TAIL - 1;
	dst = s->tail + tail_off;
	ptr = vg_raw_int(s, offset, 8, 0);

	switch (kind) {
	case VIGIL_ARG_KSTRING:
		n = bpf_probe_read_kernel_str(dst, VIGIL_STRING_MAX, (void *)ptr);
		if (n <= 0)
			n = bpf_probe_read_user_str(dst, VIGIL_STRING_MAX, (void *)ptr);
		if (n <= 0) {
			out->flags |= VIGIL_ARG_F_ERROR;
			return 0;
		}
		if (n >= VIGIL_STRING_MAX)
			out->flags |= VIGIL_ARG_F_TRUNCATED;
		out->len = n - 1;
		return n - 1;
	case VIGIL_ARG_KFILE: {
		struct file *file = NULL;

		if (variant == 1) { /* struct path * */
			struct path *p = (struct path *)ptr;

			struct dentry *dentry = BPF_CORE_READ(p, dentry);

			return vg_put_path(s, i << 16 | tail_off, (__u64)dentry, (__u64)BPF_CORE_READ(p, mnt),
					   dentry ? (__u64)BPF_CORE_READ(dentry, d_inode) : 0);
		}
		file = variant == 2 ? BPF_CORE_READ((struct linux_binprm *)ptr, file) : (struct file *)ptr;
		if (!file) {
			out->flags |= VIGIL_ARG_F_ERROR;
			return 0;
		}
		n = vg_put_path(s, i << 16 | tail_off, (__u64)BPF_CORE_READ(file, f_path.dentry),
				(__u64)BPF_CORE_READ(file, f_path.mnt), (__u64)BPF_CORE_READ(file, f_inode));
		if (n > 0)
			out->value |= (__u64)BPF_CORE_READ(file, f_flags) << 32;
		return n;
	}
	case VIGIL_ARG_KSOCK: {
		struct sock *sk = variant == 1 ? BPF_CORE_READ((struct socket *)ptr, sk) : (struct sock *)ptr;

		return vg_kernel_sock(out, dst, sk);
	}
	case VIGIL_ARG_KSOCKADDR: {
		struct vigil_sockaddr *sa = (struct vigil_sockaddr *)dst;
		__u16 family = 0, port = 0;

		__builtin_memset(sa, 0, sizeof(*sa));
		if (bpf_probe_read_kernel(&family, sizeof(family), (void *)ptr) < 0) {
			out->flags |= VIGIL_ARG_F_ERROR;
			return 0;
		}
		sa->family = family;
		if (family == AF_INET || family == AF_INET6) {
			bpf_probe_read_kernel(&port, sizeof(port), (void *)(ptr + 2));
			sa->port = __builtin_bswap16(port);
			if (family == AF_INET)
				bpf_probe_read_kernel(sa->addr, 4, (void *)(ptr + 4));
			else
				bpf_probe_read_kernel(sa->addr, 16, (void *)(ptr + 8));
		}
		out->value = family;
		out->len = sizeof(*sa);
		return sizeof(*sa);
	}
	case VIGIL_ARG_CRED: {
		struct vigil_creds *c = (struct vigil_creds *)dst;
		struct cred *cred = (struct cred *)ptr;

		__builtin_memset(c, 0, sizeof(*c));
		if (!cred) {
			out->flags |= VIGIL_ARG_F_ERROR;
			return 0;
		}
		c->uid = BPF_CORE_READ(cred, uid.val);
		c->gid = BPF_CORE_READ(cred, gid.val);
		c->euid = BPF_CORE_READ(cred, euid.val);
		c->egid = BPF_CORE_READ(cred, egid.val);
		c->suid = BPF_CORE_READ(cred, suid.val);
		c->sgid = BPF_CORE_READ(cred, sgid.val);
		c->fsuid = BPF_CORE_READ(cred, fsuid.val);
		c->fsgid = BPF_CORE_READ(cred, fsgid.val);
		/* kernel_cap_t is u32[2] before 6.3 and one u64 after: the same 8 bytes either way. */
		bpf_probe_read_kernel(&c->cap_permitted, 8, __builtin_preserve_access_index(&cred->cap_permitted));
		bpf_probe_read_kernel(&c->cap_effective, 8, __builtin_preserve_access_index(&cred->cap_effective));
		bpf_probe_read_kernel(&c->cap_inheritable, 8, __builtin_preserve_access_index(&cred->cap_inheritable));
		out->value = c->uid;
		out->len = sizeof(*c);
		return sizeof(*c);
	}
	}
	return 0;
}

/* Reads argument i into s->ev.args[i] and the tail at *tail_off. Returns the bytes it used. */
__noinline int vg_read_arg(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 i, __u32 tail_off)
{
	struct vigil_arg_spec spec;
	struct vigil_arg_value *out;
	char *dst;
	__u64 ptr;
	long n = 0;

	if (!hook || !s || i >= VIGIL_HOOK_ARGS)
		return 0;
	spec = hook->args[i];
	out = &s->ev.args[i];
	out->kind = spec.kind;
	out->flags = 0;
	out->len = 0;
	out->value = 0;
	tail_off &= VIGIL_GENERIC_TAIL - 1;
	s->arg_off[i] = tail_off;
	dst = s->tail + tail_off;

	switch (spec.kind) {
	case VIGIL_ARG_INT:
		out->value = vg_raw_int(s, spec.offset, spec.size, spec.is_signed);
		return 0;
	case VIGIL_ARG_STRING:
		ptr = vg_raw_int(s, spec.offset, 8, 0);
		n = bpf_probe_read_user_str(dst, VIGIL_STRING_MAX, (void *)ptr);
		break;
	case VIGIL_ARG_DATA_LOC: {
		__u32 loc = (__u32)vg_raw_int(s, spec.offset, 4, 0);
		__u32 where = loc & 0xffff, size = loc >> 16;

		if (size > VIGIL_STRING_MAX)
			size = VIGIL_STRING_MAX;
		n = bpf_probe_read_kernel_str(dst, size, s->raw + (where & (VIGIL_TP_RAW_MAX - 1)));
		break;
	}
	case VIGIL_ARG_CHAR_BUF: {
		__u64 size = vg_raw_int(s, spec.meta_offset, spec.meta_size, 0);
		__u32 want = size > VIGIL_BUF_MAX ? VIGIL_BUF_MAX : (__u32)size;

		ptr = vg_raw_int(s, spec.offset, 8, 0);
		out->value = size;
		if (size > VIGIL_BUF_MAX)
			out->flags |= VIGIL_ARG_F_TRUNCATED;
		/* Clamp restated for the verifier: want <= VIGIL_BUF_MAX, the tail's slack. */
		if (want > VIGIL_BUF_MAX)
			want = VIGIL_BUF_MAX;
		if (want && bpf_probe_read_user(dst, want, (void *)ptr) < 0) {
			out->flags |= VIGIL_ARG_F_ERROR;
			return 0;
		}
		out->len = want;
		return want;
	}
	case VIGIL_ARG_SOCKADDR: {
		struct vigil_sockaddr *sa = (struct vigil_sockaddr *)dst;
		__u16 family = 0;

		ptr = vg_raw_int(s, spec.offset, 8, 0);
		__builtin_memset(sa, 0, sizeof(*sa));
		if (bpf_probe_read_user(&family, sizeof(family), (void *)ptr) < 0) {
			out->flags |= VIGIL_ARG_F_ERROR;
			return 0;
		}
		sa->family = family;
		if (family == AF_INET || family == AF_INET6) {
			__u16 port = 0;

			bpf_probe_read_user(&port, sizeof(port), (void *)(ptr + 2));
			sa->port = __builtin_bswap16(port);
			if (family == AF_INET)
				bpf_probe_read_user(sa->addr, 4, (void *)(ptr + 4));
			else
				bpf_probe_read_user(sa->addr, 16, (void *)(ptr + 8));
		}
		out->value = family;
		out->len = sizeof(*sa);
		return sizeof(*sa);
	}
	case VIGIL_ARG_FILE_FD:
	case VIGIL_ARG_EXE: {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct file *file = NULL;

		if (spec.kind == VIGIL_ARG_EXE) {
			file = BPF_CORE_READ(task, mm, exe_file);
		} else {
			long fd = (long)vg_raw_int(s, spec.offset, 8, 1);
			struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
			struct file **fds = BPF_CORE_READ(fdt, fd);
			unsigned int max = BPF_CORE_READ(fdt, max_fds);

			if (spec.meta_offset) {
				/* An open syscall's exit: what it returned is the event's result. */
				s->result = fd;
				s->has_result = 1;
			}
			if (fd < 0 && spec.meta_offset && s->raw_args) {
				/* A failed open: the name it was given (exit dispatcher only, which
				 * keeps the syscall's args after ret). */
				__u64 name = vg_raw_int(s, 24 + 8 * ((spec.meta_offset - 1) & 7), 8, 0);
				__s64 dirfd = spec.meta_size ? (__s64)(__s32)vg_raw_int(s, 24 + 8 * ((spec.meta_size - 1) & 7), 4, 1)
							    : VG_AT_FDCWD;

				n = vg_read_failed_open(s, tail_off + VIGIL_FILE_HEADER, name, dirfd);
				if (n <= 0) {
					out->flags |= VIGIL_ARG_F_ERROR;
					return 0;
				}
				/* No file: no inode or device. */
				*(__u64 *)dst = 0;
				*(__u64 *)(dst + 8) = 0;
				out->flags |= VIGIL_ARG_F_UNOPENED;
				out->len = VIGIL_FILE_HEADER + n;
				return VIGIL_FILE_HEADER + n;
			}
			/* A failed open has no file: the hook reports it as unreadable. */
			if (fd < 0 || fd >= max || bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) < 0)
				file = NULL;
		}
		if (!file) {
			out->flags |= VIGIL_ARG_F_ERROR;
			return 0;
		}
		n = vg_put_path(s, i << 16 | tail_off, (__u64)BPF_CORE_READ(file, f_path.dentry),
				(__u64)BPF_CORE_READ(file, f_path.mnt), (__u64)BPF_CORE_READ(file, f_inode));
		if (n > 0)
			out->value |= (__u64)BPF_CORE_READ(file, f_flags) << 32;
		return n;
	}
	case VIGIL_ARG_CONST_BUF: {
		__u32 size = spec.size > 64 ? 64 : spec.size;

		if (size && bpf_probe_read_kernel(dst, size, s->raw + (spec.offset & (VIGIL_TP_RAW_MAX - 1))) < 0) {
			out->flags |= VIGIL_ARG_F_ERROR;
			return 0;
		}
		out->len = size;
		return size;
	}
	default:
		return vg_read_kernel_arg(s, i, spec.kind | spec.meta_size << 8 | (__u32)spec.offset << 16, tail_off);
	}

	/* Strings: n counts the NUL; keep it out of len. */
	if (n <= 0) {
		out->flags |= VIGIL_ARG_F_ERROR;
		return 0;
	}
	if (n >= VIGIL_STRING_MAX)
		out->flags |= VIGIL_ARG_F_TRUNCATED;
	out->len = n - 1;
	return n - 1;
}

/* bpf_loop() passes a stack pointer as context; this is what it points to. */
struct vg_reverse_ctx {
	struct vigil_generic_scratch *s;
	__u32 len;
};

/* One byte of the reversed copy. */
static long vg_reverse_step(__u64 i, void *ctx)
{
	struct vg_reverse_ctx *c = ctx;
	struct vigil_generic_scratch *s = c->s;
	__u32 len = c->len;

	if (!s || i >= len || i >= VIGIL_MATCH_STRING_MAX)
		return 1;
	/* Masks for the verifier (255 >= VIGIL_MATCH_STRING_MAX - 1); the checks above bound i. */
	s->rkey.data[i & 0xff] = s->key.data[(len - 1 - i) & 0xff];
	return 0;
}

/* Builds s->rkey, the reversed twin of s->key, for the Postfix operators only: reversing costs
 * a loop over the string, which the other operators never need. */
__noinline int vg_reverse_key(struct vigil_generic_scratch *s)
{
	__u32 len;

	if (!s)
		return 0;
	len = (s->key.prefixlen - 32) / 8;
	if (len > VIGIL_MATCH_STRING_MAX - 1)
		len = VIGIL_MATCH_STRING_MAX - 1;

	struct vg_reverse_ctx c = { .s = s, .len = len };

	__builtin_memset(s->rkey.data, 0, sizeof(s->rkey.data));
	bpf_loop(VIGIL_MATCH_STRING_MAX, vg_reverse_step, &c, 0);
	s->rkey.prefixlen = s->key.prefixlen;
	s->rkey.set_id = s->key.set_id;
	return 0;
}

/* Loads a string of len bytes at src into s->key (see vg_reverse_key for Postfix), for
 * operator op. Inlined into each caller: src points into the caller's own map values, which a
 * global function could only take as a pointer of one fixed size. */
static __always_inline void vg_load_key(struct vigil_generic_scratch *s, const void *src, __u32 len, __u32 set_id,
					__u32 op, const int from_tail)
{
	/* A string longer than a key can hold: compare its first bytes only; the compiler refuses
	 * patterns that long, so such strings cannot match Equal by accident (they differ in length). */
	if (len > VIGIL_MATCH_STRING_MAX - 1)
		len = VIGIL_MATCH_STRING_MAX - 1;
	/* The exact-match map hashes the whole key, so the bytes past the string must be zero; the
	 * tries compare prefixlen bits only, and clearing 252 bytes per lookup is measurable on an
	 * open storm. */
	int exact = op == VIGIL_OP_EQUAL || op == VIGIL_OP_IN || op == VIGIL_OP_NOT_EQUAL || op == VIGIL_OP_NOT_IN;
	int copy_words = !exact && from_tail;

	if (exact)
		__builtin_memset(s->key.data, 0, sizeof(s->key.data));
	if (copy_words) {
		/* Eight bytes a step, in the program: cheaper than a helper call for the short
		 * strings most arguments are. Bytes past len (up to the next multiple of 8) are
		 * copied too; the tries never read them, and for the exact map they are the zeros
		 * of the source's own padding only when the clear above ran, hence the helper there. */
		const __u64 *from = src;
		__u64 *to = (__u64 *)s->key.data;
		__u32 w;

		for (w = 0; w < VIGIL_MATCH_STRING_MAX / 8; w++) {
			if (w * 8 >= len)
				break;
			to[w] = from[w];
		}
	} else {
		/* Restated next to the call: 6.1's verifier lost the bound above once the compiler
		 * merged it into the other branch. */
		len = vg_clamp(len, VIGIL_MATCH_STRING_MAX - 1);
		bpf_probe_read_kernel(s->key.data, len, src);
	}
	s->key.prefixlen = 32 + 8 * len;
	s->key.set_id = set_id;
}

/*
 * The per-CPU scratch again, typed as a map value, for map keys that live in it. In a global
 * function s is plain memory to the verifier, and 6.1's bpf_map_lookup_elem() refuses such
 * memory as a key ("R2 type=mem expected=fp, pkt, pkt_meta, map_key, map_value"; later
 * kernels take it; found by the kernel matrix). Same CPU, so the same bytes as s.
 */
static __always_inline struct vigil_generic_scratch *vg_scratch_value(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
}

/* String operators against the keys vg_load_key built. 1: matches. */
static __always_inline int vg_match_string(struct vigil_generic_scratch *s, __u32 op)
{
	s = vg_scratch_value();
	if (!s)
		return 0;
	switch (op) {
	case VIGIL_OP_EQUAL:
	case VIGIL_OP_IN:
		/* struct vigil_str_key is the tail of struct vigil_str_lpm_key, from set_id on. */
		return bpf_map_lookup_elem(&vg_str_eq, &s->key.set_id) != NULL;
	case VIGIL_OP_NOT_EQUAL:
	case VIGIL_OP_NOT_IN:
		return bpf_map_lookup_elem(&vg_str_eq, &s->key.set_id) == NULL;
	case VIGIL_OP_PREFIX:
		return bpf_map_lookup_elem(&vg_str_prefix, &s->key) != NULL;
	case VIGIL_OP_NOT_PREFIX:
		return bpf_map_lookup_elem(&vg_str_prefix, &s->key) == NULL;
	case VIGIL_OP_POSTFIX:
		vg_reverse_key(s);
		return bpf_map_lookup_elem(&vg_str_postfix, &s->rkey) != NULL;
	case VIGIL_OP_NOT_POSTFIX:
		vg_reverse_key(s);
		return bpf_map_lookup_elem(&vg_str_postfix, &s->rkey) == NULL;
	}
	return 0;
}

static __always_inline int vg_match_ints(struct vigil_arg_filter *f, __u64 v)
{
	int i, any = 0;

	switch (f->op) {
	case VIGIL_OP_GT:
		return (__s64)v > (__s64)f->values[0];
	case VIGIL_OP_LT:
		return (__s64)v < (__s64)f->values[0];
	case VIGIL_OP_IN_MAP:
	case VIGIL_OP_NOT_IN_MAP: {
		struct vigil_int_key key = { .set_id = f->set_id, .value = v };
		int found = bpf_map_lookup_elem(&vg_int_set, &key) != NULL;

		return f->op == VIGIL_OP_IN_MAP ? found : !found;
	}
	}
	for (i = 0; i < VIGIL_MATCH_VALUES; i++) {
		if (i >= f->nvalues)
			break;
		switch (f->op) {
		case VIGIL_OP_EQUAL:
		case VIGIL_OP_NOT_EQUAL:
			any |= v == f->values[i];
			break;
		case VIGIL_OP_MASK:
			any |= (v & f->values[i]) != 0;
			break;
		case VIGIL_OP_FAMILY:
			any |= v == f->values[i];
			break;
		}
	}
	/* Positive operators: any value; negated ones: none of them (Tetragon's semantics). */
	return f->op == VIGIL_OP_NOT_EQUAL ? !any : any;
}

static __always_inline int vg_match_sockaddr(struct vigil_generic_scratch *s, struct vigil_arg_filter *f, __u32 off)
{
	struct vigil_sockaddr *sa = (struct vigil_sockaddr *)(s->tail + (off & (VIGIL_GENERIC_TAIL - 1)));
	int i, any = 0;

	switch (f->op) {
	case VIGIL_OP_FAMILY:
		return vg_match_ints(f, sa->family);
	case VIGIL_OP_PROTOCOL:
		for (i = 0; i < VIGIL_MATCH_VALUES; i++) {
			if (i < f->nvalues && sa->protocol == f->values[i])
				any = 1;
		}
		return any;
	case VIGIL_OP_DADDR:
	case VIGIL_OP_NOT_DADDR: {
		int found;

		__builtin_memset(&s->addr, 0, sizeof(s->addr));
		s->addr.prefixlen = 32 + 128;
		s->addr.set_id = f->set_id;
		if (sa->family == AF_INET) {
			s->addr.addr[10] = 0xff;
			s->addr.addr[11] = 0xff;
			__builtin_memcpy(&s->addr.addr[12], sa->addr, 4);
		} else if (sa->family == AF_INET6) {
			__builtin_memcpy(s->addr.addr, sa->addr, 16);
		} else {
			return f->op == VIGIL_OP_NOT_DADDR;
		}
		s = vg_scratch_value(); /* the key as a map value, see vg_scratch_value() */
		if (!s)
			return 0;
		found = bpf_map_lookup_elem(&vg_addr, &s->addr) != NULL;
		return f->op == VIGIL_OP_DADDR ? found : !found;
	}
	case VIGIL_OP_DPORT:
	case VIGIL_OP_NOT_DPORT:
		for (i = 0; i < VIGIL_MATCH_VALUES; i++) {
			if (i >= f->nvalues)
				break;
			any |= sa->port >= (f->values[i] >> 16) && sa->port <= (f->values[i] & 0xffff);
		}
		return f->op == VIGIL_OP_DPORT ? any : !any;
	}
	return 0;
}

/* One matchArgs entry. 1: matches. */
__noinline int vg_match_arg(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 sel, __u32 j)
{
	struct vigil_arg_filter *f;
	struct vigil_arg_value *v;
	__u32 slot, off;

	if (!hook || !s || sel >= VIGIL_SELECTORS || j >= VIGIL_MATCH_ARGS)
		return 0;
	f = &hook->selectors[sel].args[j];
	slot = f->arg;
	if (slot >= VIGIL_HOOK_ARGS)
		return 0;
	v = &s->ev.args[slot];
	off = s->arg_off[slot];
	if (v->flags & VIGIL_ARG_F_ERROR)
		return 0;

	switch (v->kind) {
	case VIGIL_ARG_STRING:
	case VIGIL_ARG_DATA_LOC:
	case VIGIL_ARG_CHAR_BUF:
	case VIGIL_ARG_KSTRING:
		vg_load_key(s, s->tail + (off & (VIGIL_GENERIC_TAIL - 1)), v->len, f->set_id, f->op, 1);
		return vg_match_string(s, f->op);
	case VIGIL_ARG_FILE_FD:
	case VIGIL_ARG_EXE:
	case VIGIL_ARG_KFILE:
		/* The path after the inode/device header. */
		if (v->len < VIGIL_FILE_HEADER)
			return 0;
		vg_load_key(s, s->tail + ((off + VIGIL_FILE_HEADER) & (VIGIL_GENERIC_TAIL - 1)),
			    v->len - VIGIL_FILE_HEADER, f->set_id, f->op, 1);
		return vg_match_string(s, f->op);
	case VIGIL_ARG_SOCKADDR:
	case VIGIL_ARG_SOCK:
	case VIGIL_ARG_KSOCK: /* struct vigil_sock_info starts with the destination */
	case VIGIL_ARG_KSOCKADDR:
		return vg_match_sockaddr(s, f, off);
	default:
		return vg_match_ints(f, v->value);
	}
}

/* Is the current task (or, with follow_forks, one of its ancestors) one of the pids? */
__noinline int vg_match_pids(struct vigil_hook *hook, __u32 sel)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_pid_filter *f;
	int depth, i, any = 0;

	if (!hook || sel >= VIGIL_SELECTORS)
		return 0;
	f = &hook->selectors[sel].pid;
	if (f->op == VIGIL_OP_NONE)
		return 1;
	/* followForks: descendants match too; 16 generations is deep enough for real trees. */
	for (depth = 0; depth < 16 && task; depth++) {
		__u32 pid = BPF_CORE_READ(task, tgid);

		if (f->ns_pid) {
			__u32 nspid = 0, pid_ns = 0;

			vg_task_upid(task, &nspid, &pid_ns);
			pid = nspid;
		}
		for (i = 0; i < VIGIL_MATCH_VALUES; i++) {
			if (i < f->nvalues && pid == f->values[i])
				any = 1;
		}
		if (any || !f->follow_forks || pid <= 1)
			break;
		task = BPF_CORE_READ(task, real_parent);
	}
	return f->op == VIGIL_OP_IN ? any : !any;
}

/* matchNamespaces: every entry must hold. */
__noinline int vg_match_namespaces(struct vigil_hook *hook, __u32 sel)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_namespaces ns = {};
	__u32 inums[VIGIL_NS_KINDS];
	int j, i;

	if (!hook || sel >= VIGIL_SELECTORS)
		return 0;
	if (hook->selectors[sel].nns == 0)
		return 1;
	vg_fill_namespaces(&ns, task);
	{
		__u32 nspid = 0;

		vg_task_upid(task, &nspid, &ns.pid);
	}
	inums[VIGIL_NS_UTS] = ns.uts;
	inums[VIGIL_NS_IPC] = ns.ipc;
	inums[VIGIL_NS_MNT] = ns.mnt;
	inums[VIGIL_NS_PID] = ns.pid;
	inums[VIGIL_NS_PID_FOR_CHILDREN] = ns.pid_for_children;
	inums[VIGIL_NS_NET] = ns.net;
	inums[VIGIL_NS_CGROUP] = ns.cgroup;
	inums[VIGIL_NS_USER] = ns.user;
	for (j = 0; j < VIGIL_MATCH_NS; j++) {
		struct vigil_ns_filter *f = &hook->selectors[sel].ns[j];
		__u32 inum;
		int any = 0;

		if (j >= hook->selectors[sel].nns)
			break;
		inum = inums[f->ns & (VIGIL_NS_KINDS - 1)];
		for (i = 0; i < VIGIL_MATCH_VALUES; i++) {
			if (i < f->nvalues && inum == f->values[i])
				any = 1;
		}
		if (f->op == VIGIL_OP_IN ? !any : any)
			return 0;
	}
	return 1;
}

/* matchBinaries against the binary the kernel side recorded at exec (or inherited at fork). */
__noinline int vg_match_binary(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 sel)
{
	struct vigil_bin_filter *f;
	struct vigil_proc_state *proc;
	__u32 tgid;

	if (!hook || !s || sel >= VIGIL_SELECTORS)
		return 0;
	f = &hook->selectors[sel].bin;
	if (f->op == VIGIL_OP_NONE)
		return 1;
	tgid = bpf_get_current_pid_tgid() >> 32;
	proc = bpf_map_lookup_elem(&vg_procs, &tgid);
	if (!proc || proc->binary_len == 0 || proc->binary_len >= VIGIL_BINARY_MAX) {
		/* Unknown or too long to keep: only the negated operators can hold. */
		return f->op == VIGIL_OP_NOT_IN || f->op == VIGIL_OP_NOT_PREFIX || f->op == VIGIL_OP_NOT_POSTFIX;
	}
	vg_load_key(s, proc->binary, proc->binary_len, f->set_id, f->op, 0);
	return vg_match_string(s, f->op);
}

__noinline int vg_match_selector(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 sel)
{
	__u32 j;

	if (!hook || !s || sel >= VIGIL_SELECTORS)
		return 0;
	/* Most selectors filter on arguments only: test for the other filters here, which costs a
	 * load, rather than in calls that would each return "no filter". */
	if (hook->selectors[sel].pid.op != VIGIL_OP_NONE && !vg_match_pids(hook, sel))
		return 0;
	if (hook->selectors[sel].nns && !vg_match_namespaces(hook, sel))
		return 0;
	if (hook->selectors[sel].bin.op != VIGIL_OP_NONE && !vg_match_binary(hook, s, sel))
		return 0;
	for (j = 0; j < VIGIL_MATCH_ARGS; j++) {
		if (j >= hook->selectors[sel].nargs)
			break;
		if (!vg_match_arg(hook, s, sel, j))
			return 0;
	}
	return 1;
}

/* FNV-1a over the arg values and the first bytes of the tail: Tetragon keys rate limits on
 * the first 40 bytes of each arg; this is the same idea at a fixed cost. */
static __always_inline __u64 vg_args_hash(struct vigil_generic_scratch *s, __u32 tail_len)
{
	__u64 h = 0xcbf29ce484222325ULL;
	int i;

	for (i = 0; i < VIGIL_HOOK_ARGS; i++) {
		h ^= s->ev.args[i].value;
		h *= 0x100000001b3ULL;
	}
	for (i = 0; i < 64; i++) {
		if (i >= tail_len)
			break;
		h ^= (__u8)s->tail[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static __always_inline int vg_decide(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 slot,
				     __u32 tail_len, const int can_deny, __u16 extra_flags);

/* Whether the current task's cgroup, or one of its ancestors at a depth set in `levels`, is in
 * scope set `id`. Ancestors, not only the cgroup itself: a pod-level entry covers every container
 * of the pod, including those started after the agent last looked, and a container entry covers
 * cgroups made below it (crun's `container`, systemd in a container). */
static __always_inline int vg_scope_member(__u32 id, __u32 levels)
{
	struct vigil_scope_key key = { .policy_id = id };
	__u32 level;

	for (level = 0; level < VIGIL_SCOPE_LEVELS; level++) {
		if (!(levels & (1U << level)))
			continue;
		key.cgroup_id = bpf_get_current_ancestor_cgroup_id(level);
		if (!key.cgroup_id)
			break; /* the task's cgroup is shallower than this level */
		if (bpf_map_lookup_elem(&vg_scope_cgroups, &key))
			return 1;
	}
	return 0;
}

/* Whether policy `policy_id` applies to the current task: unscoped policies apply everywhere; a
 * pod-scoped one only in its set's cgroups (plus, with hostSelector {}, outside every pod). */
static __always_inline int vg_in_scope(__u32 policy_id)
{
	struct vigil_scope *scope = bpf_map_lookup_elem(&vg_policy_scope, &policy_id);
	__u32 any = VIGIL_SCOPE_ANY_POD;
	struct vigil_scope *pods;

	if (!scope || !(scope->flags & VIGIL_SCOPE_F_SCOPED))
		return 1;
	if (vg_scope_member(policy_id, scope->levels))
		return 1;
	if (!(scope->flags & VIGIL_SCOPE_F_HOST))
		return 0;
	pods = bpf_map_lookup_elem(&vg_policy_scope, &any);
	return !pods || !vg_scope_member(any, pods->levels);
}

/* Every argument of the hook from the record in s->raw. Returns the tail bytes they use. */
static __always_inline __u32 vg_read_args(struct vigil_hook *hook, struct vigil_generic_scratch *s)
{
	__u32 tail_len = 0, i;

	s->has_result = 0;
	for (i = 0; i < VIGIL_HOOK_ARGS; i++) {
		if (i >= hook->nargs) {
			s->ev.args[i].kind = VIGIL_ARG_NONE;
			continue;
		}
		tail_len += vg_read_arg(hook, s, i, tail_len);
		if (tail_len > VIGIL_GENERIC_TAIL - VIGIL_BUF_MAX)
			tail_len = VIGIL_GENERIC_TAIL - VIGIL_BUF_MAX;
	}
	return tail_len;
}

static __always_inline int vg_generic_run(void *ctx)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx);
	__u32 cpu = bpf_get_smp_processor_id();
	struct vigil_generic_scratch *s;
	struct vigil_hook *hook;
	__u32 n;

	hook = bpf_map_lookup_elem(&vg_hooks, &slot);
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!hook || !s)
		return 0;

	n = hook->ctx_size;
	if (n > VIGIL_TP_RAW_MAX)
		n = VIGIL_TP_RAW_MAX;
	if (bpf_probe_read_kernel(s->raw, n, ctx) < 0)
		return 0;
	s->raw_args = 0;
	return vg_decide(hook, s, slot, vg_read_args(hook, s), 0, 0);
}

/*
 * Whether the current task may be acted on: no fence, or its cgroup is the fence cgroup or below
 * it. Walks the task's cgroup ancestors from the root (level 0) down; the fence's own level is not
 * needed, so a fence path seen through a cgroup namespace works alike. Only runs when an action
 * is due (rare), so the walk's cost never lands on hooks that merely post. 64 levels is deeper
 * than any real hierarchy (kubelet's are 4-6); the bound is the verifier's.
 */
static __always_inline int vg_in_fence(void)
{
	__u64 id;
	int level;

	if (!vg_fence_cgroup)
		return 1;
	for (level = 0; level < 64; level++) {
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			return 0; /* past the task's own cgroup: not below the fence */
		if (id == vg_fence_cgroup)
			return 1;
	}
	return 0;
}

/*
 * Selectors, actions and the event, for one hook whose arguments are in s. Returns 1 to let the
 * operation go on, 0 to fail it (Override, on hooks that can: connect). Inlined with can_deny
 * a constant, so tracepoint programs keep bpf_send_signal() and connect programs (which may not
 * call it) never reference it.
 */
static __always_inline int vg_decide(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 slot,
				     __u32 tail_len, const int can_deny, __u16 extra_flags)
{
	struct vigil_selector *selector = NULL;
	struct vigil_proc_state *proc;
	__u32 i, *mode;
	__u64 rate_ns = 0;
	int sel = -1, post = 1, rate_scope = 0, deny = 0, error = 0;
	__u8 action = VIGIL_ACTION_POST;
	__u16 sig = 0;

	/* First, before any selector: every hook (tracepoints, the syscall dispatcher, connect and
	 * whatever else ends here) honours the policy's pod scope. */
	if (!vg_in_scope(hook->policy_id)) {
		vg_count(VIGIL_CTR_POLICY_OUT_OF_SCOPE);
		return 1;
	}

	if (hook->nselectors) {
		for (i = 0; i < VIGIL_SELECTORS; i++) {
			if (i >= hook->nselectors)
				break;
			if (vg_match_selector(hook, s, i)) {
				sel = i;
				/* The pointer is taken here, where i is bounded by the loop: the 6.1
				 * verifier loses the bounds of sel once it is spilled and refuses
				 * &hook->selectors[sel] further down ("math between map_value pointer
				 * and 4294967295"); found by the kernel matrix. */
				selector = &hook->selectors[i];
				break;
			}
		}
		if (sel < 0) {
			vg_count(VIGIL_CTR_POLICY_FILTERED);
			return 1;
		}
	}
	vg_count(VIGIL_CTR_POLICY_MATCHED);

	if (selector) {
		for (i = 0; i < VIGIL_ACTIONS; i++) {
			struct vigil_action *a = &selector->actions[i];

			if (i >= selector->nactions)
				break;
			switch (a->kind) {
			case VIGIL_ACTION_POST:
				action = VIGIL_ACTION_POST;
				rate_ns = a->rate_ns;
				rate_scope = a->rate_scope;
				break;
			case VIGIL_ACTION_NOPOST:
				post = 0;
				break;
			case VIGIL_ACTION_SIGKILL:
				action = VIGIL_ACTION_SIGKILL;
				sig = 9;
				break;
			case VIGIL_ACTION_SIGNAL:
				action = VIGIL_ACTION_SIGNAL;
				sig = a->signal;
				break;
			case VIGIL_ACTION_OVERRIDE:
				action = VIGIL_ACTION_OVERRIDE;
				deny = can_deny;
				error = a->error;
				break;
			}
		}
	}

	s->ev.hdr.flags = (extra_flags & ~VG_F_PARK_RET) | (s->has_result ? VIGIL_GENERIC_F_RESULT : 0);
	if (sig || deny) {
		mode = bpf_map_lookup_elem(&vg_policy_mode, &hook->policy_id);
		if (mode && *mode == VIGIL_MODE_MONITOR) {
			s->ev.hdr.flags |= VIGIL_GENERIC_F_MONITOR;
			deny = 0;
		} else if (!vg_in_fence()) {
			/* Outside the fence: reported, not done. Like monitor mode, the flag also
			 * keeps connect_result from sending a parked signal. */
			s->ev.hdr.flags |= VIGIL_GENERIC_F_FENCED;
			vg_count(VIGIL_CTR_POLICY_FENCED);
			deny = 0;
		} else if (sig && can_deny != VG_DENY_CGROUP) {
			/* In the hook itself: the process dies before the syscall returns to it. */
			bpf_send_signal(sig);
			vg_count(VIGIL_CTR_POLICY_SIGNALS);
		}
	}
	if (deny) {
		s->ev.hdr.flags |= VIGIL_GENERIC_F_DENIED;
		/* An LSM hook returns the errno itself (s->result, also the event's result); so does
		 * an fmod_ret program, in place of the function it skips. */
		if (can_deny == VG_DENY_LSM || can_deny == VG_DENY_RETURN)
			s->result = -(__s64)(error ? error : 1);
		/* Another errno than the default EPERM (kernel >= 5.18 for bpf_set_retval). */
		else if (can_deny == VG_DENY_CGROUP && error && error != 1)
			bpf_set_retval(-error);
	}
	if (!post) {
		vg_count(VIGIL_CTR_POLICY_NOPOST);
		/* A connect hook's Sigkill is sent at the syscall's exit: park the record there
		 * anyway, marked to be dropped once the signal is out. */
		if (can_deny == VG_DENY_CGROUP && sig && vg_connect_results &&
		    !(s->ev.hdr.flags & (VIGIL_GENERIC_F_MONITOR | VIGIL_GENERIC_F_FENCED))) {
			__u64 id = bpf_get_current_pid_tgid();
			struct vigil_generic_scratch *sv = vg_scratch_value(); /* see vg_scratch_value() */

			s->ev.hdr.flags |= VG_F_NOPOST;
			s->ev.signal = sig;
			s->ev.hdr.size = sizeof(s->ev);
			if (sv)
				bpf_map_update_elem(&vg_connect_pending, &id, sv, BPF_ANY);
		}
		return !deny;
	}
	if (rate_ns) {
		struct vg_rate_key key = { .slot = slot, .selector = sel };
		__u64 now = bpf_ktime_get_ns(), *last;
		__u64 id = bpf_get_current_pid_tgid();

		key.scope = rate_scope == VIGIL_RATE_THREAD ? id : rate_scope == VIGIL_RATE_PROCESS ? id >> 32 : 0;
		key.args_hash = vg_args_hash(s, tail_len);
		last = bpf_map_lookup_elem(&vg_rate, &key);
		if (last && now - *last < rate_ns) {
			vg_count(VIGIL_CTR_POLICY_RATE_LIMITED);
			return !deny;
		}
		bpf_map_update_elem(&vg_rate, &key, &now, BPF_ANY);
	}

	{
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		__u64 size;

		s->ev.hdr.kind = VIGIL_EVENT_GENERIC;
		s->ev.hdr.ktime_ns = bpf_ktime_get_ns();
		s->ev.hdr.cgroup_id = bpf_get_current_cgroup_id();
		s->ev.hdr.pid = tgid;
		s->ev.hdr.tid = (__u32)bpf_get_current_pid_tgid();
		proc = bpf_map_lookup_elem(&vg_procs, &tgid);
		s->ev.process_ktime_ns = proc ? proc->ktime_ns : 0;
		s->ev.hook_slot = slot;
		s->ev.policy_id = hook->policy_id;
		s->ev.selector = sel < 0 ? 0xff : sel;
		s->ev.action = action;
		s->ev.signal = sig;
		s->ev.nargs = hook->nargs;
		s->ev.result = s->has_result ? s->result : 0;
		size = sizeof(s->ev) + tail_len;
		/* The compiler proves the check below unreachable and drops it, which leaves the
		 * 6.1 verifier without a bound on size; the barrier keeps the check in the object. */
		barrier_var(size);
		if (size > sizeof(s->ev) + VIGIL_GENERIC_TAIL)
			return !deny; /* unreachable; states the bound for bpf_ringbuf_output */
		s->ev.hdr.size = size;
		if ((extra_flags & VG_F_PARK_RET) && size <= sizeof(struct vg_kret_record)) {
			/* A kretprobe hook: the event goes out at the function's return, with what
			 * it returned (generic_kretprobe). */
			struct vg_kret_key key = { .id = bpf_get_current_pid_tgid(), .slot = slot };
			struct vigil_generic_scratch *sv = vg_scratch_value(); /* see vg_scratch_value() */

			if (sv && bpf_map_update_elem(&vg_kret_pending, &key, sv, BPF_ANY) == 0)
				return !deny;
		}
		if (can_deny == VG_DENY_CGROUP && vg_connect_results && size <= sizeof(struct vg_connect_record)) {
			/* Completed by connect_result at the syscall's exit. A record still waiting
			 * for this thread (a second hook on the same connect, or a connect that never
			 * returned through a syscall, as io_uring's) goes out now, without result. */
			__u64 id = bpf_get_current_pid_tgid();
			struct vg_connect_record *prev = bpf_map_lookup_elem(&vg_connect_pending, &id);
			struct vigil_generic_scratch *sv = vg_scratch_value(); /* see vg_scratch_value() */

			if (prev) {
				__u32 prev_size = prev->ev.hdr.size;

				if (!(prev->ev.hdr.flags & VG_F_NOPOST) && prev_size <= sizeof(*prev))
					vg_output(prev, prev_size, VIGIL_CTR_RB_DROPS_GENERIC);
			}
			if (sv && bpf_map_update_elem(&vg_connect_pending, &id, sv, BPF_ANY) == 0)
				return !deny;
		}
		vg_output(s, size, VIGIL_CTR_RB_DROPS_GENERIC);
	}
	return !deny;
}

/*
 * One connect-type hook (lsmhooks socket_connect, kprobes security_socket_connect and
 * tcp_connect) on the connect facts the cgroup (or LSM) program put at s->tail[0]. Global
 * wrappers below, so the verifier checks the selector work once, not once per program and list
 * position.
 */
static __always_inline int vg_connect_hook_run(struct vigil_generic_scratch *s, __u32 slot, const int can_deny)
{
	struct vigil_sockaddr *facts;
	struct vigil_hook *hook;
	__u32 i, tail_len = sizeof(struct vigil_sockaddr);

	if (!s)
		return 1;
	hook = bpf_map_lookup_elem(&vg_hooks, &slot);
	if (!hook)
		return 1;
	/* An LSM hook's verdict is its result; the cgroup hooks get the syscall's at its exit. */
	s->has_result = can_deny == VG_DENY_LSM;
	s->result = 0;
	facts = (struct vigil_sockaddr *)s->tail;
	/* The facts at tail[0] serve the first socket-like arg; later ones get copies, because each
	 * arg owns its bytes in the record. */
	for (i = 0; i < VIGIL_HOOK_ARGS; i++) {
		struct vigil_arg_value *v = &s->ev.args[i];
		__u8 kind = i < hook->nargs ? hook->args[i].kind : VIGIL_ARG_NONE;

		v->kind = kind;
		v->flags = 0;
		v->len = 0;
		v->value = 0;
		s->arg_off[i] = 0;
		if (kind == VIGIL_ARG_SOCKADDR || kind == VIGIL_ARG_SOCK) {
			if (tail_len > sizeof(struct vigil_sockaddr)) {
				if (tail_len + sizeof(*facts) > VIGIL_GENERIC_TAIL)
					break;
				__builtin_memcpy(s->tail + (tail_len & (VIGIL_GENERIC_TAIL - 1)), facts, sizeof(*facts));
				s->arg_off[i] = tail_len;
				tail_len += sizeof(*facts);
			} else {
				tail_len = sizeof(*facts) * 2; /* the next socket-like arg gets a copy */
			}
			v->len = sizeof(*facts);
			v->value = facts->family;
		} else if (kind == VIGIL_ARG_ADDRLEN) {
			v->kind = VIGIL_ARG_INT;
			v->value = facts->family == AF_INET6 ? 28 : 16;
		}
	}
	/* Only as many tail bytes as the args claimed travel with the event. */
	{
		__u32 used = 0;

		for (i = 0; i < VIGIL_HOOK_ARGS; i++)
			used += s->ev.args[i].len;
		if (used > VIGIL_GENERIC_TAIL)
			used = VIGIL_GENERIC_TAIL;
		if (vg_decide(hook, s, slot, used, can_deny, VIGIL_GENERIC_F_CONNECT))
			return can_deny == VG_DENY_LSM ? 0 : 1;
		return can_deny == VG_DENY_LSM ? (int)s->result : 0;
	}
}

/* 1: allow, 0: deny (cgroup programs). */
__noinline int vg_connect_hook(struct vigil_generic_scratch *s, __u32 slot)
{
	return vg_connect_hook_run(s, slot, VG_DENY_CGROUP);
}

/* 0: allow, a negative errno: deny (the LSM socket_connect program). */
__noinline int vg_lsm_connect_hook(struct vigil_generic_scratch *s, __u32 slot)
{
	return vg_connect_hook_run(s, slot, VG_DENY_LSM);
}

/* cgroup/connect* and sendmsg*: the destination of every connect and unconnected send. */
static __always_inline int vg_connect(struct bpf_sock_addr *ctx, int v6)
{
	__u32 zero = 0, cpu = bpf_get_smp_processor_id(), i;
	struct vigil_generic_scratch *s;
	struct vigil_hook_list *list;
	struct vigil_sockaddr *facts;
	volatile int denied = 0;

	list = bpf_map_lookup_elem(&vg_connect_hooks, &zero);
	if (!list || !list->count)
		return 1;
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!s)
		return 1;
	facts = (struct vigil_sockaddr *)s->tail;
	__builtin_memset(facts, 0, sizeof(*facts));
	facts->family = ctx->user_family;
	facts->port = __builtin_bswap16((__u16)ctx->user_port);
	facts->protocol = ctx->protocol;
	facts->type = ctx->type;
	if (v6) {
		__u32 *addr = (__u32 *)facts->addr;

		addr[0] = ctx->user_ip6[0];
		addr[1] = ctx->user_ip6[1];
		addr[2] = ctx->user_ip6[2];
		addr[3] = ctx->user_ip6[3];
	} else {
		*(__u32 *)facts->addr = ctx->user_ip4;
	}
	for (i = 0; i < VIGIL_GENERIC_COPIES; i++) {
		if (i >= list->count)
			break;
		/* Every hook sees the connect and posts its own event; any one may deny it. */
		if (!vg_connect_hook(s, list->slots[i]))
			denied = 1;
	}
	/* Constant returns: the verifier wants to see 0 or 1, and clang folds flag arithmetic
	 * into registers it cannot bound. */
	if (denied)
		return 0;
	return 1;
}

SEC("cgroup/connect4")
int enforce_connect4(struct bpf_sock_addr *ctx)
{
	return vg_connect(ctx, 0);
}

SEC("cgroup/connect6")
int enforce_connect6(struct bpf_sock_addr *ctx)
{
	return vg_connect(ctx, 1);
}

SEC("cgroup/sendmsg4")
int enforce_sendmsg4(struct bpf_sock_addr *ctx)
{
	return vg_connect(ctx, 0);
}

SEC("cgroup/sendmsg6")
int enforce_sendmsg6(struct bpf_sock_addr *ctx)
{
	return vg_connect(ctx, 1);
}

/* The copies (see the top of this file); each is verified on its own. */
#define VG_GENERIC_COPY(n)                                         \
	SEC("tracepoint") int generic_tracepoint_##n(void *ctx)    \
	{                                                          \
		return vg_generic_run(ctx);                         \
	}

VG_GENERIC_COPY(0)
VG_GENERIC_COPY(1)
VG_GENERIC_COPY(2)
VG_GENERIC_COPY(3)
VG_GENERIC_COPY(4)
VG_GENERIC_COPY(5)
VG_GENERIC_COPY(6)
VG_GENERIC_COPY(7)

/*
 * Syscall tracepoints (syscalls/sys_enter_* and sys_exit_*, which the translated syscall
 * kprobes use too) run through one dispatcher on the raw sys_enter / sys_exit tracepoints
 * instead of a copy on each perf tracepoint. Measured on an open/close storm here: an empty
 * program on syscalls/sys_enter_openat costs about 11% (the perf tracepoint builds a record
 * for it), the same program on the raw tracepoint about 6%. The dispatcher runs on every
 * syscall: one array load finds the hooks of this syscall number (none for almost all), then
 * it rebuilds the record the syscall tracepoint would have passed (same field offsets, so the
 * compiled hooks read it unchanged) and runs each listed hook.
 */
__noinline int vg_syscall_hook(struct vigil_generic_scratch *s, __u32 slot)
{
	struct vigil_hook *hook = bpf_map_lookup_elem(&vg_hooks, &slot);

	if (!hook || !s)
		return 0;
	return vg_decide(hook, s, slot, vg_read_args(hook, s), 0, 0);
}

#define VG_TS_COMPAT 0x0002 /* x86 thread_info.status: a 32-bit syscall is running */

static __always_inline int vg_syscall_dispatch(__u64 nr, __u32 is_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct vigil_generic_scratch *s;
	struct vigil_hook_list *list;
	__u32 key, cpu, i, count;
	__u64 *raw;

	if (nr >= VIGIL_SYSCALL_NR_MAX)
		return 0;
	key = (__u32)nr * 2 + is_exit;
	list = bpf_map_lookup_elem(&vg_syscall_hooks, &key);
	if (!list || !list->count)
		return 0;
	/* The syscall tracepoints leave 32-bit syscalls out on x86 (their numbers are another
	 * table); so does the dispatcher. */
	task = bpf_get_current_task_btf();
	if (task->thread_info.status & VG_TS_COMPAT)
		return 0;
	cpu = bpf_get_smp_processor_id();
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!s)
		return 0;
	/* struct syscall_trace_enter / _exit as tracefs describes them: 8 bytes of common fields
	 * (no hook reads them), int __syscall_nr at 8, then the six args or the return value. */
	raw = (__u64 *)s->raw;
	raw[0] = 0;
	raw[1] = nr;
	if (is_exit) {
		/* ret, then the syscall's args, which pt_regs still holds at exit (for a failed
		 * open, the name it was given). */
		raw[2] = (__u64)ret;
		raw[3] = regs->di;
		raw[4] = regs->si;
		raw[5] = regs->dx;
		raw[6] = regs->r10;
		raw[7] = regs->r8;
		raw[8] = regs->r9;
		s->raw_args = 1;
	} else {
		s->raw_args = 0;
		raw[2] = regs->di;
		raw[3] = regs->si;
		raw[4] = regs->dx;
		raw[5] = regs->r10;
		raw[6] = regs->r8;
		raw[7] = regs->r9;
	}
	count = list->count;
	for (i = 0; i < VIGIL_GENERIC_COPIES; i++) {
		if (i >= count)
			break;
		vg_syscall_hook(s, list->slots[i]);
	}
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(generic_sys_enter, struct pt_regs *regs, long id)
{
	return vg_syscall_dispatch((__u64)id, 0, regs, 0);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(generic_sys_exit, struct pt_regs *regs, long ret)
{
	return vg_syscall_dispatch(regs->orig_ax, 1, regs, ret);
}

/*
 * Completes the connect events the cgroup hooks left in vg_connect_pending: at the exit of the
 * syscall that ran the hook, the return value says whether the connect happened, and a Sigkill
 * the cgroup program could not send (no bpf_send_signal there) is sent before the process
 * returns to user space. One compare for every other syscall.
 */
#define VG_NR_CONNECT 42
#define VG_NR_SENDTO 44
#define VG_NR_SENDMSG 46
#define VG_NR_SENDMMSG 307
#define VG_NR_IO_URING_ENTER 426

SEC("tp_btf/sys_exit")
int BPF_PROG(connect_result, struct pt_regs *regs, long ret)
{
	__u64 nr = regs->orig_ax, id;
	struct vg_connect_record *rec;
	__u32 size;

	if (nr != VG_NR_CONNECT && nr != VG_NR_SENDTO && nr != VG_NR_SENDMSG && nr != VG_NR_SENDMMSG &&
	    nr != VG_NR_IO_URING_ENTER)
		return 0;
	id = bpf_get_current_pid_tgid();
	rec = bpf_map_lookup_elem(&vg_connect_pending, &id);
	if (!rec)
		return 0;
	if (rec->ev.signal && !(rec->ev.hdr.flags & (VIGIL_GENERIC_F_MONITOR | VIGIL_GENERIC_F_FENCED))) {
		bpf_send_signal(rec->ev.signal);
		vg_count(VIGIL_CTR_POLICY_SIGNALS);
	}
	rec->ev.result = ret;
	rec->ev.hdr.flags |= VIGIL_GENERIC_F_RESULT;
	size = rec->ev.hdr.size;
	if (!(rec->ev.hdr.flags & VG_F_NOPOST) && size <= sizeof(*rec))
		vg_output(rec, size, VIGIL_CTR_RB_DROPS_GENERIC);
	bpf_map_delete_elem(&vg_connect_pending, &id);
	return 0;
}

/* ---- BPF-LSM programs (lsmhooks where the kernel runs BPF-LSM) ---------------------------- */
#include "lsm_hooks.h"
/* ---------------------------------------------------------------------------------------------
 * Generic kprobes (spec.kprobes on kernel functions, where the kernel has kprobes). One program
 * attached per hook with the slot as its bpf cookie, like the tracepoint copies, but a kprobe
 * takes the same program any number of times. The argument registers are copied into s->raw as
 * five u64s (x86-64 calling convention: di, si, dx, cx, r8), which the compiled arg specs read
 * at 8 * index. The loader autoloads these only where kprobes are usable.
 * ------------------------------------------------------------------------------------------- */
static __always_inline int vg_kprobe_run(struct pt_regs *ctx, const int park)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx);
	__u32 cpu = bpf_get_smp_processor_id();
	struct vigil_generic_scratch *s;
	struct vigil_hook *hook;
	__u64 *raw;

	hook = bpf_map_lookup_elem(&vg_hooks, &slot);
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!hook || !s)
		return 0;
	raw = (__u64 *)s->raw;
	raw[0] = ctx->di;
	raw[1] = ctx->si;
	raw[2] = ctx->dx;
	raw[3] = ctx->cx;
	raw[4] = ctx->r8;
	s->raw_args = 0;
	vg_decide(hook, s, slot, vg_read_args(hook, s), 0, park ? VG_F_PARK_RET : 0);
	return 0;
}

SEC("kprobe")
int generic_kprobe(struct pt_regs *ctx)
{
	return vg_kprobe_run(ctx, 0);
}

/* The entry half of a `return: true` hook: selectors and actions run here, the event waits. */
SEC("kprobe")
int generic_kprobe_ret_entry(struct pt_regs *ctx)
{
	return vg_kprobe_run(ctx, 1);
}

SEC("kretprobe")
int generic_kretprobe(struct pt_regs *ctx)
{
	struct vg_kret_key key = { .id = bpf_get_current_pid_tgid(), .slot = (__u32)bpf_get_attach_cookie(ctx) };
	struct vg_kret_record *rec = bpf_map_lookup_elem(&vg_kret_pending, &key);
	__u32 size;

	if (!rec)
		return 0;
	rec->ev.result = (__s64)ctx->ax;
	rec->ev.hdr.flags |= VIGIL_GENERIC_F_RESULT;
	size = rec->ev.hdr.size;
	if (size <= sizeof(*rec))
		vg_output(rec, size, VIGIL_CTR_RB_DROPS_GENERIC);
	bpf_map_delete_elem(&vg_kret_pending, &key);
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * BPF trampolines (fentry, fexit, fmod_ret) for spec.kprobes and spec.fentries on kernel
 * functions, where the kernel has them: a direct call from the function's ftrace site, no
 * breakpoint or pt_regs (its cost against a kprobe, measured under emulation, is in
 * docs/kernel-matrix.md); fexit sees the arguments and the return value in one
 * program, and fmod_ret can fail a security_* function with the policy's errno (Override) without
 * bpf_override_return, which Debian's kernels do not build.
 *
 * A trampoline program is bound to its function when it is loaded, so these never load with the
 * rest of this object: the loader opens a second instance of the same object per hook, loads only
 * the one program it needs with the function as its target, hands it every map of the running
 * object (one ring buffer, one set of hooks and counters), attaches it with the hook's slot as
 * its cookie and closes the instance (the link keeps the program).
 * ------------------------------------------------------------------------------------------- */
#define VG_TRAMP_ENTRY 0
#define VG_TRAMP_EXIT  1
#define VG_TRAMP_MODRET 2

static __always_inline int vg_trampoline_run(void *ctx, const int mode)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx);
	__u32 cpu = bpf_get_smp_processor_id(), i, tail_len;
	struct vigil_generic_scratch *s;
	struct vigil_hook *hook;
	__u64 *raw, v;

	hook = bpf_map_lookup_elem(&vg_hooks, &slot);
	s = bpf_map_lookup_elem(&vg_generic_scratch, &cpu);
	if (!hook || !s)
		return 0;
	/* The arguments as five u64s, like the kprobe's registers; the helper returns an error
	 * past the function's last argument (the verifier would refuse a direct ctx read there). */
	raw = (__u64 *)s->raw;
	for (i = 0; i < 5; i++) {
		v = 0;
		bpf_get_func_arg(ctx, i, &v);
		raw[i] = v;
	}
	s->raw_args = 0;
	tail_len = vg_read_args(hook, s);
	if (mode == VG_TRAMP_EXIT) {
		v = 0;
		bpf_get_func_ret(ctx, &v);
		s->has_result = 1;
		s->result = (__s64)v;
	}
	if (vg_decide(hook, s, slot, tail_len, mode == VG_TRAMP_MODRET ? VG_DENY_RETURN : 0, 0))
		return 0;
	/* Denied (fmod_ret only): the function is skipped and returns the errno. */
	return (int)s->result;
}

SEC("fentry")
int generic_fentry(void *ctx)
{
	vg_trampoline_run(ctx, VG_TRAMP_ENTRY);
	return 0;
}

/* `return: true`: selectors, actions and the event at the return, with the arguments and what
 * the function returned. */
SEC("fexit")
int generic_fexit(void *ctx)
{
	vg_trampoline_run(ctx, VG_TRAMP_EXIT);
	return 0;
}

/* Hooks with Override: runs before the function; a denial skips it. */
SEC("fmod_ret")
int generic_fmod_ret(void *ctx)
{
	return vg_trampoline_run(ctx, VG_TRAMP_MODRET);
}
