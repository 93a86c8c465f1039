/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven BPF unit tests of the policy selectors: each case builds one compiled hook (struct
 * vigil_hook, the bytes the policy compiler writes to vg_hooks) and its set entries (keys laid out
 * as Sources/PolicyCompiler/MapEntries.swift lays them out), runs selectors_test.bpf.c's program
 * with BPF_PROG_TEST_RUN on a context holding the argument, and checks which selector matched.
 * Nothing is attached and no event leaves the program, so it needs no fence; it needs root
 * (CAP_BPF and CAP_PERFMON) to load a raw_tp program, and says so and skips without.
 *
 * Usage: selectors_test [-v]   (-v lists every case)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "vigil_abi.h"
#include "selectors_test.skel.h"

/* vg_select()'s verdicts without a selector index (lib/selectors.h). */
#define SEL_ALL      -1
#define SEL_FILTERED -2
#define NO_MATCH     SEL_FILTERED
#define MATCH        0 /* the first (only) selector */

static struct selectors_test *skel;
static int verbose, failures, passed;
static __u32 next_set = 1; /* fresh set ids per case, as each compile allocates its own */

/* ---- set entries, as the compiler writes them ------------------------------------------- */

static int map_fd(struct bpf_map *map)
{
	return bpf_map__fd(map);
}

static void must(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "selectors_test: %s: %s\n", what, strerror(err < 0 ? -err : errno));
		exit(2);
	}
}

/* A string set in the map of operator op (vg_str_eq, vg_str_prefix, or vg_str_postfix
 * reversed); returns its id. */
static __u32 add_strings(__u8 op, const char *const values[4])
{
	__u32 set = next_set++;
	__u8 one = 1;

	for (int i = 0; i < 4 && values[i]; i++) {
		size_t len = strlen(values[i]);

		/* The compiler refuses longer values (SelectorCompiler.addStringSet). */
		if (len >= VIGIL_MATCH_STRING_MAX) {
			fprintf(stderr, "selectors_test: a value of %zu bytes cannot be a set entry\n", len);
			exit(2);
		}

		if (op == VIGIL_OP_EQUAL || op == VIGIL_OP_NOT_EQUAL || op == VIGIL_OP_IN || op == VIGIL_OP_NOT_IN) {
			struct vigil_str_key key = { .set_id = set };

			memcpy(key.data, values[i], len);
			must(bpf_map_update_elem(map_fd(skel->maps.vg_str_eq), &key, &one, BPF_ANY), "vg_str_eq");
		} else {
			struct vigil_str_lpm_key key = { .prefixlen = 32 + 8 * (__u32)len, .set_id = set };
			int postfix = op == VIGIL_OP_POSTFIX || op == VIGIL_OP_NOT_POSTFIX;

			for (size_t j = 0; j < len; j++)
				key.data[j] = postfix ? values[i][len - 1 - j] : values[i][j];
			must(bpf_map_update_elem(map_fd(postfix ? skel->maps.vg_str_postfix : skel->maps.vg_str_prefix),
						 &key, &one, BPF_ANY), "vg_str_prefix/postfix");
		}
	}
	return set;
}

static __u32 add_ints(const __s64 values[4], int n)
{
	__u32 set = next_set++;
	__u8 one = 1;

	for (int i = 0; i < n; i++) {
		struct vigil_int_key key = { .set_id = set, .value = (__u64)values[i] };

		must(bpf_map_update_elem(map_fd(skel->maps.vg_int_set), &key, &one, BPF_ANY), "vg_int_set");
	}
	return set;
}

/* CIDRs "a.b.c.d/n" or "x::/n"; IPv4 stored IPv4-mapped, its prefix 96 bits longer. */
static __u32 add_cidrs(const char *const cidrs[2])
{
	__u32 set = next_set++;
	__u8 one = 1;

	for (int i = 0; i < 2 && cidrs[i]; i++) {
		struct vigil_addr_key key = { .set_id = set };
		char text[64];
		char *slash;
		int bits;

		snprintf(text, sizeof(text), "%s", cidrs[i]);
		slash = strchr(text, '/');
		*slash = 0;
		bits = atoi(slash + 1);
		if (inet_pton(AF_INET, text, &key.addr[12]) == 1) {
			key.addr[10] = key.addr[11] = 0xff;
			bits += 96;
		} else if (inet_pton(AF_INET6, text, key.addr) != 1) {
			fprintf(stderr, "selectors_test: bad CIDR %s\n", cidrs[i]);
			exit(2);
		}
		key.prefixlen = 32 + (__u32)bits;
		must(bpf_map_update_elem(map_fd(skel->maps.vg_addr), &key, &one, BPF_ANY), "vg_addr");
	}
	return set;
}

/* ---- running one hook --------------------------------------------------------------------- */

/* A hook with one argument of kind/size/signedness at record offset 0 and one selector. */
static struct vigil_hook one_arg_hook(__u8 kind, __u8 size, __u8 is_signed)
{
	struct vigil_hook h = { .ctx_size = 12 * 8, .nargs = 1, .nselectors = 1 };

	h.args[0] = (struct vigil_arg_spec){ .kind = kind, .size = size, .is_signed = is_signed };
	h.selectors[0].nactions = 1;
	h.selectors[0].actions[0].kind = VIGIL_ACTION_POST;
	return h;
}

/* Runs the program on hook h with the record ctx; returns vg_select()'s verdict. */
static int run(const struct vigil_hook *h, const __u64 ctx[12])
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = ctx, .ctx_size_in = 12 * sizeof(__u64));
	__u32 slot = 0;
	int err;

	must(bpf_map_update_elem(map_fd(skel->maps.vg_hooks), &slot, h, BPF_ANY), "vg_hooks");
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.select_hook), &opts);
	must(err, "BPF_PROG_TEST_RUN");
	if (opts.retval == 100) {
		fprintf(stderr, "selectors_test: the program found no hook or scratch\n");
		exit(2);
	}
	return (int)opts.retval;
}

static void expect(const char *group, const char *name, int got, int want)
{
	if (got == want) {
		passed++;
		if (verbose)
			printf("ok    %s: %s\n", group, name);
		return;
	}
	failures++;
	printf("FAIL  %s: %s: vg_select %d, want %d\n", group, name, got, want);
}

/* ---- matchArgs on strings ----------------------------------------------------------------- */

#define LONG_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 125 bytes */

