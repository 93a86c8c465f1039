#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One shell command in one of the kernel matrix's Debian guests, with this checkout's agent and
# tracectl: a place to try node-wide enforcement (unscoped kills, denies) before the host.
#
#   scripts/kernel-matrix/guest-run.sh 6.12 'uname -r'     (make guest-run KERNEL=6.12 CMD='uname -r')
#   FILES=deploy/examples/deny-raw-sockets.yaml scripts/kernel-matrix/guest-run.sh 6.1 \
#     'vigil --tracing-policy deny-raw-sockets.yaml >events.log 2>&1 & sleep 30; ping -c 1 127.0.0.1'
#
# The kernel is 6.1 or 6.12, with -nobpf to boot it without bpf in lsm= (as in run.sh). CMD runs
# as root under busybox sh in /work, where FILES (files or directories of this machine) are copied
# under their base names, with /vigil first on PATH (vigil, tracectl, trigger, open_storm, evade,
# the matrix scripts). Its stdout comes out on stdout, its stderr and the kernel's warnings on
# stderr, both as the guest writes them; the guest powers off when CMD returns, with whatever CMD
# left running. Exits with CMD's status; 124 when GUEST_TIMEOUT (600 s) runs out first, 2 when
# the guest cannot start or ends without the status.
#
# The binaries are .build/debug's (VIGIL= picks another build, TRACECTL= defaults to the one next
# to it). The initramfs is kept in .build/guest-run and built again when a file it carries
# changes; the last console of each kernel is kept there too (<kernel>.console).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/scripts/kernel-matrix
CACHE=${KERNEL_CACHE:-$ROOT/.cache/kernels}
OUT=${GUEST_RUN_OUT:-$ROOT/.build/guest-run}
VIGIL=${VIGIL:-$ROOT/.build/debug/vigil}
TRACECTL=${TRACECTL:-$(dirname "$VIGIL")/tracectl}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-600}

say() { echo "guest-run: $*" >&2; }
die() { say "$*"; exit 2; }

[ $# -eq 2 ] && [ -n "$2" ] || die "usage: $0 KERNEL CMD, or make guest-run KERNEL=6.12 CMD='...' (KERNEL: 5.10, 6.1, 6.12, with -nobpf: booted without bpf in lsm=)"
KERNEL=$1 CMD=$2
case $KERNEL in
5.10 | 6.1 | 6.12 | 5.10-nobpf | 6.1-nobpf | 6.12-nobpf) ;;
*) die "unknown kernel '$KERNEL' (5.10, 6.1, 6.12, each with or without -nobpf)" ;;
esac
[ -x "$VIGIL" ] || die "no agent binary at $VIGIL: run make build first (or set VIGIL=)"
[ -x "$TRACECTL" ] || die "no tracectl next to the agent at $TRACECTL: run make build first (or set TRACECTL=)"
. "$HERE/lib.sh"
check_tools
mkdir -p "$CACHE" "$OUT"

# The initramfs, unless the last one was built from the same files (same size and time); under
# a lock, so two runs at once do not build it into each other.
exec 9>"$OUT/lock"
flock 9
inputs=$(stat -L -c '%n %s %Y' "$(realpath "$VIGIL")" "$(realpath "$TRACECTL")" $BUSYBOX \
	"$HERE"/{init.sh,scenarios.sh,bench-trampolines.sh,trigger.c,lib.sh} "$ROOT/bench/open_storm.c" \
	"$ROOT/Tests/Tools/evade.c")
if ! [ -f "$OUT/initramfs.cpio.gz" ] || [ "$inputs" != "$(cat "$OUT/initramfs.inputs" 2>/dev/null)" ]; then
	say "building the initramfs from $VIGIL"
	build_static_helpers
	build_initramfs "$OUT/initramfs.cpio.gz.tmp"
	mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
	echo "$inputs" >"$OUT/initramfs.inputs"
fi
exec 9>&-

run=$(mktemp -d "$OUT/run.XXXXXX")
guest=
finish() {
	[ -z "$guest" ] || kill "$guest" 2>/dev/null || true
	cp "$run/console" "$OUT/$KERNEL.console" 2>/dev/null || true
	rm -rf "$run"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# CMD (as /vigil/guest-cmd) and FILES (in /work) reach the guest in a second archive after the
# first: the kernel unpacks every archive of a concatenation.
mkdir -p "$run/cmd/vigil" "$run/cmd/work"
printf '%s\n' "$CMD" >"$run/cmd/vigil/guest-cmd"
for f in ${FILES:-}; do
	[ -e "$f" ] || die "FILES: no $f"
	cp -rL "$f" "$run/cmd/work/"
done
(cd "$run/cmd" && find vigil work | $BUSYBOX cpio -o -H newc 2>/dev/null) | gzip -1 >"$run/cmd.cpio.gz"
cat "$OUT/initramfs.cpio.gz" "$run/cmd.cpio.gz" >"$run/initramfs.cpio.gz"

qemu_command "$KERNEL" "$run/initramfs.cpio.gz" vigil.mode=run "$run/console" "$run/stdout" || exit 2
: >"$run/console"
: >"$run/stdout"
timeout "$GUEST_TIMEOUT" "${QEMU[@]}" &
guest=$!
# Both ports as the guest writes them; each tail ends once qemu has exited and it has read all.
# The console without the \r its tty adds, the status line and the kernel's power-down line.
tail -c +1 -f --pid=$guest "$run/stdout" &
stdout_job=$!
tail -n +1 -f --pid=$guest "$run/console" | sed -u -e 's/\r$//' -e '/GUEST-RUN-STATUS [0-9]*$/d' -e '/reboot: Power down$/d' >&2 &
console_job=$!
qemu_status=0
wait $guest || qemu_status=$?
guest=
wait $stdout_job $console_job || true

status=$(grep -a -o 'GUEST-RUN-STATUS [0-9]*' "$run/console" | tail -n 1 | cut -d' ' -f2 || true)
[ -z "$status" ] || exit "$status"
[ $qemu_status -ne 124 ] || { say "GUEST_TIMEOUT ($GUEST_TIMEOUT s) ran out before CMD returned"; exit 124; }
die "the guest ended without CMD's status (qemu exited with $qemu_status); its console is in $OUT/$KERNEL.console"
