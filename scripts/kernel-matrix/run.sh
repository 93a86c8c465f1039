#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The kernel matrix: the agent's scenarios (scenarios.sh) on the host kernel natively and on
# Debian's 5.10, 6.1 and 6.12 kernels under qemu, then a kernel x scenario table. Exits non-zero when
# any scenario fails or a kernel gives no result. Needs root (the host column loads BPF).
#
#   scripts/kernel-matrix/run.sh                 host, 5.10, 6.1, 6.12, 6.12-nobpf (`make test-kernels`)
#   KERNELS="6.12 6.12-nobpf" scripts/kernel-matrix/run.sh
#   MATRIX_MODE=bench KERNELS="6.1 6.12" scripts/kernel-matrix/run.sh   (`make bench-kernels`:
#     fentry against kprobe on an open storm, bench-trampolines.sh, instead of the scenarios)
#   KERNEL_APPEND="mitigations=off" adds to the guests' kernel command line.
#
# A kernel is "host", or a Debian series ("6.1", "6.12") with an optional "-nobpf" suffix that
# boots it with an LSM list lacking bpf. Kernel packages are downloaded with apt-get once and
# cached in .cache/kernels (KERNEL_CACHE); guests run under TCG (this machine's /dev/kvm cannot
# run stock kernels; see docs/kernel-matrix.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/scripts/kernel-matrix
KERNELS=${KERNELS:-host 5.10 6.1 6.12 6.12-nobpf}
CACHE=${KERNEL_CACHE:-$ROOT/.cache/kernels}
OUT=${KERNEL_MATRIX_OUT:-$ROOT/.build/kernel-matrix}
VIGIL=${VIGIL:-$ROOT/.build/release/vigil}
TRACECTL=${TRACECTL:-$(dirname "$VIGIL")/tracectl}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-600}
MATRIX_MODE=${MATRIX_MODE:-scenarios}
# Tetragon's example policies, for the tetragon-corpus scenario (skipped where absent).
CORPUS=${TETRAGON_EXAMPLES:-/work/shared/reference/tetragon-examples}
export CORPUS
SCENARIOS=(exec-exit sigkill-tracepoint open-deny open-deny-errno exec-deny exec-sigkill connect-deny kprobe-tcp-connect flow kprobe-file kprobe-path-return kprobe-return-filter kprobe-cred kprobe-override kprobe-fallback uprobe probe clean-stop kept-connect-deny fence-open fence-connect fence-sigkill fence-fmod-ret evade-open evade-exec evade-connect evade-closures tetragon-corpus cgroup-v1)

say() { echo "kernel-matrix: $*" >&2; }
die() { say "$*"; exit 2; }

[ "$(id -u)" -eq 0 ] || die "needs root: the host column loads BPF programs and the guests run the agent as root"
[ -x "$VIGIL" ] || die "no agent binary at $VIGIL (make release, or set VIGIL=)"
[ -x "$TRACECTL" ] || die "no tracectl next to the agent at $TRACECTL (make release, or set TRACECTL=)"
. "$HERE/lib.sh"
check_tools
mkdir -p "$CACHE" "$OUT"

build_static_helpers

# --- running one column ----------------------------------------------------------------------

run_host() {
	local work results=$OUT/host.results
	work=$(mktemp -d /tmp/vigil-matrix.XXXXXX)
	: >"$results"
	echo "KERNEL $(uname -r) (host)" >>"$results"
	say "host $(uname -r): running natively"
	WORK=$work VIGIL=$VIGIL TRACECTL=$TRACECTL TRIGGER=$TRIGGER EVADE=$EVADE EXEC_TARGET=$EXEC_TARGET RESULTS=$results CORPUS=$CORPUS sh "$HERE/scenarios.sh" >"$OUT/host.console" 2>&1 || true
	echo DONE >>"$results"
	rm -rf "$work"
}

run_guest() {
	local name=$1
	qemu_command "$name" "$OUT/initramfs.cpio.gz" "$([ "$MATRIX_MODE" = bench ] && echo vigil.mode=bench)" \
		"$OUT/$name.console" "$OUT/$name.results"
	: >"$OUT/$name.results"
	timeout "$GUEST_TIMEOUT" "${QEMU[@]}" || say "$name: qemu exited with $?"
}

# --- the table -------------------------------------------------------------------------------

