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
#include <time.h>
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

/* The program's average time on the frame over many runs (BPF_PROG_TEST_RUN's repeat), ns. */
static unsigned bench(const void *frame, size_t size)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = size, .repeat = 20000);

	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.dns_answers), &opts))
		return 0;
	ring_buffer__consume(rb);
	return opts.duration;
}

/* A DNS answer to `name` (dotted, as written) with `n` address records, A for 4-byte
 * addresses and AAAA for 16-byte ones, each named by a compression pointer to the question. */
static size_t dns_answer(unsigned char *out, const char *name, int n, const unsigned char (*addrs)[16],
			 const int *sizes, unsigned ttl)
{
	size_t off = 12;
	const char *label = name;

	memset(out, 0, 12);
	out[0] = 0x42;
	out[1] = 0x42;
	out[2] = 0x81; /* QR, RD */
	out[3] = 0x80; /* RA, NOERROR */
	out[5] = 1;
	out[7] = (unsigned char)n;
	while (*label) {
		const char *dot = strchr(label, '.');
		size_t len = dot ? (size_t)(dot - label) : strlen(label);

		out[off++] = (unsigned char)len;
		memcpy(out + off, label, len);
		off += len;
		label += len + (dot ? 1 : 0);
	}
	out[off++] = 0;
	out[off++] = 0;
	out[off++] = sizes[0] == 16 ? 28 : 1;
	out[off++] = 0;
	out[off++] = 1;
	for (int i = 0; i < n; i++) {
		out[off++] = 0xc0;
		out[off++] = 12;
		out[off++] = 0;
		out[off++] = sizes[i] == 16 ? 28 : 1;
		out[off++] = 0;
		out[off++] = 1;
		out[off++] = ttl >> 24;
		out[off++] = (ttl >> 16) & 0xff;
		out[off++] = (ttl >> 8) & 0xff;
		out[off++] = ttl & 0xff;
		out[off++] = 0;
		out[off++] = (unsigned char)sizes[i];
		memcpy(out + off, addrs[i], sizes[i]);
		off += sizes[i];
	}
	return off;
}

/* The answer as a UDP datagram from port 53 in an IPv4 frame. */
static size_t answer_frame(unsigned char *out, const unsigned char *msg, size_t len)
{
	size_t size = frame(out, 0, 17, 53, 0, len);

	memcpy(out + size - len, msg, len);
	return size;
}

/* The expiry vg_fqdn_allow holds for set 7 and the address (IPv4 when size is 4), or 0; any
 * cgroup (a test run's skb has the runner's socket cgroup). */
static unsigned long long learnt(const unsigned char *addr, int size)
{
	struct vigil_fqdn_addr_key want = { .set_id = 7 }, key, *prev = NULL;
	int fd = bpf_map__fd(skel->maps.vg_fqdn_allow);
	unsigned long long expiry = 0;

	if (size == 4) {
		want.addr[10] = want.addr[11] = 0xff;
		memcpy(want.addr + 12, addr, 4);
	} else {
		memcpy(want.addr, addr, 16);
	}
	while (bpf_map_get_next_key(fd, prev, &key) == 0) {
		if (key.set_id == want.set_id && memcmp(key.addr, want.addr, 16) == 0 &&
		    bpf_map_lookup_elem(fd, &key, &expiry) == 0)
			return expiry;
		prev = &key;
	}
	return 0;
}

/* A name of set 7 in vg_str_postfix as the compiler writes it: reversed, with a NUL for the
 * name's start ("api.test"), or without for a pattern (".example" for *.example). */
static void allow_name(const char *text, int exact)
{
	struct vigil_str_lpm_key key = { .set_id = 7 };
	size_t len = strlen(text), n = 0;
	unsigned char one = 1;

	for (size_t i = 0; i < len; i++)
		key.data[n++] = text[len - 1 - i];
	if (exact)
		key.data[n++] = 0;
	key.prefixlen = 32 + 8 * n;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.vg_str_postfix), &key, &one, BPF_ANY)) {
		fprintf(stderr, "dns_test: vg_str_postfix: %s\n", strerror(errno));
		exit(2);
	}
}

