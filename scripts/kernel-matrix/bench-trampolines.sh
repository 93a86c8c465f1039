#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Cost of a hook on a kernel function, fentry against kprobe, side by side in one guest:
# an open/close storm with no agent, then with the agent and one kprobes policy on vfs_open
# (called by every open) whose selector matches nothing, attached as an fentry program (the
# default where trampolines load) and as a kprobe (--disable-trampolines). Modes alternate round
# by round. Under TCG the absolute figures are emulation's; the difference between the modes is
# the extra code each attachment runs per call.
#
# Environment: VIGIL, STORM (static open_storm), WORK, RESULTS; ROUNDS (5), OPENS (20000).
set -u
: "${VIGIL:?}" "${STORM:?}" "${WORK:?}" "${RESULTS:?}"
ROUNDS=${ROUNDS:-5}
OPENS=${OPENS:-20000}
mkdir -p "$WORK/policies"
echo data >"$WORK/target"
cat >"$WORK/policies/vfs-open.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: bench-vfs-open
spec:
  kprobes:
  - call: vfs_open
    syscall: false
    selectors:
    - matchBinaries:
      - operator: In
        values: ["$WORK/no-such-binary"]
YAML

# Starts the agent with $1 extra flags and waits until the policy runs on mechanism $2.
start_agent() {
	"$VIGIL" --node-name bench --export-filename "$WORK/events.log" --server-address "" \
		--tracing-policy-dir "$WORK/policies" --log-level info $1 >/dev/null 2>"$WORK/agent.log" &
	AGENT=$!
	i=0
	while [ $i -lt 1200 ]; do
		grep -q "vfs_open ($2)" "$WORK/agent.log" 2>/dev/null && return 0
		grep -q "policy refused" "$WORK/agent.log" 2>/dev/null && break
		sleep 0.1
		i=$((i + 1))
	done
	echo "BENCHFAIL agent not ready with $2: $(tail -n 2 "$WORK/agent.log")" >>"$RESULTS"
	stop_agent
	return 1
}

stop_agent() {
	kill -TERM $AGENT
	wait $AGENT
}

# One storm: prints its opens per second.
storm() {
	secs=$("$STORM" "$WORK/target" $OPENS 0)
	awk -v n=$OPENS -v s="$secs" 'BEGIN { printf "%d\n", n / s }'
}

r=1
while [ $r -le $ROUNDS ]; do
	echo "BENCH none $r $(storm)" >>"$RESULTS"
	start_agent "" fentry && echo "BENCH fentry $r $(storm)" >>"$RESULTS" && stop_agent
	start_agent --disable-trampolines kprobe && echo "BENCH kprobe $r $(storm)" >>"$RESULTS" && stop_agent
	r=$((r + 1))
done