failed=0
columns=()
start=$SECONDS
build_initramfs "$OUT/initramfs.cpio.gz" &
initramfs_job=$!
for k in $KERNELS; do
	case $k in
	host) ;;
	*) kernel_image "${k%-nobpf}" >/dev/null ;;
	esac
done
wait $initramfs_job || die "building the initramfs failed"
say "initramfs: $(du -h "$OUT/initramfs.cpio.gz" | cut -f1) ($((SECONDS - start))s so far)"

# Guests two at a time (the machine has two cores; each guest is one TCG thread). The host
# column runs first and alone: its agent must not compete with emulated CPUs for time.
guests=()
for k in $KERNELS; do
	columns+=("$k")
	if [ "$k" = host ]; then
		# The host column has no trampolines to compare (and bench mode is for the guests).
		[ "$MATRIX_MODE" = bench ] || run_host
	else
		guests+=("$k")
	fi
done
pids=()
for k in "${guests[@]}"; do
	run_guest "$k" &
	pids+=($!)
	if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

if [ "$MATRIX_MODE" = bench ]; then
	# Median opens/s per mode and kernel, and each mode's change against no agent.
	echo
	printf '%-12s %-8s %12s %10s  %s\n' kernel mode "median/s" "vs none" rounds
	for k in "${columns[@]}"; do
		[ "$k" = host ] && continue
		grep -a '^BENCHFAIL' "$OUT/$k.results" 2>/dev/null | tr -d '\r' && failed=1
		base=
		for m in none fentry kprobe; do
			vals=$(grep -a "^BENCH $m " "$OUT/$k.results" 2>/dev/null | tr -d '\r' | awk '{print $4}' | sort -n)
			n=$(printf '%s\n' "$vals" | grep -c . || true)
			[ "$n" -gt 0 ] || { failed=1; echo "$k $m: no result"; continue; }
			med=$(printf '%s\n' "$vals" | awk -v n="$n" 'NR == int((n + 1) / 2) {print}')
			[ "$m" = none ] && base=$med
			change=$(awk -v v="$med" -v b="$base" 'BEGIN { printf "%+.1f%%", (v / b - 1) * 100 }')
			printf '%-12s %-8s %12s %10s  %s\n' "$k" "$m" "$med" "$change" "$(echo $vals | tr ' ' ',')"
		done
	done
	echo "kernel matrix bench: $([ $failed -eq 0 ] && echo done || echo FAILED) in $((SECONDS - start))s"
	exit $failed
fi

cell() { # column scenario -> PASS/FAIL/SKIP or "-" when the guest gave no result
	local line
	line=$(grep -a "^RESULT $2 " "$OUT/$1.results" 2>/dev/null | head -1 | tr -d '\r' || true)
	if [ -n "$line" ]; then echo "$line" | awk '{print $3}'; else echo "-"; fi
}

echo
printf '%-20s' "scenario"
for k in "${columns[@]}"; do printf '  %-12s' "$k"; done
echo
for s in "${SCENARIOS[@]}"; do
	printf '%-20s' "$s"
	for k in "${columns[@]}"; do
		c=$(cell "$k" "$s")
		[ "$c" = PASS ] || [ "$c" = SKIP ] || failed=1
		printf '  %-12s' "$c"
	done
	echo
done
echo
for k in "${columns[@]}"; do
	kernel=$(grep -a '^KERNEL ' "$OUT/$k.results" 2>/dev/null | head -1 | cut -d' ' -f2- | tr -d '\r' || true)
	lsm=$(grep -a '^LSM ' "$OUT/$k.results" 2>/dev/null | head -1 | cut -d' ' -f2- | tr -d '\r' || true)
	echo "$k: ${kernel:-no result}${lsm:+, lsm=$lsm}"
	grep -a '^RESULT ' "$OUT/$k.results" 2>/dev/null | tr -d '\r' | sed 's/^RESULT /  /' || true
	if ! grep -aq '^DONE' "$OUT/$k.results" 2>/dev/null || grep -aq '^RESULT .* FAIL' "$OUT/$k.results"; then
		failed=1
		say "$k did not pass; the last lines of $OUT/$k.console:"
		tail -n 40 "$OUT/$k.console" 2>/dev/null | sed 's/^/    /' >&2 || true
	fi
done
echo "kernel matrix: $([ $failed -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - start))s"
exit $failed
