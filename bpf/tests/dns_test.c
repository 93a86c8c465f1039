/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS answer program (progs/dns.bpf.c, through dns_test.bpf.c) on packets, with
 * BPF_PROG_TEST_RUN: nothing is attached. It runs on the cgroup2 root in the agent, where a
 * verdict of 0 would drop the node's traffic, so every case checks the verdict is 1 (pass):
 * answers over IPv4 and IPv6, an answer longer than the capture, a UDP length that lies, other
 * ports and protocols, packets cut anywhere, and random bytes. The answers' records are read
 * back from the ring buffer and checked byte for byte.
 *
 * Needs root (loading a cgroup_skb program); says so and passes without.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "vigil_abi.h"
#include "dns_test.skel.h"

static struct dns_test *skel;
static struct ring_buffer *rb;
static int failures, passed;
static struct vigil_dns_event last;
static int records;

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size >= sizeof(last))
		memcpy(&last, data, sizeof(last));
	records++;
	return 0;
}

static void check(int ok, const char *what)
{
	if (ok) {
		passed++;
		return;
	}
	failures++;
	fprintf(stderr, "dns_test: FAIL: %s\n", what);
}

/* Runs the program on an Ethernet frame (test runs of cgroup_skb programs take one and hand
 * the program the packet from its network header); returns the verdict and how many records
 * it made, or -1 when the kernel refused the frame before the program ran (EINVAL: an IPv4
 * frame shorter than its IP header, a malformed one). */
static int run(const void *frame, size_t size, int *made)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = size);
	int err;

	records = 0;
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.dns_answers), &opts);
	if (err == -EINVAL)
		return -1;
	if (err) {
		fprintf(stderr, "dns_test: test run (%zu bytes): %s\n", size, strerror(-err));
		exit(2);
	}
	ring_buffer__consume(rb);
	*made = records;
	return (int)opts.retval;
}

/* An Ethernet frame holding an IPv4 or IPv6 packet with a UDP (or other `proto`) header from
 * sport, its length field `udp_len` (0: the true one), and `payload_len` bytes of payload. */
static size_t frame(unsigned char *out, int v6, int proto, int sport, unsigned udp_len, size_t payload_len)
{
	size_t off = 14, ip_len = v6 ? 40 : 20;

	memset(out, 0, 14 + ip_len + 8 + payload_len);
	out[12] = v6 ? 0x86 : 0x08;
	out[13] = v6 ? 0xDD : 0x00;
	if (v6) {
		out[off] = 0x60;
		out[off + 4] = (8 + payload_len) >> 8;
		out[off + 5] = (8 + payload_len) & 0xFF;
		out[off + 6] = proto;
		out[off + 7] = 64;
		out[off + 8] = 0x20; /* saddr 2001:db8::53 */
		out[off + 9] = 0x01;
		out[off + 10] = 0x0d;
		out[off + 11] = 0xb8;
		out[off + 23] = 0x53;
		out[off + 39] = 1;
	} else {
		size_t total = 20 + 8 + payload_len;

		out[off] = 0x45;
		out[off + 2] = total >> 8;
		out[off + 3] = total & 0xFF;
		out[off + 8] = 64;
		out[off + 9] = proto;
		out[off + 12] = 10; /* saddr 10.0.0.53 */
		out[off + 15] = 53;
		out[off + 16] = 127;
		out[off + 19] = 1;
	}
	off += ip_len;
	out[off] = sport >> 8;
	out[off + 1] = sport & 0xFF;
	out[off + 2] = 0x30;
	out[off + 3] = 0x39;
	if (!udp_len)
		udp_len = 8 + payload_len;
	out[off + 4] = udp_len >> 8;
	out[off + 5] = udp_len & 0xFF;
	off += 8;
	for (size_t i = 0; i < payload_len; i++)
		out[off + i] = (unsigned char)(i * 7 + 1);
	return off + payload_len;
}

static int payload_ok(size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (last.payload[i] != (unsigned char)(i * 7 + 1))
			return 0;
	return 1;
}

