#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The detection library (policies/library/) in a Debian guest (default 6.12, where BPF-LSM
# serves file_open, bprm_check_security and socket_connect): the agent loads every library
# policy, Tests/Tools/library_trigger.c performs each behaviour once (the in-container ones in a
# new pid namespace, `unshare -p -f`: the guest has no runc), and the events are counted per
# policy and per mechanism. Monitor only; the guest is thrown away. docs/detections.md has the
# result.
#
#   KERNEL_CACHE=/path/to/kernels [OVERLAY_KO=overlay.ko] scripts/kernel-matrix/detections-guest.sh [6.12|6.1]
#
# OVERLAY_KO: that kernel's overlay module (fs/overlayfs/overlay.ko from its linux-image package,
# uncompressed), for the dropped-binary behaviour; without it that one is not performed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KERNEL=${1:-6.12}
WORK=$(mktemp -d /tmp/vigil-detections-guest.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
gcc -O1 -Wall -Werror -static -o "$WORK/library-trigger" "$ROOT/Tests/Tools/library_trigger.c"
cp -r "$ROOT/policies/library" "$WORK/library"
EXTRA=
if [ -n "${OVERLAY_KO:-}" ]; then cp "$OVERLAY_KO" "$WORK/overlay.ko"; EXTRA=$WORK/overlay.ko; fi
chmod 644 "$WORK"/library/*.yaml
# The guest's initramfs has no /etc/shadow and no /dev/shm: made first, in the guest only.
read -r -d '' CMD <<'GUEST' || true
set -u
W=/work; T=$W/library-trigger
[ -e /etc/shadow ] || { echo "root:*:1::::::" >/etc/shadow; chmod 640 /etc/shadow; }
mkdir -p /dev/shm; mount -t tmpfs tmpfs /dev/shm 2>/dev/null
# Pseudo-terminals for the terminal shell: the initramfs has /dev/ptmx but no devpts mounted.
[ -e /dev/pts/ptmx ] || { mkdir -p /dev/pts; mount -t devpts devpts /dev/pts; }
# overlayfs is a module in Debian's kernels, which the cached kernel does not carry: loaded when
# given (OVERLAY_KO), before the agent, whose compiler then checks ovl_inode in its module BTF.
[ -e $W/overlay.ko ] && insmod $W/overlay.ko
vigil --tracing-policy-dir $W/library --export-filename /tmp/ev.log --server-address /tmp/v.sock --enable-vigil-fields 2>/tmp/agent.log &
A=$!
i=0; while ! grep -q "control API listening" /tmp/agent.log && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done
$T open /etc/shadow
mkdir -p $W/srv; cp $T $W/srv/nginx; cp $T $W/srv/sh; $W/srv/nginx open /etc/shadow; $W/srv/nginx spawn $W/srv/sh noop
(cd /tmp && $T open ../../../../etc/passwd)
$T open-trunc /tmp/auth.log
mkdir -p $W/bulk; cp $T $W/bulk/shred; $W/bulk/shred noop
$T symlink /etc/shadow /tmp/sl; $T link /etc/shadow /tmp/nodir/x
$T ptrace-attach; $T traceme
cp $T /dev/shm/x; /dev/shm/x noop
$T memfd-exec
mkdir -p $W/s $W/c; cp $T $W/s/ssh; $W/s/ssh connect 192.0.2.1 4444
cp $T $W/c/nc; cp $T $W/c/debugfs; cp $T $W/c/bash
mkdir -p $W/k; cp $T $W/k/grep; cp $T $W/k/find
$W/k/grep noop -r "BEGIN RSA PRIVATE KEY" /tmp; $W/k/grep noop -ri aws_secret_access_key /tmp
$W/k/find noop /tmp -name id_rsa; $W/k/find noop /tmp -path '*.aws/credentials'
mkdir -p /usr/sbin /tmp/su; cp $T /tmp/su/tool; chmod 755 /tmp/su /tmp/su/tool; $T as-sshd spawn-as 1 /tmp/su/tool noop
# An overlay root's upper layer (on a tmpfs: the initramfs's own root cannot be an upper layer).
mkdir -p /tmp/o/m
if grep -q overlay /proc/filesystems; then
	mount -t tmpfs tmpfs /tmp/o; mkdir -p /tmp/o/l /tmp/o/u /tmp/o/w /tmp/o/m; cp $T /tmp/o/l/image; cp $T /tmp/o/u/dropped
	mount -t overlay overlay -o lowerdir=/tmp/o/l,upperdir=/tmp/o/u,workdir=/tmp/o/w /tmp/o/m
else
	echo "no overlayfs (OVERLAY_KO not given): the dropped binary is not performed"
fi
unshare -p -f sh -c "$T packet-socket; $T dup-socket; $T finit-module; $T open-write /tmp/release_agent; $T connect 10.96.0.1 443; $W/c/nc noop -e /bin/sh 127.0.0.1 4444; $W/c/debugfs noop; $T pty-exec $W/c/bash noop; [ -x /tmp/o/m/dropped ] && /tmp/o/m/image noop && /tmp/o/m/dropped noop"
sleep 2; kill -INT $A; wait $A
echo "== refused:"; grep "policy refused" /tmp/agent.log || true
echo "== events per policy:"; grep -o '"policy_name":"[^"]*"' /tmp/ev.log | sort | uniq -c
echo "== mechanisms:"; grep -o '"mechanism":"[^"]*"' /tmp/ev.log | sort | uniq -c
# Enforcing for one workload is one changed line: the library's `&action` line of four policies
# (an exec hook on BPF-LSM, a syscall tracepoint, an exec hook on its arguments, one on its tty)
# set to Sigkill, the agent fenced to one cgroup.
# The same acts inside the fence are killed; outside they run and are reported as fenced.
mkdir -p /tmp/enforce /sys/fs/cgroup/workload
for p in execution-from-dev-shm ptrace-anti-debug-attempt search-private-keys-or-passwords terminal-shell-in-container; do
	sed 's/- action: &action Post/- action: \&action Sigkill/' $W/library/$p.yaml >/tmp/enforce/$p.yaml
done
grep -h "action: &action" /tmp/enforce/*.yaml
vigil --tracing-policy-dir /tmp/enforce --enforcement-cgroup /sys/fs/cgroup/workload --export-filename /tmp/ev2.log \
	--server-address /tmp/v2.sock --enable-vigil-fields 2>/tmp/agent2.log &
A=$!
i=0; while ! grep -q "control API listening" /tmp/agent2.log && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done
for act in "/dev/shm/x noop" "$T traceme" "$W/k/find noop /tmp -name id_rsa" "unshare -p -f $T pty-exec $W/c/bash noop"; do
	sh -c 'echo $$ >/sys/fs/cgroup/workload/cgroup.procs && exec "$@"' sh $act; echo "in the workload: $act: exit $?"
	$act; echo "outside it: $act: exit $?"
done
sleep 2; kill -INT $A; wait $A
echo "== enforced events (policy, action, fenced):"
grep -o '"policy_name":"[^"]*"\|"action":"[^"]*"\|"fenced":true' /tmp/ev2.log | paste -sd' ' | sed 's/ "policy_name"/\n"policy_name"/g'
GUEST
FILES="$WORK/library $WORK/library-trigger $EXTRA" "$ROOT/scripts/kernel-matrix/guest-run.sh" "$KERNEL" "$CMD"
