/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Argument readers of the policy hooks: each fills s->ev.args[i] and its bytes in s->tail from
 * what the entry program copied into s->raw (a tracepoint record, the syscall dispatcher's
 * rebuilt record, or a kernel function's arguments as five u64s), so selectors and user space see
 * one encoding whichever mechanism served the hook.
 */
#ifndef VIGIL_ARGS_H
#define VIGIL_ARGS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "vigil_abi.h"
#include "policy_maps.h"
#include "process.h"
#include "path.h"

/* Global functions here are __weak __noinline: several entry files in progs/ include this
 * header and are linked into one object, where the linker keeps one copy; global (not static)
 * so the verifier checks each once, on its own, instead of once per path through its caller. */

#define AF_INET  2
#define AF_INET6 10

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

/* The struct file behind descriptor fd of task (task->files->fdt->fd[fd]), or NULL. */
static __always_inline struct file *vg_fd_file(struct task_struct *task, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	struct file *file = NULL;

	if (fd < 0 || fd >= max || bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) < 0)
		return NULL;
	return file;
}

/*
 * A failed open has no file: its path is the name the caller passed, joined to the directory
 * it is relative to (dirfd, or the cwd) when it does not start with '/'. Not normalized ("..",
 * symlinks): nothing was opened to resolve it. Writes at s->tail + off (which has
 * VIGIL_BUF_MAX bytes of room); returns the length, 0 when the name is unreadable.
 */
__weak __noinline int vg_read_failed_open(struct vigil_generic_scratch *s, __u32 off, __u64 name, __s64 dirfd)
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
			struct file *file = vg_fd_file(task, dirfd);

			if (!file)
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
 * Arguments of kernel functions (kprobes, trampolines). Their programs (kfunc.h) copy
 * the argument registers into s->raw as five u64s, so `offset` is 8 * the prototype index and
 * the values there are kernel pointers.
 * ------------------------------------------------------------------------------------------- */

/* A path (dentry, vfsmount) and its inode as file arg i (at: i << 16 | tail offset; five
 * arguments at most, so two share one): struct vigil_file_header {ino, dev}, then the path from
 * the task's root, its last bytes when longer than the room. value: i_mode (callers with a file
 * add f_flags << 32). Returns the bytes used; 0 and the ERROR flag without a path. The FILE_FD
 * and EXE args of syscalls, the file/path args of kprobes and the LSM file hooks all write file
 * args here, so selectors and user space see one encoding whichever mechanism served. */
__weak __noinline int vg_put_path(struct vigil_generic_scratch *s, __u32 at, __u64 dentry, __u64 mnt, __u64 inode_ptr)
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

/* A struct file as file arg `out` (at as for vg_put_path): its path and inode, and f_flags << 32
 * added to the value; 0 and the ERROR flag without a file. The one reader of a file for the
 * FILE_FD and EXE args of syscalls, the file args of kernel functions and the LSM file hooks. */
static __always_inline int vg_put_file(struct vigil_generic_scratch *s, struct vigil_arg_value *out, __u32 at,
				       struct file *file)
{
	int n;

	if (!file) {
		out->flags |= VIGIL_ARG_F_ERROR;
		return 0;
	}
	n = vg_put_path(s, at, (__u64)BPF_CORE_READ(file, f_path.dentry), (__u64)BPF_CORE_READ(file, f_path.mnt),
			(__u64)BPF_CORE_READ(file, f_inode));
	if (n > 0)
		out->value |= (__u64)BPF_CORE_READ(file, f_flags) << 32;
	return n;
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
__weak __noinline int vg_read_kernel_arg(struct vigil_generic_scratch *s, __u32 i, __u32 spec, __u32 tail_off)
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
		/* Variant 1: struct net_device *, its name (a char array inside it). */
		if (variant == 1)
			ptr = ptr ? ptr + bpf_core_field_offset(struct net_device, name) : 0;
		n = bpf_probe_read_kernel_str(dst, VIGIL_STRING_MAX, (void *)ptr);
		if (n <= 0 && variant == 0)
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
		if (variant == 4) { /* struct dentry *: within its filesystem (no mount to cross) */
			struct dentry *dentry = (struct dentry *)ptr;

			return vg_put_path(s, i << 16 | tail_off, (__u64)dentry, VG_WALK_NO_MOUNT,
					   dentry ? (__u64)BPF_CORE_READ(dentry, d_inode) : 0);
		}
		/* 2: struct linux_binprm *, 3: struct kiocb *, else struct file *. */
		file = variant == 2   ? BPF_CORE_READ((struct linux_binprm *)ptr, file)
		       : variant == 3 ? BPF_CORE_READ((struct kiocb *)ptr, ki_filp)
				      : (struct file *)ptr;
		return vg_put_file(s, out, i << 16 | tail_off, file);
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
		vg_copy_creds(c, cred); /* as exec records copy the task's */
		out->value = c->uid;
		out->len = sizeof(*c);
		return sizeof(*c);
	}
	}
	return 0;
}

/*
 * vigil_argv as arg i: the current task's arguments after argv[0], NUL-terminated each, the
 * first VIGIL_ARGV_MAX bytes. At sched_process_exec the task's mm is the new image's, whose
 * stack exec has just written: the argv the new program gets, not the caller's pointers (which
 * another thread could change under a syscall-entry read). value: the arguments' whole size, so
 * the event says how much was left unread; TRUNCATED then.
 */