static const struct string_case {
	const char *name;
	__u8 op;
	const char *values[4];
	const char *arg;
	int want;
} string_cases[] = {
	{ "Equal, same string", VIGIL_OP_EQUAL, { "/etc/passwd" }, "/etc/passwd", MATCH },
	{ "Equal, argument longer", VIGIL_OP_EQUAL, { "/etc/passwd" }, "/etc/passwd-", NO_MATCH },
	{ "Equal, argument shorter", VIGIL_OP_EQUAL, { "/etc/passwd" }, "/etc/passw", NO_MATCH },
	{ "Equal, second of two values", VIGIL_OP_EQUAL, { "/etc/group", "/etc/shadow" }, "/etc/shadow", MATCH },
	/* Longer than a key holds (VIGIL_MATCH_STRING_MAX - 1 = 251 bytes): the key keeps the first
	 * 251, which must not make it equal a 251-byte value. */
	{ "Equal, 251 bytes, the longest value", VIGIL_OP_EQUAL, { "/" LONG_A LONG_A }, "/" LONG_A LONG_A, MATCH },
	{ "Equal, 253-byte argument, its first 251 a value", VIGIL_OP_EQUAL, { "/" LONG_A LONG_A }, "/" LONG_A LONG_A "bb", NO_MATCH },
	{ "NotEqual, 253-byte argument, its first 251 a value", VIGIL_OP_NOT_EQUAL, { "/" LONG_A LONG_A }, "/" LONG_A LONG_A "bb", MATCH },
	{ "Equal, empty argument", VIGIL_OP_EQUAL, { "x" }, "", NO_MATCH },
	{ "NotEqual, other string", VIGIL_OP_NOT_EQUAL, { "/etc/passwd" }, "/etc/group", MATCH },
	{ "NotEqual, same string", VIGIL_OP_NOT_EQUAL, { "/etc/passwd" }, "/etc/passwd", NO_MATCH },
	{ "NotEqual, one of two values", VIGIL_OP_NOT_EQUAL, { "/a", "/etc/passwd" }, "/etc/passwd", NO_MATCH },
	{ "Prefix, directory", VIGIL_OP_PREFIX, { "/etc/" }, "/etc/passwd", MATCH },
	{ "Prefix, whole string", VIGIL_OP_PREFIX, { "/etc/passwd" }, "/etc/passwd", MATCH },
	{ "Prefix, longer than the argument", VIGIL_OP_PREFIX, { "/etc/passwd" }, "/etc", NO_MATCH },
	{ "Prefix, not at the start", VIGIL_OP_PREFIX, { "/etc/" }, "/usr/etc/passwd", NO_MATCH },
	{ "Prefix, second of two values", VIGIL_OP_PREFIX, { "/usr/", "/etc/" }, "/etc/hosts", MATCH },
	{ "Prefix, shortest of nested values", VIGIL_OP_PREFIX, { "/e", "/etc/ssh/" }, "/etc/hosts", MATCH },
	{ "Prefix, past 8-byte words", VIGIL_OP_PREFIX, { "/var/lib/kubelet/pods/" }, "/var/lib/kubelet/pods/x/volumes", MATCH },
	{ "Prefix, differs in the last byte", VIGIL_OP_PREFIX, { "/var/lib/kubelet/pods/" }, "/var/lib/kubelet/pods", NO_MATCH },
	{ "Prefix, long argument", VIGIL_OP_PREFIX, { "/aaa" }, "/" LONG_A LONG_A, MATCH },
	{ "NotPrefix, other directory", VIGIL_OP_NOT_PREFIX, { "/etc/" }, "/usr/bin/id", MATCH },
	{ "NotPrefix, inside", VIGIL_OP_NOT_PREFIX, { "/etc/" }, "/etc/hosts", NO_MATCH },
	{ "Postfix, extension", VIGIL_OP_POSTFIX, { ".so" }, "/lib/libc.so", MATCH },
	{ "Postfix, not at the end", VIGIL_OP_POSTFIX, { ".so" }, "/lib/libc.so.6", NO_MATCH },
	{ "Postfix, whole string", VIGIL_OP_POSTFIX, { "/bin/sh" }, "/bin/sh", MATCH },
	{ "Postfix, longer than the argument", VIGIL_OP_POSTFIX, { "/usr/bin/sh" }, "/bin/sh", NO_MATCH },
	{ "Postfix, second of two values", VIGIL_OP_POSTFIX, { "/bash", "/sh" }, "/bin/sh", MATCH },
	/* 251 bytes, the longest a key holds: its last three lie past the 8-byte words. */
	{ "Postfix, 251-byte argument, its last bytes", VIGIL_OP_POSTFIX, { "axyz" }, "/" LONG_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaxyz", MATCH },
	{ "Postfix, 251-byte argument, other last bytes", VIGIL_OP_POSTFIX, { "ayz" }, "/" LONG_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaxyz", NO_MATCH },
	{ "NotPostfix, other end", VIGIL_OP_NOT_POSTFIX, { ".so" }, "/bin/sh", MATCH },
	{ "NotPostfix, same end", VIGIL_OP_NOT_POSTFIX, { "sh" }, "/bin/sh", NO_MATCH },
};

static void string_tests(void)
{
	for (size_t c = 0; c < sizeof(string_cases) / sizeof(string_cases[0]); c++) {
		const struct string_case *t = &string_cases[c];
		struct vigil_hook h = one_arg_hook(VIGIL_ARG_STRING, 8, 0);
		__u64 ctx[12] = { (__u64)(unsigned long)t->arg };

		h.selectors[0].nargs = 1;
		h.selectors[0].args[0] = (struct vigil_arg_filter){ .arg = 0, .op = t->op, .set_id = add_strings(t->op, t->values) };
		expect("string", t->name, run(&h, ctx), t->want);
	}
}

/* ---- matchArgs on integers ---------------------------------------------------------------- */

static const struct int_case {
	const char *name;
	__u8 size, is_signed, op;
	__s64 values[4];
	int nvalues;
	__u64 arg; /* the record's field, as the tracepoint stores it */
	int want;
} int_cases[] = {
	{ "Equal, one of three", 8, 1, VIGIL_OP_EQUAL, { 1, 2, 3 }, 3, 2, MATCH },
	{ "Equal, none of three", 8, 1, VIGIL_OP_EQUAL, { 1, 2, 3 }, 3, 4, NO_MATCH },
	{ "Equal, all four values used", 8, 1, VIGIL_OP_EQUAL, { 1, 2, 3, 4 }, 4, 4, MATCH },
	{ "NotEqual, none of them", 8, 1, VIGIL_OP_NOT_EQUAL, { 1, 2 }, 2, 3, MATCH },
	{ "NotEqual, one of them", 8, 1, VIGIL_OP_NOT_EQUAL, { 1, 2 }, 2, 2, NO_MATCH },
	{ "Mask, a bit set", 8, 0, VIGIL_OP_MASK, { 0x4 }, 1, 0x6, MATCH },
	{ "Mask, no bit set", 8, 0, VIGIL_OP_MASK, { 0x8 }, 1, 0x6, NO_MATCH },
	{ "Mask, O_WRONLY|O_RDWR against O_RDONLY", 4, 1, VIGIL_OP_MASK, { 3 }, 1, 0, NO_MATCH },
	{ "GreaterThan, above", 8, 1, VIGIL_OP_GT, { 10 }, 1, 11, MATCH },
	{ "GreaterThan, equal", 8, 1, VIGIL_OP_GT, { 10 }, 1, 10, NO_MATCH },
	{ "GreaterThan, signed", 8, 1, VIGIL_OP_GT, { -1 }, 1, 0, MATCH },
	{ "LessThan, negative", 8, 1, VIGIL_OP_LT, { 0 }, 1, (__u64)-5, MATCH },
	{ "LessThan, equal", 8, 1, VIGIL_OP_LT, { 0 }, 1, 0, NO_MATCH },
	{ "InMap, member", 8, 1, VIGIL_OP_IN_MAP, { 5, 7, 9 }, 3, 7, MATCH },
	{ "InMap, not a member", 8, 1, VIGIL_OP_IN_MAP, { 5, 7, 9 }, 3, 6, NO_MATCH },
	{ "NotInMap, not a member", 8, 1, VIGIL_OP_NOT_IN_MAP, { 5, 7 }, 2, 6, MATCH },
	{ "NotInMap, member", 8, 1, VIGIL_OP_NOT_IN_MAP, { 5, 7 }, 2, 5, NO_MATCH },
	/* The reader sign-extends a signed field of 4, 2 or 1 bytes (an fd of -1, a dirfd of
	 * AT_FDCWD) and leaves the bytes past the field alone. */
	{ "int32 -1 sign-extended", 4, 1, VIGIL_OP_EQUAL, { -1 }, 1, 0xffffffffULL, MATCH },
	{ "uint32 0xffffffff not -1", 4, 0, VIGIL_OP_EQUAL, { -1 }, 1, 0xffffffffULL, NO_MATCH },
	{ "int32 AT_FDCWD", 4, 1, VIGIL_OP_EQUAL, { -100 }, 1, 0xdeadbeefffffff9cULL, MATCH },
	{ "int16 field", 2, 1, VIGIL_OP_EQUAL, { -2 }, 1, 0xfffeULL, MATCH },
	{ "uint8 field", 1, 0, VIGIL_OP_EQUAL, { 0x7f }, 1, 0xab7fULL, MATCH },
};

static void int_tests(void)
{
	for (size_t c = 0; c < sizeof(int_cases) / sizeof(int_cases[0]); c++) {
		const struct int_case *t = &int_cases[c];
		struct vigil_hook h = one_arg_hook(VIGIL_ARG_INT, t->size, t->is_signed);
		struct vigil_arg_filter *f = &h.selectors[0].args[0];
		__u64 ctx[12] = { t->arg };

		h.selectors[0].nargs = 1;
		f->op = t->op;
		if (t->op == VIGIL_OP_IN_MAP || t->op == VIGIL_OP_NOT_IN_MAP) {
			f->set_id = add_ints(t->values, t->nvalues);
		} else {
			f->nvalues = (__u8)t->nvalues;
			for (int i = 0; i < t->nvalues; i++)
				f->values[i] = (__u64)t->values[i];
		}
		expect("int", t->name, run(&h, ctx), t->want);
	}
}

/* ---- matchReturnArgs: the return value ---------------------------------------------------- */

/* A `return: true` syscall hook on the exit dispatcher: the record's third u64 is ret, and the
 * one argument (an int) follows it, as PolicyCompiler lays the hook out. */
static const struct result_case {
	const char *name;
	int has_result; /* VIGIL_HOOK_F_SYSCALL_RETURN set: the hook has a return value */
	__u8 op;
	__s64 value;
	__s64 ret;
	int with_arg_filter; /* also matchArgs Equal 7 on the argument, which is 7 */
	int want;
	__u8 result_size, result_signed; /* returnArg's type; 0: all 8 bytes */
} result_cases[] = {
	{ "LessThan 0, a failed call", 1, VIGIL_OP_LT, 0, -13, 0, MATCH },
	{ "LessThan 0, a success", 1, VIGIL_OP_LT, 0, 3, 0, NO_MATCH },
	{ "Equal -13 (EACCES)", 1, VIGIL_OP_EQUAL, -13, -13, 0, MATCH },
	{ "Equal -13, another errno", 1, VIGIL_OP_EQUAL, -13, -2, 0, NO_MATCH },
	{ "NotEqual 0, zero", 1, VIGIL_OP_NOT_EQUAL, 0, 0, 0, NO_MATCH },
	{ "GreaterThan -1, an fd", 1, VIGIL_OP_GT, -1, 4, 0, MATCH },
	{ "and matchArgs, both hold", 1, VIGIL_OP_LT, 0, -1, 1, MATCH },
	{ "and matchArgs, only the argument holds", 1, VIGIL_OP_LT, 0, 5, 1, NO_MATCH },
	/* Without a result (an entry hook), never a match on a zero that was never returned. */
	{ "no return value, Equal 0", 0, VIGIL_OP_EQUAL, 0, 0, 0, NO_MATCH },
	{ "no return value, NotEqual 5", 0, VIGIL_OP_NOT_EQUAL, 5, 0, 0, NO_MATCH },
	/* An int function's -13 as fexit sees the register: the upper half zero (mov eax). */
	{ "int -13 in a zero-extended register", 1, VIGIL_OP_EQUAL, -13, 0xfffffff3LL, 0, MATCH, 4, 1 },
	{ "int -13 in a zero-extended register, LessThan 0", 1, VIGIL_OP_LT, 0, 0xfffffff3LL, 0, MATCH, 4, 1 },
	{ "the same register read as 8 bytes", 1, VIGIL_OP_EQUAL, -13, 0xfffffff3LL, 0, NO_MATCH, 0, 0 },
	{ "uint32 0xfffffff3 zero-extended", 1, VIGIL_OP_EQUAL, 0xfffffff3LL, (__s64)0xdeadbeeffffffff3ULL, 0, MATCH, 4, 0 },
};

static void result_tests(void)
{
	for (size_t c = 0; c < sizeof(result_cases) / sizeof(result_cases[0]); c++) {
		const struct result_case *t = &result_cases[c];
		struct vigil_hook h = one_arg_hook(VIGIL_ARG_INT, 8, 1);
		struct vigil_selector *sel = &h.selectors[0];
		__u64 ctx[12] = { 0, 0, (__u64)t->ret, 7 };
		int n = 0;

		h.args[0].offset = 24;
		h.result_size = t->result_size;
		h.result_signed = t->result_signed;
		if (t->has_result)
			h.flags |= VIGIL_HOOK_F_SYSCALL_RETURN;
		if (t->with_arg_filter)
			sel->args[n++] = (struct vigil_arg_filter){ .arg = 0, .op = VIGIL_OP_EQUAL, .nvalues = 1, .values = { 7 } };
		sel->args[n++] = (struct vigil_arg_filter){
			.arg = VIGIL_ARG_SLOT_RESULT, .op = t->op, .nvalues = 1, .values = { (__u64)t->value } };
		sel->nargs = (__u8)n;
		expect("result", t->name, run(&h, ctx), t->want);
	}
}

/* ---- matchArgs on a sockaddr -------------------------------------------------------------- */

#define PORTS(lo, hi) (((__s64)(lo) << 16) | (hi))

static const struct sockaddr_case {
	const char *name;
	__u8 op;
	__s64 values[4];
	int nvalues;
	const char *cidrs[2];
	const char *addr; /* IPv4 or IPv6 text */
	__u16 port;
	int want;
} sockaddr_cases[] = {
	{ "Family AF_INET", VIGIL_OP_FAMILY, { AF_INET }, 1, {}, "10.1.2.3", 80, MATCH },
	{ "Family AF_INET6 against IPv4", VIGIL_OP_FAMILY, { AF_INET6 }, 1, {}, "10.1.2.3", 80, NO_MATCH },
	{ "DPort, single port", VIGIL_OP_DPORT, { PORTS(443, 443) }, 1, {}, "10.1.2.3", 443, MATCH },
	{ "DPort, other port", VIGIL_OP_DPORT, { PORTS(443, 443) }, 1, {}, "10.1.2.3", 444, NO_MATCH },
	{ "DPort, inside a range", VIGIL_OP_DPORT, { PORTS(80, 80), PORTS(8000, 8999) }, 2, {}, "::1", 8080, MATCH },
	{ "DPort, range edges", VIGIL_OP_DPORT, { PORTS(8000, 8999) }, 1, {}, "::1", 8999, MATCH },
	{ "NotDPort, other port", VIGIL_OP_NOT_DPORT, { PORTS(22, 22) }, 1, {}, "10.1.2.3", 443, MATCH },
	{ "NotDPort, the port", VIGIL_OP_NOT_DPORT, { PORTS(22, 22) }, 1, {}, "10.1.2.3", 22, NO_MATCH },
	{ "DAddr, IPv4 in CIDR", VIGIL_OP_DADDR, {}, 0, { "10.0.0.0/8" }, "10.1.2.3", 80, MATCH },
	{ "DAddr, IPv4 outside", VIGIL_OP_DADDR, {}, 0, { "10.0.0.0/8" }, "11.0.0.1", 80, NO_MATCH },
	{ "DAddr, IPv4 host /32", VIGIL_OP_DADDR, {}, 0, { "192.168.1.7/32" }, "192.168.1.7", 80, MATCH },
	{ "DAddr, second CIDR", VIGIL_OP_DADDR, {}, 0, { "10.0.0.0/8", "127.0.0.0/8" }, "127.0.0.1", 80, MATCH },
	{ "DAddr, IPv6 in CIDR", VIGIL_OP_DADDR, {}, 0, { "2001:db8::/32" }, "2001:db8::1", 80, MATCH },
	{ "DAddr, IPv6 outside", VIGIL_OP_DADDR, {}, 0, { "2001:db8::/32" }, "2001:db9::1", 80, NO_MATCH },
	{ "DAddr, IPv4-mapped IPv6 in an IPv4 CIDR", VIGIL_OP_DADDR, {}, 0, { "10.0.0.0/8" }, "::ffff:10.9.9.9", 80, MATCH },
	{ "NotDAddr, outside", VIGIL_OP_NOT_DADDR, {}, 0, { "10.0.0.0/8" }, "192.168.1.1", 80, MATCH },
	{ "NotDAddr, inside", VIGIL_OP_NOT_DADDR, {}, 0, { "10.0.0.0/8" }, "10.0.0.1", 80, NO_MATCH },
	/* A user sockaddr carries no protocol (only connect hooks and sockets know it). */
	{ "Protocol of a plain sockaddr", VIGIL_OP_PROTOCOL, { IPPROTO_TCP }, 1, {}, "10.1.2.3", 80, NO_MATCH },
};

static void sockaddr_tests(void)
{
	for (size_t c = 0; c < sizeof(sockaddr_cases) / sizeof(sockaddr_cases[0]); c++) {
		const struct sockaddr_case *t = &sockaddr_cases[c];
		struct vigil_hook h = one_arg_hook(VIGIL_ARG_SOCKADDR, 8, 0);
		struct vigil_arg_filter *f = &h.selectors[0].args[0];
		struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(t->port) };
		struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(t->port) };
		__u64 ctx[12] = {};

		if (inet_pton(AF_INET, t->addr, &in4.sin_addr) == 1)
			ctx[0] = (__u64)(unsigned long)&in4;
		else if (inet_pton(AF_INET6, t->addr, &in6.sin6_addr) == 1)
			ctx[0] = (__u64)(unsigned long)&in6;
		h.selectors[0].nargs = 1;
		f->op = t->op;
		if (t->op == VIGIL_OP_DADDR || t->op == VIGIL_OP_NOT_DADDR)
			f->set_id = add_cidrs(t->cidrs);
		f->nvalues = (__u8)t->nvalues;
		for (int i = 0; i < t->nvalues; i++)
			f->values[i] = (__u64)t->values[i];
		expect("sockaddr", t->name, run(&h, ctx), t->want);
	}
}

