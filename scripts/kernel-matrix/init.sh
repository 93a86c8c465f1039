#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# /init of the kernel matrix guests: mount what the agent needs, run the scenarios (or the bench,
# or make guest-run's command), report over the second serial port (/dev/ttyS1, a file on the
# host), power off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t securityfs securityfs /sys/kernel/security
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
hostname matrix-guest

case " $(cat /proc/cmdline) " in
*" vigil.mode=run "*)
	# make guest-run (guest-run.sh): the developer's command, appended to the initramfs as
	# /vigil/guest-cmd with its FILES in /work, runs in /work with /vigil on PATH. Its stdout goes
	# to the second port, raw so no \r is added; its stderr to the console, followed by its status
	# in a line guest-run.sh reads there. The last two stty set what is already set: busybox
	# applies a setting with TCSADRAIN, which returns once the port has sent everything, before
	# the power goes.
	stty -F /dev/ttyS1 raw -echo
	(cd /work && HOME=/work PATH=/vigil:/bin exec sh /vigil/guest-cmd) </dev/null >/dev/ttyS1 2>/dev/console
	echo "GUEST-RUN-STATUS $?" >/dev/console
	stty -F /dev/ttyS1 raw
	stty -F /dev/console onlcr
	poweroff -f
	;;
esac

results=/dev/ttyS1
echo "KERNEL $(uname -r)" >$results
echo "LSM $(cat /sys/kernel/security/lsm 2>/dev/null)" >$results
echo "guest: $(uname -r), lsm: $(cat /sys/kernel/security/lsm 2>/dev/null)"
# Results go to the console too, so a guest whose second port fails still shows its outcome.
# What the probe must find: BPF-LSM exactly when this boot put bpf in lsm=.
case " $(cat /proc/cmdline) " in
*" lsm="*bpf*) EXPECT_BPF_LSM=yes ;;
*) EXPECT_BPF_LSM=no ;;
esac
export EXPECT_BPF_LSM
# Kernel functions on BPF trampolines where the kernel runs them; the boot without bpf in lsm=
# also starts the agent with --disable-trampolines, so the kprobe path runs in the matrix too.
if [ $EXPECT_BPF_LSM = yes ]; then
	EXPECT_TRAMPOLINES=yes
else
	EXPECT_TRAMPOLINES=no VIGIL_DISABLE_TRAMPOLINES=yes
fi
export EXPECT_TRAMPOLINES VIGIL_DISABLE_TRAMPOLINES
case " $(cat /proc/cmdline) " in
*" vigil.mode=bench "*)
	# make bench-kernels: the fentry/kprobe cost comparison instead of the scenarios.
	WORK=/tmp/bench VIGIL=/vigil/vigil STORM=/vigil/open_storm RESULTS=$results sh /vigil/bench-trampolines.sh
	;;
*)
	CORPUS=/vigil/corpus WORK=/tmp/matrix VIGIL=/vigil/vigil TRACECTL=/vigil/tracectl TRIGGER=/vigil/trigger EVADE=/vigil/evade EXEC_TARGET=/vigil/true RESULTS=$results \
		sh /vigil/scenarios.sh
	;;
esac
echo "DONE" >$results
sync
poweroff -f