__weak __noinline int vg_read_argv(struct vigil_generic_scratch *s, __u32 i, __u32 tail_off)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_arg_value *out;
	unsigned long start, end, total;
	__u32 want;
	char *dst;
	long n;

	if (!s || i >= VIGIL_HOOK_ARGS)
		return 0;
	out = &s->ev.args[i];
	tail_off &= VIGIL_GENERIC_TAIL - 1;
	dst = s->tail + tail_off;
	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	if (!start || end <= start) {
		out->flags |= VIGIL_ARG_F_ERROR;
		return 0;
	}
	/* argv[0] is skipped by its length (its NUL included); dst has VIGIL_BUF_MAX bytes of room
	 * for the scan. One longer than that leaves no argument to read: truncated. */
	n = bpf_probe_read_user_str(dst, VIGIL_BUF_MAX, (void *)start);
	if (n <= 0) {
		out->flags |= VIGIL_ARG_F_ERROR;
		return 0;
	}
	if (n >= VIGIL_BUF_MAX) {
		out->flags |= VIGIL_ARG_F_TRUNCATED;
		out->value = end - start;
		return 0;
	}
	start += n;
	total = end > start ? end - start : 0;
	out->value = total;
	want = total > VIGIL_ARGV_MAX ? VIGIL_ARGV_MAX : (__u32)total;
	if (total > VIGIL_ARGV_MAX)
		out->flags |= VIGIL_ARG_F_TRUNCATED;
	want = vg_clamp(want, VIGIL_ARGV_MAX);
	if (want && bpf_probe_read_user(dst, want, (void *)start) < 0) {
		out->flags |= VIGIL_ARG_F_ERROR;
		return 0;
	}
	out->len = want;
	return want;
}

/*
 * The controlling tty of task as a device number, encoded as stat(2)'s st_rdev gives it
 * (new_encode_dev(): minor's low byte, major, minor's upper bits), which is Falco's proc.tty;
 * 0 without one. The tty's number is its driver's first minor plus its index, as the kernel's
 * tty_devnum() computes it.
 */
static __always_inline __u64 vg_task_tty(struct task_struct *task)
{
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	__u32 major, minor;

	if (!tty)
		return 0;
	major = BPF_CORE_READ(tty, driver, major);
	minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (minor & 0xff) | ((major & 0xfff) << 8) | ((__u64)(minor & ~0xffu) << 12);
}

#define VG_OVERLAYFS_SUPER_MAGIC 0x794c7630

/*
 * Whether the task's executable is an overlayfs file with an upper dentry: created in the upper
 * (writable) layer or copied up into it, not only in the lower (image) layers. exe_file is the
 * overlay's own file (overlayfs opens the real one behind it), so f_inode is the overlay inode,
 * embedded in struct ovl_inode as vfs_inode with __upperdentry right after it, as in every kernel
 * since 4.13 (fs/overlayfs/ovl_entry.h). ovl_inode is in a module's BTF where overlayfs is a
 * module, which CO-RE cannot rely on being loaded, so the pointer is read at vfs_inode +
 * sizeof(struct inode) (vmlinux's); user space checks that layout against the kernel's BTF where
 * it has ovl_inode and refuses the type where it differs (KernelBTF.overlayUpperLayerRefusal).
 */
static __always_inline __u64 vg_exe_upper_layer(struct task_struct *task)
{
	struct inode *inode = BPF_CORE_READ(task, mm, exe_file, f_inode);
	struct dentry *upper = NULL;

	if (!inode || BPF_CORE_READ(inode, i_sb, s_magic) != VG_OVERLAYFS_SUPER_MAGIC)
		return 0;
	if (bpf_probe_read_kernel(&upper, sizeof(upper), (char *)inode + bpf_core_type_size(struct inode)) < 0)
		return 0;
	return upper != NULL;
}

/* VIGIL_ARG_TASK: one fact of the current task (enum vigil_task_fact). */
static __always_inline __u64 vg_task_fact(__u32 fact)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	switch (fact) {
	case VIGIL_TASK_TTY:
		return vg_task_tty(task);
	case VIGIL_TASK_UID:
		return BPF_CORE_READ(task, cred, uid.val);
	case VIGIL_TASK_EUID:
		return BPF_CORE_READ(task, cred, euid.val);
	case VIGIL_TASK_AUID:
		return vg_loginuid(task);
	case VIGIL_TASK_EXE_UPPER:
		return vg_exe_upper_layer(task);
	}
	return 0;
}

/* Reads argument i into s->ev.args[i] and the tail at *tail_off. Returns the bytes it used. */
__weak __noinline int vg_read_arg(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 i, __u32 tail_off)
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

			if (spec.meta_offset) {
				/* An open syscall's exit: what it returned is the event's result. */
				s->result = fd;
				s->has_result = 1;
			}
			if (fd < 0 && spec.meta_offset && s->raw_args && !(hook->flags & VIGIL_HOOK_F_OPEN_NO_NAME)) {
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
			file = vg_fd_file(task, fd);
		}
		return vg_put_file(s, out, i << 16 | tail_off, file);
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
	case VIGIL_ARG_ARGV:
		return vg_read_argv(s, i, tail_off);
	case VIGIL_ARG_TASK:
		out->value = vg_task_fact(spec.meta_size);
		return 0;
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

/* Every argument of the hook from the record in s->raw. Returns the tail bytes they use. */
static __always_inline __u32 vg_read_args(struct vigil_hook *hook, struct vigil_generic_scratch *s)
{
	__u32 tail_len = 0, i;

	s->has_result = 0;
	if (hook->flags & VIGIL_HOOK_F_SYSCALL_RETURN) {
		s->result = (__s64)vg_raw_int(s, 16, 8, 1);
		s->has_result = 1;
	}
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

#endif