/* ---- matchPIDs, matchNamespaces, matchBinaries: the harness is the current task -------------- */

static void pid_tests(void)
{
	const struct {
		const char *name;
		__u8 op, follow_forks, ns_pid;
		__u32 value;
		int want;
	} cases[] = {
		{ "In, our pid", VIGIL_OP_IN, 0, 0, (__u32)getpid(), MATCH },
		{ "In, another pid", VIGIL_OP_IN, 0, 0, (__u32)getpid() + 100000, NO_MATCH },
		{ "In, our parent without followForks", VIGIL_OP_IN, 0, 0, (__u32)getppid(), NO_MATCH },
		{ "In, our parent with followForks", VIGIL_OP_IN, 1, 0, (__u32)getppid(), MATCH },
		{ "In, our pid in our pid namespace", VIGIL_OP_IN, 0, 1, (__u32)getpid(), MATCH },
		{ "NotIn, our pid", VIGIL_OP_NOT_IN, 0, 0, (__u32)getpid(), NO_MATCH },
		{ "NotIn, another pid", VIGIL_OP_NOT_IN, 0, 0, (__u32)getpid() + 100000, MATCH },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct vigil_hook h = one_arg_hook(VIGIL_ARG_INT, 8, 0);
		struct vigil_pid_filter *f = &h.selectors[0].pid;
		__u64 ctx[12] = {};

		f->op = cases[c].op;
		f->follow_forks = cases[c].follow_forks;
		f->ns_pid = cases[c].ns_pid;
		f->nvalues = 2;
		f->values[0] = 0x7ffffff0; /* a first value that never matches: every value is tried */
		f->values[1] = cases[c].value;
		expect("pids", cases[c].name, run(&h, ctx), cases[c].want);
	}
}

