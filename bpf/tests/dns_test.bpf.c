// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The DNS answer program itself (progs/dns.bpf.c, included whole), for dns_test.c to run with
 * BPF_PROG_TEST_RUN on crafted packets: its verdict must be "pass" on every one.
 */
#include "../progs/dns.bpf.c"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