/* DNSName learning (lib/fqdn.h): what an answer teaches vg_fqdn_allow, and what it must not. */
static void fqdn_cases(unsigned char *buf)
{
	static const unsigned char a2[16] = { 127, 0, 0, 2 }, a3[16] = { 127, 0, 0, 3 }, a4[16] = { 127, 0, 0, 4 };
	static const unsigned char a5[16] = { 127, 0, 0, 5 }, a6[16] = { 127, 0, 0, 6 }, a7[16] = { 127, 0, 0, 7 };
	static const unsigned char a8[16] = { 127, 0, 0, 8 };
	static const unsigned char six[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
	unsigned char msg[512], addrs[2][16];
	int sizes[2] = { 4, 16 }, four[1] = { 4 }, made;
	struct vigil_fqdn_set_key set = { .set_id = 7 };
	unsigned char one = 1;
	struct timespec ts;
	unsigned long long now, expiry;
	unsigned cost_none, cost_learnt, cost_other;
	size_t len, size;

	/* The names without their set listed in vg_fqdn_sets (no DNSName policy): nothing learnt. */
	allow_name("api.test", 1);
	allow_name(".example", 0);
	len = dns_answer(msg, "api.test", 1, (const unsigned char (*)[16])a8, four, 60);
	size = answer_frame(buf, msg, len);
	check(run(buf, size, &made) == 1 && made == 1 && !learnt(a8, 4), "no set listed: recorded, not learnt");
	cost_none = bench(buf, size);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.vg_fqdn_sets), &set, &one, BPF_ANY)) {
		fprintf(stderr, "dns_test: vg_fqdn_sets: %s\n", strerror(errno));
		exit(2);
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;

	/* api.test: its A and AAAA, for the TTL (300 s). */
	memcpy(addrs[0], a2, 16);
	memcpy(addrs[1], six, 16);
	len = dns_answer(msg, "api.test", 2, (const unsigned char (*)[16])addrs, sizes, 300);
	size = answer_frame(buf, msg, len);
	check(run(buf, size, &made) == 1 && made == 1, "api.test answer passes and is recorded");
	expiry = learnt(a2, 4);
	check(expiry > now + 299000000000ULL && expiry < now + 302000000000ULL, "api.test A learnt for its TTL");
	check(learnt(six, 16) == expiry, "api.test AAAA learnt");
	cost_learnt = bench(buf, size);

	/* Case does not matter; TTL 0 is held for the minimum. */
	len = dns_answer(msg, "API.Test", 1, (const unsigned char (*)[16])a3, four, 0);
	size = answer_frame(buf, msg, len);
	expiry = (run(buf, size, &made) == 1) ? learnt(a3, 4) : 0;
	check(expiry > now && expiry < now + (VIGIL_FQDN_TTL_MIN + 2) * 1000000000ULL, "API.Test learnt, TTL 0 clamped");

	/* *.example: a name below it; not example itself, not another name. */
	len = dns_answer(msg, "www.eu.example", 1, (const unsigned char (*)[16])a4, four, 60);
	size = answer_frame(buf, msg, len);
	check(run(buf, size, &made) == 1 && learnt(a4, 4), "www.eu.example learnt by *.example");
	len = dns_answer(msg, "example", 1, (const unsigned char (*)[16])a5, four, 60);
	size = answer_frame(buf, msg, len);
	check(run(buf, size, &made) == 1 && !learnt(a5, 4), "example itself not learnt by *.example");
	len = dns_answer(msg, "other.test", 1, (const unsigned char (*)[16])a5, four, 60);
	size = answer_frame(buf, msg, len);
	check(run(buf, size, &made) == 1 && !learnt(a5, 4), "other.test not learnt");
	cost_other = bench(buf, size);
	len = dns_answer(msg, "xapi.test", 1, (const unsigned char (*)[16])a5, four, 60);
	size = answer_frame(buf, msg, len);
	check(run(buf, size, &made) == 1 && !learnt(a5, 4), "xapi.test not learnt (exact names are exact)");

	/* Hostile: an address record cut short, a record length past the end, a question name
	 * that is a compression pointer (to itself), a query instead of an answer, an error. */
	len = dns_answer(msg, "api.test", 1, (const unsigned char (*)[16])a6, four, 60);
	size = answer_frame(buf, msg, len - 1);
	check(run(buf, size, &made) == 1 && !learnt(a6, 4), "cut A record passes, not learnt");
	msg[len - 5] = 200;
	size = answer_frame(buf, msg, len);
	check(run(buf, size, &made) == 1 && !learnt(a6, 4), "record length past the end passes, not learnt");
	len = dns_answer(msg, "api.test", 1, (const unsigned char (*)[16])a6, four, 60);
	memmove(msg + 14, msg + 12 + 10, len - 22);
	msg[12] = 0xc0;
	msg[13] = 12;
	size = answer_frame(buf, msg, len - 8);
	check(run(buf, size, &made) == 1 && !learnt(a6, 4), "question pointing at itself passes, not learnt");
	len = dns_answer(msg, "api.test", 1, (const unsigned char (*)[16])a6, four, 60);
	msg[2] = 0x01;
	size = answer_frame(buf, msg, len);
	check(run(buf, size, &made) == 1 && !learnt(a6, 4), "a query passes, not learnt");
	msg[2] = 0x81;
	msg[3] = 0x83; /* NXDOMAIN */
	size = answer_frame(buf, msg, len);
	check(run(buf, size, &made) == 1 && !learnt(a6, 4), "an error answer passes, not learnt");
	/* An answer whose record names form a pointer loop: no pointer is followed, so the
	 * record after it is read as usual. */
	len = dns_answer(msg, "api.test", 1, (const unsigned char (*)[16])a7, four, 60);
	msg[len - 16] = 0xc0;
	msg[len - 15] = (unsigned char)(len - 16);
	size = answer_frame(buf, msg, len);
	check(run(buf, size, &made) == 1 && learnt(a7, 4), "a pointer loop in a record name passes");

	/* Every byte of a good answer set at random, many times: always passed. */
	srand(53);
	for (int i = 0; i < 3000; i++) {
		len = dns_answer(msg, "api.test", 2, (const unsigned char (*)[16])addrs, sizes, 60);
		for (int k = 0; k < 1 + i % 4; k++)
			msg[rand() % len] = (unsigned char)rand();
		size = answer_frame(buf, msg, len - (size_t)(i % 3 == 0 ? rand() % 8 : 0));
		if (run(buf, size, &made) != 1) {
			check(0, "a mutated answer passes");
			break;
		}
	}
	passed++;
	/* Informational (the ring buffer fills during the runs: later records are dropped, after
	 * the learning): the program's time per answer, this machine, one CPU. */
	printf("dns_test: ns per answer in the program: %u with no DNSName set, %u for an answer "
	       "learnt (2 addresses), %u for a name in no set\n", cost_none, cost_learnt, cost_other);
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

	fqdn_cases(buf);

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