static __u32 ns_inum(const char *name)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	if (stat(path, &st)) {
		fprintf(stderr, "selectors_test: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return (__u32)st.st_ino;
}

static void namespace_tests(void)
{
	__u32 mnt = ns_inum("mnt"), net = ns_inum("net"), pid = ns_inum("pid"), user = ns_inum("user");
	const struct {
		const char *name;
		int n;
		struct vigil_ns_filter f[2];
		int want;
	} cases[] = {
		{ "Mnt In ours", 1, { { VIGIL_NS_MNT, VIGIL_OP_IN, 1, 0, { mnt } } }, MATCH },
		{ "Mnt In another", 1, { { VIGIL_NS_MNT, VIGIL_OP_IN, 1, 0, { mnt + 1 } } }, NO_MATCH },
		{ "Mnt NotIn ours", 1, { { VIGIL_NS_MNT, VIGIL_OP_NOT_IN, 1, 0, { mnt } } }, NO_MATCH },
		{ "Mnt NotIn another", 1, { { VIGIL_NS_MNT, VIGIL_OP_NOT_IN, 1, 0, { mnt + 1 } } }, MATCH },
		{ "Net In, second value", 1, { { VIGIL_NS_NET, VIGIL_OP_IN, 2, 0, { 1, net } } }, MATCH },
		{ "Pid In ours", 1, { { VIGIL_NS_PID, VIGIL_OP_IN, 1, 0, { pid } } }, MATCH },
		{ "User In ours", 1, { { VIGIL_NS_USER, VIGIL_OP_IN, 1, 0, { user } } }, MATCH },
		{ "Mnt and Net both ours", 2, { { VIGIL_NS_MNT, VIGIL_OP_IN, 1, 0, { mnt } }, { VIGIL_NS_NET, VIGIL_OP_IN, 1, 0, { net } } }, MATCH },
		{ "Mnt ours and Net another", 2, { { VIGIL_NS_MNT, VIGIL_OP_IN, 1, 0, { mnt } }, { VIGIL_NS_NET, VIGIL_OP_IN, 1, 0, { net + 1 } } }, NO_MATCH },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct vigil_hook h = one_arg_hook(VIGIL_ARG_INT, 8, 0);
		__u64 ctx[12] = {};

		h.selectors[0].nns = (__u8)cases[c].n;
		memcpy(h.selectors[0].ns, cases[c].f, sizeof(cases[c].f));
		expect("namespaces", cases[c].name, run(&h, ctx), cases[c].want);
	}
}

/* matchCapabilities on the harness itself: root, so every capability effective and permitted,
 * none inheritable (a login shell's default), in the host's user namespace. */
static void capability_tests(void)
{
	__u32 user = ns_inum("user");
	const __u64 sys_admin = 1ULL << 21, no_such_cap = 1ULL << 63;
	const struct {
		const char *name;
		struct vigil_cap_filter f;
		int want;
	} cases[] = {
		{ "Effective In CAP_SYS_ADMIN, held", { VIGIL_OP_IN, VIGIL_CAPS_EFFECTIVE, 0, 0, sys_admin }, MATCH },
		{ "Effective NotIn CAP_SYS_ADMIN, held", { VIGIL_OP_NOT_IN, VIGIL_CAPS_EFFECTIVE, 0, 0, sys_admin }, NO_MATCH },
		{ "Effective In, a bit no task holds", { VIGIL_OP_IN, VIGIL_CAPS_EFFECTIVE, 0, 0, no_such_cap }, NO_MATCH },
		{ "Effective In, any of two", { VIGIL_OP_IN, VIGIL_CAPS_EFFECTIVE, 0, 0, sys_admin | no_such_cap }, MATCH },
		{ "Permitted In CAP_SYS_ADMIN", { VIGIL_OP_IN, VIGIL_CAPS_PERMITTED, 0, 0, sys_admin }, MATCH },
		{ "isNamespaceCapability, in the host user namespace", { VIGIL_OP_IN, VIGIL_CAPS_EFFECTIVE, 0, user, sys_admin }, NO_MATCH },
		{ "isNamespaceCapability, another host namespace", { VIGIL_OP_IN, VIGIL_CAPS_EFFECTIVE, 0, user + 1, sys_admin }, MATCH },
	};
	__u64 inheritable = 0;
	FILE *status = fopen("/proc/self/status", "r");
	char line[256];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct vigil_hook h = one_arg_hook(VIGIL_ARG_INT, 8, 0);
		__u64 ctx[12] = {};

		h.selectors[0].caps = cases[c].f;
		expect("capabilities", cases[c].name, run(&h, ctx), cases[c].want);
	}
	/* Inheritable as the kernel holds it for this process (CapInh). */
	while (status && fgets(line, sizeof(line), status))
		if (sscanf(line, "CapInh: %llx", (unsigned long long *)&inheritable) == 1)
			break;
	if (status)
		fclose(status);
	{
		struct vigil_hook h = one_arg_hook(VIGIL_ARG_INT, 8, 0);
		__u64 ctx[12] = {};

		h.selectors[0].caps = (struct vigil_cap_filter){ VIGIL_OP_IN, VIGIL_CAPS_INHERITABLE, 0, 0, sys_admin };
		expect("capabilities", "Inheritable In CAP_SYS_ADMIN, as /proc says", run(&h, ctx),
		       inheritable & sys_admin ? MATCH : NO_MATCH);
	}
}

