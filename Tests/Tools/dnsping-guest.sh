# SPDX-License-Identifier: Apache-2.0
# The guest side of Tests/Tools/dnsping.c (see there): an agent with --enable-dns-names and
# --enable-flows, one answer, two connects; prints the flows to 127.0.0.2 (named api.test) and
# 127.0.0.3 (no names) and the kernel's DNS counters.
ip link set lo up 2>/dev/null
vigil --enable-dns-names --enable-flows --export-filename /work/ev.log --server-address "" --tracing-policy-dir /nonexistent >/work/agent.log 2>&1 &
AGENT=$!
i=0; while ! grep -q "DNS answers attached" /work/agent.log && [ $i -lt 180 ]; do sleep 1; i=$((i+1)); done
grep -E "DNS answers|error|refused|needs" /work/agent.log | head -5
sleep 3
/work/dnsping
sleep 5
kill $AGENT; wait $AGENT
grep -o '"daddr":"127.0.0.[23]","sport":[0-9]*,"dport":4444[^]]*' /work/ev.log | sed 's/"cookie[^}]*}//'
grep -oE "dns_answers=[0-9]+|dns_drops=[0-9]+" /work/agent.log
