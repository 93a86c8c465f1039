# SPDX-License-Identifier: Apache-2.0
# What run.sh (the matrix) and guest-run.sh (one command in one guest) share: the tools they
# need, Debian's kernels (downloaded once, cached), the guest's initramfs and the qemu command
# that boots it. Sourced, not run. The caller sets ROOT, HERE, CACHE, OUT, VIGIL and TRACECTL
# and defines say and die.

BUSYBOX=/bin/busybox
TRIGGER=$OUT/trigger
EVADE=$OUT/evade
# The dynamic program the evasion scenarios exec (copies of it): ld.so can only run a dynamic one.
EXEC_TARGET=/bin/true

check_tools() {
	local tool
	for tool in qemu-system-x86_64 gcc strip ldd apt-get dpkg-deb; do
		command -v $tool >/dev/null || die "$tool not found (make test-kernels and make guest-run install qemu-system-x86 and busybox-static)"
	done
	if ! [ -x $BUSYBOX ] || ldd $BUSYBOX >/dev/null 2>&1; then
		die "$BUSYBOX is missing or not static: install busybox-static"
	fi
	[ -f /usr/include/liburing.h ] || die "liburing.h not found: install liburing-dev (the evasion tool, Tests/Tools/evade.c, links liburing)"
}

# --- kernels ---------------------------------------------------------------------------------

# Debian package names for a series; the newest one in the apt lists wins.
package_pattern() {
	case $1 in
	6.1) echo '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' ;;
	6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$' ;;
	5.10) echo '^linux-image-5\.10\.0-[0-9]+-cloud-amd64-unsigned$' ;;
	*) return 1 ;;
	esac
}

# apt options for a series. 6.1 and 6.12 come from the machine's own (bookworm) lists; 5.10 from
# bullseye, read through package lists of our own in $CACHE/apt-bullseye so the machine's apt
# sources stay as they are.
apt_options() {
	case $1 in
	5.10)
		local dir=$CACHE/apt-bullseye
		mkdir -p "$dir/sources" "$dir/lists/partial" "$dir/cache"
		[ -f "$dir/sources/bullseye.sources" ] || printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
			'Suites: bullseye' 'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
			>"$dir/sources/bullseye.sources"
		echo "-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$dir/sources -o Dir::State::Lists=$dir/lists -o Dir::Cache=$dir/cache"
		;;
	esac
}

# The newest package matching $2 in the lists apt options $1 read; empty when none.
newest_package() {
	# shellcheck disable=SC2086 # $1 is a list of options
	apt-cache $1 search --names-only "$2" 2>/dev/null | awk '{print $1}' | sort -V | tail -1
}