static const struct binary_case {
	const char *name;
	__u8 op;
	const char *values[4];
	int known; /* whether vg_procs has our binary */
	int want;
} binary_cases[] = {
	{ "In, our binary", VIGIL_OP_IN, { "/usr/local/bin/vigil-test" }, 1, MATCH },
	{ "In, another binary", VIGIL_OP_IN, { "/usr/bin/id" }, 1, NO_MATCH },
	{ "In, second value", VIGIL_OP_IN, { "/usr/bin/id", "/usr/local/bin/vigil-test" }, 1, MATCH },
	{ "NotIn, our binary", VIGIL_OP_NOT_IN, { "/usr/local/bin/vigil-test" }, 1, NO_MATCH },
	{ "NotIn, another binary", VIGIL_OP_NOT_IN, { "/usr/bin/id" }, 1, MATCH },
	{ "Prefix, our directory", VIGIL_OP_PREFIX, { "/usr/local/" }, 1, MATCH },
	{ "Prefix, another directory", VIGIL_OP_PREFIX, { "/usr/bin/" }, 1, NO_MATCH },
	{ "NotPrefix, another directory", VIGIL_OP_NOT_PREFIX, { "/usr/bin/" }, 1, MATCH },
	{ "Postfix, our name", VIGIL_OP_POSTFIX, { "/vigil-test" }, 1, MATCH },
	{ "NotPostfix, our name", VIGIL_OP_NOT_POSTFIX, { "-test" }, 1, NO_MATCH },
	/* A process the kernel side never saw start: only the negated operators hold. */
	{ "In, binary unknown", VIGIL_OP_IN, { "/usr/local/bin/vigil-test" }, 0, NO_MATCH },
	{ "NotIn, binary unknown", VIGIL_OP_NOT_IN, { "/usr/local/bin/vigil-test" }, 0, MATCH },
	{ "Prefix, binary unknown", VIGIL_OP_PREFIX, { "/" }, 0, NO_MATCH },
	{ "NotPostfix, binary unknown", VIGIL_OP_NOT_POSTFIX, { "x" }, 0, MATCH },
};

/* followChildren: the harness's parent (its real_parent) gets an entry of its own in vg_procs;
 * In on the parent's binary matches the harness through its lineage, and only with the flag. */
static void lineage_tests(__u32 tgid, struct vigil_proc_state *self)
{
	__u32 ppid = (__u32)getppid();
	struct vigil_proc_state parent = { .ktime_ns = 1 }, saved;
	const char *binary = "/usr/local/bin/vigil-test-parent";
	const char *const parents[4] = { "/usr/local/bin/vigil-test-parent" };
	const char *const others[4] = { "/usr/bin/id" };
	int had_parent = bpf_map_lookup_elem(map_fd(skel->maps.vg_procs), &ppid, &saved) == 0;
	struct vigil_hook h = one_arg_hook(VIGIL_ARG_INT, 8, 0);
	__u64 ctx[12] = {};

	must(bpf_map_update_elem(map_fd(skel->maps.vg_procs), &tgid, self, BPF_ANY), "vg_procs");
	parent.binary_len = (__u32)strlen(binary);
	memcpy(parent.binary, binary, parent.binary_len);
	must(bpf_map_update_elem(map_fd(skel->maps.vg_procs), &ppid, &parent, BPF_ANY), "vg_procs");
	h.selectors[0].bin.op = VIGIL_OP_IN;
	h.selectors[0].bin.set_id = add_strings(VIGIL_OP_EQUAL, parents);
	expect("binaries", "In, the parent's binary, no followChildren", run(&h, ctx), NO_MATCH);
	h.selectors[0].bin.flags = VIGIL_BIN_F_FOLLOW_CHILDREN;
	expect("binaries", "In, the parent's binary, followChildren", run(&h, ctx), MATCH);
	h.selectors[0].bin.op = VIGIL_OP_NOT_IN;
	expect("binaries", "NotIn, the parent's binary, followChildren", run(&h, ctx), NO_MATCH);
	h.selectors[0].bin.set_id = add_strings(VIGIL_OP_EQUAL, others);
	expect("binaries", "NotIn, no ancestor's binary, followChildren", run(&h, ctx), MATCH);
	h.selectors[0].bin.op = VIGIL_OP_IN;
	expect("binaries", "In, no ancestor's binary, followChildren", run(&h, ctx), NO_MATCH);
	if (had_parent)
		bpf_map_update_elem(map_fd(skel->maps.vg_procs), &ppid, &saved, BPF_ANY);
	else
		bpf_map_delete_elem(map_fd(skel->maps.vg_procs), &ppid);
}

