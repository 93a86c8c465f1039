# SPDX-License-Identifier: Apache-2.0
# FQDN egress in a kernel matrix guest, with Tests/Tools/dnsping.c: an agent with
# --enable-dns-names and a policy denying port 4444 to every address not learnt for api.test
# (NotDNSName); dnsping's answer names 127.0.0.2, so its connect there succeeds and the one to
# 127.0.0.3 fails with EPERM ("tcp: Operation not permitted", rc=1). Prints the mechanisms, the
# denied connect and the kernel's counters (fqdn_learnt: addresses written from answers).
#
#   cc -static -O2 -o /tmp/dnsping Tests/Tools/dnsping.c
#   FILES=/tmp/dnsping make guest-run KERNEL=6.1 CMD="$(cat Tests/Tools/dnsping-fqdn-guest.sh)"
ip link set lo up 2>/dev/null
mkdir -p /work/pol
cat >/work/pol/fqdn.yaml <<'POLICY'
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: fqdn-guest
spec:
  lsmhooks:
  - hook: socket_connect
    args:
    - index: 1
      type: sockaddr
    selectors:
    - matchArgs:
      - index: 1
        operator: NotDNSName
        values: ["api.test"]
      - index: 1
        operator: DPort
        values: ["4444"]
      matchActions:
      - action: Override
        argError: -1
POLICY
vigil --enable-dns-names --export-filename /work/ev.log --server-address "" --tracing-policy-dir /work/pol >/work/agent.log 2>&1 &
AGENT=$!
i=0; while ! grep -q "policy=fqdn-guest\|error=" /work/agent.log && [ $i -lt 400 ]; do sleep 1; i=$((i+1)); done
grep -E "error|refused|hook=socket_connect|policy loaded" /work/agent.log | cut -c1-220 | head -4
sleep 2
/work/dnsping; echo "dnsping rc=$?"
sleep 3
kill $AGENT; wait $AGENT
grep -o '"sockaddr_arg":{[^}]*}' /work/ev.log
grep -oE "fqdn_learnt=[0-9]+|dns_answers=[0-9]+" /work/agent.log
