/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --enable-dns-names in a kernel matrix guest (which has no DNS server or python): answers one A
 * query for api.test with 127.0.0.2 from 127.0.0.1:53, receives the answer as a client, then
 * connects over TCP to 127.0.0.2:4444 (its own listener) and to 127.0.0.3:4444 (never resolved).
 * Only in a guest: it binds port 53 on loopback. Tests/Tools/dnsping-guest.sh runs it under an
 * agent and prints the flows' destination_names:
 *
 *   cc -static -O2 -o /tmp/dnsping Tests/Tools/dnsping.c
 *   FILES=/tmp/dnsping make guest-run KERNEL=6.12 CMD="$(cat Tests/Tools/dnsping-guest.sh)"
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void)
{
	unsigned char q[64], a[128];
	int srv = socket(AF_INET, SOCK_DGRAM, 0), cli = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(53)}, from;
	socklen_t fl = sizeof(from);
	int n = 0, m;

	s.sin_addr.s_addr = htonl(0x7f000001);
	if (bind(srv, (void *)&s, sizeof(s)))
		return perror("bind 53"), 1;
	memcpy(q, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03" "api\x04" "test\x00\x00\x01\x00\x01", 26);
	sendto(cli, q, 26, 0, (void *)&s, sizeof(s));
	m = recvfrom(srv, a, sizeof(a), 0, (void *)&from, &fl);
	if (m != 26)
		return fprintf(stderr, "query %d\n", m), 1;
	a[2] = 0x81, a[3] = 0x80, a[7] = 1; /* a response, one answer */
	memcpy(a + 26, "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x02", 16);
	sendto(srv, a, 42, 0, (void *)&from, fl);
	n = recv(cli, q, sizeof(q), 0);
	printf("dnsping: answer of %d bytes\n", n);
	for (int i = 2; i <= 3; i++) {
		int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), on = 1;
		struct sockaddr_in t = {.sin_family = AF_INET, .sin_port = htons(4444)};

		t.sin_addr.s_addr = htonl(0x7f000000 | i);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(l, (void *)&t, sizeof(t)) || listen(l, 1) || connect(c, (void *)&t, sizeof(t)))
			return perror("tcp"), 1;
		close(c);
		close(accept(l, NULL, NULL));
		close(l);
		printf("dnsping: connected to 127.0.0.%d\n", i);
	}
	return 0;
}