static void binary_tests(void)
{
	__u32 tgid = (__u32)getpid();
	struct vigil_proc_state proc = { .ktime_ns = 1 };
	const char *binary = "/usr/local/bin/vigil-test";

	/* What the exec hook records for matchBinaries (lib/process_events.h). */
	proc.binary_len = (__u32)strlen(binary);
	memcpy(proc.binary, binary, proc.binary_len);
	for (size_t c = 0; c < sizeof(binary_cases) / sizeof(binary_cases[0]); c++) {
		const struct binary_case *t = &binary_cases[c];
		struct vigil_hook h = one_arg_hook(VIGIL_ARG_INT, 8, 0);
		__u64 ctx[12] = {};

		if (t->known)
			must(bpf_map_update_elem(map_fd(skel->maps.vg_procs), &tgid, &proc, BPF_ANY), "vg_procs");
		else
			bpf_map_delete_elem(map_fd(skel->maps.vg_procs), &tgid);
		h.selectors[0].bin.op = t->op;
		h.selectors[0].bin.set_id = add_strings(t->op == VIGIL_OP_IN || t->op == VIGIL_OP_NOT_IN ? VIGIL_OP_EQUAL : t->op,
						       t->values);
		expect("binaries", t->name, run(&h, ctx), t->want);
	}
	lineage_tests(tgid, &proc);
}

/* ---- selectors together, and arguments as the readers leave them ----------------------------- */

static void structure_tests(void)
{
	const char *const passwd[4] = { "/etc/passwd" };
	const char *const etc[4] = { "/etc/" };
	const char *arg = "/etc/passwd";
	__u64 ctx[12] = { (__u64)(unsigned long)arg, 42 };
	struct vigil_hook h;

	/* Two args: a string and an int. */
	h = one_arg_hook(VIGIL_ARG_STRING, 8, 0);
	h.nargs = 2;
	h.args[1] = (struct vigil_arg_spec){ .kind = VIGIL_ARG_INT, .size = 8, .offset = 8 };

	h.nselectors = 0;
	expect("structure", "no selectors: every event", run(&h, ctx), SEL_ALL);

	h.nselectors = 1;
	h.selectors[0].nargs = 2;
	h.selectors[0].args[0] = (struct vigil_arg_filter){ .arg = 0, .op = VIGIL_OP_PREFIX, .set_id = add_strings(VIGIL_OP_PREFIX, etc) };
	h.selectors[0].args[1] = (struct vigil_arg_filter){ .arg = 1, .op = VIGIL_OP_EQUAL, .nvalues = 1, .values = { 42 } };
	expect("structure", "two matchArgs, both hold", run(&h, ctx), MATCH);
	h.selectors[0].args[1].values[0] = 43;
	expect("structure", "two matchArgs, the second fails", run(&h, ctx), NO_MATCH);

	/* The second selector matches when the first does not. */
	h.nselectors = 2;
	h.selectors[1].nargs = 1;
	h.selectors[1].args[0] = (struct vigil_arg_filter){ .arg = 0, .op = VIGIL_OP_EQUAL, .set_id = add_strings(VIGIL_OP_EQUAL, passwd) };
	expect("structure", "first selector fails, second matches", run(&h, ctx), 1);
	h.selectors[0].args[1].values[0] = 42;
	expect("structure", "both match: the first wins", run(&h, ctx), 0);

	/* An argument that cannot be read matches no operator, negated ones included. */
	h = one_arg_hook(VIGIL_ARG_STRING, 8, 0);
	h.selectors[0].nargs = 1;
	h.selectors[0].args[0] = (struct vigil_arg_filter){ .arg = 0, .op = VIGIL_OP_NOT_EQUAL, .set_id = add_strings(VIGIL_OP_EQUAL, passwd) };
	ctx[0] = 8; /* an unmapped user address */
	expect("structure", "unreadable string, NotEqual", run(&h, ctx), NO_MATCH);
	expect("structure", "unreadable string flagged", skel->bss->test_args[0].flags & VIGIL_ARG_F_ERROR, VIGIL_ARG_F_ERROR);
}

static void reader_tests(void)
{
	char name[] = "/tmp/vigil-bpf-test-XXXXXX", real[PATH_MAX], tail[VIGIL_STRING_MAX + 64];
	const char *const tmp[4] = { "/tmp/vigil-bpf-test-" };
	struct vigil_hook h;
	__u64 ctx[12] = {};
	struct stat st;
	int fd;

	/* A string longer than VIGIL_STRING_MAX - 1 bytes: kept truncated, and flagged. */
	memset(tail, 'x', sizeof(tail) - 1);
	tail[sizeof(tail) - 1] = 0;
	h = one_arg_hook(VIGIL_ARG_STRING, 8, 0);
	h.nselectors = 0;
	ctx[0] = (__u64)(unsigned long)tail;
	run(&h, ctx);
	expect("readers", "long string: len", (int)skel->bss->test_args[0].len, VIGIL_STRING_MAX - 1);
	expect("readers", "long string: truncated", skel->bss->test_args[0].flags & VIGIL_ARG_F_TRUNCATED,
	       VIGIL_ARG_F_TRUNCATED);

	/* A file descriptor resolved to its file: the header (inode, device), then the absolute
	 * path the walk built, which the path operators match. */
	fd = mkstemp(name);
	if (fd < 0 || fstat(fd, &st) || !realpath(name, real)) {
		fprintf(stderr, "selectors_test: temporary file: %s\n", strerror(errno));
		exit(2);
	}
	h = one_arg_hook(VIGIL_ARG_FILE_FD, 8, 1);
	h.selectors[0].nargs = 1;
	h.selectors[0].args[0] = (struct vigil_arg_filter){ .arg = 0, .op = VIGIL_OP_PREFIX, .set_id = add_strings(VIGIL_OP_PREFIX, tmp) };
	ctx[0] = (__u64)fd;
	expect("readers", "file fd, Prefix on its path", run(&h, ctx), MATCH);
	{
		const struct vigil_arg_value *v = &skel->bss->test_args[0];
		const char *at = skel->bss->test_tail + skel->bss->test_arg_off[0];
		struct vigil_file_header header;
		int path_ok;

		memcpy(&header, at, sizeof(header));
		path_ok = v->len == VIGIL_FILE_HEADER + strlen(real) &&
			  memcmp(at + VIGIL_FILE_HEADER, real, strlen(real)) == 0;
		expect("readers", "file fd: absolute path", path_ok, 1);
		expect("readers", "file fd: inode", header.ino == st.st_ino, 1);
		expect("readers", "file fd: mode", (v->value & 0xffffffff) == st.st_mode, 1);
		/* The kernel's s_dev (MKDEV: major << 20 | minor), which vg_file_ids keys use too. */
		expect("readers", "file fd: device", header.dev == (major(st.st_dev) << 20 | minor(st.st_dev)), 1);
	}
	/* vigil-file-identity: inode: Equal on another name matches this file by (dev, ino) from
	 * vg_file_ids, under the filter's own set, and only with the filter's flag. */
	{
		const char *const other[4] = { "/tmp/another-name-of-it" };
		struct vigil_file_id_key key = {};
		__u8 one = 1;

		h.selectors[0].args[0] = (struct vigil_arg_filter){ .arg = 0, .op = VIGIL_OP_EQUAL, .set_id = add_strings(VIGIL_OP_EQUAL, other) };
		h.selectors[0].args[0].flags = VIGIL_ARG_FILTER_F_INODE;
		expect("readers", "file fd, Equal by inode, no identity stored", run(&h, ctx), NO_MATCH);
		key.set_id = h.selectors[0].args[0].set_id + 1000; /* another set's entry */
		key.dev = major(st.st_dev) << 20 | minor(st.st_dev);
		key.ino = st.st_ino;
		must(bpf_map_update_elem(map_fd(skel->maps.vg_file_ids), &key, &one, BPF_ANY), "vg_file_ids");
		expect("readers", "file fd, Equal by inode, another set's identity", run(&h, ctx), NO_MATCH);
		key.set_id = h.selectors[0].args[0].set_id;
		must(bpf_map_update_elem(map_fd(skel->maps.vg_file_ids), &key, &one, BPF_ANY), "vg_file_ids");
		expect("readers", "file fd, Equal by inode: the file under another name", run(&h, ctx), MATCH);
		h.selectors[0].args[0].flags = 0;
		expect("readers", "file fd, Equal without the flag: by name only", run(&h, ctx), NO_MATCH);
	}
	ctx[0] = (__u64)-1; /* a failed open's return value */
	expect("readers", "fd -1: no file, no match", run(&h, ctx), NO_MATCH);
	expect("readers", "fd -1 flagged", skel->bss->test_args[0].flags & VIGIL_ARG_F_ERROR, VIGIL_ARG_F_ERROR);
	close(fd);
	unlink(name);
}