int main(void)
{
	static unsigned char buf[2048];
	size_t size;
	int made, err, ran = 0;

	if (geteuid() != 0) {
		printf("dns_test: skipped: loading a cgroup_skb program for BPF_PROG_TEST_RUN needs root\n");
		return 0;
	}
	skel = dns_test__open();
	if (!skel) {
		fprintf(stderr, "dns_test: open: %s\n", strerror(errno));
		return 2;
	}
	/* As the loader does without flows: the big scratch maps this object also declares stay
	 * small. */
	err = bpf_map__set_max_entries(skel->maps.vg_events, 1 << 20);
	if (!err)
		err = dns_test__load(skel);
	if (err) {
		fprintf(stderr, "dns_test: load: %s\n", strerror(-err));
		dns_test__destroy(skel);
		return 2;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.vg_events), on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "dns_test: ring buffer: %s\n", strerror(errno));
		return 2;
	}

	/* An IPv4 answer: copied whole, with its server. */
	size = frame(buf, 0, 17, 53, 0, 40);
	check(run(buf, size, &made) == 1, "IPv4 answer passes");
	check(made == 1 && last.hdr.kind == VIGIL_EVENT_DNS && last.hdr.size == sizeof(last), "IPv4 answer recorded");
	check(last.payload_len == 40 && last.captured == 40 && payload_ok(40), "IPv4 answer bytes");
	check(last.family == 2 && last.server[0] == 10 && last.server[3] == 53 && last.server[4] == 0, "IPv4 server");

	/* An IPv6 answer longer than the capture: cut, and says so. */
	size = frame(buf, 1, 17, 53, 0, 700);
	check(run(buf, size, &made) == 1, "long IPv6 answer passes");
	check(made == 1 && last.family == 10 && last.payload_len == 700 && last.captured == VIGIL_DNS_PAYLOAD,
	      "long IPv6 answer cut at the capture");
	check(payload_ok(VIGIL_DNS_PAYLOAD) && last.server[0] == 0x20 && last.server[15] == 0x53, "IPv6 answer bytes");

	/* A UDP length that claims more than the packet holds: only what is there. */
	size = frame(buf, 0, 17, 53, 5000, 30);
	check(run(buf, size, &made) == 1 && made == 1 && last.payload_len == 4992 && last.captured == 30,
	      "lying UDP length: the bytes there are");

	/* Not answers: another source port, TCP from 53, a datagram shorter than a DNS header. */
	size = frame(buf, 0, 17, 54, 0, 40);
	check(run(buf, size, &made) == 1 && made == 0, "port 54 passes, not recorded");
	size = frame(buf, 0, 6, 53, 0, 40);
	check(run(buf, size, &made) == 1 && made == 0, "TCP from 53 passes, not recorded");
	size = frame(buf, 1, 17, 53, 0, 11);
	check(run(buf, size, &made) == 1 && made == 0, "short datagram passes, not recorded");

	/* Every cut of an answer frame (test runs take more than an Ethernet header), then random
	 * frames: always passed. */
	size = frame(buf, 0, 17, 53, 0, 64);
	for (size_t cut = 15; cut <= size; cut++) {
		int verdict = run(buf, cut, &made);

		ran += verdict >= 0;
		if (verdict == 0 || verdict > 1) {
			check(0, "a cut answer passes");
			break;
		}
	}
	check(ran >= 30, "most cuts ran the program");
	srand(1616);
	for (int i = 0; i < 2000; i++) {
		size_t n = 15 + (size_t)(rand() % 600);

		for (size_t j = 0; j < n; j++)
			buf[j] = (unsigned char)rand();
		buf[12] = (i & 1) ? 0x86 : 0x08;
		buf[13] = (i & 1) ? 0xDD : 0x00;
		if (i % 4 < 2) { /* UDP from 53 */
			buf[14 + ((i & 1) ? 6 : 9)] = 17;
			if (!(i & 1))
				buf[14] = 0x45;
			buf[14 + ((i & 1) ? 40 : 20)] = 0;
			buf[14 + ((i & 1) ? 40 : 20) + 1] = 53;
		}
		int verdict = run(buf, n, &made);

		ran += verdict >= 0;
		if (verdict == 0 || verdict > 1) {
			check(0, "a random frame passes");
			break;
		}
	}
	printf("dns_test: %d cut and random frames ran the program, each passed\n", ran);
	check(ran >= 1000, "most random frames ran the program");

	ring_buffer__free(rb);
	dns_test__destroy(skel);
	printf("dns_test: %d passed, %d failed\n", passed, failures);
	return failures ? 1 : 0;
}