# Prints the path of a cached vmlinuz for a series, downloading the package the first time.
# The cloud flavour: smallest image, and the initramfs needs no modules.
kernel_image() {
	local series=$1 pattern pkg dir opts
	pattern=$(package_pattern "$series") || die "unknown kernel series '$series' (known: 5.10, 6.1, 6.12)"
	opts=$(apt_options "$series")
	pkg=$(newest_package "$opts" "$pattern")
	if [ -z "$pkg" ] && ! ls -d "$CACHE"/* 2>/dev/null | grep -qE "/${pattern#^}"; then
		# A fresh machine (or container) may have no package lists at all yet (for 5.10: our own
		# bullseye lists, until their first update).
		# shellcheck disable=SC2086
		apt-get $opts update -qq >&2 || true
		pkg=$(newest_package "$opts" "$pattern")
	fi
	if [ -z "$pkg" ]; then
		# Offline or stale lists: the newest cached one still serves.
		dir=$(ls -d "$CACHE"/* 2>/dev/null | grep -E "/${pattern#^}" | sort -V | tail -1 || true)
		[ -n "$dir" ] || die "no package matches $pattern in the apt lists (apt-get update?) and none is cached"
		echo "$dir/vmlinuz"
		return
	fi
	dir=$CACHE/$pkg
	if ! [ -f "$dir/vmlinuz" ]; then
		say "downloading $pkg"
		rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
		# shellcheck disable=SC2086
		(cd "$dir.tmp" && apt-get $opts download -q "$pkg" >&2) || die "apt-get download $pkg failed"
		dpkg-deb -x "$dir.tmp"/*.deb "$dir.tmp/x"
		mkdir -p "$dir"
		cp "$dir.tmp"/x/boot/vmlinuz-* "$dir/vmlinuz"
		rm -rf "$dir.tmp"
	fi
	echo "$dir/vmlinuz"
}

# --- the guest's initramfs -----------------------------------------------------------------------

# The static programs the scenarios and the bench run, in $OUT.
build_static_helpers() {
	gcc -O2 -static -Wall -Werror -o "$TRIGGER" "$HERE/trigger.c"
	gcc -O2 -static -Wall -Werror -o "$OUT/open_storm" "$ROOT/bench/open_storm.c"
	gcc -O2 -static -Wall -Werror -o "$EVADE" "$ROOT/Tests/Tools/evade.c" -luring -lpthread
}

# Writes the initramfs to $1: busybox, init.sh as /init, and in /vigil the agent, tracectl, the
# scripts, the static helpers (build_static_helpers first) and the evasions' exec target.
build_initramfs() {
	local out=$1 stage=$1.stage lib
	rm -rf "$stage"
	mkdir -p "$stage"/{bin,proc,sys,dev,tmp,vigil,etc}
	cp $BUSYBOX "$stage/bin/busybox"
	cp "$HERE/init.sh" "$stage/init"
	cp "$HERE/scenarios.sh" "$HERE/bench-trampolines.sh" "$TRIGGER" "$OUT/open_storm" "$EVADE" "$stage/vigil/"
	cp "$EXEC_TARGET" "$stage/vigil/true"
	cp "$HERE/corpus-expected.txt" "$stage/vigil/"
	if [ -n "${CORPUS:-}" ] && [ -d "$CORPUS" ]; then
		mkdir -p "$stage/vigil/corpus"
		cp "$CORPUS"/*.yaml "$CORPUS"/*.yml "$stage/vigil/corpus/" 2>/dev/null || true
	fi
	strip -o "$stage/vigil/vigil" "$VIGIL"
	strip -o "$stage/vigil/tracectl" "$TRACECTL"
	# The shared libraries (Swift runtime, Foundation, libbpf, libelf, zlib, glibc) at the
	# paths the dynamic loader looks for them, so the binaries run unchanged.
	for lib in $( (ldd "$VIGIL"; ldd "$TRACECTL"; ldd "$EXEC_TARGET") | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
	echo "root:x:0:0:root:/:/bin/sh" >"$stage/etc/passwd"
	(cd "$stage" && find . | $BUSYBOX cpio -o -H newc 2>/dev/null) | gzip -1 >"$out"
	rm -rf "$stage"
}

# --- booting a guest -----------------------------------------------------------------------------

# Sets QEMU to the command that boots kernel $1 ("6.12", or "6.12-nobpf": booted with an LSM
# list lacking bpf) on initramfs $2 under TCG, with $3 added to the kernel command line, the
# console written to file $4 and the second serial port to file $5.
qemu_command() {
	local name=$1 series=${1%-nobpf} image lsm=lockdown,capability,bpf
	[ "$name" != "$series" ] && lsm=lockdown,capability
	image=$(kernel_image "$series") || return 1
	say "$name: booting $(basename "$(dirname "$image")") with lsm=$lsm under TCG"
	QEMU=(qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1536
		-display none -monitor none -no-reboot
		-kernel "$image" -initrd "$2"
		-append "console=ttyS0 lsm=$lsm panic=-1 quiet${3:+ $3}${KERNEL_APPEND:+ $KERNEL_APPEND}"
		-serial "file:$4" -serial "file:$5")
}