/* ---- Vigil's exec facts of the task (VIGIL_ARG_TASK) ------------------------------------------ */

/* Field 7 of /proc/self/stat, tty_nr: the controlling tty as the kernel encodes it for users. */
static long stat_tty_nr(void)
{
	char buf[1024], *p;
	long tty = -1;
	FILE *f = fopen("/proc/self/stat", "r");

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %*d %*d %*d %ld", &tty);
	fclose(f);
	return tty;
}

/* The fact as the program read it, and whether one Equal on want matches it. */
static void task_fact_case(const char *name, __u8 fact, __u64 want)
{
	struct vigil_hook h = one_arg_hook(VIGIL_ARG_TASK, 0, 0);
	__u64 ctx[12] = {};
	char what[160];

	h.args[0].meta_size = fact;
	h.selectors[0].nargs = 1;
	h.selectors[0].args[0] = (struct vigil_arg_filter){ .arg = 0, .op = VIGIL_OP_EQUAL, .nvalues = 1, .values = { want } };
	snprintf(what, sizeof(what), "%s, Equal %llu", name, (unsigned long long)want);
	expect("task facts", what, run(&h, ctx), MATCH);
	if (skel->bss->test_args[0].value != want)
		fprintf(stderr, "  %s: read %llu\n", name, (unsigned long long)skel->bss->test_args[0].value);
	h.selectors[0].args[0].op = VIGIL_OP_NOT_EQUAL;
	snprintf(what, sizeof(what), "%s, NotEqual %llu", name, (unsigned long long)want);
	expect("task facts", what, run(&h, ctx), NO_MATCH);
}

/*
 * vigil_tty in a child of its own, which leaves its session (no controlling tty: 0) and then
 * takes a new pseudo-terminal as its controlling tty: the value is the pty's st_rdev, and the
 * kernel's own tty_nr in /proc/self/stat each time. Returns the child's failures.
 */
static int task_tty_tests(void)
{
	int status;
	pid_t pid;

	fflush(stdout); /* or the child prints it again */
	pid = fork();
	if (pid == 0) {
		int master, slave;
		struct stat st;

		failures = 0;
		if (setsid() < 0)
			_exit(2);
		task_fact_case("tty: none after setsid", VIGIL_TASK_TTY, 0);
		expect("task facts", "tty: /proc/self/stat says none too", stat_tty_nr() == 0, 1);
		master = posix_openpt(O_RDWR | O_NOCTTY);
		if (master < 0 || grantpt(master) || unlockpt(master) || !ptsname(master)) {
			fprintf(stderr, "selectors_test: pseudo-terminal: %s\n", strerror(errno));
			_exit(2);
		}
		slave = open(ptsname(master), O_RDWR | O_NOCTTY);
		if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) < 0 || fstat(slave, &st)) {
			fprintf(stderr, "selectors_test: controlling tty: %s\n", strerror(errno));
			_exit(2);
		}
		task_fact_case("tty: a pseudo-terminal, its st_rdev", VIGIL_TASK_TTY, st.st_rdev);
		expect("task facts", "tty: /proc/self/stat's tty_nr is the same", stat_tty_nr() == (long)st.st_rdev, 1);
		fflush(stdout); /* _exit() would drop what -v printed */
		_exit(failures ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "selectors_test: the tty cases failed in their child\n");
		return 1;
	}
	passed += 6;
	return 0;
}

/*
 * vigil_uid, vigil_euid, vigil_auid: the harness's, then in a child whose real uid is 1 while it
 * stays root in effect (so it may still run programs): the real and effective uid apart.
 * Returns the child's failures.
 */
static int task_cred_tests(void)
{
	unsigned long auid = 0xffffffff;
	FILE *f = fopen("/proc/self/loginuid", "r");
	int status;
	pid_t pid;

	if (f) {
		if (fscanf(f, "%lu", &auid) != 1)
			auid = 0xffffffff;
		fclose(f);
	}
	task_fact_case("uid: the harness's", VIGIL_TASK_UID, getuid());
	task_fact_case("euid: the harness's", VIGIL_TASK_EUID, geteuid());
	task_fact_case("auid: /proc/self/loginuid", VIGIL_TASK_AUID, auid);
	fflush(stdout); /* or the child prints it again */
	pid = fork();
	if (pid == 0) {
		failures = 0;
		if (setresuid(1, 0, 0))
			_exit(2);
		task_fact_case("uid: real uid 1", VIGIL_TASK_UID, 1);
		task_fact_case("euid: effective uid 0 beside it", VIGIL_TASK_EUID, 0);
		fflush(stdout);
		_exit(failures ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "selectors_test: the uid cases failed in their child\n");
		return 1;
	}
	passed += 4;
	return 0;
}

/* ---- matchArgs on vigil_argv ---------------------------------------------------------------- */

/*
 * vigil_argv reads the current task's arguments, and a test run executes in the harness: so the
 * harness runs itself again (argv_tests_run) with known arguments and these cases run there.
 * ARGV0 is argv[0], which vigil_argv leaves out.
 */
#define ARGV0 "selectors-test-argv0-needle"
#define LONG_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" /* 150 bytes */

