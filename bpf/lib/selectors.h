/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Selectors: matchArgs, matchPIDs, matchNamespaces and matchBinaries of one compiled hook
 * (struct vigil_hook in vg_hooks), against the arguments the readers (args.h) left in the scratch
 * and the current task. Sets (strings, integers, CIDRs) live in the vg_str_*, vg_int_set and
 * vg_addr maps under the filter's set id. bpf/tests runs these functions with BPF_PROG_TEST_RUN.
 */
#ifndef VIGIL_SELECTORS_H
#define VIGIL_SELECTORS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "vigil_abi.h"
#include "policy_maps.h"
#include "process.h"
#include "path.h"
#include "args.h"
#include "fqdn.h"

/* Global functions here are __weak __noinline: several entry files in progs/ include this
 * header and are linked into one object, where the linker keeps one copy; global (not static)
 * so the verifier checks each once, on its own, instead of once per path through its caller. */

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
__weak __noinline int vg_reverse_key(struct vigil_generic_scratch *s)
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
	/* A string longer than a key can hold: the key keeps its first bytes, which Prefix needs;
	 * Equal and NotEqual are decided by the length alone (vg_match_string). */
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

		__u32 b;

		for (w = 0; w < VIGIL_MATCH_STRING_MAX / 8; w++) {
			if (w * 8 >= len)
				break;
			to[w] = from[w];
		}
		/* The words stop at 248 bytes (the key holds 252); a string of 249 to 251 bytes
		 * needs its last ones too, which Postfix compares first (found by bpf/tests). */
		for (b = VIGIL_MATCH_STRING_MAX / 8 * 8; b < VIGIL_MATCH_STRING_MAX - 1; b++) {
			if (b >= len)
				break;
			s->key.data[b] = ((const char *)src)[b];
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

/* String operators against the key vg_load_key built from a string of len bytes. 1: matches. */
static __always_inline int vg_match_string(struct vigil_generic_scratch *s, __u32 op, __u32 len)
{
	/* The key holds only the first VIGIL_MATCH_STRING_MAX - 1 bytes of a longer string, which
	 * equal a stored value of that length; but the compiler refuses values that long, so no
	 * value can equal such a string (found by bpf/tests). */
	int too_long = len > VIGIL_MATCH_STRING_MAX - 1;

	s = vg_scratch_value();
	if (!s)
		return 0;
	switch (op) {
	case VIGIL_OP_EQUAL:
	case VIGIL_OP_IN:
		/* struct vigil_str_key is the tail of struct vigil_str_lpm_key, from set_id on. */
		return !too_long && bpf_map_lookup_elem(&vg_str_eq, &s->key.set_id) != NULL;
	case VIGIL_OP_NOT_EQUAL:
	case VIGIL_OP_NOT_IN:
		return too_long || bpf_map_lookup_elem(&vg_str_eq, &s->key.set_id) == NULL;
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

/*
 * One vigil_argv comparison: the n bytes at s->tail[from] against the set, for op (SubString
 * looks the bytes up in the prefix trie: a value starting there). 1: matches. A global function,
 * so the verifier checks it once per program instead of at every state of the loop that calls
 * it (the argument loop as one body cost seconds of load time); it calls nothing that calls
 * again (vg_match_string's Postfix would call vg_reverse_key, a frame more than the eight the
 * verifier allows below a policy program's selectors and the loop).
 */
__weak __noinline int vg_argv_compare(struct vigil_generic_scratch *s, __u32 op, __u32 set_id, __u32 from, __u32 n)
{
	__u32 k;

	if (!s)
		return 0;
	from &= VIGIL_GENERIC_TAIL - 1;
	if (n > VIGIL_MATCH_STRING_MAX - 1)
		n = VIGIL_MATCH_STRING_MAX - 1;
	if (op == VIGIL_OP_POSTFIX) {
		/* The reversed key straight from the argument's bytes (the trie holds reversed
		 * values); bytes past n are never compared. */
		for (k = 0; k < VIGIL_MATCH_STRING_MAX - 1; k++) {
			if (k >= n)
				break;
			s->rkey.data[k] = s->tail[(from + n - 1 - k) & (VIGIL_GENERIC_TAIL - 1)];
		}
		s->rkey.prefixlen = 32 + 8 * n;
		s->rkey.set_id = set_id;
		s = vg_scratch_value(); /* the key as a map value, see vg_scratch_value() */
		return s && bpf_map_lookup_elem(&vg_str_postfix, &s->rkey) != NULL;
	}
	if (op == VIGIL_OP_EQUAL) {
		vg_load_key(s, s->tail + from, n, set_id, VIGIL_OP_EQUAL, 1);
		s = vg_scratch_value();
		return s && bpf_map_lookup_elem(&vg_str_eq, &s->key.set_id) != NULL;
	}
	/* Prefix, and SubString at one position. */
	vg_load_key(s, s->tail + from, n, set_id, VIGIL_OP_PREFIX, 1);
	s = vg_scratch_value();
	return s && bpf_map_lookup_elem(&vg_str_prefix, &s->key) != NULL;
}

/* bpf_loop() context of vg_match_argv(). */
struct vg_argv_ctx {
	struct vigil_generic_scratch *s;
	__u32 op, set_id, off, len, maxlen;
	__u32 start;   /* where the current argument starts */
	__u32 matched;
};

/*
 * One byte position i of the arguments (vigil_argv: NUL-terminated each, len bytes; i == len is
 * the end). SubString: the bytes from i are looked up in the prefix trie of the values, so one
 * lookup per position finds every value starting there; a value holds no NUL, so a match never
 * spans two arguments. Equal, Prefix, Postfix: each argument once, at the NUL that ends it. An
 * argument the read cut (no NUL before len) can only match Prefix and SubString on what was read.
 */
static long vg_argv_step(__u64 i, void *ctx)
{
	struct vg_argv_ctx *c = ctx;
	struct vigil_generic_scratch *s = c->s;
	__u32 at = i, n, from;
	char ch = 0;

	if (!s || at > c->len || at > VIGIL_ARGV_MAX)
		return 1;
	if (at < c->len)
		ch = s->tail[(c->off + at) & (VIGIL_GENERIC_TAIL - 1)];
	if (c->op == VIGIL_OP_SUBSTRING) {
		if (at == c->len)
			return 1;
		if (!ch)
			return 0;
		n = c->len - at;
		if (n > c->maxlen)
			n = c->maxlen;
		if (vg_argv_compare(s, VIGIL_OP_SUBSTRING, c->set_id, c->off + at, n)) {
			c->matched = 1;
			return 1;
		}
		return 0;
	}
	if (ch)
		return 0;
	if (at < c->start)
		return 1;
	n = at - c->start;
	from = c->start;
	c->start = at + 1;
	if (at == c->len) {
		/* The end: an argument cut by the read, or nothing after the last NUL. */
		if (!n || c->op != VIGIL_OP_PREFIX)
			return 1;
	}
	/* Equal cannot hold for an argument longer than a key (no value is that long); Prefix
	 * compares its first bytes, Postfix its last. */
	if (n > VIGIL_MATCH_STRING_MAX - 1) {
		if (c->op == VIGIL_OP_EQUAL)
			return at == c->len;
		if (c->op == VIGIL_OP_POSTFIX)
			from += n - (VIGIL_MATCH_STRING_MAX - 1);
		n = VIGIL_MATCH_STRING_MAX - 1;
	}
	if (vg_argv_compare(s, c->op, c->set_id, c->off + from, n)) {
		c->matched = 1;
		return 1;
	}
	return at == c->len;
}

/* matchArgs on vigil_argv: 1 when any argument matches (Equal, Prefix, Postfix, SubString).
 * Only what the reader kept (VIGIL_ARGV_MAX bytes) is seen; the event says when that was not all. */
static __always_inline int vg_match_argv(struct vigil_generic_scratch *s, __u32 op, __u32 set_id, __u32 off,
					 __u32 len, __u32 maxlen)
{
	/* Inlined into vg_match_arg(): a call frame of its own would be one too many (the
	 * verifier allows eight; policy programs, selectors, this loop and its comparison use them). */
	if (!s)
		return 0;
	if (len > VIGIL_ARGV_MAX)
		len = VIGIL_ARGV_MAX;
	if (maxlen > VIGIL_MATCH_STRING_MAX - 1)
		maxlen = VIGIL_MATCH_STRING_MAX - 1;

	struct vg_argv_ctx c = { .s = s, .op = op, .set_id = set_id, .off = off, .len = len, .maxlen = maxlen };

	bpf_loop(VIGIL_ARGV_MAX + 1, vg_argv_step, &c, 0);
	return c.matched;
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
	case VIGIL_OP_DNS_NAME:
	case VIGIL_OP_NOT_DNS_NAME: {
		__u64 lo, hi;
		int found;

		__builtin_memcpy(&lo, sa->addr, 8);
		__builtin_memcpy(&hi, sa->addr + 8, 8);
		found = vg_fqdn_allowed(f->set_id, sa->family, lo, hi);
		return f->op == VIGIL_OP_DNS_NAME ? found : !found;
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

/* The return value as matchReturnArgs compares it: narrowed to returnArg's type (an int
 * function's upper register half is not its value) and widened back as the compiler widens the
 * policy's values. */
static __always_inline __u64 vg_result_value(struct vigil_hook *hook, __s64 r)
{
	switch (hook->result_size) {
	case 1:
		return hook->result_signed ? (__u64)(__s64)(__s8)r : (__u64)(__u8)r;
	case 2:
		return hook->result_signed ? (__u64)(__s64)(__s16)r : (__u64)(__u16)r;
	case 4:
		return hook->result_signed ? (__u64)(__s64)(__s32)r : (__u64)(__u32)r;
	}
	return (__u64)r;
}

/* One matchArgs entry. 1: matches. */
__weak __noinline int vg_match_arg(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 sel, __u32 j)
{
	struct vigil_arg_filter *f;
	struct vigil_arg_value *v;
	__u32 slot, off;

	if (!hook || !s || sel >= VIGIL_SELECTORS || j >= VIGIL_MATCH_ARGS)
		return 0;
	f = &hook->selectors[sel].args[j];
	slot = f->arg;
	/* matchReturnArgs: the return value, integers only (the compiler refuses the rest); a
	 * hook that has no result here never matches rather than matching on a zero. */
	if (slot == VIGIL_ARG_SLOT_RESULT)
		return s->has_result && vg_match_ints(f, vg_result_value(hook, s->result));
	if (slot >= VIGIL_HOOK_ARGS)
		return 0;
	v = &s->ev.args[slot];
	off = s->arg_off[slot];
	if (v->flags & VIGIL_ARG_F_ERROR)
		return 0;

	switch (v->kind) {
	case VIGIL_ARG_ARGV:
		return vg_match_argv(s, f->op, f->set_id, off, v->len, (__u32)f->values[0]);
	case VIGIL_ARG_STRING:
	case VIGIL_ARG_DATA_LOC:
	case VIGIL_ARG_CHAR_BUF:
	case VIGIL_ARG_KSTRING:
		vg_load_key(s, s->tail + (off & (VIGIL_GENERIC_TAIL - 1)), v->len, f->set_id, f->op, 1);
		return vg_match_string(s, f->op, v->len);
	case VIGIL_ARG_FILE_FD:
	case VIGIL_ARG_EXE:
	case VIGIL_ARG_KFILE:
		/* The path after the inode/device header. */
		if (v->len < VIGIL_FILE_HEADER)
			return 0;
		vg_load_key(s, s->tail + ((off + VIGIL_FILE_HEADER) & (VIGIL_GENERIC_TAIL - 1)),
			    v->len - VIGIL_FILE_HEADER, f->set_id, f->op, 1);
		if (vg_match_string(s, f->op, v->len - VIGIL_FILE_HEADER))
			return 1;
		/* vigil-file-identity: inode: the files the paths named at load, under any other name
		 * (a hard link, a bind mount, a rename), by the header's (ino, dev). */
		if ((f->flags & VIGIL_ARG_FILTER_F_INODE) && f->op == VIGIL_OP_EQUAL) {
			struct vigil_file_id_key key = { .set_id = f->set_id };
			struct vigil_file_header header;

			bpf_probe_read_kernel(&header, sizeof(header), s->tail + (off & (VIGIL_GENERIC_TAIL - 1)));
			key.ino = header.ino;
			key.dev = header.dev;
			return bpf_map_lookup_elem(&vg_file_ids, &key) != NULL;
		}
		return 0;
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
__weak __noinline int vg_match_pids(struct vigil_hook *hook, __u32 sel)
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
	for (depth = 0; depth < VIGIL_LINEAGE_DEPTH && task; depth++) {
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
__weak __noinline int vg_match_namespaces(struct vigil_hook *hook, __u32 sel)
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

/*
 * followChildren (In / NotIn only): whether the current process or one of its ancestors
 * (real_parent, up to VIGIL_LINEAGE_DEPTH generations) runs one of the binaries, as the kernel
 * side recorded each at exec. NotIn holds when none of them does. Unlike Tetragon, which marks
 * children at fork from the policy's load on, the lineage is read when the hook runs, so
 * descendants started before the policy loaded match too.
 */
static __always_inline int vg_match_lineage(struct vigil_generic_scratch *s, struct vigil_bin_filter *f)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_proc_state *proc;
	int depth, found = 0;
	__u32 tgid;

	for (depth = 0; depth < VIGIL_LINEAGE_DEPTH && task; depth++) {
		tgid = BPF_CORE_READ(task, tgid);
		proc = bpf_map_lookup_elem(&vg_procs, &tgid);
		if (proc && proc->binary_len > 0 && proc->binary_len < VIGIL_BINARY_MAX) {
			vg_load_key(s, proc->binary, proc->binary_len, f->set_id, VIGIL_OP_IN, 0);
			if (vg_match_string(s, VIGIL_OP_IN, proc->binary_len)) {
				found = 1;
				break;
			}
		}
		if (tgid <= 1)
			break;
		task = BPF_CORE_READ(task, real_parent);
	}
	return f->op == VIGIL_OP_NOT_IN ? !found : found;
}

/* matchBinaries (parent 0) or matchParentBinaries (parent 1) against the binary the kernel side
 * recorded at exec (or inherited at fork) for the current process or its parent (real_parent,
 * as Tetragon's). */
__weak __noinline int vg_match_binary(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 sel, __u32 parent)
{
	struct vigil_bin_filter *f;
	struct vigil_proc_state *proc;
	__u32 tgid;

	if (!hook || !s || sel >= VIGIL_SELECTORS)
		return 0;
	f = parent ? &hook->selectors[sel].parent_bin : &hook->selectors[sel].bin;
	if (f->op == VIGIL_OP_NONE)
		return 1;
	if (f->flags & VIGIL_BIN_F_FOLLOW_CHILDREN)
		return vg_match_lineage(s, f);
	if (parent) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		tgid = BPF_CORE_READ(task, real_parent, tgid);
	} else {
		tgid = bpf_get_current_pid_tgid() >> 32;
	}
	proc = bpf_map_lookup_elem(&vg_procs, &tgid);
	if (!proc || proc->binary_len == 0 || proc->binary_len >= VIGIL_BINARY_MAX) {
		/* Unknown or too long to keep: only the negated operators can hold. */
		return f->op == VIGIL_OP_NOT_IN || f->op == VIGIL_OP_NOT_PREFIX || f->op == VIGIL_OP_NOT_POSTFIX;
	}
	vg_load_key(s, proc->binary, proc->binary_len, f->set_id, f->op, 0);
	return vg_match_string(s, f->op, proc->binary_len);
}

/* matchCapabilities on the current task's credentials. kernel_cap_t is 8 bytes on every kernel
 * (two u32 before 6.3, one u64 since), capability n at bit n either way. */
__weak __noinline int vg_match_caps(struct vigil_hook *hook, __u32 sel)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_cap_filter *f;
	const struct cred *cred;
	__u64 caps = 0;

	if (!hook || sel >= VIGIL_SELECTORS)
		return 0;
	f = &hook->selectors[sel].caps;
	cred = BPF_CORE_READ(task, cred);
	if (!cred)
		return 0;
	/* isNamespaceCapability: capabilities held in the host's user namespace do not count. */
	if (f->host_user_ns && BPF_CORE_READ(cred, user_ns, ns.inum) == f->host_user_ns)
		return 0;
	switch (f->set) {
	case VIGIL_CAPS_PERMITTED:
		bpf_core_read(&caps, sizeof(caps), &cred->cap_permitted);
		break;
	case VIGIL_CAPS_INHERITABLE:
		bpf_core_read(&caps, sizeof(caps), &cred->cap_inheritable);
		break;
	default:
		bpf_core_read(&caps, sizeof(caps), &cred->cap_effective);
		break;
	}
	return f->op == VIGIL_OP_IN ? (caps & f->mask) != 0 : (caps & f->mask) == 0;
}

__weak __noinline int vg_match_selector(struct vigil_hook *hook, struct vigil_generic_scratch *s, __u32 sel)
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
	if (hook->selectors[sel].bin.op != VIGIL_OP_NONE && !vg_match_binary(hook, s, sel, 0))
		return 0;
	if (hook->selectors[sel].parent_bin.op != VIGIL_OP_NONE && !vg_match_binary(hook, s, sel, 1))
		return 0;
	if (hook->selectors[sel].caps.op != VIGIL_OP_NONE && !vg_match_caps(hook, sel))
		return 0;
	for (j = 0; j < VIGIL_MATCH_ARGS; j++) {
		if (j >= hook->selectors[sel].nargs)
			break;
		if (!vg_match_arg(hook, s, sel, j))
			return 0;
	}
	return 1;
}

/* vg_select() without a selector to name. */
#define VG_SEL_ALL      -1 /* the hook has no selectors: every event matches */
#define VG_SEL_FILTERED -2 /* it has selectors and none matched */

/* The first selector of the hook that matches the arguments in s and the current task: its
 * index, with *selector pointing at it; or VG_SEL_ALL / VG_SEL_FILTERED, *selector NULL. */
static __always_inline int vg_select(struct vigil_hook *hook, struct vigil_generic_scratch *s,
				     struct vigil_selector **selector)
{
	__u32 i;

	*selector = NULL;
	if (!hook->nselectors)
		return VG_SEL_ALL;
	for (i = 0; i < VIGIL_SELECTORS; i++) {
		if (i >= hook->nselectors)
			break;
		if (vg_match_selector(hook, s, i)) {
			/* The pointer is taken here, where i is bounded by the loop: the 6.1
			 * verifier loses the bounds of an index once it is spilled and refuses
			 * &hook->selectors[sel] later ("math between map_value pointer and
			 * 4294967295"); found by the kernel matrix. */
			*selector = &hook->selectors[i];
			return i;
		}
	}
	return VG_SEL_FILTERED;
}

#endif