static const struct argv_case {
	const char *name;
	__u8 op;
	const char *values[4];
	int want;
} argv_cases[] = {
	/* Arguments: --argv -v|-q grep -r "BEGIN RSA PRIVATE KEY" /home --name=id_rsa LONG_B LONG_B".pem" "" */
	{ "Equal, one argument", VIGIL_OP_EQUAL, { "BEGIN RSA PRIVATE KEY" }, MATCH },
	{ "Equal, first argument", VIGIL_OP_EQUAL, { "--argv" }, MATCH },
	{ "Equal, part of an argument", VIGIL_OP_EQUAL, { "BEGIN RSA" }, NO_MATCH },
	{ "Equal, argv[0] left out", VIGIL_OP_EQUAL, { ARGV0 }, NO_MATCH },
	{ "Prefix, one argument", VIGIL_OP_PREFIX, { "--name=" }, MATCH },
	{ "Prefix, not at an argument's start", VIGIL_OP_PREFIX, { "RSA" }, NO_MATCH },
	{ "Postfix, one argument", VIGIL_OP_POSTFIX, { "PRIVATE KEY" }, MATCH },
	{ "Postfix, the end of a 304-byte argument", VIGIL_OP_POSTFIX, { "bbbb.pem" }, MATCH },
	{ "Postfix, not at an argument's end", VIGIL_OP_POSTFIX, { "BEGIN" }, NO_MATCH },
	{ "SubString, inside an argument", VIGIL_OP_SUBSTRING, { "RSA PRIVATE" }, MATCH },
	{ "SubString, at an argument's end", VIGIL_OP_SUBSTRING, { "x", "id_rsa" }, MATCH },
	{ "SubString, a whole argument", VIGIL_OP_SUBSTRING, { "/home" }, MATCH },
	{ "SubString, across two arguments", VIGIL_OP_SUBSTRING, { "KEY/home" }, NO_MATCH },
	{ "SubString, argv[0] left out", VIGIL_OP_SUBSTRING, { "argv0-needle" }, NO_MATCH },
	{ "SubString, absent", VIGIL_OP_SUBSTRING, { "aws_secret_access_key" }, NO_MATCH },
}, argv_long_cases[] = {
	/* Arguments: --argv-long -v|-q "y" x 1010, "needle-after-the-cut": the read stops at 1024 bytes. */
	{ "SubString, past the bytes read", VIGIL_OP_SUBSTRING, { "needle" }, NO_MATCH },
	{ "Equal, past the bytes read", VIGIL_OP_EQUAL, { "needle-after-the-cut" }, NO_MATCH },
	{ "Prefix, of the argument the read cut", VIGIL_OP_PREFIX, { "yyyyyyyy" }, MATCH },
	{ "Postfix, of the argument the read cut", VIGIL_OP_POSTFIX, { "yyyyyyyy" }, NO_MATCH },
	{ "Equal, first argument", VIGIL_OP_EQUAL, { "--argv-long" }, MATCH },
};

/* What the reader left for the arguments after argv[0] (total bytes, NULs included): 1 when
 * right. The whole when it fits, else VIGIL_ARGV_MAX bytes flagged truncated; value the whole. */
static int test_args_ok(size_t total, int truncated)
{
	const struct vigil_arg_value *v = &skel->bss->test_args[0];
	size_t want = truncated ? VIGIL_ARGV_MAX : total;

	if (v->kind != VIGIL_ARG_ARGV || v->value != total || v->len != want)
		return 0;
	return !!(v->flags & VIGIL_ARG_F_TRUNCATED) == truncated && !(v->flags & VIGIL_ARG_F_ERROR);
}

static void argv_case_run(const char *group, const struct argv_case *cases, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		const struct argv_case *t = &cases[c];
		struct vigil_hook h = one_arg_hook(VIGIL_ARG_ARGV, 0, 0);
		__u64 ctx[12] = { 0 };
		__u8 map_op = t->op == VIGIL_OP_SUBSTRING ? VIGIL_OP_PREFIX : t->op;
		size_t longest = 0;

		for (int i = 0; i < 4 && t->values[i]; i++)
			longest = strlen(t->values[i]) > longest ? strlen(t->values[i]) : longest;
		h.selectors[0].nargs = 1;
		h.selectors[0].args[0] = (struct vigil_arg_filter){
			.arg = 0, .op = t->op, .set_id = add_strings(map_op, t->values), .values = { longest } };
		expect(group, t->name, run(&h, ctx), t->want);
	}
}

/* In the harness run again with known arguments (argv[1] is --argv or --argv-long). */
static void argv_tests_child(const char *mode, int argc, char **argv)
{
	struct vigil_hook h = one_arg_hook(VIGIL_ARG_ARGV, 0, 0);
	__u64 ctx[12] = { 0 };
	size_t total = 0;

	for (int i = 1; i < argc; i++)
		total += strlen(argv[i]) + 1;
	h.nselectors = 0;
	run(&h, ctx);
	if (strcmp(mode, "--argv") == 0) {
		expect("argv", "the reader keeps every argument after argv[0], untruncated",
		       test_args_ok(total, 0), 1);
		argv_case_run("argv", argv_cases, sizeof(argv_cases) / sizeof(argv_cases[0]));
	} else {
		expect("argv", "the reader keeps VIGIL_ARGV_MAX bytes, truncated, value the whole size",
		       test_args_ok(total, 1), 1);
		argv_case_run("argv", argv_long_cases, sizeof(argv_long_cases) / sizeof(argv_long_cases[0]));
	}
}

/* Runs this harness again with known arguments; returns its failures. */
static int argv_tests_run(const char *self, int long_args)
{
	char ys[1011], *args[12];
	int n = 0, status = 0;
	pid_t pid;

	memset(ys, 'y', 1010);
	ys[1010] = 0;
	args[n++] = ARGV0;
	args[n++] = long_args ? "--argv-long" : "--argv";
	args[n++] = verbose ? "-v" : "-q";
	if (long_args) {
		args[n++] = ys;
		args[n++] = "needle-after-the-cut";
	} else {
		args[n++] = "grep";
		args[n++] = "-r";
		args[n++] = "BEGIN RSA PRIVATE KEY";
		args[n++] = "/home";
		args[n++] = "--name=id_rsa";
		args[n++] = LONG_B LONG_B "bbbb.pem";
		args[n++] = "";
	}
	args[n] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execv(self, args);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) > 100) {
		printf("FAIL  argv: the harness run with known arguments did not finish\n");
		return 1;
	}
	return WEXITSTATUS(status);
}

/* ---- main ----------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	cpu_set_t cpus;
	int cpu, err;

	int argv_mode = argc > 2 && (strcmp(argv[1], "--argv") == 0 || strcmp(argv[1], "--argv-long") == 0);

	verbose = argc > 1 && strcmp(argv[argv_mode ? 2 : 1], "-v") == 0;
	if (geteuid() != 0) {
		printf("selectors_test: skipped: loading a raw_tp program for BPF_PROG_TEST_RUN needs root "
		       "(CAP_BPF and CAP_PERFMON)\n");
		return 0;
	}
	/* One CPU for the whole run: the program's scratch is the slot of the CPU it runs on. */
	cpu = sched_getcpu();
	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	must(sched_setaffinity(0, sizeof(cpus), &cpus) ? -errno : 0, "sched_setaffinity");

	skel = selectors_test__open();
	if (!skel) {
		fprintf(stderr, "selectors_test: open: %s\n", strerror(errno));
		return 2;
	}
	/* As the loader sizes them (Sources/CVigilBPF/vigil_bpf.c): one scratch slot per CPU. */
	err = bpf_map__set_max_entries(skel->maps.vg_generic_scratch, (__u32)libbpf_num_possible_cpus());
	if (!err)
		err = selectors_test__load(skel);
	if (err) {
		fprintf(stderr, "selectors_test: load: %s\n", strerror(-err));
		selectors_test__destroy(skel);
		return 2;
	}

	if (argv_mode) {
		argv_tests_child(argv[1], argc, argv);
		selectors_test__destroy(skel);
		printf("selectors_test %s: %d passed, %d failed\n", argv[1], passed, failures);
		return failures;
	}
	string_tests();
	int_tests();
	result_tests();
	sockaddr_tests();
	pid_tests();
	namespace_tests();
	capability_tests();
	binary_tests();
	structure_tests();
	reader_tests();
	failures += task_tty_tests();
	failures += task_cred_tests();

	selectors_test__destroy(skel);
	/* After the destroy: the runs below load their own copy of the program. */
	failures += argv_tests_run("/proc/self/exe", 0);
	failures += argv_tests_run("/proc/self/exe", 1);
	printf("selectors_test: %d passed, %d failed\n", passed, failures);
	return failures ? 1 : 0;
}
